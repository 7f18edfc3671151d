"""What a comparison reads back from an arm's run directory: progress, figures, validation curve.

Everything comes from the run's own records (RUN/run.json, RUN/recipe.json, the
LATEST checkpoint's state.json, RUN/metrics.jsonl), so an arm trained in an
earlier session, or by `hnet train` itself, is summarised the same way as one
trained just now.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from hnet_cli.run.rundir import RECIPE_NAME, RUN_INFO_NAME, RunDir
from hnet_cli.train.checkpointer import STATE_NAME, Checkpointer
from hnet_cli.train.metrics import read_metrics


@dataclass
class CurvePoint:
    """One validation of a run: where it stood (step, bytes, training seconds) and its score."""

    step: int
    bytes: int
    seconds: float | None  # training time at that step (evaluations and checkpoints not counted)
    bits_per_unit: float | None
    bpb: float | None


@dataclass
class RunSummary:
    run_dir: str
    checkpoint: str | None  # RUN/checkpoints/NAME of LATEST, if any
    step: int
    total_steps: int
    bytes_seen: int
    train_seconds: float
    parameters: int | None
    recipe: dict
    info: dict
    last_compression: list[float] = field(default_factory=list)  # L_{s+1}/L_s at the last logged step
    curve: list[CurvePoint] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return self.total_steps > 0 and self.step >= self.total_steps

    @property
    def last_validation(self) -> CurvePoint | None:
        return self.curve[-1] if self.curve else None


def latest_state(run_dir: str | Path) -> tuple[str, dict] | None:
    """(checkpoint name, its state.json) of the run's LATEST checkpoint, or None when there is none."""
    checkpointer = Checkpointer(run_dir)
    name = checkpointer.pointer("LATEST")
    if name is None:
        return None
    state = RunDir(run_dir).record(f"{checkpointer.dir.name}/{name}/{STATE_NAME}")
    return (name, state) if state is not None else None


def bytes_per_step(recipe: dict, info: dict) -> int:
    train = recipe.get("train", {})
    rows = train.get("batch_size", 1) * train.get("grad_accum", 1) * info.get("world_size", 1)
    return rows * train.get("seq_len", 1)


def validation_curve(records: list[dict], unit: str, step_bytes: int) -> list[CurvePoint]:
    """The run's validations with the bytes and training seconds at their steps.

    Bytes are step x bytes per step (every step reads the same number of rows).
    Seconds come from the training record of that step, or the nearest one
    before it when the step was not logged.
    """
    times: dict[int, float] = {}
    for record in records:
        if record.get("kind") == "train" and isinstance(record.get("time"), (int, float)):
            times[int(record["step"])] = float(record["time"])
    logged = sorted(times)
    curve = []
    for record in records:
        if record.get("kind") != "val":
            continue
        step = int(record["step"])
        seconds = times.get(step)
        if seconds is None:
            before = [s for s in logged if s <= step]
            seconds = times[before[-1]] if before else None
        curve.append(CurvePoint(step=step, bytes=step * step_bytes, seconds=seconds,
                                bits_per_unit=_number(record.get(f"val_bits_per_{unit}", record.get("val_bpb"))),
                                bpb=_number(record.get("val_bpb"))))
    return curve


def read_run(run_dir: str | Path) -> RunSummary:
    """Summarise a run directory written by `hnet train` (or by a comparison)."""
    run = RunDir(run_dir)
    info = run.read(RUN_INFO_NAME, "run description")
    recipe = run.read(RECIPE_NAME, "recipe")
    latest = latest_state(run.path)
    name, state = latest if latest is not None else (None, {})
    records = read_metrics(run.metrics_path)
    step = int(state.get("step", 0))
    # Records after the LATEST checkpoint belong to steps a resumed run will redo.
    records = [r for r in records if isinstance(r.get("step"), int) and r["step"] <= step]
    compression = next((r.get("compression", []) for r in reversed(records) if r.get("kind") == "train"), [])
    unit = info.get("unit", "byte")
    return RunSummary(
        run_dir=str(run.path), checkpoint=name, step=step, total_steps=int(state.get("total_steps", 0)),
        bytes_seen=int(state.get("bytes_seen", 0)), train_seconds=float(state.get("elapsed_s", 0.0)),
        parameters=info.get("parameters"), recipe=recipe, info=info, last_compression=list(compression),
        curve=validation_curve(records, unit, bytes_per_step(recipe, info)),
    )


def _number(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None

"""`compare`: train several architectures alike and score them on held-out data — what `hnet compare` calls.

    from hnet_cli.compare import CompareJob, compare
    report = compare(CompareJob(arms=["hnet", "transformer", "mamba"], recipe="dna-small", domain="dna",
                                paths=["train/*.fa.gz"], held_out=["held_out.fa.gz"], out="runs/cmp"))
    [(a.name, a.held_out_bits_per_unit) for a in report.arms]
    report.as_dict()                                   # what --json prints; also OUT/compare.json

Every arm (`hnet_cli.compare.arms`) is an ordinary run directory OUT/ARM
(OUT/ARM-seedK when `seeds` are given) trained by `hnet_cli.train` on the same
rows in the same order, for the same steps and schedule, at (nearly) the same
forward FLOPs per byte. Then each arm's last checkpoint is scored on the
held-out files by `hnet_cli.eval.evaluate` (the code of `hnet eval`). Scores
already computed for the same checkpoint and files are kept in
OUT/compare.json and reused, so running a finished comparison again only
reprints it. OUT/compare.png shows the validation curves (needs matplotlib).
"""

from __future__ import annotations

import json
import os
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path

from hnet_cli.compare.arms import (
    DEFAULT_ARMS, FAILED, MATCH_TOLERANCE, Arm, build_arms, data_signature, dir_name, parse_arm_names,
    reference_flops,
)
from hnet_cli.compare.records import CurvePoint, read_run
from hnet_cli.compare.runner import train_arm
from hnet_cli.data.readers.sources import expand_paths
from hnet_cli.data.registry import DEFAULT_DOMAIN, get_domain
from hnet_cli.errors import ConfigError, HnetError, out_of_memory_message
from hnet_cli.model.checkpoint import CHECKPOINTS_DIR, WEIGHTS_NAME
from hnet_cli.outputs import check_output, output_folder, write_output
from hnet_cli.progress import NullReporter
from hnet_cli.recipes import load_recipe
from hnet_cli.run.rundir import RUN_INFO_NAME
from hnet_cli.train.health import TrainingDiverged

REPORT_NAME = "compare.json"
PLOT_NAME = "compare.png"


@dataclass
class CompareJob:
    """What to compare. `paths=[]` trains on the domain's bundled data; `held_out=[]` skips held-out scoring."""

    arms: list[str] | str = field(default_factory=lambda: list(DEFAULT_ARMS))
    recipe: str | None = None  # the reference recipe (default: the domain's)
    domain: str = DEFAULT_DOMAIN
    paths: list[str] = field(default_factory=list)
    held_out: list[str] = field(default_factory=list)
    out: str | Path = "runs/compare"
    overrides: list[str] = field(default_factory=list)  # --set FIELD=VALUE, applied to the reference recipe
    domain_options: dict = field(default_factory=dict)  # reader options (strings as typed, or typed values)
    steps: int | None = None
    seeds: list[int] | None = None  # None: the recipe's seed, in OUT/ARM; else OUT/ARM-seedK per seed
    device: str = "auto"
    force: bool = False  # train every arm again
    context: int | None = None  # held-out scoring context (default: the training length)
    plot: str | Path | None = None  # default OUT/compare.png


@dataclass
class ArmResult:
    """One arm (at one seed): how it was trained and how it scores. Scores are None when not measured."""

    name: str
    seed: int
    kind: str
    run_dir: str
    status: str  # new, restart, resume, done (already finished), or one of FAILED
    parameters: int | None
    flops_per_byte: float  # forward FLOPs per byte at compression 1/N
    flops_ratio: float  # flops_per_byte / the reference arm's
    steps: int
    bytes_seen: int
    train_seconds: float
    data_signature: str
    val_bits_per_unit: float | None  # the trainer's validation split, last evaluation
    val_bpb: float | None
    train_compression: list[float]
    held_out_bits_per_unit: float | None = None
    held_out_bpb: float | None = None
    held_out_compression: list[float] = field(default_factory=list)  # L_{s+1}/L_s per stage on the held-out files
    checkpoint: str | None = None
    message: str | None = None
    held_out_key: dict | None = None  # what the held-out score depends on (reused when unchanged)
    curve: list[CurvePoint] = field(default_factory=list)

    @property
    def score(self) -> float | None:
        """Held-out bits per unit when measured, else the last validation."""
        return self.held_out_bits_per_unit if self.held_out_bits_per_unit is not None else self.val_bits_per_unit


@dataclass
class ArmSummary:
    """An arm over its seeds: mean and range of its score."""

    name: str
    seeds: list[int]
    mean: float | None
    low: float | None
    high: float | None


@dataclass
class CompareReport:
    domain: str
    unit: str
    recipe: str
    paths: list[str]
    held_out: list[str]
    out: str
    seeds: list[int]
    arms: list[ArmResult]
    eval: dict | None = None  # context, stride, device, dtype, bytes of the held-out scoring
    # what an order-k Markov chain fitted on the first arm's training part scores on the held-out
    # files (YardstickFigure.as_dict), so the arms' bits read against a simple baseline
    yardstick: dict | None = None
    plot: str | None = None
    plot_note: str | None = None  # why there is no plot
    warnings: list[str] = field(default_factory=list)

    @property
    def scored_on(self) -> str:
        return "held-out" if self.held_out else "validation"

    def summaries(self) -> list[ArmSummary]:
        """Per arm name, in the order given; the score is held-out bits per unit (else validation)."""
        out = []
        for name in dict.fromkeys(a.name for a in self.arms):
            rows = [a for a in self.arms if a.name == name]
            scores = [a.score for a in rows if a.score is not None]
            out.append(ArmSummary(name, [a.seed for a in rows], statistics.fmean(scores) if scores else None,
                                  min(scores) if scores else None, max(scores) if scores else None))
        return out

    @property
    def failed(self) -> list[ArmResult]:
        return [a for a in self.arms if a.status in FAILED]

    def as_dict(self) -> dict:
        data = asdict(self)
        data["scored_on"] = self.scored_on
        data["summaries"] = [asdict(s) for s in self.summaries()]
        return _finite(data)


def compare(job: CompareJob, reporter=None) -> CompareReport:
    """Train every arm (skipping finished ones, resuming interrupted ones), score them, write OUT/compare.json."""
    reporter = reporter or NullReporter()
    domain = get_domain(job.domain)
    names = parse_arm_names(job.arms)
    recipe_name = job.recipe or domain.default_recipe or "tiny"
    reference = load_recipe(recipe_name, list(job.overrides))
    if job.steps is not None:
        if job.steps <= 0:
            raise ConfigError("--steps must be positive")
        schedule = reference.train.schedule
        schedule.steps, schedule.max_bytes, schedule.max_time = job.steps, None, None
    seeds = list(job.seeds) if job.seeds else [reference.train.seed]
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"--seeds {','.join(map(str, seeds))}: a seed is listed twice")
    options = domain.given_options(job.domain_options)
    paths = [os.fspath(p) for p in job.paths]
    held_out = [os.fspath(p) for p in job.held_out]
    _check_inputs(domain, paths, held_out)
    train_overrides = [o for o in job.overrides if o.strip().startswith("train.")]
    plan = [(arm, _run_dir(job.out, arm, job.seeds is not None))
            for seed in seeds for arm in build_arms(names, reference, domain, seed, train_overrides)]
    out = output_folder(job.out)
    check_output(job.plot if job.plot is not None else out / PLOT_NAME)  # before hours of training, not after
    previous = _previous_report(out / REPORT_NAME)

    results: list[ArmResult] = []
    for i, (arm, run_dir) in enumerate(plan, 1):
        label = f"{arm.name}" + (f" seed {arm.seed}" if len(seeds) > 1 else "")
        reporter.log(f"arm {i}/{len(plan)}: {label} ({run_dir}, {arm.flops_per_byte:.3g} FLOPs/byte)")
        status, message = "diverged", None
        try:
            status = train_arm(arm, run_dir, domain.name, paths, options, device=job.device, force=job.force,
                               reporter=_Prefixed(reporter, label))
        except TrainingDiverged as exc:
            message = str(exc)
            reporter.log(f"{label}: {message}")
        except Exception as exc:  # noqa: BLE001  (only memory exhaustion is an arm's own failure)
            message = out_of_memory_message(exc, "compare")
            if message is None:
                raise
            status = "out of memory"
            reporter.log(f"{label}: {message}")
            _release_gpu_memory()
        if status == "done":
            reporter.log(f"{label}: already finished; kept")
        results.append(_arm_result(arm, run_dir, status, message, reference_flops([a for a, _ in plan])))

    report = CompareReport(domain=domain.name, unit=domain.unit, recipe=reference.name, paths=paths, held_out=held_out,
                           out=str(out), seeds=seeds, arms=results)
    if held_out:
        _score_held_out(report, previous, job, reporter)
    report.warnings = _check_fairness(report)
    _plot(report, job.plot if job.plot is not None else out / PLOT_NAME)
    write_output(out / REPORT_NAME, json.dumps(report.as_dict(), indent=2) + "\n")
    return report


# ---------------------------------------------------------------------------- parts


class _Prefixed(NullReporter):
    """The caller's reporter with the arm's name in front of each progress bar and message."""

    def __init__(self, inner, label: str):
        self.inner, self.label = inner, label

    def start(self, description, total=None, unit=""):
        self.inner.start(f"{self.label}: {description}", total, unit)

    def advance(self, amount=1, **fields):
        self.inner.advance(amount, **fields)

    def log(self, message):
        self.inner.log(f"{self.label}: {message}")

    def finish(self):
        self.inner.finish()


def _release_gpu_memory() -> None:
    """After an arm ran out of GPU memory: hand its cached blocks back before the next arm starts."""
    import gc

    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _run_dir(out, arm: Arm, seeded: bool) -> Path:
    """OUT/ARM, or OUT/ARM-seedK when seeds were asked for (so a later, longer --seeds list reuses them)."""
    name = dir_name(arm.name) + (f"-seed{arm.seed}" if seeded else "")
    return Path(out) / name


def _check_inputs(domain, paths: list[str], held_out: list[str]) -> None:
    """Every arm reads the training files again, and scores are reused by file: no stdin.
    Held-out inputs must exist and be the domain's."""
    for flag, given in (("training data", paths), ("--held-out", held_out)):
        if "-" in given:
            raise ConfigError(f"hnet compare: {flag} cannot be - (stdin): every arm reads it again; give a file")
    for source in expand_paths(held_out):
        if not source.is_dir:
            domain.check_input(source.path)


def _arm_result(arm: Arm, run_dir: Path, status: str, message: str | None, ref_flops: float) -> ArmResult:
    summary = read_run(run_dir) if (run_dir / RUN_INFO_NAME).is_file() else None
    last = summary.last_validation if summary else None
    return ArmResult(
        name=arm.name, seed=arm.seed, kind=arm.kind, run_dir=str(run_dir), status=status,
        parameters=summary.parameters if summary else None, flops_per_byte=arm.flops_per_byte,
        flops_ratio=arm.flops_per_byte / ref_flops, steps=summary.step if summary else 0,
        bytes_seen=summary.bytes_seen if summary else 0, train_seconds=summary.train_seconds if summary else 0.0,
        data_signature=data_signature(summary.recipe, summary.info) if summary else "",
        val_bits_per_unit=last.bits_per_unit if last else None, val_bpb=last.bpb if last else None,
        train_compression=summary.last_compression if summary else [],
        checkpoint=summary.checkpoint if summary else None, message=message,
        curve=summary.curve if summary else [],
    )


def _held_out_key(arm: ArmResult, paths: list[str], context, device: str) -> dict:
    """What decides an arm's held-out score: its checkpoint (and when its weights were written), the
    files (size, time), context and device."""
    files = []
    for source in expand_paths(paths):
        if not source.is_dir and source.path != "-":
            stat = os.stat(source.path)
            files.append([os.path.abspath(source.path), stat.st_size, int(stat.st_mtime)])
    weights = Path(arm.run_dir) / CHECKPOINTS_DIR / str(arm.checkpoint) / WEIGHTS_NAME
    stat = weights.stat() if weights.is_file() else None
    return {"run_dir": os.path.abspath(arm.run_dir), "checkpoint": arm.checkpoint, "steps": arm.steps,
            "weights": [stat.st_size, stat.st_mtime_ns] if stat else None,
            "files": files, "context": context, "device": device}


def _previous_report(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _score_held_out(report: CompareReport, previous: dict, job: CompareJob, reporter) -> None:
    """Held-out bits per unit of each trained arm's last checkpoint (`hnet eval`'s code); reuse earlier scores."""
    from hnet_cli.eval import evaluate

    kept = {}
    for entry in previous.get("arms", []):
        if isinstance(entry, dict) and entry.get("held_out_key"):
            kept[json.dumps(entry["held_out_key"], sort_keys=True)] = entry
    pending = []
    for arm in report.arms:
        if arm.checkpoint is None or arm.status in FAILED:
            continue
        key = _held_out_key(arm, report.held_out, job.context, job.device)
        arm.held_out_key = key
        old = kept.get(json.dumps(key, sort_keys=True))
        if old is not None and old.get("held_out_bits_per_unit") is not None:
            arm.held_out_bits_per_unit, arm.held_out_bpb = old["held_out_bits_per_unit"], old.get("held_out_bpb")
            arm.held_out_compression = list(old.get("held_out_compression", []))
            if report.eval is None and isinstance(previous.get("eval"), dict):
                report.eval = previous["eval"]
            if report.yardstick is None and isinstance(previous.get("yardstick"), dict):
                report.yardstick = previous["yardstick"]
            continue
        pending.append(arm)
    if not pending:
        return
    reporter.log(f"scoring {len(pending)} arm(s) on {', '.join(report.held_out)}")
    models = [str(Path(a.run_dir) / CHECKPOINTS_DIR / a.checkpoint) for a in pending]
    scores = evaluate(models, report.held_out, domain=report.domain, context=job.context, device=job.device,
                      reporter=reporter)
    report.eval = {"context": scores.context, "stride": scores.stride, "device": scores.device, "dtype": scores.dtype,
                   "bytes": scores.models[0].clean.corpus.bytes if scores.models else 0,
                   "units": scores.models[0].clean.corpus.units if scores.models else 0}
    if scores.yardstick is not None:
        report.yardstick = scores.yardstick.as_dict()
    elif scores.yardstick_note:
        report.warnings.append(scores.yardstick_note)
    for arm, model in zip(pending, scores.models):
        arm.held_out_bits_per_unit = model.clean.corpus.bits_per_unit
        arm.held_out_bpb = model.clean.corpus.bpb
        arm.held_out_compression = [s.compression for s in model.clean.stages]


def _check_fairness(report: CompareReport) -> list[str]:
    """Warnings when arms were not matched: FLOPs per byte beyond the tolerance, or different data."""
    warnings = []
    for arm in report.arms:
        if abs(arm.flops_ratio - 1) > MATCH_TOLERANCE:
            warnings.append(f"{arm.name}: {arm.flops_per_byte:.3g} forward FLOPs per byte, {arm.flops_ratio - 1:+.1%} "
                            f"from the reference (tolerance {MATCH_TOLERANCE:.0%})")
    for seed in report.seeds:
        rows = [a for a in report.arms if a.seed == seed and a.status not in FAILED]
        if len({(a.data_signature, a.bytes_seen, a.steps) for a in rows}) > 1:
            seen = ", ".join(f"{a.name} {a.bytes_seen} bytes ({a.data_signature})" for a in rows)
            warnings.append(f"seed {seed}: the arms did not read the same data: {seen}")
    for arm in report.failed:
        warnings.append(f"{arm.name} (seed {arm.seed}) did not finish: {arm.message}")
    return warnings


def _plot(report: CompareReport, path) -> None:
    from hnet_cli.compare.plot import plot_curves

    seeds = ",".join(map(str, report.seeds))
    title = f"{report.domain}, recipe {report.recipe}, seed{'s' if len(report.seeds) > 1 else ''} {seeds}"
    try:
        report.plot = str(plot_curves(report.arms, path, report.unit, title))
    except HnetError as exc:  # matplotlib missing: the table and JSON still come
        report.plot_note = f"no plot: {exc}"


def _finite(value):
    """JSON has no NaN: write None."""
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value

"""A run's training curves: the series from RUN/metrics.jsonl, and a PNG of them.

Four panels: loss, bits per byte (train and validation), compression per
stage against its target, learning rate. The first steps of a run fall from
8 bits per byte to near the final figure within a few percent of the run;
an axis scaled to them would flatten the part that matters (1.97 against
2.00), so the bits and loss axes are scaled to the run after its first tenth
(`focus_range`), and the early points run off the top.

matplotlib is an optional dependency (`pip install 'hnet-cli[plot]'`); without
it `plot_run` raises a one-line HnetError saying so. `run_series` needs nothing.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

from hnet_cli.errors import HnetError
from hnet_cli.outputs import check_output, write_output
from hnet_cli.run.rundir import METRICS_NAME, RUN_INFO_NAME, RunDir
from hnet_cli.train.metrics import read_metrics

DEFAULT_NAME = "curves.png"
SKIP_FRACTION = 0.1  # the start of a run left out of the y-range of loss and bits


def pyplot():
    """matplotlib.pyplot on the Agg backend, or a one-line HnetError saying how to install it."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise HnetError("plotting needs matplotlib: pip install 'hnet-cli[plot]'") from None
    return plt


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _finite(value):
    """A number as JSON can hold it: NaN and infinities (a diverged step), missing fields and
    anything not a number (a record edited by hand, or from another version) become None."""
    return value if _is_number(value) and math.isfinite(value) else None


def _at(value, index: int):
    """value[index] of a per-stage list; None when the record has no such entry."""
    return value[index] if isinstance(value, list) and index < len(value) else None


def run_series(run_dir: str | Path) -> dict:
    """The run's curves as plain lists (what `hnet plot --json` prints)."""
    run = RunDir(run_dir)
    records = read_metrics(run.metrics_path)
    # A record lacking fields is drawn as a gap, never a crash; one without a step cannot be placed.
    train = [r for r in records if r.get("kind") == "train" and _is_number(r.get("step"))]
    val = [r for r in records if r.get("kind") == "val" and _is_number(r.get("step"))]
    if not train:
        raise HnetError(f"{run.path}: no training metrics to plot ({METRICS_NAME} is missing or empty)")
    info = run.record(RUN_INFO_NAME) or {}
    targets = info.get("compression_targets")
    unit = info.get("unit") if isinstance(info.get("unit"), str) else "byte"
    stages = max((len(r["compression"]) for r in train if isinstance(r.get("compression"), list)), default=0)
    ys = info.get("yardstick") if isinstance(info.get("yardstick"), dict) else {}
    yardstick = ({"model": str(ys.get("model", "Markov chain")), "bpb": ys["bpb"]}
                 if _is_number(ys.get("bpb")) and math.isfinite(ys["bpb"]) else None)
    return {
        "run": str(run.path),
        "unit": unit,
        "yardstick": yardstick,  # what an order-k Markov chain scores on the validation bytes (run.json)
        "compression_targets": [t for t in targets if _is_number(t) and t > 0] if isinstance(targets, list) else [],
        "train": {
            "step": [r["step"] for r in train],
            "loss": [_finite(r.get("loss")) for r in train],
            "ce": [_finite(r.get("ce")) for r in train],
            "bpb": [_finite(r.get("bpb")) for r in train],
            "lr": [_finite(r.get("lr")) for r in train],
            "compression": [[_finite(_at(r.get("compression"), s)) for r in train]
                            for s in range(stages)],
        },
        "val": {
            "step": [r["step"] for r in val],
            "bpb": [_finite(r.get("val_bpb")) for r in val],
            f"bits_per_{unit}": [_finite(r.get(f"val_bits_per_{unit}")) for r in val],
        },
    }


def focus_range(*series: list, skip: float = SKIP_FRACTION, pad: float = 0.08) -> tuple[float, float] | None:
    """(low, high) covering every series after its first `skip` fraction of points, with `pad` margins."""
    kept = []
    for values in series:
        finite = [v for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
        kept += finite[int(len(finite) * skip):] if len(finite) > 3 else finite
    if not kept:
        return None
    low, high = min(kept), max(kept)
    margin = (high - low) * pad or abs(high) * 0.01 or 0.01
    return low - margin, high + margin


def draw(series: dict):
    """A matplotlib Figure of the four panels."""
    plt = pyplot()
    train, val, unit = series["train"], series["val"], series["unit"]
    steps = train["step"]
    fig, axes = plt.subplots(2, 2, figsize=(11, 7.5))
    (ax_loss, ax_bits), (ax_comp, ax_lr) = axes

    ax_loss.plot(steps, train["loss"], lw=0.8, label="loss (CE + ratio)")
    ax_loss.plot(steps, train["ce"], lw=0.8, label="cross-entropy (nats/byte)")
    ax_loss.set_title("training loss")
    _set_ylim(ax_loss, train["loss"], train["ce"])

    ax_bits.plot(steps, train["bpb"], lw=0.8, label="train")
    focus, best = [train["bpb"]], None
    if val["step"]:
        ax_bits.plot(val["step"], val["bpb"], "o-", ms=3, label="validation")
        focus.append(val["bpb"])
        per_unit = val.get(f"bits_per_{unit}") or []
        if unit != "byte" and any(v is not None and v != b for v, b in zip(per_unit, val["bpb"])):
            ax_bits.plot(val["step"], per_unit, "s--", ms=3, label=f"validation, bits/{unit}")
            focus.append(per_unit)
        best = min(((b, s) for s, b in zip(val["step"], val["bpb"]) if b is not None), default=None)
    yardstick = series.get("yardstick")
    if yardstick:
        ax_bits.axhline(yardstick["bpb"], color="tab:gray", ls="--", lw=1,
                        label=f"{yardstick['model']} (yardstick) {yardstick['bpb']:.4f}")
        focus.append([yardstick["bpb"]])
    if best is not None:
        ax_bits.annotate(f"best {best[0]:.4f}", xy=(best[1], best[0]), xytext=(0, -14), textcoords="offset points",
                         ha="center", fontsize=8)
    ax_bits.set_title("bits per byte" + (" (start of the run off the top)" if _clipped(focus) else ""))
    _set_ylim(ax_bits, *focus)

    targets = series["compression_targets"]
    for s, values in enumerate(train["compression"]):
        line, = ax_comp.plot(steps, values, lw=0.8, label=f"stage {s}: L{s + 1}/L{s}")
        if s < len(targets):
            ax_comp.axhline(1.0 / targets[s], color=line.get_color(), ls=":", lw=1, label=f"target 1/{targets[s]:g}")
    ax_comp.set_title("compression" if train["compression"] else "compression (an isotropic model has none)")
    ax_comp.set_ylim(0, 1)

    ax_lr.plot(steps, train["lr"], lw=0.8, color="tab:purple", label="learning rate")
    ax_lr.set_title("learning rate")
    ax_lr.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))

    for ax in axes.flat:
        ax.set_xlabel("step")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
        ax.grid(alpha=0.25)
    fig.suptitle(series["run"], fontsize=9)
    fig.tight_layout()
    return fig


def _set_ylim(ax, *series) -> None:
    found = focus_range(*series)
    if found is not None:
        ax.set_ylim(*found)


def _clipped(series: list[list]) -> bool:
    found = focus_range(*series)
    values = [v for s in series for v in s if isinstance(v, (int, float)) and math.isfinite(v)]
    return found is not None and bool(values) and max(values) > found[1]


def plot_run(run_dir: str | Path, out: str | Path | None = None, dpi: int = 110) -> str:
    """Draw the run's curves as PNG into `out` (default RUN/plots/curves.png; "-" = stdout); returns where."""
    if out is not None:
        check_output(out)  # a bad destination fails before anything is drawn
    series = run_series(run_dir)
    plt = pyplot()
    fig = draw(series)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    plt.close(fig)
    if out is None:
        run = RunDir(run_dir)
        run.plots_path.mkdir(exist_ok=True)
        out = run.plots_path / DEFAULT_NAME
    write_output(out, buffer.getvalue())
    return str(out)

"""Training curves of a run as a PNG: loss, bits per byte (train and validation), compression per stage.

matplotlib is an optional dependency (`pip install 'hnet-cli[plot]'`); without
it `plot_run` raises a one-line HnetError saying so.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

from hnet_cli.errors import HnetError
from hnet_cli.outputs import write_output
from hnet_cli.train.metrics import read_metrics
from hnet_cli.run.rundir import METRICS_NAME, PLOTS_DIR, RUN_INFO_NAME

DEFAULT_NAME = "curves.png"


def _matplotlib():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise HnetError("plotting needs matplotlib: pip install 'hnet-cli[plot]'") from None
    return plt


def plot_run(run_dir: str | Path, out: str | Path | None = None, dpi: int = 110) -> Path:
    """Draw RUN/metrics.jsonl into `out` (default RUN/plots/curves.png); returns the path written."""
    run_dir = Path(run_dir)
    records = read_metrics(run_dir / METRICS_NAME)
    train = [r for r in records if r.get("kind") == "train"]
    val = [r for r in records if r.get("kind") == "val"]
    if not train:
        raise HnetError(f"{run_dir}: no training metrics to plot ({METRICS_NAME} is missing or empty)")
    info = {}
    try:
        info = json.loads((run_dir / RUN_INFO_NAME).read_text())
    except (OSError, json.JSONDecodeError):
        pass
    targets = info.get("compression_targets", [])
    unit = info.get("unit", "byte")
    plt = _matplotlib()

    steps = [r["step"] for r in train]
    stages = len(train[-1].get("compression", []))
    panels = 3 if stages else 2
    fig, axes = plt.subplots(1, panels, figsize=(5 * panels, 3.8))
    ax = axes[0]
    ax.plot(steps, [r["loss"] for r in train], lw=0.8, label="loss (CE + ratio)")
    ax.plot(steps, [r["ce"] for r in train], lw=0.8, label="cross-entropy (nats/byte)")
    ax.set_xlabel("step")
    ax.set_title("training loss")
    ax.legend(fontsize=8)
    ax = axes[1]
    ax.plot(steps, [r["bpb"] for r in train], lw=0.8, label="train")
    if val:
        ax.plot([r["step"] for r in val], [r["val_bpb"] for r in val], "o-", ms=3, label="validation")
        key = f"val_bits_per_{unit}"
        if unit != "byte" and any(key in r for r in val) and any(r.get(key) != r.get("val_bpb") for r in val):
            ax.plot([r["step"] for r in val], [r.get(key) for r in val], "s--", ms=3, label=f"validation, bits/{unit}")
    ax.set_xlabel("step")
    ax.set_title("bits per byte")
    ax.legend(fontsize=8)
    if stages:
        ax = axes[2]
        for s in range(stages):
            line, = ax.plot(steps, [r["compression"][s] for r in train], lw=0.8, label=f"stage {s}: L{s + 1}/L{s}")
            if s < len(targets):
                ax.axhline(1.0 / targets[s], color=line.get_color(), ls=":", lw=1, label=f"target 1/{targets[s]:g}")
        ax.set_xlabel("step")
        ax.set_title("compression")
        ax.set_ylim(0, 1)
        ax.legend(fontsize=8)
    fig.suptitle(str(run_dir), fontsize=9)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    plt.close(fig)
    if out is None:
        (run_dir / PLOTS_DIR).mkdir(exist_ok=True)
        out = run_dir / PLOTS_DIR / DEFAULT_NAME
    write_output(out, buffer.getvalue())
    return Path(out)

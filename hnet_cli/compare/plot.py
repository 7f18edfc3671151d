"""The comparison's figure: validation bits per unit against bytes seen and against training seconds.

One colour per arm; several seeds of an arm share its colour. matplotlib is
optional (`pip install 'hnet-cli[plot]'`); without it `plot_curves` raises the
one-line HnetError of `hnet_cli.train.plot`.
"""

from __future__ import annotations

import io
from pathlib import Path

from hnet_cli.outputs import write_output
from hnet_cli.train.plot import pyplot


def plot_curves(arms: list, out: str | Path, unit: str, title: str = "", dpi: int = 110) -> Path:
    """Draw `arms` (objects with .name, .seed and .curve: CurvePoints) into the PNG `out`."""
    plt = pyplot()
    fig, (by_bytes, by_time) = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    colours: dict[str, str] = {}
    labelled: set[str] = set()
    for arm in arms:
        points = [p for p in arm.curve if p.bits_per_unit is not None]
        if not points:
            continue
        colour = colours.setdefault(arm.name, f"C{len(colours) % 10}")
        label = arm.name if arm.name not in labelled else None
        labelled.add(arm.name)
        by_bytes.plot([p.bytes / 1e6 for p in points], [p.bits_per_unit for p in points], "o-", ms=3, lw=1,
                      color=colour, label=label)
        timed = [p for p in points if p.seconds is not None]
        by_time.plot([p.seconds for p in timed], [p.bits_per_unit for p in timed], "o-", ms=3, lw=1,
                     color=colour, label=label)
    by_bytes.set_xlabel("training bytes seen (MB)")
    by_bytes.set_ylabel(f"validation bits per {unit}")
    by_time.set_xlabel("training seconds (evaluations not counted)")
    for ax in (by_bytes, by_time):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    plt.close(fig)
    write_output(out, buffer.getvalue())
    return Path(out)

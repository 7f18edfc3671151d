"""A CompareReport as a rich table and plain summary lines (the command prints them)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hnet_cli.compare.arms import FAILED

if TYPE_CHECKING:
    from hnet_cli.compare.api import CompareReport


def _f(value: float | None, digits: int = 4) -> str:
    return "-" if value is None or value != value else f"{value:.{digits}f}"


def _bytes(n: int) -> str:
    return f"{n:,}" if n < 1e6 else f"{n / 1e6:.4g} MB"


def _compression(values: list[float]) -> str:
    return "/".join(f"{c:.3f}" for c in values) if values else "-"


def table(report: "CompareReport"):
    """One row per arm (and seed): parameters, FLOPs/byte, bytes, time, scores, compression."""
    from rich.table import Table

    several = len(report.seeds) > 1
    unit = report.unit
    title = (f"{report.domain}, recipe {report.recipe}: "
             + (f"held-out {', '.join(report.held_out)}" if report.held_out else "no held-out files (validation only)"))
    t = Table(title=title, title_justify="left")
    columns = ["arm"] + (["seed"] if several else []) + [
        "parameters", "FLOPs/byte", "vs ref", "bytes seen", "train s", f"val bits/{unit}",
        f"held-out bits/{unit}", "held-out bits/byte", "compression"]
    labels = [arm.name + (f" ({arm.status})" if arm.status in FAILED else "") for arm in report.arms]
    failed_widths = [len(label) for arm, label in zip(report.arms, labels) if arm.status in FAILED]
    for i, name in enumerate(columns):
        if i == 0:  # recipe files can have long names: folded, but a failed arm's label stays whole
            t.add_column(name, overflow="fold", min_width=max([8] + failed_widths))
        else:
            t.add_column(name, justify="right", no_wrap=True)
    for arm, label in zip(report.arms, labels):
        cells = [label]
        if several:
            cells.append(str(arm.seed))
        compression = arm.held_out_compression or arm.train_compression
        cells += [
            f"{arm.parameters / 1e6:.2f}M" if arm.parameters else "-",
            f"{arm.flops_per_byte:.3g}", f"{arm.flops_ratio - 1:+.1%}",
            _bytes(arm.bytes_seen), f"{arm.train_seconds:.0f}",
            _f(arm.val_bits_per_unit), _f(arm.held_out_bits_per_unit), _f(arm.held_out_bpb),
            _compression(compression),
        ]
        t.add_row(*cells)
    ys = report.yardstick
    if ys:  # a baseline row: no parameters, FLOPs or training of its own
        cells = ["yardstick"] + ([""] if several else []) + \
            ["-"] * 6 + [_f(ys.get("bits_per_unit")), _f(ys.get("bpb")), "-"]
        t.add_row(*cells)
    return t


def summary_lines(report: "CompareReport") -> list[str]:
    """The ranking by score (mean and range over seeds), the plot, and any warning."""
    lines = []
    ranked = sorted((s for s in report.summaries() if s.mean is not None), key=lambda s: s.mean)
    if ranked:
        def show(s):
            spread = f" ({s.low:.4f}-{s.high:.4f} over {len(s.seeds)} seeds)" if len(s.seeds) > 1 else ""
            return f"{s.name} {s.mean:.4f}{spread}"

        lines.append(f"{report.scored_on} bits/{report.unit}, best first: " + " < ".join(show(s) for s in ranked))
    if report.yardstick:
        lines.append(_yardstick_line(report))
    if report.eval:
        e = report.eval
        lines.append(f"held-out scoring: {e.get('bytes', 0):,} bytes, context {e.get('context')}, stride {e.get('stride')}, "
                     f"{e.get('device')} {e.get('dtype')}; compression = L1/L0 there (training's last step otherwise)")
    if report.plot:
        lines.append(f"plot: {report.plot}")
    elif report.plot_note:
        lines.append(report.plot_note)
    lines.append(f"runs and compare.json: {report.out}")
    lines += [f"warning: {w}" for w in report.warnings]
    return lines


def _yardstick_line(report: "CompareReport") -> str:
    """The yardstick's held-out score and where each arm stands against it."""
    ys = report.yardstick
    score = ys.get("bits_per_unit")
    line = (f"yardstick: {ys.get('model', 'Markov chain')} fitted on {ys.get('fitted_on', 'the training part')}: "
            f"{_f(score)} bits/{report.unit} on the held-out files")
    ranked = [s for s in report.summaries() if s.mean is not None]
    if score is not None and ranked:
        line += "; " + ", ".join(f"{s.name} {s.mean - score:+.4f}" for s in ranked)
    return line

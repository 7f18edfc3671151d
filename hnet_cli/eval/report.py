"""An EvalReport as CSV rows and as rich tables and summary lines (the command prints them).

CSV (`--csv FILE`): one row per (model, perturbation, scope) where scope is
corpus, file or record; perturbation is "clean" for the unperturbed text. The
yardstick, when there is one, is a last corpus row named "<model> (yardstick)".
Undefined numbers are empty cells here and "-" in the tables. The JSON form
is `EvalReport.as_dict` (hnet_cli.eval.results).
"""

from __future__ import annotations

import csv
import io

from hnet_cli.eval.corpus import Score
from hnet_cli.eval.results import EvalReport, finite

CSV_COLUMNS = [
    "model", "path", "perturbation", "scope", "source", "name", "documents", "bytes", "units", "bits", "bpb",
    "bits_per_unit", "bits_per_original_byte", "delta_bpb", "compression", "bpic", "bytes_per_second",
]


def csv_text(report: EvalReport) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()

    def row(label, path, perturbation, scope, source, name, score: Score, **extra):
        writer.writerow({
            "model": label, "path": path, "perturbation": perturbation, "scope": scope, "source": source, "name": name,
            "documents": score.documents, "bytes": score.bytes, "units": score.units, "bits": _fmt_csv(score.bits),
            "bpb": _fmt_csv(score.bpb), "bits_per_unit": _fmt_csv(score.bits_per_unit),
            **{k: _fmt_csv(v) if isinstance(v, float) else v for k, v in extra.items()},
        })

    for m in report.models:
        passes = [("clean", m.clean)] + list(m.perturbed.items())
        for name, p in passes:
            delta = p.corpus.bpb - m.clean.corpus.bpb if name != "clean" else ""
            row(m.label, m.path, name, "corpus", "", "", p.corpus,
                bits_per_original_byte=p.bits_per_original_byte, delta_bpb=delta,
                compression=";".join(f"{s.compression:.6g}" for s in p.stages), bpic=p.bpic,
                bytes_per_second=p.bytes_per_second)
            for source, score in p.files.items():
                row(m.label, m.path, name, "file", source, "", score)
            for r in p.records:
                row(m.label, m.path, name, "record", r.source, r.name, r.score)
    ys = report.yardstick
    if ys is not None:  # the baseline scored on the same bytes: one corpus row, no model path
        row(f"{ys.name} (yardstick)", "", "clean", "corpus", "", "", ys.score)
    return buf.getvalue()


def _fmt_csv(x: float | None) -> str:
    return "" if finite(x) is None else repr(float(x))


# ---------------------------------------------------------------- tables


def _f(x: float | None, digits: int = 4) -> str:
    return "-" if finite(x) is None else f"{x:.{digits}f}"


def _rate(x: float) -> str:
    if finite(x) is None:
        return "-"
    for scale, suffix in ((1e6, "M"), (1e3, "k")):
        if x >= scale:
            return f"{x / scale:.3g}{suffix}"
    return f"{x:.3g}"


def tables(report: EvalReport, per_file: bool = False, per_record: bool = False) -> list:
    """rich renderables: scores (a comparison when several models), chunking, perturbations, files, records."""
    out = [_scores_table(report)]
    if any(m.num_stages for m in report.models):
        out.append(_chunking_table(report))
    if report.perturbations:
        out.append(_robustness_table(report))
    if per_file:
        out.append(_files_table(report))
    if per_record:
        out.append(_records_table(report))
    return out


def _table(title: str, columns: list[str], text_columns: int = 1):
    from rich.table import Table

    # Names (models, files) fold onto several lines when long; numbers never shrink.
    t = Table(title=title, title_justify="left")
    for i, col in enumerate(columns):
        if i < text_columns:
            t.add_column(col, overflow="fold", min_width=min(len(col), 12))
        else:
            t.add_column(col, justify="right", no_wrap=True, min_width=len(col))
    return t


def _scores_table(report: EvalReport):
    stats = report.read_stats
    several = len(report.models) >= 2
    max_stages = max((m.num_stages for m in report.models), default=0)
    title = (f"{report.domain}: {stats.documents:,} document{'s' if stats.documents != 1 else ''}, {stats.bytes:,} bytes; "
             f"context {report.context}, "
             f"stride {report.stride} (>= {report.min_left_context} tokens of left context)")
    columns = ["model", "stages", "bpb", f"bits/{report.unit}"] + (["Δbpb"] if several else [])
    columns += [f"L{s + 1}/L{s}" for s in range(max_stages)] + ["BPIC", "bytes/s"]
    scores = _table(title, columns)
    first = report.models[0].clean.corpus.bpb if report.models else float("nan")
    for m in report.models:
        c = m.clean
        cells = [m.label, str(m.num_stages), _f(c.corpus.bpb), _f(c.corpus.bits_per_unit)]
        if several:
            cells.append(f"{c.corpus.bpb - first:+.4f}")
        cells += [_f(c.stages[s].compression, 3) if s < len(c.stages) else "" for s in range(max_stages)]
        cells += [_f(c.bpic, 2), _rate(c.bytes_per_second)]
        scores.add_row(*cells)
    ys = report.yardstick
    if ys is not None:  # the baseline's row: bits only (it has no stages, chunks or speed worth comparing)
        cells = [f"{ys.name} (yardstick)", "-", _f(ys.bpb), _f(ys.bits_per_unit)]
        if several:
            cells.append(f"{ys.bpb - first:+.4f}")
        scores.add_row(*cells, *[""] * (len(columns) - len(cells)))
    return scores


def _chunking_table(report: EvalReport):
    chunking = _table("chunks per stage (lengths in bytes)",
                      ["model", "stage", "L^s", "L^s+1", "ratio", "mean", "p10", "p50", "p90", "p99", "max"])
    for m in report.models:
        for st in m.clean.stages:
            chunking.add_row(m.label, str(st.stage), f"{st.positions:,}", f"{st.boundaries:,}",
                             _f(st.compression, 3), _f(st.mean_chunk_bytes(), 2),
                             *[str(st.quantile(q) or "-") for q in (0.1, 0.5, 0.9, 0.99)],
                             str(max(st.chunk_lengths)) if st.chunk_lengths else "-")
    return chunking


def _robustness_table(report: EvalReport):
    robust = _table("robustness: bpb of the perturbed text (change vs clean)", ["model", "clean", *report.perturbations])
    for m in report.models:
        cells = [m.label, _f(m.clean.corpus.bpb, 3)]
        for name in report.perturbations:
            p = m.perturbed[name]
            cells.append(f"{_f(p.corpus.bpb, 3)} ({p.corpus.bpb - m.clean.corpus.bpb:+.3f})")
        robust.add_row(*cells)
    return robust


def _score_cell(score: Score, several: bool) -> str:
    """bpb; with one model, bits per unit beside it."""
    return _f(score.bpb) if several else f"{_f(score.bpb)} ({_f(score.bits_per_unit)})"


def _files_table(report: EvalReport):
    several = len(report.models) >= 2
    files = _table("per file: bpb" + (f" (bits/{report.unit})" if not several else ""),
                   ["file", "bytes", *[m.label for m in report.models]])
    names = list(report.models[0].clean.files) if report.models else []
    for source in names:
        cells = [source, f"{report.models[0].clean.files[source].bytes:,}"]
        for m in report.models:
            sc = m.clean.files.get(source)
            cells.append("-" if sc is None else _score_cell(sc, several))
        files.add_row(*cells)
    return files


def _records_table(report: EvalReport):
    several = len(report.models) >= 2
    records = _table("per record: bpb" + (f" (bits/{report.unit})" if not several else ""),
                     ["record", "file", "bytes", *[m.label for m in report.models]], text_columns=2)
    base = report.models[0].clean.records if report.models else []
    for i, r in enumerate(base):
        cells = [r.name, r.source, f"{r.score.bytes:,}"]
        for m in report.models:
            cells.append(_score_cell(m.clean.records[i].score, several))
        records.add_row(*cells)
    return records


def summary_lines(report: EvalReport) -> list[str]:
    """Plain lines under the tables: the yardstick, throughput, windows, skipped input."""
    lines = []
    if report.yardstick is not None:
        first = report.models[0].clean.corpus.bits_per_unit if len(report.models) == 1 else None
        lines.append(report.yardstick.describe(first))
    elif report.yardstick_note:
        lines.append(report.yardstick_note)
    for m in report.models:
        c = m.clean
        overlap = c.forwarded_tokens / c.corpus.bytes if c.corpus.bytes else float("nan")
        lines.append(f"{m.label}: {_rate(c.bytes_per_second)} bytes/s ({c.corpus.bytes:,} bytes in {c.seconds:.2f} s; "
                     f"{c.windows:,} windows, {overlap:.2f} tokens forwarded per byte)")
    stats = report.read_stats
    for reason, count in sorted(stats.skipped.items()):
        lines.append(f"skipped {count}: {reason} (e.g. {', '.join(stats.examples.get(reason, []))})")
    if stats.replaced:
        lines.append(f"replaced {stats.replaced} invalid byte sequences with U+FFFD")
    empty = report.models[0].clean.empty_documents if report.models else 0
    if empty:
        lines.append(f"left out {empty} empty documents")
    return lines

"""An EvalReport as JSON-ready data, CSV rows, and rich tables (the command prints them).

JSON (`hnet eval --json`): one object with the settings, the corpus counts and
one entry per model: `bpb`, `bits_per_unit`, `bytes_per_second`, `chunking`
(per stage: positions L^s, boundaries L^{s+1}, compression, chunk-length
quantiles and histogram in bytes), `bpic`, `perturbations` (per name: bpb of
the perturbed text, `delta_bpb` against clean, `bits_per_original_byte`),
and with --per-file / --per-record `files` / `records`. Undefined numbers
(e.g. BPIC of an isotropic model) are null.

CSV (`--csv FILE`): one row per (model, perturbation, scope) where scope is
corpus, file or record; perturbation is "clean" for the unperturbed text.
"""

from __future__ import annotations

import csv
import io
import math
from typing import TYPE_CHECKING, Any

from hnet_cli.eval.corpus import PassResult, Score

if TYPE_CHECKING:
    from hnet_cli.eval.api import EvalReport, ModelReport

CSV_COLUMNS = [
    "model", "path", "perturbation", "scope", "source", "name", "documents", "bytes", "units", "bits", "bpb",
    "bits_per_unit", "bits_per_original_byte", "delta_bpb", "compression", "bpic", "bytes_per_second",
]


def _num(x: float | None) -> float | None:
    """NaN/inf are not JSON; they become null."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return None
    return x


def _clean_floats(obj: Any) -> Any:
    if isinstance(obj, float):
        return _num(obj)
    if isinstance(obj, dict):
        return {k: _clean_floats(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_clean_floats(v) for v in obj]
    return obj


def _pass_dict(result: PassResult, unit: str, clean: PassResult | None = None) -> dict:
    out = result.corpus.as_dict()
    out["bits_per_unit_name"] = unit
    out["bits_per_original_byte"] = result.bits_per_original_byte
    out["original_bytes"] = result.original_bytes
    if clean is not None:
        out["delta_bpb"] = result.corpus.bpb - clean.corpus.bpb
    out["chunking"] = [s.as_dict() for s in result.stages]
    out["bpic"] = result.bpic
    out["seconds"] = result.seconds
    out["bytes_per_second"] = result.bytes_per_second
    out["windows"] = result.windows
    out["forwarded_tokens"] = result.forwarded_tokens
    out["empty_documents"] = result.empty_documents
    if result.files:
        out["files"] = [{"source": src, **score.as_dict()} for src, score in result.files.items()]
    if result.records:
        out["records"] = [{"source": r.source, "name": r.name, **r.score.as_dict()} for r in result.records]
    return out


def report_dict(report: "EvalReport") -> dict:
    stats = report.read_stats
    models = []
    for m in report.models:
        entry = {"model": m.label, "path": m.path, "checkpoint": m.checkpoint, "stages": m.num_stages,
                 "parameters": m.parameters, **_pass_dict(m.clean, report.unit)}
        entry["perturbations"] = {name: _pass_dict(p, report.unit, m.clean) for name, p in m.perturbed.items()}
        models.append(entry)
    return _clean_floats({
        "domain": report.domain,
        "unit": report.unit,
        "domain_options": {k: list(v) if isinstance(v, tuple) else v for k, v in report.domain_options.items()},
        "paths": report.paths,
        "context": report.context,
        "stride": report.stride,
        "min_left_context": report.min_left_context,
        "batch_size": report.batch_size,
        "device": report.device,
        "dtype": report.dtype,
        "seed": report.seed,
        "perturbations": report.perturbations,
        "corpus": {
            "files": stats.files, "documents": stats.documents, "bytes": stats.bytes,
            "skipped": dict(stats.skipped), "excluded": dict(stats.excluded), "replaced": stats.replaced,
        },
        "models": models,
    })


def csv_text(report: "EvalReport") -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()

    def row(m, perturbation, scope, source, name, score: Score, **extra):
        writer.writerow({
            "model": m.label, "path": m.path, "perturbation": perturbation, "scope": scope, "source": source, "name": name,
            "documents": score.documents, "bytes": score.bytes, "units": score.units, "bits": _fmt_csv(score.bits),
            "bpb": _fmt_csv(score.bpb), "bits_per_unit": _fmt_csv(score.bits_per_unit),
            **{k: _fmt_csv(v) if isinstance(v, float) else v for k, v in extra.items()},
        })

    for m in report.models:
        passes = [("clean", m.clean)] + list(m.perturbed.items())
        for name, p in passes:
            delta = p.corpus.bpb - m.clean.corpus.bpb if name != "clean" else ""
            row(m, name, "corpus", "", "", p.corpus,
                bits_per_original_byte=p.bits_per_original_byte, delta_bpb=delta,
                compression=";".join(f"{s.compression:.6g}" for s in p.stages), bpic=p.bpic,
                bytes_per_second=p.bytes_per_second)
            for source, score in p.files.items():
                row(m, name, "file", source, "", score)
            for r in p.records:
                row(m, name, "record", r.source, r.name, r.score)
    return buf.getvalue()


def _fmt_csv(x: float) -> str:
    return "" if x is None or not math.isfinite(x) else repr(float(x))


# ---------------------------------------------------------------- tables


def _f(x: float, digits: int = 4) -> str:
    return "-" if x is None or not math.isfinite(x) else f"{x:.{digits}f}"


def _rate(x: float) -> str:
    if not math.isfinite(x):
        return "-"
    for scale, suffix in ((1e6, "M"), (1e3, "k")):
        if x >= scale:
            return f"{x / scale:.3g}{suffix}"
    return f"{x:.3g}"


def tables(report: "EvalReport", per_file: bool = False, per_record: bool = False) -> list:
    """rich renderables: scores (a comparison when several models), chunking, perturbations, files, records."""
    from rich.table import Table

    def table(title: str, columns: list[str], text_columns: int = 1) -> Table:
        # Names (models, files) fold onto several lines when long; numbers never shrink.
        t = Table(title=title, title_justify="left")
        for i, col in enumerate(columns):
            if i < text_columns:
                t.add_column(col, overflow="fold", min_width=min(len(col), 12))
            else:
                t.add_column(col, justify="right", no_wrap=True, min_width=len(col))
        return t

    out = []
    stats = report.read_stats
    several = len(report.models) >= 2
    max_stages = max((m.num_stages for m in report.models), default=0)
    title = (f"{report.domain}: {stats.documents:,} document{'s' if stats.documents != 1 else ''}, {stats.bytes:,} bytes; "
             f"context {report.context}, "
             f"stride {report.stride} (>= {report.min_left_context} tokens of left context)")
    columns = ["model", "stages", "bpb", f"bits/{report.unit}"] + (["Δbpb"] if several else [])
    columns += [f"L{s + 1}/L{s}" for s in range(max_stages)] + ["BPIC", "bytes/s"]
    scores = table(title, columns)
    first = report.models[0].clean.corpus.bpb if report.models else float("nan")
    for m in report.models:
        c = m.clean
        cells = [m.label, str(m.num_stages), _f(c.corpus.bpb), _f(c.corpus.bits_per_unit)]
        if several:
            cells.append(f"{c.corpus.bpb - first:+.4f}")
        cells += [_f(c.stages[s].compression, 3) if s < len(c.stages) else "" for s in range(max_stages)]
        cells += [_f(c.bpic, 2), _rate(c.bytes_per_second)]
        scores.add_row(*cells)
    out.append(scores)

    if max_stages:
        chunking = table("chunks per stage (lengths in bytes)",
                         ["model", "stage", "L^s", "L^s+1", "ratio", "mean", "p10", "p50", "p90", "p99", "max"])
        for m in report.models:
            for st in m.clean.stages:
                chunking.add_row(m.label, str(st.stage), f"{st.positions:,}", f"{st.boundaries:,}",
                                 _f(st.compression, 3), _f(st.mean_chunk_bytes(), 2),
                                 *[str(st.quantile(q) or "-") for q in (0.1, 0.5, 0.9, 0.99)],
                                 str(max(st.chunk_lengths)) if st.chunk_lengths else "-")
        out.append(chunking)

    if report.perturbations:
        robust = table("robustness: bpb of the perturbed text (change vs clean)",
                       ["model", "clean", *report.perturbations])
        for m in report.models:
            cells = [m.label, _f(m.clean.corpus.bpb, 3)]
            for name in report.perturbations:
                p = m.perturbed[name]
                cells.append(f"{_f(p.corpus.bpb, 3)} ({p.corpus.bpb - m.clean.corpus.bpb:+.3f})")
            robust.add_row(*cells)
        out.append(robust)

    if per_file:
        files = table("per file: bpb" + (f" (bits/{report.unit})" if not several else ""),
                      ["file", "bytes", *[m.label for m in report.models]])
        names = list(report.models[0].clean.files) if report.models else []
        for source in names:
            cells = [source, f"{report.models[0].clean.files[source].bytes:,}"]
            for m in report.models:
                sc = m.clean.files.get(source)
                cells.append("-" if sc is None else _f(sc.bpb) if several else f"{_f(sc.bpb)} ({_f(sc.bits_per_unit)})")
            files.add_row(*cells)
        out.append(files)

    if per_record:
        records = table("per record: bpb" + (f" (bits/{report.unit})" if not several else ""),
                        ["record", "file", "bytes", *[m.label for m in report.models]], text_columns=2)
        base = report.models[0].clean.records if report.models else []
        for i, r in enumerate(base):
            cells = [r.name, r.source, f"{r.score.bytes:,}"]
            for m in report.models:
                sc = m.clean.records[i].score
                cells.append(_f(sc.bpb) if several else f"{_f(sc.bpb)} ({_f(sc.bits_per_unit)})")
            records.add_row(*cells)
        out.append(records)
    return out


def summary_lines(report: "EvalReport") -> list[str]:
    """Plain lines under the tables: throughput, windows, skipped input."""
    lines = []
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

"""What `evaluate` returns: an EvalReport of ModelReports, and its JSON form (`hnet eval --json`).

JSON: one object with the settings, the corpus counts and one entry per model:
`bpb`, `bits_per_unit`, `bytes_per_second`, `chunking` (per stage: positions
L^s, boundaries L^{s+1}, compression, chunk-length quantiles and histogram in
bytes), `bpic`, `perturbations` (per name: bpb of the perturbed text,
`delta_bpb` against clean, `bits_per_original_byte`), and with --per-file /
--per-record `files` / `records`; `yardstick`: what an order-k Markov chain
scores on the same documents (`bpb`, `bits_per_unit`, `order`, what it was
fitted on; hnet_cli.eval.yardstick), null with `yardstick_note` saying why
when there is none. Undefined numbers (e.g. BPIC of an isotropic model) are
null.

The CSV and the tables of the same report are hnet_cli.eval.report.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from hnet_cli.data.readers.stats import ReadStats
from hnet_cli.eval.corpus import PassResult


def finite(x: float | None) -> float | None:
    """x, or None when it is undefined (None, NaN, inf): JSON null, an empty CSV cell, a "-" in a table."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return None
    return x


@dataclass
class ModelReport:
    """One model's results: the clean pass and one pass per perturbation."""

    label: str
    path: str
    checkpoint: str
    num_stages: int
    parameters: int
    clean: PassResult
    perturbed: dict[str, PassResult] = field(default_factory=dict)

    def as_dict(self, unit: str) -> dict:
        entry = {"model": self.label, "path": self.path, "checkpoint": self.checkpoint, "stages": self.num_stages,
                 "parameters": self.parameters, **_pass_dict(self.clean, unit)}
        entry["perturbations"] = {name: _pass_dict(p, unit, self.clean) for name, p in self.perturbed.items()}
        return entry


@dataclass
class EvalReport:
    domain: str
    unit: str
    domain_options: dict
    paths: list[str]
    context: int
    stride: int
    batch_size: int
    device: str
    dtype: str
    seed: int
    perturbations: list[str]
    read_stats: ReadStats
    models: list[ModelReport] = field(default_factory=list)
    domain_from: str | None = None  # the run record the domain and reader options came from, if any
    context_from: str | None = None  # the recipe the context (training length) came from, if any
    # The Markov yardstick on the same documents (hnet_cli.eval.yardstick), or why there is none.
    yardstick: Any = None  # a YardstickFigure
    yardstick_note: str | None = None

    @property
    def min_left_context(self) -> int:
        """Every byte is predicted from at least min(its position + 1, this many) tokens."""
        return self.context - self.stride

    def as_dict(self) -> dict[str, Any]:
        """What `hnet eval --json` prints (see the module docstring)."""
        stats = self.read_stats
        return _clean_floats({
            "domain": self.domain,
            "unit": self.unit,
            "domain_options": {k: list(v) if isinstance(v, tuple) else v for k, v in self.domain_options.items()},
            "paths": self.paths,
            "context": self.context,
            "stride": self.stride,
            "min_left_context": self.min_left_context,
            "batch_size": self.batch_size,
            "device": self.device,
            "dtype": self.dtype,
            "seed": self.seed,
            "perturbations": self.perturbations,
            "corpus": {
                "files": stats.files, "documents": stats.documents, "bytes": stats.bytes,
                "skipped": dict(stats.skipped), "excluded": dict(stats.excluded), "replaced": stats.replaced,
            },
            "models": [m.as_dict(self.unit) for m in self.models],
            "yardstick": self.yardstick.as_dict() if self.yardstick is not None else None,
            "yardstick_note": self.yardstick_note,
        })


def _clean_floats(obj: Any) -> Any:
    """NaN/inf are not JSON; they become null."""
    if isinstance(obj, float):
        return finite(obj)
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

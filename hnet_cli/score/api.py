"""`hnet score` as a library call: per-record log-likelihoods, per-position bedGraph tracks.

    from hnet_cli.score import ScoreRequest, run_score
    result = run_score(ScoreRequest(model="runs/dna", paths=["genome.fa.gz"], format="bedgraph",
                                    output="genome.bedGraph"))
    result.summary       # JSON-ready: documents, bytes, bits, bits per unit, read and region counts

Input is read as `hnet chunk` reads it (the run's own domain and reader options;
DNA keeps runs of N; pieces a reader cut are joined, so a record is one
document), optionally restricted to regions. Each document is scored with the
windows and forward passes of `hnet eval` (see hnet_cli.score.positions).
Variant scoring (`--variants`) is hnet_cli.score.variants.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from hnet_cli.errors import ConfigError
from hnet_cli.model.losses import LN2

FORMATS = ("auto", "tsv", "json", "bedgraph", "vcf")
SUFFIX_FORMATS = {".tsv": "tsv", ".txt": "tsv", ".json": "json", ".jsonl": "json", ".bedgraph": "bedgraph",
                  ".bg": "bedgraph", ".bdg": "bedgraph", ".vcf": "vcf", ".vcf.gz": "vcf", ".bcf": "vcf"}
TRACKS = ("surprisal", "boundary_prob")
DEFAULT_CONTEXT = 8192


@dataclass
class WindowedRequest:
    """What every job that reads a genome through a model's windows takes (score, embed)."""

    model: str
    paths: list[str] = field(default_factory=list)
    config: str | None = None
    domain: str | None = None
    domain_options: list[str] = field(default_factory=list)  # "key=value"
    context: int | None = None  # None: the model's training length, else 8192
    stride: int | None = None  # None: context // 2
    batch_size: int = 8
    device: str = "auto"
    dtype: str = "auto"
    region: list[str] = field(default_factory=list)  # "chr:start-end", 1-based inclusive
    regions: str | None = None  # a BED file, 0-based half-open


@dataclass
class ScoreRequest(WindowedRequest):
    """Everything `hnet score` takes; the defaults are the command's defaults."""

    format: str = "auto"
    output: str = "-"
    tracks: str = "surprisal,boundary_prob"
    stages: str = "0"
    track_line: bool = True
    # --variants: see hnet_cli.score.variants
    variants: str | None = None
    reference: str | None = None
    flank: int = 256
    both_strands: bool = False


@dataclass
class ScoreResult:
    summary: dict


def resolve_format(fmt: str, output: str, variants: bool = False) -> str:
    """auto: VCF for --variants; else by the output's suffix; else TSV."""
    if fmt not in FORMATS:
        raise ConfigError(f"unknown --format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if variants:
        if fmt not in ("auto", "vcf"):
            raise ConfigError(f"--variants writes VCF; --format {fmt} does not apply")
        return "vcf"
    if fmt == "vcf":
        raise ConfigError("--format vcf is the output of --variants (with --reference)")
    if fmt != "auto":
        return fmt
    name = output.lower()
    for suffix, found in SUFFIX_FORMATS.items():
        if name.endswith(suffix) and found != "vcf":
            return found
    return "tsv"


def parse_tracks(text: str) -> list[str]:
    tracks = [t.strip() for t in text.split(",") if t.strip()]
    unknown = [t for t in tracks if t not in TRACKS]
    if unknown or not tracks:
        raise ConfigError(f"--tracks {text!r}: choose from {', '.join(TRACKS)} (comma-separated)")
    return tracks


def window_settings(found, context: int | None, stride: int | None) -> tuple[int, int, list[str]]:
    """(context, stride, notes): the given values, else the length the model was trained on
    (found: hnet_cli.run.resolve's answer; else 8192) and half of it; checked as eval checks them."""
    from hnet_cli.eval.windows import check_window_args, default_stride

    notes = []
    if context is None:
        context = found.context or DEFAULT_CONTEXT
        if found.context:
            notes.append(f"context {found.context} (the training length, from {found.context_from})")
    stride = default_stride(context) if stride is None else stride
    check_window_args(context, stride)
    return context, stride, notes


def resolve_inputs(request):
    """(resolved model, reader options, RegionFilter or None): the input read as `hnet chunk`
    reads it (the run's own domain and options; DNA keeps runs of N unless told)."""
    from hnet_cli.data.domain import option_pairs
    from hnet_cli.data.regions import RegionFilter, gather_regions
    from hnet_cli.run import resolve
    from hnet_cli.run.resolve import DEFAULT

    found = resolve(request.model, request.domain, option_pairs(request.domain_options), config=request.config,
                    paths=request.paths)
    if found.domain_from == DEFAULT and not request.paths:
        raise ConfigError("give input FILES, or --domain NAME to read that domain's bundled sample")
    options = dict(found.options)
    if found.domain.name == "dna" and "n_split" in options and "n_split" not in found.given_options:
        options["n_split"] = 0  # keep N runs: tracks and rows then cover whole records
    for path in request.paths:
        found.domain.check_input(path)
    wanted = gather_regions(request.region, request.regions)
    return found, options, (RegionFilter(wanted) if wanted else None)


def run_score(request: ScoreRequest, reporter=None, model=None) -> ScoreResult:
    """Run `hnet score` (see the module docstring). `model`: an already loaded HNetLM."""
    from hnet_cli.chunk.pipeline import join_continued, parse_stages
    from hnet_cli.outputs import open_output
    from hnet_cli.progress import NullReporter
    from hnet_cli.runtime import pick_device, pick_dtype
    from hnet_cli.score.positions import score_positions
    from hnet_cli.score.writers import BedGraphWriter, RecordWriter

    if request.variants is not None:
        from hnet_cli.score.variants import run_variant_scoring

        return run_variant_scoring(request, reporter=reporter, model=model)
    fmt = resolve_format(request.format, request.output)
    tracks = parse_tracks(request.tracks)
    found, options, regions = resolve_inputs(request)
    domain = found.domain
    context, stride, notes = window_settings(found, request.context, request.stride)
    if request.batch_size < 1:
        raise ConfigError(f"--batch-size {request.batch_size}: must be at least 1")

    device = pick_device(request.device)
    dtype = pick_dtype(request.dtype, device)
    if model is None:
        model = found.load(device)
    stages = []  # boundary-probability tracks; an isotropic model has none
    if fmt == "bedgraph" and "boundary_prob" in tracks and model.config.num_stages > 0:
        stages = parse_stages(request.stages, model.config.num_stages)
    reporter = reporter or NullReporter()
    totals = {"documents": 0, "bytes": 0, "units": 0, "nats": 0.0, "empty_documents": 0}

    def on_empty(_index, _doc):
        totals["empty_documents"] += 1

    stream = domain.read(request.paths, **options)
    reporter.start("scoring", unit="bytes")
    try:
        with open_output(request.output, "w") as out:
            if fmt == "bedgraph":
                writer = BedGraphWriter(out, tracks, stages, Path(str(request.model)).name or "model",
                                        request.track_line)
            else:
                writer = RecordWriter(out, fmt)
            writer.begin()
            selected = stream if regions is None else regions.restrict(stream)
            for scores in score_positions(model, join_continued(selected), context=context, stride=stride,
                                          count_units=domain.count_units, batch_size=request.batch_size,
                                          device=device, dtype=dtype,
                                          on_batch=lambda n, _nats: reporter.advance(n), on_empty=on_empty):
                writer.add(scores)
                totals["documents"] += 1
                totals["bytes"] += scores.length
                totals["units"] += scores.units
                totals["nats"] += scores.nats
            if regions is not None:
                regions.check_matched(request.paths)
            writer.end()
    finally:
        stream.close()
        reporter.finish()
    bits = totals["nats"] / LN2
    summary = {
        "model": str(request.model), "domain": domain.name, "unit": domain.unit, "format": fmt,
        "output": request.output, "context": context, "stride": stride, "min_left_context": context - stride,
        "documents": totals["documents"], "empty_documents": totals["empty_documents"], "bytes": totals["bytes"],
        "units": totals["units"], "bits": bits, "log_likelihood": -totals["nats"],
        "bits_per_byte": bits / totals["bytes"] if totals["bytes"] else None,
        "bits_per_unit": bits / totals["units"] if totals["units"] else None,
        "rows": writer.rows, "read": stream.stats.as_dict(), "notes": notes,
    }
    if regions is not None:
        summary["regions"] = regions.as_dict()
    return ScoreResult(summary)


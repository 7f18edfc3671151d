"""What `hnet score` and `hnet embed` take, and the steps they share: the output format, the
windows (context and stride), and the input read as `hnet chunk` reads it."""

from __future__ import annotations

from dataclasses import dataclass, field

from hnet_cli.errors import ConfigError

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
    reads it (the run's own domain and options, made to keep records whole: DNA keeps runs of N unless told)."""
    from hnet_cli.data.domain import option_pairs
    from hnet_cli.data.regions import RegionFilter, gather_regions
    from hnet_cli.run import resolve
    from hnet_cli.run.resolve import DEFAULT

    found = resolve(request.model, request.domain, option_pairs(request.domain_options), config=request.config,
                    paths=request.paths)
    if found.domain_from == DEFAULT and not request.paths:
        raise ConfigError("give input FILES, or --domain NAME to read that domain's bundled sample")
    options = found.domain.whole_record_options(found.options, found.given_options)  # tracks cover whole records
    for path in request.paths:
        found.domain.check_input(path)
    wanted = gather_regions(request.region, request.regions)
    return found, options, (RegionFilter(wanted) if wanted else None)

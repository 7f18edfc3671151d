"""`hnet chunk` as a library call: read files, run the model, write the chosen view.

    from hnet_cli.chunk import ChunkRequest, run_chunk
    result = run_chunk(ChunkRequest(paths=["genome.fa.gz"], model="runs/dna", format="bed", output="out.bed"))
    result.summary            # JSON-ready: documents, bytes, chunks and compression per stage, windows
    result.stats              # ChunkStats when request.stats

Input: a domain reader's Documents (the domain's bundled sample when no paths
are given). Without --domain, a run directory's own domain and reader options
(RUN/run.json) are used, so `hnet chunk -m runs/dna` reads as training did.
Pieces of one record or file that a reader cut for memory (meta["continues"])
are joined again, so chunks never break where a reader happened to cut; for
DNA, runs of N are kept (n_split=0) unless the user sets `--domain-opt
n_split=K`, so BED output covers whole records.

Memory: output is written window by window as the model decides it (see
chunk/pieces.py); pieces of a record are windowed across the reader's cuts,
never joined in memory. What is held is bounded by the window and the batch
(--batch-tokens), not by the record: a whole chromosome streams, and the
first lines are out after the first batch. The terminal and HTML views draw
whole documents, so they hold each one while it is read. With a piece size
the user set (`-D max_length=N` for dna, `-o max_bytes=N` for text) each
piece is its own document (coordinates stay exact; a chunk can end where a
piece ends).
"""

from __future__ import annotations

import contextlib
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from hnet_cli.chunk.pieces import Assembler, Piece
from hnet_cli.chunk.runner import DEFAULT_OVERLAP, DEFAULT_WINDOW, default_batch_tokens, segment_pieces
from hnet_cli.chunk.stats import ChunkStats
from hnet_cli.chunk.windows import check_window
from hnet_cli.data.documents import Document, continues, joined_name
from hnet_cli.data.domain import option_pairs
from hnet_cli.errors import ConfigError
from hnet_cli.run import resolve
from hnet_cli.run.resolve import DEFAULT

FORMATS = ("auto", "term", "html", "json", "tsv", "parquet", "bed")
SUFFIX_FORMATS = {".html": "html", ".htm": "html", ".json": "json", ".jsonl": "json", ".ndjson": "json",
                  ".tsv": "tsv", ".txt": "tsv", ".parquet": "parquet", ".pq": "parquet", ".bed": "bed"}
PER = ("byte", "chunk")


@dataclass
class ChunkRequest:
    """Everything `hnet chunk` takes; the defaults are the command's defaults."""

    model: str
    paths: list[str] = field(default_factory=list)
    config: str | None = None
    domain: str | None = None  # None: dna for FASTA/FASTQ files, text otherwise
    domain_options: list[str] = field(default_factory=list)  # "key=value"
    format: str = "auto"
    per: str = "byte"
    stages: str = "all"  # "all" or e.g. "0" or "0,1"
    output: str = "-"
    window: int = DEFAULT_WINDOW
    overlap: int = DEFAULT_OVERLAP
    batch_tokens: int | None = None  # None: default_batch_tokens(device)
    limit: int | None = None
    device: str = "auto"
    dtype: str = "auto"
    stats: bool = False
    shade: bool = False
    track_line: bool = False
    width: int | None = None
    color: bool | None = None
    region: list[str] = field(default_factory=list)  # "chr:start-end", 1-based inclusive
    regions: str | None = None  # a BED file of regions, 0-based half-open


@dataclass
class ChunkResult:
    summary: dict
    stats: ChunkStats | None = None


def resolve_format(fmt: str, output: str, stdout_is_tty: bool = False) -> str:
    """auto: the terminal view on an interactive stdout; else by the output's suffix; else TSV."""
    if fmt not in FORMATS:
        raise ConfigError(f"unknown --format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if fmt != "auto":
        return fmt
    if output == "-":
        return "term" if stdout_is_tty else "tsv"
    name = output.lower()
    if name.endswith(".gz"):
        raise ConfigError(f"{output}: compressed output is not written; pipe through gzip instead")
    return SUFFIX_FORMATS.get(Path(name).suffix, "tsv")


def parse_stages(text: str, num_stages: int) -> list[int]:
    """"all" or a comma-separated list of stage numbers (0 = the byte-level stage)."""
    if num_stages == 0:
        raise ConfigError("this model has no chunking stages (an isotropic model): there is nothing to show")
    text = text.strip().lower()
    if text == "all":
        return list(range(num_stages))
    stages = set()
    for part in text.split(","):
        part = part.strip()
        if not part.isdigit():
            raise ConfigError(f"--stage {text!r}: expected 'all' or stage numbers such as 0 or 0,1")
        s = int(part)
        if s >= num_stages:
            raise ConfigError(f"--stage {s}: this model has {num_stages} stage{'s' * (num_stages > 1)} "
                              f"(0..{num_stages - 1})")
        stages.add(s)
    return sorted(stages)


def join_continued(documents: Iterable[Document]) -> Iterator[Document]:
    """Rejoin pieces a reader cut for memory (meta["continues"]): one record or file, contiguous."""
    first: Document | None = None
    last: Document | None = None
    parts: list[bytes] = []
    for doc in documents:
        if last is not None and continues(last, doc):
            parts.append(doc.data)
            last = doc
            continue
        if first is not None:
            yield _merge(first, last, parts)
        first, last, parts = doc, doc, [doc.data]
    if first is not None:
        yield _merge(first, last, parts)


def _merge(first: Document, last: Document, parts: list[bytes]) -> Document:
    if len(parts) == 1:
        return first
    data = b"".join(parts)
    meta = dict(first.meta, continues=bool(last.meta.get("continues", False)))
    return Document(data, first.source, joined_name(first, len(data)), meta)


def take_bytes(documents: Iterable[Document], limit: int | None) -> Iterator[Document]:
    """The first `limit` bytes of the input (the document that crosses the limit is cut)."""
    if limit is None:
        yield from documents
        return
    left = limit
    for doc in documents:
        if left <= 0:
            return
        if len(doc.data) > left:
            doc = Document(doc.data[:left], doc.source, doc.name, dict(doc.meta, truncated=True))
        left -= len(doc.data)
        yield doc


def _writer(fmt: str, stream, request: ChunkRequest, stages: list[int], sequence: bool, model_name: str):
    if fmt == "term":
        from hnet_cli.chunk.terminal import TerminalWriter

        return WholeDocuments(TerminalWriter(stream, stages, sequence=sequence, shade=request.shade,
                                             width=request.width, color=request.color))
    if fmt == "html":
        from hnet_cli.chunk.html import HtmlWriter

        return WholeDocuments(HtmlWriter(stream, stages, sequence=sequence, model_name=model_name))
    if fmt == "bed":
        from hnet_cli.chunk.bed import BedWriter

        return BedWriter(stream, stages, track=request.track_line, model_name=model_name)
    from hnet_cli.chunk.tables import TABLE_WRITERS

    return TABLE_WRITERS[fmt](stream, request.per, stages)


class WholeDocuments:
    """A view that draws whole documents (terminal, HTML), fed pieces: each document is assembled first."""

    def __init__(self, view):
        self.view = view
        self._assembler = Assembler()

    @property
    def console(self):
        return self.view.console

    def begin(self) -> None:
        self.view.begin()

    def add(self, piece: Piece) -> None:
        seg = self._assembler.add(piece)
        if seg is not None:
            self.view.add(seg)

    def end(self) -> None:
        self.view.end()

    def abort(self) -> None:
        self.view.abort()


@dataclass
class _StageCounts:
    elements: int = 0  # L^s: positions the stage saw
    chunks: int = 0  # L^{s+1}: boundaries it chose
    seam_agreement: float = 0.0  # sum over seams of the agreement measured there
    seams: int = 0  # seams where agreement was measured
    exact_seams: int = 0


@dataclass
class _Totals:
    """What `run_chunk` counts while it writes: per document, and per stage."""

    stages: list[int]
    documents: int = 0
    bytes: int = 0
    windows: int = 0  # forward windows
    windowed_documents: int = 0  # documents longer than one window
    per_stage: dict[int, _StageCounts] = field(default_factory=dict)

    def __post_init__(self):
        self.per_stage = {s: _StageCounts() for s in self.stages}

    def add(self, piece: Piece) -> None:
        self.bytes += len(piece.data)
        for s in self.stages:
            self.per_stage[s].elements += len(piece.stages[s])
            self.per_stage[s].chunks += len(piece.chunks[s])
        if not piece.last:
            return
        doc = piece.doc
        self.documents += 1
        self.windows += doc.windows
        if doc.seams is None:
            return
        self.windowed_documents += 1
        for s in self.stages:
            if doc.seams.agreement[s] is not None:
                counts = self.per_stage[s]
                counts.seam_agreement += doc.seams.agreement[s] * doc.seams.seams
                counts.seams += doc.seams.seams
                counts.exact_seams += doc.seams.exact_seams[s]

    def per_stage_dicts(self) -> list[dict]:
        return [{"stage": s, "elements": c.elements, "chunks": c.chunks,
                 "compression": c.chunks / c.elements if c.elements else 0.0,
                 "bytes_per_chunk": self.bytes / c.chunks if c.chunks else 0.0}
                for s, c in self.per_stage.items()]

    def windows_dict(self, window: int, overlap: int) -> dict:
        counts = self.per_stage
        return {
            "window": window,
            "overlap": overlap,
            "forward_windows": self.windows,
            "windowed_documents": self.windowed_documents,
            "seam_agreement": {str(s): (c.seam_agreement / c.seams if c.seams else None) for s, c in counts.items()},
            "exact_seams": {str(s): c.exact_seams for s, c in counts.items()},
            "seams": max((c.seams for c in counts.values()), default=0),
        }


def _check_request(request: ChunkRequest) -> None:
    if request.per not in PER:
        raise ConfigError(f"unknown --per {request.per!r}; choose byte or chunk")
    if request.limit is not None and request.limit < 1:
        raise ConfigError(f"--limit must be at least 1 byte (got {request.limit})")
    if request.batch_tokens is not None and request.batch_tokens < 2:
        raise ConfigError(f"--batch-tokens must be at least 2 (got {request.batch_tokens})")
    check_window(request.window, request.overlap)


def _resolve_input(request: ChunkRequest):
    """(resolved model, reader options): the run's domain and options, made to keep records whole."""
    found = resolve(request.model, request.domain, option_pairs(request.domain_options), config=request.config,
                    paths=request.paths)
    if found.domain_from == DEFAULT and not request.paths:
        raise ConfigError("give input FILES, or --domain NAME to read that domain's bundled sample")
    options = found.domain.whole_record_options(found.options, found.given_options)  # e.g. BED covers whole records
    for path in request.paths:
        found.domain.check_input(path)
    return found, options


def run_chunk(request: ChunkRequest, reporter=None, stdout_is_tty: bool = False, model=None) -> ChunkResult:
    """Run `hnet chunk`. `model`: an already loaded HNetLM (else request.model is loaded)."""
    from hnet_cli.data.regions import RegionFilter, gather_regions
    from hnet_cli.data.size import input_bytes
    from hnet_cli.outputs import check_output, open_output
    from hnet_cli.progress import NullReporter
    from hnet_cli.runtime import pick_device, pick_dtype

    _check_request(request)
    region_list = gather_regions(request.region, request.regions)
    regions = RegionFilter(region_list) if region_list else None
    fmt = resolve_format(request.format, request.output, stdout_is_tty)
    check_output(request.output)  # a bad destination fails now, not after the whole input
    found, options = _resolve_input(request)
    domain = found.domain
    device = pick_device(request.device)
    dtype = pick_dtype(request.dtype, device)
    model = found.load(device) if model is None else model
    model_name = Path(str(request.model)).name or str(request.model)
    stages = parse_stages(request.stages, model.config.num_stages)
    stats = ChunkStats(stages, sequence=domain.sequence) if request.stats else None

    stream = domain.read(request.paths, **options)
    totals = _Totals(stages)
    if reporter is not None:
        # Counted first for the progress total (nobody sees it when the reporter is silent).
        total = None if type(reporter) is NullReporter else input_bytes(domain, request.paths, options, request.limit)
        reporter.start("chunking", total=total, unit="bytes")
    try:
        with open_output(request.output, "wb" if fmt == "parquet" else "w") as out:
            writer = _writer(fmt, out, request, stages, domain.sequence, model_name)
            with _aborted_on_failure(writer):
                writer.begin()
                selected = stream if regions is None else regions.restrict(stream)
                # A piece size the user set asks for those pieces as documents: they are not joined.
                join = not (found.given_options & set(domain.size_options))
                for piece in segment_pieces(model, take_bytes(selected, request.limit), window=request.window,
                                            overlap=request.overlap,
                                            batch_tokens=request.batch_tokens or default_batch_tokens(device),
                                            device=device, dtype=dtype, reporter=reporter, join=join):
                    writer.add(piece)  # written now: nothing of a window outlives it (see chunk/pieces.py)
                    if stats is not None:
                        stats.add(piece)
                    totals.add(piece)
                if fmt == "term" and stats is not None:
                    stats.render(writer.console)
                if regions is not None:
                    regions.check_matched(request.paths)
                writer.end()
    finally:
        stream.close()
        if reporter is not None:
            reporter.finish()

    summary = {
        "model": str(request.model), "num_stages": model.config.num_stages, "stages": stages,
        "domain": domain.name, "format": fmt, "per": request.per if fmt in ("json", "tsv", "parquet") else None,
        "output": request.output, "documents": totals.documents, "bytes": totals.bytes,
        "rows": getattr(writer, "rows", None), "per_stage": totals.per_stage_dicts(),
        "windows": totals.windows_dict(request.window, request.overlap), "read": stream.stats.as_dict(),
    }
    if regions is not None:
        summary["regions"] = regions.as_dict()
    if stats is not None:
        summary["stats"] = stats.as_dict()
    return ChunkResult(summary, stats)


@contextlib.contextmanager
def _aborted_on_failure(writer):
    """On any failure, the writer lets go of its stream first (pyarrow's would complain when collected)."""
    try:
        yield writer
    except BaseException:
        writer.abort()
        raise


def stdout_is_terminal() -> bool:
    return hasattr(sys.stdout, "isatty") and sys.stdout.isatty()

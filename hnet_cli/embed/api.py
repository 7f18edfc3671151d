"""`hnet embed` as a library call: hidden states to Parquet, .npy/.npz or safetensors.

    from hnet_cli.embed import EmbedRequest, run_embed
    result = run_embed(EmbedRequest(model="runs/dna", paths=["genome.fa.gz"], per="chunk",
                                    output="chunks.parquet"))
    result.summary       # JSON-ready: documents, bytes, rows, dimension, read and region counts

    # or the rows themselves, without a file:
    from hnet_cli.embed import embed_documents
    for rows in embed_documents(model, documents, pool="mean"):
        rows.record, rows.start, rows.end, rows.vectors

Input is read as `hnet score` and `hnet chunk` read it (the run's own domain
and reader options, DNA keeping runs of N, pieces of a record joined), and
optionally restricted to regions; see hnet_cli.embed.stream for what is taken.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hnet_cli.errors import ConfigError
from hnet_cli.score.request import WindowedRequest


@dataclass
class EmbedRequest(WindowedRequest):
    """Everything `hnet embed` takes; the defaults are the command's defaults."""

    output: str = "-"
    format: str = "auto"  # auto (from the suffix), parquet, npy, npz, safetensors
    per: str = "byte"
    pool: str | None = None  # mean, last, chunk-mean
    stage: int = 0
    rc_average: bool = False


@dataclass
class EmbedResult:
    summary: dict


def embedding_dim(config, stage: int, chunks: bool) -> int:
    """Width of the vectors: a stage's chunk inputs are d_s wide; stage s's outputs are cut
    back to the width of the sequence it was given (d_{s-1}; stage 0: d_0)."""
    return config.d_model[stage] if chunks or stage == 0 else config.d_model[stage - 1]


def run_embed(request: EmbedRequest, reporter=None, model=None) -> EmbedResult:
    """Run `hnet embed` (see the module docstring). `model`: an already loaded HNetLM."""
    from hnet_cli.chunk.pipeline import join_continued
    from hnet_cli.embed.stream import check_request, embed_documents
    from hnet_cli.embed.writers import open_writer, resolve_format
    from hnet_cli.outputs import check_output, open_output
    from hnet_cli.progress import NullReporter
    from hnet_cli.runtime import pick_device, pick_dtype
    from hnet_cli.score.request import resolve_inputs, window_settings

    fmt = resolve_format(request.format, request.output)
    check_output(request.output)  # a bad destination fails now, not after the model ran
    found, options, regions = resolve_inputs(request)
    domain = found.domain
    context, stride, notes = window_settings(found, request.context, request.stride)
    if request.rc_average and not domain.double_stranded:
        raise ConfigError(f"--rc-average pairs the two DNA strands; the input is read as {domain.name}")
    device = pick_device(request.device)
    dtype = pick_dtype(request.dtype, device)
    if model is None:
        model = found.load(device)
    check_request(model.config.num_stages, request.per, request.stage, request.pool, request.rc_average)
    chunks = request.pool == "chunk-mean" or (request.per == "chunk" and request.pool is None)
    dim = embedding_dim(model.config, request.stage, chunks)
    reporter = reporter or NullReporter()
    totals = {"documents": 0, "bytes": 0, "empty_documents": 0}

    def counted(documents):
        for doc in documents:
            if doc.data:
                totals["documents"] += 1
                totals["bytes"] += len(doc.data)
            yield doc

    def on_empty(_doc):
        totals["empty_documents"] += 1

    stream = domain.read(request.paths, **options)
    reporter.start("embedding", unit="bytes")
    try:
        with open_output(request.output, "wb") as out:
            writer = open_writer(fmt, out, dim, request.output)
            selected = stream if regions is None else regions.restrict(stream)
            for rows in embed_documents(model, counted(join_continued(selected)), per=request.per, stage=request.stage,
                                        pool=request.pool, rc_average=request.rc_average,
                                        reverse_strand=domain.reverse_strand if request.rc_average else None, context=context,
                                        stride=stride, batch_size=request.batch_size, device=device, dtype=dtype,
                                        on_batch=reporter.advance, on_empty=on_empty):
                writer.add(rows)
            if regions is not None:
                regions.check_matched(request.paths)
            writer.end()
    finally:
        stream.close()
        reporter.finish()
    summary = {
        "model": str(request.model), "domain": domain.name, "format": fmt, "output": request.output,
        "per": None if request.pool else request.per, "pool": request.pool, "stage": request.stage,
        "rc_average": request.rc_average, "dimension": dim, "rows": writer.rows, "documents": totals["documents"],
        "empty_documents": totals["empty_documents"], "bytes": totals["bytes"], "context": context, "stride": stride,
        "read": stream.stats.as_dict(), "notes": notes, "model_name": Path(str(request.model)).name,
    }
    if regions is not None:
        summary["regions"] = regions.as_dict()
    return EmbedResult(summary)

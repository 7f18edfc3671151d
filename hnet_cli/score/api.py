"""`hnet score` as a library call: per-record log-likelihoods, per-position bedGraph tracks.

    from hnet_cli.score import ScoreRequest, run_score
    result = run_score(ScoreRequest(model="runs/dna", paths=["genome.fa.gz"], format="bedgraph",
                                    output="genome.bedGraph"))
    result.summary       # JSON-ready: documents, bytes, bits, bits per unit, read and region counts

Input is read as `hnet chunk` reads it (the run's own domain and reader options;
DNA keeps runs of N; pieces a reader cut are joined, so a record is one
document), optionally restricted to regions. Each document is scored with the
windows and forward passes of `hnet eval` (see hnet_cli.score.positions).
Variant scoring (`--variants`) is hnet_cli.score.variants; the request and the
steps score and embed share are hnet_cli.score.request.
"""

from __future__ import annotations

from pathlib import Path

from hnet_cli.errors import ConfigError
from hnet_cli.model.losses import LN2
from hnet_cli.score.request import (
    ScoreRequest, ScoreResult, parse_tracks, resolve_format, resolve_inputs, window_settings,
)

def run_score(request: ScoreRequest, reporter=None, model=None) -> ScoreResult:
    """Run `hnet score` (see the module docstring). `model`: an already loaded HNetLM."""
    from hnet_cli.chunk.pipeline import join_continued, parse_stages
    from hnet_cli.outputs import check_output, open_output
    from hnet_cli.progress import NullReporter
    from hnet_cli.runtime import pick_device, pick_dtype
    from hnet_cli.score.positions import score_positions
    from hnet_cli.score.writers import BedGraphWriter, RecordWriter

    if request.variants is not None:
        from hnet_cli.score.variants import run_variant_scoring

        return run_variant_scoring(request, reporter=reporter, model=model)
    fmt = resolve_format(request.format, request.output)
    check_output(request.output)  # a bad destination fails now, not after the scoring
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


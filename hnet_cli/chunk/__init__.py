"""See and export the segmentation an H-Net learned (`hnet chunk`).

    import hnet_cli
    from hnet_cli.chunk import segment_bytes, segment_documents, run_chunk, ChunkRequest

    model = hnet_cli.load("runs/dna")
    seg = segment_bytes(model, b"ACGT" * 100)       # Segmentation, every stage
    seg.chunk_starts(0)                              # byte offsets where stage-0 chunks begin
    seg.chunk_table(1)                               # start, end, boundary_prob, mean_confidence per chunk
    seg.stages[0].boundary_prob                      # the model's p_t for every byte

    run_chunk(ChunkRequest(model="runs/dna", paths=["genome.fa"], format="bed", output="chunks.bed"))

Modules: segmentation (what is reported, in document coordinates), runner
(batched forward passes), windows (long inputs: overlapping windows and
stitching), pipeline (files in, chosen view out), and one module per view:
terminal, html, tables (TSV / JSON Lines / Parquet), bed, stats.
"""

from hnet_cli.chunk.pipeline import ChunkRequest, ChunkResult, run_chunk
from hnet_cli.chunk.runner import DEFAULT_OVERLAP, DEFAULT_WINDOW, segment_bytes, segment_documents
from hnet_cli.chunk.segmentation import ChunkTable, Segmentation, StageSegmentation, WindowAgreement

__all__ = [
    "ChunkRequest", "ChunkResult", "ChunkTable", "DEFAULT_OVERLAP", "DEFAULT_WINDOW", "Segmentation",
    "StageSegmentation", "WindowAgreement", "run_chunk", "segment_bytes", "segment_documents",
]

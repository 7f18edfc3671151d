"""`hnet chunk` writes each window as it is decided: the same bytes as from whole records, and early.

The whole-record path is a whole document's Segmentation (stitched from every
window at once, `windows.stitch`) given to a writer as one piece, with no chunk
carried from one window to the next; the streamed path is the pipeline's, one
piece per window. Records span many windows (window 300, overlap 60), several
records and an empty one, one and two stages.
"""

import io
import random

import pyarrow.parquet as pq
import pytest
import torch

from hnet_cli import outputs
from hnet_cli.chunk import ChunkRequest, run_chunk
from hnet_cli.chunk.bed import BedWriter
from hnet_cli.chunk.pieces import Assembler, whole_document_piece
from hnet_cli.chunk.runner import segment_documents, segment_pieces
from hnet_cli.chunk.stats import ChunkStats
from hnet_cli.chunk.tables import TABLE_WRITERS, Blocks
from hnet_cli.chunk.windows import WindowPlanner, plan_windows, stitch
from hnet_cli.data.documents import Document
from hnet_cli.model import save_model
from model_helpers import tiny_model

KW = dict(window=300, overlap=60, batch_tokens=900)


def documents(seed: int = 1) -> list[Document]:
    rng = random.Random(seed)
    lengths = [3000, 0, 1, 450, 1200]
    return [Document(bytes(rng.choice(b"ACGTN" if i == 4 else b"ACGT") for _ in range(n)), "x.fa", f"r{i}",
                     {"record": f"r{i}", "offset": 10 * i}) for i, n in enumerate(lengths)]


@pytest.fixture(scope="module")
def models():
    return {s: tiny_model(s, seed=5) for s in (1, 2)}


@pytest.fixture(scope="module")
def runs(models):
    """Per number of stages: the whole-record pieces (one per document) and the streamed ones."""
    docs = documents()
    return {s: ([whole_document_piece(seg) for seg in segment_documents(m, docs, **KW)],
                list(segment_pieces(m, docs, **KW))) for s, m in models.items()}


def test_window_planner_matches_plan_windows_whatever_the_pieces():
    rng = random.Random(0)
    for n in [0, 1, 5, 99, 100, 101, 250, 1000, 1001, 3333]:
        for window, overlap in [(100, 20), (100, 0), (100, 99), (7, 3), (1, 0)]:
            data = bytes(rng.randrange(256) for _ in range(n))
            planner, planned, at = WindowPlanner(window, overlap), [], 0
            while at < n:
                k = rng.randint(1, 150)
                planned += planner.feed(data[at : at + k])
                at += k
            planned += planner.finish()
            assert [w for w, _ in planned] == plan_windows(n, window, overlap)
            assert all(row == data[w.start : w.end] for w, row in planned)


def test_pieces_assemble_to_the_stitched_segmentation(models):
    """Each piece is its window's kept range: put together they are `stitch` of all windows."""
    from hnet_cli.chunk.runner import forward_rows

    model = models[2]
    doc = documents()[0]
    windows = plan_windows(len(doc.data), 300, 60)
    raw = [forward_rows(model, [doc.data[w.start : w.end]])[0] for w in windows]
    whole = stitch(windows, raw, 2)
    pieces = list(segment_pieces(model, [doc], **KW))
    assert len(pieces) == len(windows) > 5 and [p.last for p in pieces] == [False] * (len(windows) - 1) + [True]
    seg = Assembler()
    for piece in pieces:
        out = seg.add(piece)
    for s in range(2):
        assert torch.equal(out.stages[s].element_start, whole[s].element_start)
        # batched with other windows, the same rows go through matmuls of other shapes:
        # equal up to float32 rounding (a few ulp), not bit for bit on every CPU
        torch.testing.assert_close(out.stages[s].boundary_prob, whole[s].boundary_prob, rtol=0, atol=1e-6)
    assert out.data == doc.data and out.windows == len(windows) and out.seams.seams == len(windows) - 1


WRITERS = [("bed", None), ("tsv", "byte"), ("tsv", "chunk"), ("json", "byte"), ("json", "chunk"),
           ("parquet", "byte"), ("parquet", "chunk")]


def _write(fmt, per, stages, pieces):
    binary = fmt == "parquet"
    stream = io.BytesIO() if binary else io.StringIO()
    writer = BedWriter(stream, stages) if fmt == "bed" else TABLE_WRITERS[fmt](stream, per, stages)
    writer.begin()
    for piece in pieces:
        writer.add(piece)
    writer.end()
    return stream.getvalue()


@pytest.mark.parametrize("num_stages", [1, 2])
@pytest.mark.parametrize("fmt,per", WRITERS)
def test_streamed_output_is_byte_identical_to_whole_records(runs, num_stages, fmt, per):
    stages = list(range(num_stages))
    whole, streamed = runs[num_stages]
    assert len(streamed) > 2 * len(whole)
    expected = _write(fmt, per, stages, whole)
    assert _write(fmt, per, stages, streamed) == expected
    if fmt == "parquet":  # and its row groups are the whole-record ones
        assert pq.ParquetFile(io.BytesIO(expected)).metadata.num_rows > 0


def test_stats_from_pieces_equal_stats_from_whole_records(runs):
    whole, streamed = ChunkStats([0, 1], sequence=True), ChunkStats([0, 1], sequence=True)
    for piece in runs[2][0]:
        whole.add(piece)
    for piece in runs[2][1]:
        streamed.add(piece)
    assert streamed.as_dict() == whole.as_dict()
    assert whole.as_dict()["documents"] == len(documents())


def test_a_record_cut_into_pieces_by_the_reader_reads_as_one(models):
    """Pieces that continue one another are windowed across their cuts, never joined in memory."""
    model = models[1]
    doc = documents()[0]
    cuts = [0, 700, 701, 1650, 3000]
    pieces = [Document(doc.data[a:b], doc.source, doc.name,
                       dict(doc.meta, offset=doc.meta["offset"] + a, continues=b < len(doc.data)))
              for a, b in zip(cuts, cuts[1:])]
    one = _write("bed", None, [0], segment_pieces(model, [doc], **KW))
    joined = list(segment_pieces(model, pieces, **KW))
    assert _write("bed", None, [0], joined) == one
    assert joined[-1].doc.name == "r0:0-3000"
    kept = list(segment_pieces(model, pieces, join=False, **KW))
    assert sum(p.last for p in kept) == len(pieces)


def test_chunk_scores_match_the_whole_record_chunk_table(models, runs):
    """A chunk carried over several windows gets the mean confidence chunk_table gives it."""
    seg = next(segment_documents(models[2], documents()[:1], **KW))
    for s in range(2):
        tables = [p.chunks[s].table for p in runs[2][1] if p.doc.index == 0]
        table = seg.chunk_table(s)
        assert torch.equal(torch.cat([t.start for t in tables]), table.start)
        assert torch.equal(torch.cat([t.end for t in tables]), table.end)
        assert torch.equal(torch.cat([t.mean_confidence for t in tables]), table.mean_confidence)
        assert torch.equal(torch.cat([t.elements for t in tables]), table.elements)


def test_blocks_regroup_rows_at_fixed_sizes():
    blocks, out = Blocks(4), []
    for n in [3, 0, 6, 1, 3]:
        out += list(blocks.add({"a": list(range(n)), "b": ["x"] * n}))
    out.append(blocks.flush())
    assert [len(b["a"]) for b in out] == [4, 4, 4, 1]
    assert sum((b["a"] for b in out), []) == [0, 1, 2, 0, 1, 2, 3, 4, 5, 0, 0, 1, 2]
    assert blocks.flush() is None


class _Progress:
    def __init__(self):
        self.done = 0

    def start(self, *args, **kwargs):
        pass

    def advance(self, amount=1, **fields):
        self.done += amount

    def finish(self):
        pass


def test_the_first_bed_line_is_written_before_the_record_ends(models, tmp_path, monkeypatch):
    """On stdout: the first lines go out after the first batch, not when the record is done (row M1 of the
    reliability audit; its memory bound is measured in bench/RESULTS.md, "hnet chunk on a whole genome")."""
    rng = random.Random(2)
    genome = tmp_path / "g.fa"
    bases = bytes(rng.choice(b"ACGT") for _ in range(6000))
    genome.write_bytes(b">chr1\n" + b"\n".join(bases[i : i + 60] for i in range(0, len(bases), 60)) + b"\n")
    model = save_model(models[1], tmp_path / "m")
    progress = _Progress()

    class Recording(io.StringIO):
        first_write_at = None

        def write(self, text):
            if self.first_write_at is None and text:
                self.first_write_at = progress.done
            return super().write(text)

    out = Recording()
    monkeypatch.setattr(outputs, "_stdout", lambda binary: out)
    run_chunk(ChunkRequest(model=str(model), paths=[str(genome)], format="bed", output="-", window=500,
                           overlap=100, batch_tokens=600), reporter=progress)
    assert progress.done == len(bases)
    assert out.first_write_at is not None and out.first_write_at <= 500  # after the first window of 6000 bases
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("chr1\t0\t") and lines[-1].split("\t")[2] == "6000"


def test_large_blocks_get_their_own_mappings_on_glibc(monkeypatch):
    """The fixed mmap threshold that keeps a whole-genome run flat applies on glibc, and yields to the user's."""
    from hnet_cli.chunk import heap

    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    assert heap.map_large_blocks() is (heap._LIBC is not None)
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "65536")
    assert heap.map_large_blocks() is False
    heap.release_freed_memory()  # callable everywhere

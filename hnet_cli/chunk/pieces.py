"""A document's segmentation one window at a time, so memory is bounded by the window, not the record.

`hnet chunk` hands its writers a `Piece` per window as soon as that window is
decided, in input order: the window's kept range (its bytes, and every stage's
elements that begin there, in document coordinates) and, per stage, the chunks
that the range closed. A chunk is closed when the next one begins (or the
document ends), so the chunk still open at a window's end is carried into the
next window by a `ChunkCloser` as a few running numbers (its start, p at its
first element, the sum of c_t and the count of its elements) plus its bytes.
Nothing per byte outlives its window except the open chunk's bytes.

The numbers are those of `Segmentation.chunk_table` on the whole document,
bit for bit: a chunk's sum of c_t is accumulated in float64 in the same order
(the carried partial sum, then the next window's elements), and its mean is
taken once, when it closes.

`Assembler` turns the pieces of a document back into one `Segmentation` (the
library's `segment_documents`, and the terminal and HTML views, which show
whole documents).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from hnet_cli.chunk.segmentation import ChunkTable, Segmentation, StageSegmentation, WindowAgreement
from hnet_cli.chunk.windows import concat_stages
from hnet_cli.data.documents import Document


@dataclass
class DocumentInfo:
    """What the writers know of a document while its pieces arrive (its length only at the end)."""

    index: int  # position of the document in the input
    name: str
    source: str
    meta: dict
    length: int = 0  # set when the document ends
    windows: int = 0  # forward passes it took; set when it ends
    seams: WindowAgreement | None = None  # set when it ends, for windows > 1

    @property
    def offset(self) -> int:
        """Record coordinate of the document's byte 0 (DNA readers set it; 0 otherwise)."""
        return int(self.meta.get("offset", 0) or 0)

    @property
    def record(self) -> str:
        """The record (FASTA id) when the reader gives one, else the document name."""
        return str(self.meta.get("record", self.name))


@dataclass
class ClosedChunks:
    """Chunks of one stage that a piece closed: a ChunkTable in document coordinates and their bytes."""

    table: ChunkTable
    first: int  # index of table's first chunk among the document's chunks of this stage
    data: bytes  # the bytes from table.start[0] to table.end[-1]

    def __len__(self) -> int:
        return len(self.table)

    def chunk_bytes(self, i: int) -> bytes:
        base = int(self.table.start[0])
        return self.data[int(self.table.start[i]) - base : int(self.table.end[i]) - base]


@dataclass
class Piece:
    """One window's kept range of a document, with what it decided."""

    doc: DocumentInfo
    start: int  # document byte of data[0]
    data: bytes
    stages: list[StageSegmentation]  # per model stage: the elements beginning in this range
    chunks: list[ClosedChunks]  # per model stage: the chunks this piece closed
    last: bool  # the document ends with this piece (doc.length, windows and seams are then set)

    @property
    def end(self) -> int:
        return self.start + len(self.data)


@dataclass
class _OpenChunk:
    start: int  # its first byte
    p: torch.Tensor  # () float32: p at its first element
    conf_sum: torch.Tensor  # () float64: sum of c_t over its elements so far
    count: int  # its elements so far
    data: bytes  # its bytes so far


_TABLE_DTYPES = (torch.int64, torch.int64, torch.float32, torch.float32, torch.int64)


class ChunkCloser:
    """One stage of one document: elements in, closed chunks out, the open chunk carried."""

    def __init__(self):
        self._open: _OpenChunk | None = None
        self._closed = 0  # chunks closed so far

    def add(self, st: StageSegmentation, start: int, data: bytes, last: bool) -> ClosedChunks:
        """The elements of a piece covering bytes [start, start + len(data)); `last`: the document ends there."""
        opened = self._open
        if opened is None and not len(st):  # nothing open and nothing begins: only an empty document
            return ClosedChunks(ChunkTable(*(torch.zeros(0, dtype=t) for t in _TABLE_DTYPES)), self._closed, b"")
        starts_chunk = st.starts_chunk
        new_start = st.element_start[starts_chunk]
        carried = 1 if opened is not None else 0
        k = carried + int(new_start.numel())  # chunks touched: the carried one, then those beginning here
        group = torch.cumsum(starts_chunk.to(torch.int64), 0) - 1 + carried  # chunk of each element
        conf_sum = torch.zeros(k, dtype=torch.float64)
        count = torch.zeros(k, dtype=torch.int64)
        if opened is not None:
            conf_sum[0] = opened.conf_sum
            count[0] = opened.count
        conf_sum.index_add_(0, group, st.confidence.to(torch.float64))
        count.index_add_(0, group, torch.ones_like(group))
        if opened is not None:
            chunk_start = torch.cat([torch.tensor([opened.start], dtype=torch.int64), new_start])
            chunk_p = torch.cat([opened.p.reshape(1), st.boundary_prob[starts_chunk].to(torch.float32)])
            data_start, joined = opened.start, opened.data + data
        else:
            chunk_start = new_start
            chunk_p = st.boundary_prob[starts_chunk].to(torch.float32)
            data_start, joined = start, data
        end = start + len(data)
        closing = k if last else k - 1  # the last chunk stays open until the next begins
        chunk_end = torch.cat([chunk_start[1:], torch.tensor([end], dtype=torch.int64)])[:closing]
        table = ChunkTable(chunk_start[:closing], chunk_end, chunk_p[:closing],
                           (conf_sum[:closing] / count[:closing].clamp_min(1)).to(torch.float32), count[:closing])
        close_at = int(chunk_start[closing]) if closing < k else end
        closed = ClosedChunks(table, self._closed, joined[: close_at - data_start])
        self._closed += closing
        if closing < k:
            self._open = _OpenChunk(close_at, chunk_p[closing].clone(), conf_sum[closing].clone(), int(count[closing]),
                                    joined[close_at - data_start :])
        else:
            self._open = None
        return closed


def empty_stage() -> StageSegmentation:
    return StageSegmentation(torch.zeros(0, dtype=torch.int64), torch.zeros(0), torch.zeros(0, dtype=torch.bool))


@dataclass
class Assembler:
    """The pieces of each document, assembled into its whole Segmentation when it ends."""

    _stages: list[list[StageSegmentation]] = field(default_factory=list)
    _data: list[bytes] = field(default_factory=list)

    def add(self, piece: Piece) -> Segmentation | None:
        """The document's Segmentation after its last piece, else None."""
        self._stages.append(piece.stages)
        self._data.append(piece.data)
        if not piece.last:
            return None
        doc = piece.doc
        stages = [concat_stages([p[s] for p in self._stages]) for s in range(len(piece.stages))]
        data = b"".join(self._data)
        self._stages, self._data = [], []
        seg = Segmentation(Document(data, doc.source, doc.name, doc.meta), stages, doc.index, windows=doc.windows)
        seg.seams = doc.seams
        return seg


def whole_document_piece(seg: Segmentation) -> Piece:
    """A whole Segmentation as one piece (what the writers got before they streamed; tests compare the two)."""
    doc = DocumentInfo(seg.index, seg.document.name, seg.document.source, seg.document.meta, seg.length,
                       seg.windows, seg.seams)
    chunks = [ChunkCloser().add(st, 0, seg.data, last=True) for st in seg.stages]
    return Piece(doc, 0, seg.data, seg.stages, chunks, last=True)

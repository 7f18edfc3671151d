"""Running the model over documents: windows batched into forward passes, results in input order.

Every window is read on its own (BOS, then its bytes), so windows of one
document and of different documents share batches freely: rows of a padded
batch, padding at the end, at most `batch_tokens` positions per pass
(counting padding). Each window's result comes back as a `Piece` as soon as
its batch has run (`segment_pieces`); `segment_documents` assembles whole
documents for the library. Only the chunking decisions are computed
(`HNetLM.decide`): no inner network, decoder or language-model head, on GPUs
too (`FixedShapeModel.decide`, at the fixed shapes eval uses).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Iterable, Iterator

import torch

from hnet_cli.chunk.heap import map_large_blocks, release_freed_memory
from hnet_cli.chunk.pieces import Assembler, ChunkCloser, DocumentInfo, Piece, empty_stage
from hnet_cli.chunk.segmentation import Segmentation
from hnet_cli.chunk.windows import RawStage, SeamMeter, Window, WindowPlanner, to_document
from hnet_cli.data.documents import Document, continues, joined_name
from hnet_cli.errors import ConfigError
from hnet_cli.model.fast import for_inference
from hnet_cli.model.hnet import BOS, HNetLM
from hnet_cli.runtime import autocast

DEFAULT_WINDOW = 16384
DEFAULT_OVERLAP = 2048
DEFAULT_BATCH_TOKENS = 65536
# On CPUs a forward pass gains nothing from a bigger batch (each op is already large enough to
# keep the cores busy), while its activations grow with it: about 9 KB per position for the
# dna-tiny encoder (bench/RESULTS.md, "hnet chunk on a whole genome"), so 16,384 positions keep
# `hnet chunk` on a whole genome within 500 MB at about the same speed.
CPU_BATCH_TOKENS = 16384


def default_batch_tokens(device) -> int:
    """Positions per forward pass when --batch-tokens is not given."""
    return DEFAULT_BATCH_TOKENS if torch.device(device).type == "cuda" else CPU_BATCH_TOKENS


@torch.inference_mode()
def forward_rows(model: HNetLM, rows: list[bytes], device=None, dtype=torch.float32) -> list[list[RawStage]]:
    """BOS + each row through the model in one padded batch; per row, per stage, its RawStage."""
    device = torch.device(device) if device is not None else next(model.parameters()).device
    lengths = [len(r) + 1 for r in rows]
    width = max(lengths)
    ids = torch.zeros(len(rows), width, dtype=torch.long)
    mask = torch.zeros(len(rows), width, dtype=torch.bool)
    for i, row in enumerate(rows):
        ids[i, 0] = BOS
        if row:
            ids[i, 1 : len(row) + 1] = torch.frombuffer(bytearray(row), dtype=torch.uint8).long()
        mask[i, : len(row) + 1] = True
    with autocast(device, dtype):
        decided = model.decide(ids.to(device), mask=mask.to(device))  # the boundaries alone
    stages = [(st.boundary_prob.float().cpu(), st.boundary_mask.cpu(), st.valid.sum(1).cpu()) for st in decided]
    del decided
    results = []
    for i, length in enumerate(lengths):
        position = torch.arange(length, dtype=torch.int64)  # stage-0 elements are the positions
        per_stage = []
        for p, b, valid in stages:
            count = int(valid[i])
            if count != len(position):  # the model's own chunking disagrees with ours: a bug, not user error
                raise RuntimeError(f"stage input length {count} != {len(position)} boundaries of the stage above")
            raw = RawStage(position, p[i, :count].clone(), b[i, :count].clone())
            per_stage.append(raw)
            position = position[raw.boundary]  # stage s+1's elements begin at stage s's boundaries
        results.append(per_stage)
    return results


class _Document:
    """A document being read: its windows planned as its bytes arrive, its chunks closed as they are decided."""

    def __init__(self, info: DocumentInfo, window: int, overlap: int, num_stages: int):
        self.info = info
        self.planner = WindowPlanner(window, overlap)
        self.seams = SeamMeter(num_stages)
        self.closers = [ChunkCloser() for _ in range(num_stages)]
        self.parts = 1
        self._last_continues = info.meta.get("continues")

    def join(self, doc: Document) -> None:
        """`doc` continues this document (a piece a reader cut for memory)."""
        self.parts += 1
        self._last_continues = doc.meta.get("continues", False)

    def piece(self, win: Window, row: bytes, raw: list[RawStage], last: bool) -> Piece:
        self.seams.add(win, raw)
        stages = [to_document(r, win) for r in raw]
        data = row[win.keep_start - win.start : win.keep_end - win.start]
        if last:
            self.finish()
        chunks = [closer.add(st, win.keep_start, data, last) for closer, st in zip(self.closers, stages)]
        return Piece(self.info, win.keep_start, data, stages, chunks, last)

    def empty_piece(self) -> Piece:
        self.finish()
        stages = [empty_stage() for _ in self.closers]
        chunks = [closer.add(st, 0, b"", True) for closer, st in zip(self.closers, stages)]
        return Piece(self.info, 0, b"", stages, chunks, last=True)

    def finish(self) -> None:
        info = self.info
        info.length, info.windows = self.planner.length, self.planner.count
        info.seams = self.seams.result() if info.windows > 1 else None
        if self.parts > 1:  # named as if the pieces had been joined (see pipeline.join_continued)
            info.name = joined_name(Document(b"", info.source, info.name, info.meta), info.length)
            info.meta["continues"] = bool(self._last_continues)


@dataclass
class _Slot:
    """One entry of the output queue: a window waiting for its batch, or an empty document."""

    document: _Document
    window: Window | None = None
    row: bytes = b""
    last: bool = False
    raw: list[RawStage] | None = None

    @property
    def ready(self) -> bool:
        return self.window is None or self.raw is not None

    def piece(self) -> Piece:
        if self.window is None:
            return self.document.empty_piece()
        return self.document.piece(self.window, self.row, self.raw, self.last)


class _Batches:
    """Windows gathered into padded batches of at most `batch_tokens` positions; pieces out in input order."""

    def __init__(self, model, batch_tokens: int, device, dtype, reporter):
        self.model, self.batch_tokens, self.device, self.dtype, self.reporter = model, batch_tokens, device, dtype, reporter
        self.queue: deque[_Slot] = deque()  # every slot, in input order
        self.batch: list[_Slot] = []
        self.width = 0

    def add(self, slot: _Slot) -> Iterator[Piece]:
        self.queue.append(slot)
        if slot.window is None:
            return
        width = max(self.width, len(slot.row) + 1)
        if self.batch and width * (len(self.batch) + 1) > self.batch_tokens:
            yield from self.run()
            width = len(slot.row) + 1
        self.batch.append(slot)
        self.width = width

    def run(self) -> Iterator[Piece]:
        """The pending batch through the model, then every piece that is ready."""
        if self.batch:
            results = forward_rows(self.model, [slot.row for slot in self.batch], self.device, self.dtype)
            for slot, raw in zip(self.batch, results):
                slot.raw = raw
                if self.reporter is not None:
                    self.reporter.advance(slot.window.keep_end - slot.window.keep_start)  # each byte once
            self.batch, self.width = [], 0
            release_freed_memory()
        yield from self.ready()

    def ready(self) -> Iterator[Piece]:
        while self.queue and self.queue[0].ready:
            yield self.queue.popleft().piece()


def segment_pieces(
    model: HNetLM,
    documents: Iterable[Document],
    *,
    window: int = DEFAULT_WINDOW,
    overlap: int = DEFAULT_OVERLAP,
    batch_tokens: int = DEFAULT_BATCH_TOKENS,
    device=None,
    dtype=torch.float32,
    reporter=None,
    join: bool = True,
) -> Iterator[Piece]:
    """Every window's Piece, in input order, as soon as its batch has run (documents are streamed).

    join: pieces of one record or file that a reader cut for memory (meta["continues"]) are read
    as one document, window by window across the cuts, without being joined in memory.
    """
    num_stages = model.config.num_stages
    if num_stages == 0:
        raise ConfigError("this model has no chunking stages (an isotropic model): there is nothing to show")
    run_on = torch.device(device) if device is not None else next(model.parameters()).device
    if run_on.type == "cpu":
        map_large_blocks()  # window activations mapped whole, so memory stays at the window's (heap.py)
    model = for_inference(model, run_on, batch_tokens)
    batches = _Batches(model, batch_tokens, device, dtype, reporter)

    def close(current: _Document) -> Iterator[Piece]:
        planned = current.planner.finish()
        for k, (win, row) in enumerate(planned):
            yield from batches.add(_Slot(current, win, row, last=k == len(planned) - 1))
        if not planned:  # an empty document
            yield from batches.add(_Slot(current))
        yield from batches.ready()

    current: _Document | None = None
    previous: Document | None = None
    for doc in documents:
        if current is None or not (join and continues(previous, doc)):
            if current is not None:
                yield from close(current)
            index = 0 if current is None else current.info.index + 1
            current = _Document(DocumentInfo(index, doc.name, doc.source, dict(doc.meta)), window, overlap, num_stages)
        else:
            current.join(doc)
        previous = doc
        for win, row in current.planner.feed(doc.data):
            yield from batches.add(_Slot(current, win, row))
    if current is not None:
        yield from close(current)
    yield from batches.run()


def segment_documents(model: HNetLM, documents: Iterable[Document], **kw) -> Iterator[Segmentation]:
    """The Segmentation of every document, in input order (documents are streamed; each is held whole
    once it is done: for whole chromosomes use `segment_pieces`). Keywords: those of `segment_pieces`."""
    assembler = Assembler()
    for piece in segment_pieces(model, documents, join=kw.pop("join", False), **kw):
        seg = assembler.add(piece)
        if seg is not None:
            yield seg


def segment_bytes(model: HNetLM, data: bytes, name: str = "-", **kw) -> Segmentation:
    """The Segmentation of one byte string (library convenience)."""
    return next(segment_documents(model, [Document(data, "-", name)], **kw))

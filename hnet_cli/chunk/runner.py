"""Running the model over documents: windows batched into forward passes, results stitched.

Every window is read on its own (BOS, then its bytes), so windows of one
document and of different documents share batches freely: rows of a padded
batch, padding at the end, at most `batch_tokens` positions per pass
(counting padding). Documents come back in input order.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Iterable, Iterator

import torch

from hnet_cli.chunk.segmentation import Segmentation
from hnet_cli.chunk.windows import RawStage, Window, measure_agreement, plan_windows, stitch
from hnet_cli.data.documents import Document
from hnet_cli.errors import ConfigError
from hnet_cli.model.fast import for_inference
from hnet_cli.model.hnet import BOS, HNetLM
from hnet_cli.runtime import autocast

DEFAULT_WINDOW = 16384
DEFAULT_OVERLAP = 2048
DEFAULT_BATCH_TOKENS = 65536


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
        out = model(ids.to(device), mask=mask.to(device))
    stages = [
        (st.boundary_prob.float().cpu(), st.boundary_mask.cpu(), st.valid.sum(1).cpu()) for st in out.stages
    ]
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


@dataclass
class _Pending:
    document: Document
    index: int
    windows: list[Window]
    raw: list = field(default_factory=list)

    @property
    def done(self) -> bool:
        return len(self.raw) == len(self.windows)


def segment_documents(
    model: HNetLM,
    documents: Iterable[Document],
    *,
    window: int = DEFAULT_WINDOW,
    overlap: int = DEFAULT_OVERLAP,
    batch_tokens: int = DEFAULT_BATCH_TOKENS,
    device=None,
    dtype=torch.float32,
    reporter=None,
) -> Iterator[Segmentation]:
    """The Segmentation of every document, in input order (documents are streamed)."""
    num_stages = model.config.num_stages
    if num_stages == 0:
        raise ConfigError("this model has no chunking stages (an isotropic model): there is nothing to show")
    model = for_inference(model, torch.device(device) if device is not None else next(model.parameters()).device,
                          batch_tokens)
    pending: deque[_Pending] = deque()
    batch: list[tuple[_Pending, bytes, int]] = []  # (document, window bytes, bytes whose result it gives)
    batch_width = 0

    def run_batch():
        nonlocal batch, batch_width
        if not batch:
            return
        results = forward_rows(model, [row for _, row, _ in batch], device, dtype)
        for (entry, _, owned), raw in zip(batch, results):
            entry.raw.append(raw)
            if reporter is not None:
                reporter.advance(owned)  # each byte once, although overlapping windows read it twice
        batch, batch_width = [], 0

    def finished() -> Iterator[Segmentation]:
        while pending and pending[0].done:
            entry = pending.popleft()
            yield _assemble(entry, num_stages)

    for index, doc in enumerate(documents):
        entry = _Pending(doc, index, plan_windows(len(doc.data), window, overlap))
        pending.append(entry)
        for win in entry.windows:
            row = doc.data[win.start : win.end]
            width = max(batch_width, len(row) + 1)
            if batch and width * (len(batch) + 1) > batch_tokens:
                run_batch()
                width = len(row) + 1
                yield from finished()
            batch.append((entry, row, win.keep_end - win.keep_start))
            batch_width = width
        yield from finished()
    run_batch()
    yield from finished()


def _assemble(entry: _Pending, num_stages: int) -> Segmentation:
    n = len(entry.document.data)
    if not entry.windows:  # an empty document
        empty = [RawStage(torch.zeros(0, dtype=torch.int64), torch.zeros(0), torch.zeros(0, dtype=torch.bool))]
        stages = stitch([Window(0, 0, 0, 0)], [empty * num_stages], num_stages)
        return Segmentation(entry.document, stages, entry.index, windows=0)
    stages = stitch(entry.windows, entry.raw, num_stages)
    seg = Segmentation(entry.document, stages, entry.index, windows=len(entry.windows))
    if len(entry.windows) > 1:
        seg.seams = measure_agreement(entry.windows, entry.raw, num_stages)
    assert len(stages[0]) == n, "every byte is a stage-0 element"
    return seg


def segment_bytes(model: HNetLM, data: bytes, name: str = "-", **kw) -> Segmentation:
    """The Segmentation of one byte string (library convenience)."""
    return next(segment_documents(model, [Document(data, "-", name)], **kw))

"""Per-position scores of whole documents, in reading order.

The forward passes are `hnet eval`'s own (hnet_cli.eval.corpus.scored_documents:
the same windows, batches and arithmetic), so the bits of a document here are
the bits eval counts for it, and the per-position values add up to them:

    surprisal_j = -log2 p(b_j | BOS, b_0 .. b_{j-1})  (bits; within the window rules
                  of hnet_cli.eval.windows: at least context - stride bytes of left context)
    sum_j surprisal_j = the document's bits in `hnet eval`
    p^s_j       = the routing module's boundary probability at byte j, stage s
                  (NaN where byte j is inside a stage-(s-1) chunk: no stage-s position)

Documents complete out of reading order (eval sorts windows by length); a small
buffer puts them back in order, holding at most the documents of one sort group.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

import torch

from hnet_cli.data.documents import Document
from hnet_cli.eval.corpus import ScoredDocument, scored_documents
from hnet_cli.model.losses import LN2


@dataclass
class PositionScores:
    """One document's scores. Coordinates: data[i] is base `offset + i` of `record`."""

    document: Document
    index: int  # reading order, empty documents included
    nats: float  # sum over its bytes of -ln p
    units: int  # domain units (bases, characters)
    nll: torch.Tensor  # (n,) float64, -ln p of each byte
    boundary_prob: list[torch.Tensor]  # per stage, (n,) float32 (NaN: no stage-s position there)

    @property
    def length(self) -> int:
        return len(self.document.data)

    @property
    def record(self) -> str:
        return str(self.document.meta.get("record", self.document.name))

    @property
    def offset(self) -> int:
        return int(self.document.meta.get("offset", 0) or 0)

    @property
    def bits(self) -> float:
        return self.nats / LN2

    @property
    def log_likelihood(self) -> float:
        """ln p(document | BOS), natural log (the sum of ln p over its bytes)."""
        return -self.nats

    @property
    def bits_per_byte(self) -> float:
        return self.bits / self.length if self.length else math.nan

    @property
    def bits_per_unit(self) -> float:
        return self.bits / self.units if self.units else math.nan

    @property
    def surprisal(self) -> torch.Tensor:
        """(n,) float64 bits of each byte."""
        return self.nll / LN2


def score_positions(
    model,
    documents: Iterable[Document],
    *,
    context: int,
    stride: int,
    count_units: Callable[[bytes], int] = len,
    batch_size: int = 8,
    device="cpu",
    dtype=torch.float32,
    on_batch: Callable[[int, float], None] | None = None,
    on_empty: Callable[[int, Document], None] | None = None,
) -> Iterator[PositionScores]:
    """PositionScores of every non-empty document, in reading order (see the module docstring)."""
    waiting: list[tuple[int, ScoredDocument]] = []
    state = {"next": 0}  # reading index of the next document to hand out
    skipped: set[int] = set()  # indices of empty documents (never scored)

    def empty(index: int, doc: Document) -> None:
        skipped.add(index)
        if on_empty is not None:
            on_empty(index, doc)

    def ready() -> Iterator[PositionScores]:
        while True:
            while state["next"] in skipped:
                skipped.discard(state["next"])
                state["next"] += 1
            if not waiting or waiting[0][0] != state["next"]:
                return
            _, done = heapq.heappop(waiting)
            state["next"] += 1
            yield PositionScores(done.doc, done.index, done.nats, done.units, done.nll, done.probs)

    for done in scored_documents(model, documents, count_units=count_units, context=context,
                                 stride=stride, batch_size=batch_size, device=device, dtype=dtype,
                                 per_position=True, on_batch=on_batch, on_empty=empty):
        heapq.heappush(waiting, (done.index, done))  # indices are unique: no tie reaches the document
        yield from ready()
    yield from ready()

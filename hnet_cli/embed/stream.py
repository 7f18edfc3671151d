"""Embeddings of whole documents, streamed: per byte, per chunk, or pooled per document.

Long documents are read in `hnet eval`'s windows (hnet_cli.eval.windows: C
tokens every S, every byte taken from exactly one window, with at least C - S
bytes of left context), so memory holds a batch of windows, never a genome:

    per byte    the stage-s output at each byte (stage 0: the hidden state the LM
                head reads; s >= 1: the output for the stage-s position holding
                the byte), taken from the window that scores that byte
    per chunk   the stage-s main network's input vectors, one per stage-s chunk,
                taken from the window where the chunk begins; the first chunk is
                the one BOS opens (it covers the bytes before the first boundary
                and is empty when byte 0 is a boundary itself)
    pooled      one vector per document: mean over its bytes (`mean`), the last
                byte's (`last`), or mean over its chunks (`chunk-mean`)

With `rc_average` (a double-stranded domain: pass its `reverse_strand`), the
other strand is embedded too and, per byte, base j's vector is averaged with
that of its partner n-1-j on the other strand (the forward pass sees what lies
left of a base, the reverse one what lies right of it); pooled vectors average
the two strands' pools. Per-byte averaging holds one document's two strands in
memory (n x d floats each).

Rows come out in reading order, with record coordinates (offset added).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

import torch

from hnet_cli.data.documents import Document
from hnet_cli.embed.capture import RowStates, capture
from hnet_cli.errors import ConfigError
from hnet_cli.eval.scoring import pad_batch
from hnet_cli.eval.windows import Window, plan_windows
from hnet_cli.model.fast import for_inference

PER = ("byte", "chunk")
POOLS = ("mean", "last", "chunk-mean")

@dataclass
class EmbeddingRows:
    """A block of rows of one record: vectors (k, d) float32 with [start, end) record coordinates."""

    record: str
    start: torch.Tensor  # (k,) int64
    end: torch.Tensor  # (k,) int64
    vectors: torch.Tensor  # (k, d) float32

    def __len__(self) -> int:
        return int(self.start.numel())


def check_request(num_stages: int, per: str, stage: int, pool: str | None, rc_average: bool) -> None:
    if per not in PER:
        raise ConfigError(f"unknown --per {per!r}; choose byte or chunk")
    if pool is not None and pool not in POOLS:
        raise ConfigError(f"unknown --pool {pool!r}; choose one of {', '.join(POOLS)}")
    chunked = per == "chunk" or pool == "chunk-mean"
    top = num_stages - 1 if chunked else num_stages
    if chunked and num_stages == 0:
        raise ConfigError("this model has no chunking stages (an isotropic model): there are no chunks")
    if not 0 <= stage <= top:
        what = "chunks" if chunked else "outputs"
        raise ConfigError(f"--stage {stage}: this model's stage {what} are 0..{top}")
    if rc_average and per == "chunk" and pool is None:
        raise ConfigError("--rc-average pairs bases of the two strands: use it with --per byte or --pool, "
                          "not --per chunk (the strands' chunks differ)")


class _Document:
    """One document's windows on each strand and what is built from their states."""

    def __init__(self, doc: Document, per: str, pool: str | None, reverse_strand: Callable[[bytes], bytes] | None,
                 context: int, stride: int):
        self.doc = doc
        self.record = str(doc.meta.get("record", doc.name))
        self.offset = int(doc.meta.get("offset", 0) or 0)
        self.n = len(doc.data)
        self.data = [doc.data] + ([reverse_strand(doc.data)] if reverse_strand is not None else [])
        strands = len(self.data)
        self.windows = plan_windows(self.n, context, stride)
        self.per, self.pool = per, pool
        self.chunks = pool == "chunk-mean" or (per == "chunk" and pool is None)  # rows are chunk vectors
        self.pending: list[tuple[int, torch.Tensor]] = []  # per chunk: the chunk whose end is not yet known
        self.full = [None] * strands  # rc-average per byte: (n, d) per strand
        self.sums = [None] * strands  # pooled: running float64 sums
        self.counts = [0] * strands
        self.last = [None] * strands

    @property
    def keeps_strands(self) -> bool:
        return len(self.data) == 2 and self.pool is None

    def take(self, strand: int, window: Window, states: RowStates) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """Apply one window's states; returns finished (start, end, vectors) rows (document coordinates)."""
        first = window.score_from  # global token index of the first token this window owns
        global_tokens = states.tokens + window.start
        if not self.chunks:
            # each owned token t -> the vector of the position holding it; token t is byte t - 1
            owned = torch.arange(first, window.end)
            holder = torch.searchsorted(global_tokens, owned, right=True) - 1
            vectors = states.vectors[holder]
            bytes_ = owned - 1
            if self.pool is not None:
                self._accumulate(strand, vectors)
                if window.end == self.n + 1:
                    self.last[strand] = vectors[-1]
                return []
            if self.keeps_strands:
                if self.full[strand] is None:
                    self.full[strand] = torch.empty(self.n, vectors.shape[1])
                self.full[strand][bytes_] = vectors
                return []
            return [(bytes_, bytes_ + 1, vectors)]
        # chunks: owned when they begin at an owned token, or at BOS in the first window
        own = (global_tokens >= first) | (global_tokens == 0)
        starts = (global_tokens[own] - 1).clamp_min(0)
        vectors = states.vectors[own]
        if self.pool == "chunk-mean":
            self._accumulate(strand, vectors)
            return []
        rows = []
        for start, vector in zip(starts.tolist(), vectors):
            if self.pending:
                rows.append((self.pending[0][0], start, self.pending[0][1]))
            self.pending = [(start, vector)]
        return _stack(rows)

    def _accumulate(self, strand: int, vectors: torch.Tensor) -> None:
        total = vectors.double().sum(0)
        self.sums[strand] = total if self.sums[strand] is None else self.sums[strand] + total
        self.counts[strand] += len(vectors)

    def finish(self) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """The rows that wait for the document's end."""
        if self.pool is not None:
            if self.pool == "last":
                pooled = [v.double() for v in self.last]
            else:
                pooled = [s / c for s, c in zip(self.sums, self.counts)]
            vector = (sum(pooled) / len(pooled)).float()
            return [(torch.tensor([0]), torch.tensor([self.n]), vector[None])]
        if self.keeps_strands:
            forward, reverse = self.full
            average = (forward + reverse.flip(0)) / 2  # base j pairs with base n-1-j of the reverse strand
            positions = torch.arange(self.n)
            return [(positions, positions + 1, average)]
        if self.chunks and self.pending:
            start, vector = self.pending[0]
            self.pending = []
            return [(torch.tensor([start]), torch.tensor([self.n]), vector[None])]
        return []


def _stack(rows: list[tuple[int, int, torch.Tensor]]) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    if not rows:
        return []
    return [(torch.tensor([r[0] for r in rows]), torch.tensor([r[1] for r in rows]), torch.stack([r[2] for r in rows]))]


def embed_documents(
    model,
    documents: Iterable[Document],
    *,
    per: str = "byte",
    stage: int = 0,
    pool: str | None = None,
    rc_average: bool = False,
    reverse_strand: Callable[[bytes], bytes] | None = None,
    context: int = 8192,
    stride: int | None = None,
    batch_size: int = 8,
    device="cpu",
    dtype=torch.float32,
    on_batch: Callable[[int], None] | None = None,
    on_empty: Callable[[Document], None] | None = None,
) -> Iterator[EmbeddingRows]:
    """Blocks of embedding rows for `documents`, in reading order (see the module docstring)."""
    from hnet_cli.eval.windows import check_window_args, default_stride

    stride = default_stride(context) if stride is None else stride
    check_window_args(context, stride)
    check_request(model.config.num_stages, per, stage, pool, rc_average)
    if rc_average and reverse_strand is None:
        raise ConfigError("rc_average needs the domain's reverse_strand (e.g. get_domain('dna').reverse_strand)")
    if batch_size < 1:
        raise ConfigError(f"--batch-size {batch_size}: must be at least 1")
    device = torch.device(device)
    budget = batch_size * context
    model = for_inference(model, device, budget)  # eval's fixed-shape forward on GPUs; the model itself elsewhere
    capture_per = "chunk" if (per == "chunk" and pool is None) or pool == "chunk-mean" else "position"
    strands = 2 if rc_average else 1

    def jobs():
        for doc in documents:
            if not doc.data:
                if on_empty is not None:
                    on_empty(doc)
                continue
            state = _Document(doc, per, pool, reverse_strand if rc_average else None, context, stride)
            for strand in range(strands):
                for k, window in enumerate(state.windows):
                    last = strand == strands - 1 and k == len(state.windows) - 1
                    yield state, strand, window, last

    def run(batch) -> Iterator[EmbeddingRows]:
        ids, mask = pad_batch([(state.data[strand], window) for state, strand, window, _ in batch])
        states = capture(model, ids, mask, stage, capture_per, device, dtype)
        for (state, strand, window, last), row in zip(batch, states):
            parts = state.take(strand, window, row)
            if last:
                parts += state.finish()
            for start, end, vectors in parts:
                yield EmbeddingRows(state.record, start + state.offset, end + state.offset, vectors)
        if on_batch is not None:
            on_batch(sum(w.scored for _, _, w, _ in batch))

    batch, longest = [], 0
    for job in jobs():
        length = job[2].length
        if batch and (len(batch) + 1) * max(longest, length) > budget:
            yield from run(batch)
            batch, longest = [], 0
        batch.append(job)
        longest = max(longest, length)
    if batch:
        yield from run(batch)

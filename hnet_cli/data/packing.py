"""Documents -> fixed-length rows of bytes with document numbers (the training layout).

Every document is prefixed with BOS (254), the released tokenizer's
begin-of-sequence byte, and documents are laid end to end; the stream is cut
into rows of `seq_len` bytes. A document cut by a row end continues at the
start of the next row (without BOS). Each row carries where its segments
start, from which a batch gets `seq_idx` (b, L): the segment number of each
position, non-decreasing along the row. The model lets nothing cross from one
segment to the next, and the loss only scores next-byte predictions inside a
segment (`target_mask`): document boundaries are resets.

Validation rows (`carry_context=True`) repeat the last byte of a row at the
start of the next row when a document continues, so that every byte of every
document except BOS is scored exactly once; the last row is padded and masked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Iterator

import torch

BOS = 254  # = hnet_cli.model.BOS; repeated here so the data layer does not import the model


@dataclass(frozen=True)
class Row:
    """One packed row: `ids` (seq_len bytes) and the positions where a segment starts.

    `starts` always begins with 0. `length` < len(ids) only for the padded last
    validation row (positions >= length are padding).
    """

    ids: bytes
    starts: tuple[int, ...]
    length: int

    @property
    def n_targets(self) -> int:
        """Positions scored as the next byte of the one before (what `collate`'s target_mask counts)."""
        return max(0, self.length - 1) - sum(1 for s in self.starts if 0 < s < self.length)


class RowPacker:
    """Accumulates documents and cuts full rows. Linear time in the bytes added."""

    def __init__(self, seq_len: int, carry_context: bool = False):
        self.seq_len = seq_len
        self.carry_context = carry_context
        self._buf = bytearray()
        self._starts: list[int] = []  # offsets in _buf where a document (its BOS) starts
        self._skip = 0

    def skip(self, n: int) -> None:
        """Drop the next `n` bytes of the stream (a random phase at the start of an epoch)."""
        self._skip += n

    def add(self, data: bytes) -> list[Row]:
        """Append one document ([BOS] + data); return the rows it completes."""
        piece = bytes([BOS]) + data
        if self._skip:
            # The phase cuts into this document: what is left of it starts no segment.
            cut = min(self._skip, len(piece))
            self._skip -= cut
            piece = piece[cut:]
        else:
            self._starts.append(len(self._buf))
        if piece:
            self._buf += piece
        return self._cut_rows()

    def _cut_rows(self) -> list[Row]:
        L = self.seq_len
        rows: list[Row] = []
        buf, starts = self._buf, self._starts
        offset = 0
        si = 0  # first entry of `starts` at or after `offset`
        while len(buf) - offset >= L:
            while si < len(starts) and starts[si] < offset:
                si += 1
            j = si
            row_starts = [0]
            while j < len(starts) and starts[j] < offset + L:
                if starts[j] != offset:
                    row_starts.append(starts[j] - offset)
                j += 1
            rows.append(Row(bytes(buf[offset:offset + L]), tuple(row_starts), L))
            next_offset = offset + L
            # The buffer holds whole documents only, so a byte after the row end that
            # does not start a document continues the one cut by the row end.
            continues = len(buf) > next_offset and not (j < len(starts) and starts[j] == next_offset)
            offset = next_offset - 1 if (self.carry_context and continues) else next_offset
        if offset:
            del buf[:offset]
            self._starts = [s - offset for s in starts if s >= offset]
        return rows

    def flush(self) -> list[Row]:
        """The last, partial row padded with zeros (validation only; training drops it)."""
        if not self._buf:
            return []
        n = len(self._buf)
        starts = tuple(sorted({0, *[s for s in self._starts if s < n]}))
        row = Row(bytes(self._buf) + bytes(self.seq_len - n), starts, n)
        self._buf = bytearray()
        self._starts = []
        return [row]


def pack_documents(docs: Iterable[bytes], seq_len: int, carry_context: bool = False, pad_last: bool = False) -> Iterator[Row]:
    packer = RowPacker(seq_len, carry_context)
    for data in docs:
        yield from packer.add(data)
    if pad_last:
        yield from packer.flush()


@dataclass
class Batch:
    """Tensors for one forward pass in the training layout."""

    input_ids: torch.Tensor  # (b, L) long
    seq_idx: torch.Tensor  # (b, L) long, segment number per position
    mask: torch.Tensor | None  # (b, L) bool, None when every position is real
    target_mask: torch.Tensor  # (b, L-1) bool: input_ids[:, 1:] is scored as the next byte of [:, :-1]
    # The count of targets, once known: counting a GPU tensor would wait for the GPU,
    # so a batch moved to a device carries the count taken where it was built.
    counted_targets: int | None = field(default=None, repr=False, compare=False)

    @property
    def n_targets(self) -> int:
        if self.counted_targets is None:
            self.counted_targets = int(self.target_mask.sum())
        return self.counted_targets

    def to(self, device, non_blocking: bool = False) -> "Batch":
        move = lambda t: None if t is None else t.to(device, non_blocking=non_blocking)  # noqa: E731
        return Batch(move(self.input_ids), move(self.seq_idx), move(self.mask), move(self.target_mask),
                     self.n_targets)


def collate(rows: list[Row]) -> Batch:
    b, L = len(rows), len(rows[0].ids)
    ids = torch.frombuffer(bytearray(b"".join(r.ids for r in rows)), dtype=torch.uint8).view(b, L).long()
    starts = torch.zeros(b, L, dtype=torch.long)
    padded = any(r.length < L for r in rows)
    mask = torch.ones(b, L, dtype=torch.bool) if padded else None
    for i, r in enumerate(rows):
        if len(r.starts) > 1:
            starts[i, list(r.starts[1:])] = 1
        if r.length < L:
            mask[i, r.length:] = False
            if r.length > 0 and r.length not in r.starts:
                starts[i, r.length] = 1  # the padding is a segment of its own
    seq_idx = starts.cumsum(dim=1)
    target_mask = seq_idx[:, 1:] == seq_idx[:, :-1]
    if mask is not None:
        target_mask &= mask[:, 1:]
    return Batch(ids, seq_idx, mask, target_mask)

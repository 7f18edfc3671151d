"""Chunking statistics per stage, from the boundaries of the scoring forward passes.

For each document byte, the boundary decisions come from the same window that
predicts it (so they were made with the same left context as the score).
With b^s_j = 1 when byte j starts a chunk at stage s (a stage-(s+1) boundary
is always also a stage-s boundary, since stage s+1 only sees stage-s chunks):

    L^0     = number of document bytes           (BOS excluded, as in bpb)
    L^{s+1} = number of bytes with b^s_j = 1     (chunks made by stage s)
    compression of stage s = L^{s+1} / L^s       (the paper's ratio, ~1/N)
    BPIC = L^0 / L^S                             (bytes per innermost chunk)

Chunk lengths are in bytes: a stage-s chunk runs from one stage-s boundary to
the next (the chunk BOS opens counts the document bytes before the first
boundary, if any). The distribution is kept as an exact histogram.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import torch

QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9, 0.99)


@dataclass
class StageStats:
    """Counts of one stage over a corpus."""

    stage: int
    positions: int = 0  # L^s: stage-s input positions at document bytes
    boundaries: int = 0  # L^{s+1}
    chunk_lengths: Counter = field(default_factory=Counter)  # length in bytes -> count

    @property
    def compression(self) -> float:
        """L^{s+1} / L^s."""
        return self.boundaries / self.positions if self.positions else float("nan")

    @property
    def chunks(self) -> int:
        return sum(self.chunk_lengths.values())

    def mean_chunk_bytes(self) -> float:
        n = self.chunks
        return sum(k * v for k, v in self.chunk_lengths.items()) / n if n else float("nan")

    def quantile(self, q: float) -> int | None:
        """The smallest length with at least a fraction q of chunks at or below it."""
        n = self.chunks
        if n == 0:
            return None
        need = q * n
        seen = 0
        for length in sorted(self.chunk_lengths):
            seen += self.chunk_lengths[length]
            if seen >= need:
                return length
        return max(self.chunk_lengths)

    def merge(self, other: "StageStats") -> None:
        self.positions += other.positions
        self.boundaries += other.boundaries
        self.chunk_lengths.update(other.chunk_lengths)

    def as_dict(self) -> dict:
        return {
            "stage": self.stage,
            "positions": self.positions,
            "boundaries": self.boundaries,
            "compression": self.compression,
            "chunks": self.chunks,
            "mean_chunk_bytes": self.mean_chunk_bytes(),
            "quantiles": {f"p{round(q * 100)}": self.quantile(q) for q in QUANTILES},
            "max_chunk_bytes": max(self.chunk_lengths) if self.chunk_lengths else None,
            "histogram": {str(k): self.chunk_lengths[k] for k in sorted(self.chunk_lengths)},
        }


def bytes_per_innermost_chunk(stages: list[StageStats], n_bytes: int) -> float:
    """BPIC = L^0 / L^S; NaN for an isotropic model (no stages) or no chunks."""
    if not stages or stages[-1].boundaries == 0:
        return float("nan")
    return n_bytes / stages[-1].boundaries


class DocumentChunks:
    """Follows one document's chunks across its windows (fed in byte order)."""

    def __init__(self, num_stages: int):
        self.stats = [StageStats(s) for s in range(num_stages)]
        # Byte index where the open chunk of each stage began; the chunk opened by
        # BOS starts at byte 0 (BOS itself is not a document byte).
        self._open = [0] * num_stages

    def add(self, first_byte: int, flags: list[torch.Tensor]) -> None:
        """flags[s] (m,) bool: b^s for bytes first_byte .. first_byte + m - 1."""
        inputs = int(flags[0].numel()) if flags else 0  # L^0 of this piece: its bytes
        for s, f in enumerate(flags):
            st = self.stats[s]
            where = f.nonzero(as_tuple=True)[0].cpu() + first_byte
            st.positions += inputs
            st.boundaries += len(where)
            inputs = len(where)  # stage s+1 sees one position per stage-s boundary
            if not len(where):
                continue
            lengths = torch.diff(where, prepend=torch.tensor([self._open[s]]))
            # zero length only for the chunk BOS opens, when byte 0 is itself a boundary
            values, counts = torch.unique(lengths[lengths > 0], return_counts=True)
            st.chunk_lengths.update(dict(zip(values.tolist(), counts.tolist())))
            self._open[s] = int(where[-1])

    def finish(self, n_bytes: int) -> list[StageStats]:
        """Close the last chunk of every stage; the document's stats."""
        for s, st in enumerate(self.stats):
            if n_bytes > self._open[s]:
                st.chunk_lengths[n_bytes - self._open[s]] += 1
        return self.stats


def token_positions(stage_valid: list[torch.Tensor], stage_masks: list[torch.Tensor], row: int,
                    length: int) -> list[torch.Tensor]:
    """Per stage s, the token index (in one row of `length` tokens) of each stage-s position.

    Stage s's tensors live on its own input sequence: row `row` of stage s+1
    holds, in order, the tokens that were stage-s boundaries (its first
    valid.sum() entries are real). Stage 0's positions are the tokens.
    """
    out = []
    positions = torch.arange(length, device=stage_masks[0].device)
    for s, (mask, valid) in enumerate(zip(stage_masks, stage_valid)):
        n = int(valid[row].sum())
        if n != len(positions):
            raise RuntimeError(f"stage {s} has {n} positions in row {row}, expected {len(positions)}")
        out.append(positions)
        positions = positions[mask[row, :n]]
    return out


def token_level_boundaries(stage_masks: list[torch.Tensor], stage_valid: list[torch.Tensor], row: int,
                           length: int) -> list[torch.Tensor]:
    """Per stage, (length,) bool over one row's tokens: which tokens start a stage-s chunk."""
    flags = []
    for positions, mask in zip(token_positions(stage_valid, stage_masks, row, length), stage_masks):
        flag = torch.zeros(length, dtype=torch.bool, device=mask.device)
        flag[positions[mask[row, : len(positions)]]] = True
        flags.append(flag)
    return flags


def token_level_probs(stage_probs: list[torch.Tensor], stage_masks: list[torch.Tensor],
                      stage_valid: list[torch.Tensor], row: int, length: int) -> list[torch.Tensor]:
    """Per stage, (length,) float32 over one row's tokens: p^s of the stage-s position at each
    token, NaN at tokens that are not stage-s positions (inside a stage-(s-1) chunk)."""
    out = []
    for positions, prob in zip(token_positions(stage_valid, stage_masks, row, length), stage_probs):
        values = torch.full((length,), float("nan"), dtype=torch.float32, device=prob.device)
        values[positions] = prob[row, : len(positions)].float()
        out.append(values)
    return out

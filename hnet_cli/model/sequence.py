"""How a batch of byte (or chunk) sequences is laid out: `SeqInfo`.

Every module sees hidden states (b, l, d) plus one SeqInfo:

    mask     (b, l) bool   real positions; padding only at the end of a row
    seq_idx  (b, l) long   document number of each position, non-decreasing
                           along a row (None: one document per row)
    position (b, l) long   position inside its document (rotary embeddings)

The two public layouts map onto it: a padded batch with a mask is b rows of one
document each; packed variable-length sequences (`cu_seqlens`) are one row
(b = 1) holding all documents. Training batches may hold several documents per
row. Nothing may cross from one document to the next (conv, scan, attention,
routing, smoothing all read seq_idx).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class SeqInfo:
    mask: torch.Tensor
    seq_idx: torch.Tensor | None
    position: torch.Tensor
    # Whether every position is real, when the constructor knows it without asking
    # the GPU (None: not known). Reading `mask.all()` would wait for the GPU, and
    # inside torch.compile split the graph, so layers never ask; they treat
    # "not known" like "some padding", which gives the same numbers.
    known_all_valid: bool | None = field(default=None, repr=False)

    @staticmethod
    def from_mask(mask: torch.Tensor, all_valid: bool | None = None) -> "SeqInfo":
        b, l = mask.shape
        position = torch.arange(l, device=mask.device).expand(b, l)
        return SeqInfo(mask=mask, seq_idx=None, position=position, known_all_valid=all_valid)

    @staticmethod
    def from_seq_idx(seq_idx: torch.Tensor, mask: torch.Tensor | None = None) -> "SeqInfo":
        """Positions restart at 0 wherever the document number changes."""
        b, l = seq_idx.shape
        all_valid = None
        if mask is None:
            mask = torch.ones(b, l, dtype=torch.bool, device=seq_idx.device)
            all_valid = True
        return SeqInfo(mask=mask, seq_idx=seq_idx, position=positions_from_seq_idx(seq_idx), known_all_valid=all_valid)

    @staticmethod
    def from_cu_seqlens(cu_seqlens: torch.Tensor, total: int) -> "SeqInfo":
        """One packed row of `total` positions; document i spans cu_seqlens[i]:cu_seqlens[i+1]."""
        lengths = (cu_seqlens[1:] - cu_seqlens[:-1]).to(torch.long)
        seq_idx = torch.repeat_interleave(torch.arange(len(lengths), device=cu_seqlens.device), lengths)[None]
        return SeqInfo.from_seq_idx(seq_idx)

    def doc_starts(self) -> torch.Tensor:
        """(b, l) bool: the first position of each document (and of each row)."""
        starts = torch.zeros_like(self.mask)
        starts[:, 0] = True
        if self.seq_idx is not None:
            starts[:, 1:] = self.seq_idx[:, 1:] != self.seq_idx[:, :-1]
        return starts


def positions_from_seq_idx(seq_idx: torch.Tensor) -> torch.Tensor:
    b, l = seq_idx.shape
    idx = torch.arange(l, device=seq_idx.device).expand(b, l)
    starts = torch.ones_like(seq_idx, dtype=torch.bool)
    starts[:, 1:] = seq_idx[:, 1:] != seq_idx[:, :-1]
    # index of the start of each position's document: running max of start indices
    start_idx = torch.where(starts, idx, torch.zeros_like(idx))
    start_idx = torch.cummax(start_idx, dim=1).values
    return idx - start_idx

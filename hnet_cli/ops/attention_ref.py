"""Causal self-attention with sliding windows and packed documents, pure PyTorch.

Query i sees key j when j <= i, i - j <= window (window >= 0; -1 = no limit)
and both belong to the same document (`seq_idx`). Queries are processed in
blocks so memory stays O(block x keys) rather than O(L^2) for long inputs.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

QUERY_BLOCK = 1024


def attention_mask(q_pos, k_pos, window: int, q_seq=None, k_seq=None, k_valid=None):
    """Boolean (b, 1, lq, lk) mask of allowed (query, key) pairs from absolute positions."""
    allowed = k_pos[:, None, :] <= q_pos[:, :, None]
    if window >= 0:
        allowed = allowed & (q_pos[:, :, None] - k_pos[:, None, :] <= window)
    if q_seq is not None:
        allowed = allowed & (q_seq[:, :, None] == k_seq[:, None, :])
    if k_valid is not None:
        allowed = allowed & k_valid[:, None, :]
    return allowed[:, None]


def attention_ref(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    window: int = -1,
    seq_idx: torch.Tensor | None = None,
    scale: float | None = None,
) -> torch.Tensor:
    """q, k, v (b, l, h, d) -> (b, l, h, d). Causal, with optional window and documents."""
    b, l, h, d = q.shape
    scale = scale if scale is not None else 1.0 / math.sqrt(d)
    qt, kt, vt = (t.transpose(1, 2) for t in (q, k, v))  # (b, h, l, d)
    pos = torch.arange(l, device=q.device)[None].expand(b, l)
    out = torch.empty_like(qt)
    for start in range(0, l, QUERY_BLOCK):
        stop = min(l, start + QUERY_BLOCK)
        k_start = 0 if window < 0 else max(0, start - window)
        mask = attention_mask(
            pos[:, start:stop],
            pos[:, k_start:stop],
            window,
            None if seq_idx is None else seq_idx[:, start:stop],
            None if seq_idx is None else seq_idx[:, k_start:stop],
        )
        out[:, :, start:stop] = F.scaled_dot_product_attention(
            qt[:, :, start:stop], kt[:, :, k_start:stop], vt[:, :, k_start:stop], attn_mask=mask, scale=scale
        )
    return out.transpose(1, 2)

"""Causal multi-head attention with rotary embeddings, as the released model's `CausalMHA`.

Fused `Wqkv` (no bias) -> rotary on the first `rotary_emb_dim` dims of q and k
(non-interleaved halves, base 10000) -> causal attention, optionally within a
window (query i sees keys i-w..i) -> `out_proj` (no bias).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from hnet_cli import ops
from hnet_cli.model.sequence import SeqInfo


def rotary_cos_sin(positions: torch.Tensor, dim: int, base: float = 10000.0):
    """cos, sin (..., dim/2) for integer positions, computed in fp32 like the reference kernels."""
    inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2, device=positions.device, dtype=torch.float32) / dim))
    freqs = positions.to(torch.float32)[..., None] * inv_freq
    return torch.cos(freqs), torch.sin(freqs)


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """x (..., h, d); rotate the first 2*cos.shape[-1] dims as two halves. cos/sin (..., r/2)."""
    r = cos.shape[-1] * 2
    if r == 0:
        return x
    cos = cos[..., None, :].to(x.dtype)
    sin = sin[..., None, :].to(x.dtype)
    x1, x2, rest = x[..., : r // 2], x[..., r // 2 : r], x[..., r:]
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos, rest], dim=-1)


@dataclass
class AttentionCache:
    """Keys and values of the past positions of each row.

    A ring of `window + 1` slots for sliding-window layers (position t lives in
    slot t mod capacity), a growing buffer for global ones. `slot_pos` holds the
    position stored in each slot (-1: empty); `length` the positions seen per row.
    """

    k: torch.Tensor  # (b, capacity, heads, head_dim), rotary applied
    v: torch.Tensor
    slot_pos: torch.Tensor  # (b, capacity) long
    length: torch.Tensor  # (b,) long
    ring: bool


class CausalSelfAttention(nn.Module):
    def __init__(self, d_model: int, num_heads: int, rotary_emb_dim: int, window_size: int, device=None, dtype=None):
        super().__init__()
        self.d_model = d_model
        self.num_heads = num_heads
        self.head_dim = d_model // num_heads
        self.rotary_emb_dim = rotary_emb_dim
        self.window_size = window_size
        self.Wqkv = nn.Linear(d_model, 3 * d_model, bias=False, device=device, dtype=dtype)
        self.out_proj = nn.Linear(d_model, d_model, bias=False, device=device, dtype=dtype)

    def _qkv(self, x: torch.Tensor, positions: torch.Tensor):
        qkv = self.Wqkv(x).unflatten(-1, (3, self.num_heads, self.head_dim))
        q, k, v = qkv.unbind(-3)
        if self.rotary_emb_dim:
            cos, sin = rotary_cos_sin(positions, self.rotary_emb_dim)
            q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        return q, k, v

    def forward(self, x: torch.Tensor, info: SeqInfo, cache: AttentionCache | None = None) -> torch.Tensor:
        b, l, _ = x.shape
        q, k, v = self._qkv(x, info.position)
        out = ops.attention(q, k, v, window=self.window_size, seq_idx=info.seq_idx)
        if cache is not None:
            self._fill_cache(cache, k, v, info.mask)
        return self.out_proj(out.reshape(b, l, self.d_model))

    # ---------------------------------------------------------------- generation
    def new_cache(self, batch: int, device=None, dtype=torch.float32, capacity: int = 256) -> AttentionCache:
        ring = self.window_size >= 0
        cap = self.window_size + 1 if ring else capacity
        shape = (batch, cap, self.num_heads, self.head_dim)
        return AttentionCache(
            k=torch.zeros(shape, device=device, dtype=dtype),
            v=torch.zeros(shape, device=device, dtype=dtype),
            slot_pos=torch.full((batch, cap), -1, dtype=torch.long, device=device),
            length=torch.zeros(batch, dtype=torch.long, device=device),
            ring=ring,
        )

    @staticmethod
    def _ensure_capacity(cache: AttentionCache, needed: int) -> None:
        cap = cache.k.shape[1]
        if cache.ring or needed <= cap:
            return
        new_cap = max(needed, 2 * cap)
        grow = new_cap - cap
        b, _, h, d = cache.k.shape
        cache.k = torch.cat([cache.k, cache.k.new_zeros(b, grow, h, d)], 1)
        cache.v = torch.cat([cache.v, cache.v.new_zeros(b, grow, h, d)], 1)
        cache.slot_pos = torch.cat([cache.slot_pos, cache.slot_pos.new_full((b, grow), -1)], 1)

    def _fill_cache(self, cache: AttentionCache, k, v, mask) -> None:
        """After a forward over whole rows (one document each): keep what later steps can see."""
        lengths = mask.sum(1)
        self._ensure_capacity(cache, int(lengths.max()) if len(lengths) else 0)
        cap = cache.k.shape[1]
        pos = torch.arange(k.shape[1], device=k.device)[None].expand_as(mask)
        keep = mask & (pos >= lengths[:, None] - cap)
        rows, cols = keep.nonzero(as_tuple=True)
        slots = cols % cap
        cache.slot_pos.fill_(-1)
        cache.k[rows, slots] = k[rows, cols].to(cache.k.dtype)
        cache.v[rows, slots] = v[rows, cols].to(cache.v.dtype)
        cache.slot_pos[rows, slots] = cols
        cache.length.copy_(lengths)

    def step(self, x: torch.Tensor, cache: AttentionCache, rows: torch.Tensor | None = None) -> torch.Tensor:
        """One new position per row: x (n, d_model) for cache rows `rows` (all if None)."""
        n = x.shape[0]
        # Rows from a boundary subset are sorted and unique: n == batch means all rows.
        all_rows = rows is None or n == cache.length.shape[0]
        if rows is None:
            rows = torch.arange(n, device=x.device)
        pos = cache.length[rows]  # (n,) the new position of each row
        q, k, v = self._qkv(x[:, None], pos[:, None])  # (n, 1, h, d)
        self._ensure_capacity(cache, int(pos.max()) + 1 if n else 0)
        cap = cache.k.shape[1]
        slots = pos % cap
        cache.k[rows, slots] = k[:, 0].to(cache.k.dtype)
        cache.v[rows, slots] = v[:, 0].to(cache.v.dtype)
        cache.slot_pos[rows, slots] = pos
        cache.length[rows] = pos + 1
        # Read the whole cache in place when every row steps (no copy of past keys).
        keys_all, values_all, slot_pos = (
            (cache.k, cache.v, cache.slot_pos) if all_rows else (cache.k[rows], cache.v[rows], cache.slot_pos[rows])
        )
        visible = slot_pos >= 0
        if self.window_size >= 0:
            visible = visible & (slot_pos >= (pos[:, None] - self.window_size))
        out = torch.nn.functional.scaled_dot_product_attention(
            q.transpose(1, 2), keys_all.transpose(1, 2).to(q.dtype), values_all.transpose(1, 2).to(q.dtype),
            attn_mask=visible[:, None, None, :],
        )  # (n, h, 1, d)
        return self.out_proj(out.transpose(1, 2).reshape(n, self.d_model))

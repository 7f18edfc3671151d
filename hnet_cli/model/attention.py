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
from hnet_cli.model.cache_tree import blend, cache_leaves
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

    def step(self, x: torch.Tensor, cache: AttentionCache, active: torch.Tensor | None = None) -> torch.Tensor:
        """One new position per row: x (b, d_model) -> (b, d_model).

        Rows where `active` (b,) is False leave their cache as it was (their output is
        computed and not meant to be used). The cache must have room for the new
        position: `reserve_positions` before stepping (it never grows here, so the
        step has fixed shapes and no host synchronisation, as a CUDA graph needs).
        """
        n = x.shape[0]
        rows = torch.arange(n, device=x.device)
        pos = cache.length.clone()  # (b,) the new position of each row
        q, k, v = self._qkv(x[:, None], pos[:, None])  # (b, 1, h, d)
        slots = pos % cache.k.shape[1]
        cache.k[rows, slots] = blend(active, k[:, 0].to(cache.k.dtype), cache.k[rows, slots])
        cache.v[rows, slots] = blend(active, v[:, 0].to(cache.v.dtype), cache.v[rows, slots])
        cache.slot_pos[rows, slots] = blend(active, pos, cache.slot_pos[rows, slots])
        cache.length.add_(1 if active is None else active.long())
        visible = cache.slot_pos >= 0
        if self.window_size >= 0:
            visible = visible & (cache.slot_pos >= (pos[:, None] - self.window_size))
        out = torch.nn.functional.scaled_dot_product_attention(
            q.transpose(1, 2), cache.k.transpose(1, 2).to(q.dtype), cache.v.transpose(1, 2).to(q.dtype),
            attn_mask=visible[:, None, None, :],
        )  # (b, h, 1, d)
        return self.out_proj(out.transpose(1, 2).reshape(n, self.d_model))


def reserve_positions(cache, new_positions: int) -> None:
    """Grow the global-attention caches of a cache tree so `new_positions` more steps fit.

    Sliding-window caches are rings of fixed size. Reads the longest row's length
    (a host synchronisation on GPUs): call before stepping, or once before capturing
    a CUDA graph of the step.
    """
    for c in cache_leaves(cache, AttentionCache):
        if not c.ring:
            CausalSelfAttention._ensure_capacity(c, (int(c.length.max()) if c.length.numel() else 0) + new_positions)

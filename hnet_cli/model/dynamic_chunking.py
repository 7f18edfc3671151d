"""Dynamic chunking: routing, chunk, dechunk (smoothing) and the STE (paper §2.2).

With the encoder output h_t of one stage:
    q_t = W_q h_{t-1},  k_t = W_k h_t     (released code: q on the previous position)
    p_t = clamp((1 - cos(q_t, k_t)) / 2, 0, 1),   p_0 = 1 at every document start
    b_t = [p_t > 0.5]                      a tie is not a boundary
    c_t = max(p_t, 1 - p_t)                confidence, enters through the STE
Chunk keeps the positions with b_t = 1. Dechunk smooths the main network's
outputs zhat_j over the chunk sequence,
    zbar_j = P_j zhat_j + (1 - P_j) zbar_{j-1},  P_j = clamp(p at boundary j, 1e-4, 1 - 1e-4)
and upsamples: position t reads zbar of its chunk, cumsum(b)_t - 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from hnet_cli import ops
from hnet_cli.model.cache_tree import blend
from hnet_cli.model.precision import at_least_fp32, full_precision
from hnet_cli.model.sequence import SeqInfo, positions_from_seq_idx

P_CLAMP = 1e-4


class _STE(torch.autograd.Function):
    """Straight-through: 1 in the forward pass, the gradient passes unchanged to c_t."""

    @staticmethod
    def forward(ctx, x):
        return torch.ones_like(x)

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output


def ste(x: torch.Tensor) -> torch.Tensor:
    return _STE.apply(x)


@dataclass
class RoutingOutput:
    boundary_prob: torch.Tensor  # (b, l) p_t, float32
    boundary_mask: torch.Tensor  # (b, l) bool b_t (False on padding)
    selected_prob: torch.Tensor  # (b, l) c_t = max(p_t, 1 - p_t)


@dataclass
class RoutingCache:
    last_hidden: torch.Tensor  # (b, d) h_{t-1}
    has_seen: torch.Tensor  # (b,) bool: any position seen yet


class RoutingModule(nn.Module):
    def __init__(self, d_model: int, device=None, dtype=None):
        super().__init__()
        self.d_model = d_model
        self.q_proj_layer = nn.Linear(d_model, d_model, bias=False, device=device, dtype=dtype)
        self.k_proj_layer = nn.Linear(d_model, d_model, bias=False, device=device, dtype=dtype)
        for layer in (self.q_proj_layer, self.k_proj_layer):
            layer.weight._no_reinit = True  # starts as the identity, kept by init_weights
        if device is None or torch.device(device).type != "meta":
            self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self):
        eye = torch.eye(self.d_model)
        self.q_proj_layer.weight.copy_(eye)
        self.k_proj_layer.weight.copy_(eye)

    @staticmethod
    def _outputs(p: torch.Tensor, valid: torch.Tensor | None) -> RoutingOutput:
        boundary = p > 0.5
        if valid is not None:
            boundary = boundary & valid
        return RoutingOutput(p, boundary, torch.maximum(p, 1 - p))

    def _project(self, layer: nn.Linear, h: torch.Tensor) -> torch.Tensor:
        """Routing decides boundaries at p > 0.5: its projections run in (at least) fp32, autocast or not."""
        with full_precision(h.device.type):
            return F.linear(at_least_fp32(h), at_least_fp32(layer.weight))

    def forward(self, h: torch.Tensor, info: SeqInfo, cache: RoutingCache | None = None) -> RoutingOutput:
        q = F.normalize(self._project(self.q_proj_layer, h[:, :-1]), dim=-1)
        k = F.normalize(self._project(self.k_proj_layer, h[:, 1:]), dim=-1)
        cos_sim = (q * k).sum(-1)
        p = torch.clamp((1 - cos_sim) / 2, min=0.0, max=1.0)
        p = F.pad(p, (1, 0), value=1.0)  # p_0 = 1
        if info.seq_idx is not None:
            p = torch.where(info.doc_starts(), torch.ones_like(p), p)
        if cache is not None:
            last = (info.mask.sum(1) - 1).clamp(min=0)
            cache.last_hidden.copy_(h[torch.arange(h.shape[0], device=h.device), last])
            cache.has_seen.copy_(info.mask.any(1))
        return self._outputs(p, info.mask)

    def new_cache(self, batch: int, device=None, dtype=torch.float32) -> RoutingCache:
        return RoutingCache(
            last_hidden=torch.zeros(batch, self.d_model, device=device, dtype=dtype),
            has_seen=torch.zeros(batch, dtype=torch.bool, device=device),
        )

    def step(self, h: torch.Tensor, cache: RoutingCache, active: torch.Tensor | None = None) -> RoutingOutput:
        """h (b, d): the new position of every row; rows where `active` is False keep their cache."""
        q = F.normalize(self._project(self.q_proj_layer, cache.last_hidden.to(h.dtype)), dim=-1)
        k = F.normalize(self._project(self.k_proj_layer, h), dim=-1)
        p = torch.clamp((1 - (q * k).sum(-1)) / 2, min=0.0, max=1.0)
        p = torch.where(cache.has_seen, p, torch.ones_like(p))
        cache.last_hidden.copy_(blend(active, h.to(cache.last_hidden.dtype), cache.last_hidden))
        cache.has_seen.copy_(blend(active, torch.ones_like(cache.has_seen), cache.has_seen))
        return self._outputs(p, None)


OVERFLOW_STEPS = 4  # a batch over its budget grows by L / OVERFLOW_STEPS (see ChunkBudget)


@dataclass(frozen=True)
class ChunkBudget:
    """A fixed chunk-sequence length per stage, so shapes depend on the batch size alone.

    Without a budget the chunk sequence is as long as the row with the most
    boundaries, so every batch has a new shape (torch.compile recompiles, the
    allocator fragments) and an "unlucky" batch costs more memory. With one,
    each row reserves `ceil(fraction * L / multiple) * multiple` chunk slots
    (capped at L). A batch that needs more grows in coarse steps, a quarter of L
    (rounded up to the multiple): early in training, while compression still
    moves, overflowing batches then meet at most four new shapes, each compiled
    once, instead of one per multiple (sixteen at L = 4096), each a pause of
    seconds while the step is compiled again. Unused slots are padding (mask
    False), which the inner network never lets touch real positions.
    """

    fraction: float  # slots reserved per row, as a fraction of the stage's input length L
    multiple: int = 256  # granularity of the reserved length (and of growth past it)

    def __post_init__(self):
        if not 0 < self.fraction <= 1:
            raise ValueError(f"chunk budget fraction must be in (0, 1], got {self.fraction}")
        if self.multiple < 1:
            raise ValueError(f"chunk budget multiple must be >= 1, got {self.multiple}")

    def length(self, needed: int, length: int) -> int:
        """Chunk slots per row for a stage input of `length` whose fullest row has `needed` boundaries."""
        m = self.multiple
        reserved = -(-math.ceil(self.fraction * length) // m) * m
        if needed > reserved:
            step = -(-length // (OVERFLOW_STEPS * m)) * m
            reserved = -(-needed // step) * step
        return min(reserved, length)


def chunk(h: torch.Tensor, boundary: torch.Tensor, info: SeqInfo, budget: ChunkBudget | None = None):
    """Keep the boundary positions of each row, in order.

    Returns the chunk sequence (b, L', d), its SeqInfo, and `order` (b, L'):
    which position each chunk came from. L' is the largest boundary count of a
    row, or the length `budget` reserves. Rows with fewer chunks are padded at
    the end (mask False).
    """
    b, l, d = h.shape
    counts = boundary.sum(1)
    # One transfer for both numbers: the length to allocate and whether any row is padded.
    fewest, most = torch.stack(torch.aminmax(counts)).tolist() if b else (0, 0)
    l_next = most if budget is None else budget.length(most, l)
    # Stable sort puts the boundary positions first, in their original order.
    order = torch.argsort((~boundary).to(torch.int8), dim=1, stable=True)[:, :l_next]
    h_next = torch.gather(h, 1, order[..., None].expand(b, l_next, d))
    mask_next = torch.arange(l_next, device=h.device)[None] < counts[:, None]
    all_valid = fewest == l_next
    if info.seq_idx is None:
        info_next = SeqInfo.from_mask(mask_next, all_valid)
    else:
        seq_next = torch.gather(info.seq_idx, 1, order)
        # Padding keeps the last document number so seq_idx stays non-decreasing.
        last = torch.gather(seq_next, 1, (counts - 1).clamp(min=0)[:, None])
        seq_next = torch.where(mask_next, seq_next, last)
        info_next = SeqInfo(mask=mask_next, seq_idx=seq_next, position=positions_from_seq_idx(seq_next),
                            known_all_valid=all_valid)
    return h_next, info_next, order


@dataclass
class DechunkCache:
    last_value: torch.Tensor  # (b, d) zbar of the latest chunk


def dechunk(
    z_hat: torch.Tensor,
    boundary: torch.Tensor,
    boundary_prob: torch.Tensor,
    order: torch.Tensor,
    info_next: SeqInfo,
    cache: DechunkCache | None = None,
) -> torch.Tensor:
    """Smooth the chunk outputs (EMA over chunks) and upsample to the outer positions.

    z_hat (b, L', d) main-network outputs; boundary/boundary_prob (b, L) of the
    outer sequence; order/info_next from `chunk`. Returns (b, L, d) in z_hat's dtype.
    """
    P = torch.gather(boundary_prob, 1, order).clamp(P_CLAMP, 1 - P_CLAMP)  # P_j
    out = ops.ema_scan(
        z_hat, P, seq_idx=info_next.seq_idx, initial_state=None, return_final_state=False
    )  # zbar_j
    if cache is not None:
        last = (info_next.mask.sum(1) - 1).clamp(min=0)
        cache.last_value.copy_(out[torch.arange(out.shape[0], device=out.device), last])
    chunk_of = (torch.cumsum(boundary.long(), dim=1) - 1).clamp(min=0)  # cumsum(b)_t - 1
    return torch.gather(out, 1, chunk_of[..., None].expand(-1, -1, out.shape[-1]))


def dechunk_step(
    z_hat: torch.Tensor, boundary: torch.Tensor, boundary_prob: torch.Tensor, cache: DechunkCache
) -> torch.Tensor:
    """zbar = P zhat + (1 - P) zbar_prev on the rows with a boundary now, zbar_prev elsewhere.

    z_hat (b, d) for every row (rows without a boundary: any value, unused); returns zbar (b, d).
    """
    P = boundary_prob.clamp(P_CLAMP, 1 - P_CLAMP)[:, None].to(cache.last_value.dtype)
    value = blend(boundary, P * z_hat.to(cache.last_value.dtype) + (1 - P) * cache.last_value, cache.last_value)
    cache.last_value.copy_(value)
    return value

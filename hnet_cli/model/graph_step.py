"""Generation steps that a CUDA graph can capture: `model.step` without host synchronisation.

`HNetLM.step` runs a stage's inner network only for the rows whose new byte is
a boundary (`nonzero`, a variable row count) and grows global-attention caches
on demand (`int(max)`): each of those waits for the GPU, so a step costs a few
thousand kernel launches paid one by one from Python. At batch 1 that is
~100 bytes/s however small the model's arithmetic is.

`dense_step` computes the same function with fixed shapes: every stage runs
for every row, and each cache update is blended with `torch.where(active,
new, old)`, so rows without a boundary leave their inner caches exactly as
they were. Logits and decisions of active rows equal `model.step`'s; the extra
rows cost arithmetic a memory-bound step does not notice. `GraphedStep`
captures it once (after prefill) and replays it per byte.

Paper symbols: p_t boundary probability, b_t boundary, c_t confidence,
zbar_j = P_j zhat_j + (1 - P_j) zbar_{j-1} the dechunk EMA.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

from hnet_cli import ops
from hnet_cli.model.attention import AttentionCache, CausalSelfAttention
from hnet_cli.model.cache_tree import cache_leaves
from hnet_cli.model.block import Block, Isotropic, _add_residual
from hnet_cli.model.dynamic_chunking import P_CLAMP, RoutingModule, ste
from hnet_cli.model.hnet import HNet, HNetCache, HNetLM, HNetOutput, StageOutput
from hnet_cli.model.mamba2 import Mamba2, Mamba2Cache
from hnet_cli.model.precision import at_least_fp32


def _blend(active: torch.Tensor | None, new: torch.Tensor, old: torch.Tensor) -> torch.Tensor:
    """new where the row is active, old elsewhere (active (b,) bool broadcast over the rest)."""
    if active is None:
        return new
    return torch.where(active.view(-1, *([1] * (new.dim() - 1))), new, old)


# ---------------------------------------------------------------- mixers
def mamba_step(m: Mamba2, u: torch.Tensor, cache: Mamba2Cache, active: torch.Tensor | None) -> torch.Tensor:
    """`Mamba2.step` for all rows; states change only where `active`."""
    if active is None:
        return m.step(u, cache)
    z, xBC, dt_raw = m._split(m.in_proj(u))
    conv_state = cache.conv_state.clone()
    ssm_state = cache.ssm_state.clone()
    xBC = ops.causal_conv1d_step(conv_state, xBC, m.conv1d.weight[:, 0, :], m.conv1d.bias, activation="silu")
    x, B, C = torch.split(xBC, [m.d_inner, m.d_state, m.d_state], dim=-1)
    n = u.shape[0]
    y = ops.ssd_step(
        ssm_state, x.reshape(n, m.nheads, m.headdim), m._dt(dt_raw), -torch.exp(at_least_fp32(m.A_log)),
        B.reshape(n, 1, m.d_state), C.reshape(n, 1, m.d_state), D=m.D,
    )
    cache.conv_state.copy_(_blend(active, conv_state, cache.conv_state))
    cache.ssm_state.copy_(_blend(active, ssm_state, cache.ssm_state))
    y = ops.gated_rms_norm(y.reshape(n, m.d_inner), z, m.norm.weight, eps=1e-5)
    return m.out_proj(y)


def attention_step(a: CausalSelfAttention, x: torch.Tensor, cache: AttentionCache,
                   active: torch.Tensor | None) -> torch.Tensor:
    """`CausalSelfAttention.step` for all rows with a cache of fixed capacity (see `reserve`)."""
    n = x.shape[0]
    rows = torch.arange(n, device=x.device)
    pos = cache.length.clone()  # (n,) the new position of each row (length advances below)
    q, k, v = a._qkv(x[:, None], pos[:, None])  # (n, 1, h, d)
    slots = pos % cache.k.shape[1]
    cache.k[rows, slots] = _blend(active, k[:, 0].to(cache.k.dtype), cache.k[rows, slots])
    cache.v[rows, slots] = _blend(active, v[:, 0].to(cache.v.dtype), cache.v[rows, slots])
    cache.slot_pos[rows, slots] = _blend(active, pos, cache.slot_pos[rows, slots])
    cache.length.add_(1 if active is None else active.long())
    visible = cache.slot_pos >= 0
    if a.window_size >= 0:
        visible = visible & (cache.slot_pos >= (pos[:, None] - a.window_size))
    out = F.scaled_dot_product_attention(
        q.transpose(1, 2), cache.k.transpose(1, 2).to(q.dtype), cache.v.transpose(1, 2).to(q.dtype),
        attn_mask=visible[:, None, None, :],
    )  # (n, h, 1, d)
    return a.out_proj(out.transpose(1, 2).reshape(n, a.d_model))


def block_step(block: Block, x, residual, cache, active):
    residual = _add_residual(x, residual)
    h = block.norm1(residual)
    if isinstance(block.mixer, Mamba2):
        x = mamba_step(block.mixer, h, cache, active)
    else:
        x = attention_step(block.mixer, h, cache, active)
    if block.mlp is not None:
        residual = _add_residual(x, residual)
        x = block.mlp(block.norm2(residual))
    return x, residual


def isotropic_step(stack: Isotropic, x: torch.Tensor, cache: list, active, block_fn=block_step) -> torch.Tensor:
    """`block_fn` is `block_step` or a compiled version of it (the stage-level glue stays plain Python)."""
    residual = None
    for layer, layer_cache in zip(stack.layers, cache):
        x, residual = block_fn(layer, x, residual, layer_cache, active)
    return stack.rmsnorm(_add_residual(x, residual))


# ---------------------------------------------------------------- dynamic chunking
def routing_step(r: RoutingModule, h: torch.Tensor, cache, active):
    """`RoutingModule.step` for all rows; its cache changes only where `active`."""
    if active is None:
        return r.step(h, cache)
    sub = type(cache)(cache.last_hidden.clone(), cache.has_seen.clone())
    out = r.step(h, sub)
    cache.last_hidden.copy_(_blend(active, sub.last_hidden, cache.last_hidden))
    cache.has_seen.copy_(_blend(active, sub.has_seen, cache.has_seen))
    return out


def dechunk_step(z_hat, boundary, boundary_prob, cache) -> torch.Tensor:
    """zbar = P z_hat + (1 - P) zbar_prev on rows with a boundary now; zbar_prev elsewhere."""
    P = boundary_prob.clamp(P_CLAMP, 1 - P_CLAMP)[:, None].to(cache.last_value.dtype)
    value = _blend(boundary, P * z_hat.to(cache.last_value.dtype) + (1 - P) * cache.last_value, cache.last_value)
    cache.last_value.copy_(value)
    return value


def stage_step(stage: HNet, x: torch.Tensor, cache: HNetCache, active: torch.Tensor | None, block_fn=block_step):
    """`HNet.step` with every row present; rows not `active` leave this stage's caches untouched."""
    d_outer = x.shape[-1]
    x = stage._widen(x)
    if stage.is_innermost:
        return isotropic_step(stage.main_network, x, cache.main, active, block_fn)[..., :d_outer], []
    h = isotropic_step(stage.encoder, x, cache.encoder, active, block_fn)
    residual = stage._residual(h)
    route = routing_step(stage.routing_module, h, cache.routing, active)
    boundary = route.boundary_mask if active is None else route.boundary_mask & active
    z_hat, inner = stage_step(stage.main_network, h, cache.main, boundary, block_fn)
    z = dechunk_step(z_hat, boundary, route.boundary_prob, cache.dechunk)
    x = z.to(residual.dtype) * ste(route.selected_prob.to(residual.dtype))[..., None] + residual
    x = isotropic_step(stage.decoder, x.to(h.dtype), cache.decoder, active, block_fn)
    valid = torch.ones_like(boundary) if active is None else active
    here = StageOutput(_zero_where_not(route.boundary_prob, valid), boundary,
                       _zero_where_not(route.selected_prob, valid), valid)
    return x[..., :d_outer], [here, *inner]


def _zero_where_not(t, valid):
    return torch.where(valid, t, torch.zeros_like(t))


@torch.no_grad()
def dense_step(model: HNetLM, input_ids: torch.Tensor, cache: HNetCache, block_fn=block_step) -> HNetOutput:
    """One byte per row, like `model.step`, with fixed shapes and no host synchronisation."""
    x = model.embeddings(input_ids)
    x, stages = stage_step(model.backbone, x, cache, None, block_fn)
    return HNetOutput(logits=model.lm_head(x.to(model.lm_head.weight.dtype)), stages=stages)


# ---------------------------------------------------------------- fixed capacity, capture, replay
def reserve(cache: HNetCache, new_positions: int) -> None:
    """Grow global-attention caches now so `new_positions` more steps never reallocate them."""
    for c in cache_leaves(cache, AttentionCache):
        if not c.ring:
            CausalSelfAttention._ensure_capacity(c, int(c.length.max()) + new_positions)


class GraphedStep:
    """`dense_step` captured in a CUDA graph for one cache (batch size, capacity); replay per byte.

    Build after prefill. `max_new` bounds the steps the graph may take (global
    attention caches are reserved for it). With `compile=True` each block's
    step is fused by torch.compile first, which cuts the graph's kernel count
    several-fold. The cache is restored after the warm-up runs, so capture
    leaves it exactly as prefill left it.
    """

    def __init__(self, model: HNetLM, cache: HNetCache, batch: int, max_new: int, compile: bool = False,
                 warmup: int = 2):
        self.block_fn = block_step
        if compile:
            from hnet_cli.model.fast import raise_compile_cache_limits

            raise_compile_cache_limits()
            self.block_fn = compiled_block_step()
        self.model, self.cache, self.max_new = model, cache, max_new
        self.steps = 0
        reserve(cache, max_new + warmup + 1)
        device = model.embeddings.weight.device
        self.ids = torch.zeros(batch, dtype=torch.long, device=device)
        saved = [t.clone() for t in cache_leaves(cache)]
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(warmup):
                dense_step(model, self.ids, cache, self.block_fn)
        torch.cuda.current_stream().wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.out = dense_step(model, self.ids, cache, self.block_fn)
        for t, s in zip(cache_leaves(cache), saved):
            t.copy_(s)

    def __call__(self, input_ids: torch.Tensor) -> HNetOutput:
        """Advance every row by one byte; the returned tensors are overwritten by the next call."""
        if self.steps >= self.max_new:
            raise RuntimeError(f"this graph was built for {self.max_new} steps; build a new one to continue")
        self.ids.copy_(input_ids)
        self.graph.replay()
        self.steps += 1
        return self.out


@functools.lru_cache(maxsize=None)
def compiled_block_step():
    """`block_step` fused by torch.compile; one compiled function serves every block (guards tell kinds apart)."""
    return torch.compile(block_step, dynamic=False)

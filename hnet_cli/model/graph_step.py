"""Generation steps captured in a CUDA graph: `model.step(dense=True)` replayed per byte.

A plain `model.step` runs a stage's inner network only for the rows whose new
byte is a boundary (a variable row count) and grows global-attention caches on
demand: each of those waits for the GPU, so a step costs a few thousand kernel
launches paid one by one from Python (~100 bytes/s at batch 1, whatever the
model's arithmetic). The dense step (`HNet.step`) computes the same function
with fixed shapes and no host synchronisation; `GraphedStep` captures it once,
after prefill, and replays it per byte.
"""

from __future__ import annotations

import torch

from hnet_cli.model.attention import reserve_positions
from hnet_cli.model.cache_tree import cache_leaves
from hnet_cli.model.fast import compiled_block_step
from hnet_cli.model.hnet import HNetCache, HNetLM, HNetOutput
from hnet_cli.ops.compile_boundary import raise_compile_cache_limits


def dense_step(model: HNetLM, input_ids: torch.Tensor, cache: HNetCache, block_step=None) -> HNetOutput:
    """One byte per row at fixed shapes (what GraphedStep captures); caches must have room."""
    return model.step(input_ids, cache, dense=True, block_step=block_step)


class GraphedStep:
    """The dense step captured in a CUDA graph for one cache (batch size, capacity); replay per byte.

    Build after prefill. `max_new` bounds the steps the graph may take (global
    attention caches are reserved for it). With `compile=True` each block's
    step is fused by torch.compile first, which cuts the graph's kernel count
    several-fold. The cache is restored after the warm-up runs, so capture
    leaves it exactly as prefill left it. Every row advances at every replay:
    a row whose sample has ended keeps stepping on whatever byte it is fed,
    and its outputs are simply not used.
    """

    def __init__(self, model: HNetLM, cache: HNetCache, batch: int, max_new: int, compile: bool = False,
                 warmup: int = 2):
        self.block_step = None
        if compile:
            raise_compile_cache_limits()
            self.block_step = compiled_block_step()
        self.model, self.cache, self.max_new = model, cache, max_new
        self.steps = 0
        reserve_positions(cache, max_new + warmup + 1)
        device = model.embeddings.weight.device
        self.ids = torch.zeros(batch, dtype=torch.long, device=device)
        saved = [t.clone() for t in cache_leaves(cache)]
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(warmup):
                dense_step(model, self.ids, cache, self.block_step)
        torch.cuda.current_stream().wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.out = dense_step(model, self.ids, cache, self.block_step)
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

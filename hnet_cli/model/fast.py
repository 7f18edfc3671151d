"""Getting a model ready to run fast: fixed chunk budgets and compiled blocks.

The GPU kernels themselves are chosen per call by `hnet_cli.ops` (nothing to
do here). Two things need the model:

- `set_chunk_budget`: each chunking stage hands its inner network a chunk
  sequence of a fixed length (see `ChunkBudget`), so tensor shapes, and with
  them peak memory and compiled code, depend on the batch size alone and not
  on how many boundaries a batch happened to have.
- `compile_blocks`: `torch.compile` each residual block ("regional"
  compilation). All blocks of one kind and width share one compiled graph, so
  compiling a 22-layer stack costs about as much as compiling one layer, and
  the routing, chunk and dechunk steps between stacks, whose shapes are
  data-dependent, stay in eager mode. Norms, rotary embeddings, the residual
  adds, the conv and the SwiGLU fuse into few kernels; the SSD scan and
  FlexAttention run as their own kernels between the compiled pieces.
- `compile_step`: the same for `model.step` (generation). For batch-1 speed
  use `hnet_cli.model.graph_step.GraphedStep`, which replays a whole byte as
  one CUDA graph.

Typical GPU training setup:

    model = HNetLM(cfg, device="cuda"); init_weights(model)
    make_fast(model, chunk_budget=1.0 / N)   # N = target compression per stage
    with torch.autocast("cuda", dtype=torch.bfloat16):
        out = model(ids, seq_idx=seq_idx)
"""

from __future__ import annotations

import types
from collections.abc import Sequence

import torch
from torch import nn

from hnet_cli.model.block import Block
from hnet_cli.model.dynamic_chunking import ChunkBudget
from hnet_cli.model.hnet import HNet

# Every (block kind, width, sequence shape) is one compiled entry; the default
# limit of 8 per code object would silently fall back to eager in deep H-Nets.
DYNAMO_CACHE_LIMIT = 64


def chunking_stages(model: nn.Module) -> list[HNet]:
    """The stages that chunk (all but the innermost), outermost first."""
    return [m for m in model.modules() if isinstance(m, HNet) and not m.is_innermost]


def set_chunk_budget(model: nn.Module, fractions: float | Sequence[float] | None, multiple: int = 256) -> None:
    """Reserve `fractions[s] * L_s` chunk slots per row at stage s (None: no budget).

    A single number applies to every stage. Choose it a little above the
    compression the model keeps (e.g. 1.25 / N for target N): batches that need
    more still run, at the next multiple of `multiple`.
    """
    stages = chunking_stages(model)
    if fractions is None:
        for stage in stages:
            stage.chunk_budget = None
        return
    if isinstance(fractions, (int, float)):
        fractions = [float(fractions)] * len(stages)
    if len(fractions) != len(stages):
        raise ValueError(f"need one chunk budget per chunking stage ({len(stages)}), got {len(fractions)}")
    for stage, fraction in zip(stages, fractions):
        stage.chunk_budget = ChunkBudget(float(fraction), multiple)


def raise_compile_cache_limits() -> None:
    """Room for one compiled entry per (block kind, width, shape); see DYNAMO_CACHE_LIMIT."""
    import torch._dynamo

    torch._dynamo.config.cache_size_limit = max(torch._dynamo.config.cache_size_limit, DYNAMO_CACHE_LIMIT)
    limit = getattr(torch._dynamo.config, "accumulated_cache_size_limit", None)
    if limit is not None:
        torch._dynamo.config.accumulated_cache_size_limit = max(limit, 4 * DYNAMO_CACHE_LIMIT)


def record_chunk_slots(model: nn.Module) -> None:
    """Keep, on each chunking stage, the chunk-sequence length of its latest forward (`last_chunk_slots`)."""
    for stage in chunking_stages(model):
        def hook(module, args, stage=stage):
            stage.last_chunk_slots = args[0].shape[1]
        stage.main_network.register_forward_pre_hook(hook)


def compile_blocks(model: nn.Module, **compile_options) -> int:
    """torch.compile every residual block in place; returns how many were compiled."""
    raise_compile_cache_limits()
    blocks = [m for m in model.modules() if isinstance(m, Block)]
    for block in blocks:
        block.compile(**compile_options)
    return len(blocks)


def compile_step(model: nn.Module, **compile_options) -> int:
    """torch.compile the per-position `step` of every block (generation); returns how many.

    One compiled function serves all blocks: they differ by guards (kind,
    width), not by identity, so a deep stack compiles once per kind.
    """
    raise_compile_cache_limits()
    compiled = torch.compile(Block.step, **compile_options)
    blocks = [m for m in model.modules() if isinstance(m, Block)]
    for block in blocks:
        block.step = types.MethodType(compiled, block)
    return len(blocks)


def make_fast(model: nn.Module, compile: bool = True, chunk_budget: float | Sequence[float] | None = None,
              multiple: int = 256) -> nn.Module:
    """Chunk budgets (when given) and compiled blocks (when asked and worthwhile); returns the model."""
    set_chunk_budget(model, chunk_budget, multiple)
    if compile:
        compile_blocks(model)
    return model


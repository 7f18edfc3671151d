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
- `FixedShapeModel`: inference (eval, chunk) over padded batches at a few
  fixed shapes: lengths padded to a power of two, rows to a fixed count per
  length, chunk sequences rounded up to a multiple of 256, so compiled blocks
  are reused from batch to batch instead of recompiled.

Typical GPU training setup:

    model = HNetLM(cfg, device="cuda"); init_weights(model)
    make_fast(model, chunk_budget=1.0 / N)   # N = target compression per stage
    with torch.autocast("cuda", dtype=torch.bfloat16):
        out = model(ids, seq_idx=seq_idx)
"""

from __future__ import annotations

import functools
import types
from collections.abc import Sequence

import torch
from torch import nn

from hnet_cli.model.block import Block
from hnet_cli.model.dynamic_chunking import ChunkBudget
from hnet_cli.model.hnet import HNet, HNetOutput, StageOutput
from hnet_cli.ops.compile_boundary import raise_compile_cache_limits
from hnet_cli.ops.registry import compilation_allowed


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


@functools.lru_cache(maxsize=None)
def compiled_block_step():
    """`Block.step` fused by torch.compile; one compiled function serves every block
    (they differ by guards: kind, width), so a deep stack compiles once per kind."""
    return torch.compile(Block.step, dynamic=False)


def compile_step(model: nn.Module, **compile_options) -> int:
    """torch.compile the per-position `step` of every block in place (generation); returns how many."""
    raise_compile_cache_limits()
    compiled = torch.compile(Block.step, **compile_options) if compile_options else compiled_block_step()
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



# ---------------------------------------------------------------- inference at fixed shapes
# A chunk budget this small reserves no slots beyond one `multiple`: each stage's
# chunk sequence is the fullest row's count rounded up to a multiple of 256.
ROUND_UP_ONLY = 1.0 / (1 << 20)
MIN_LENGTH = 256  # shortest padded row length
LONG_LENGTH = 4096  # above it, lengths are padded to a multiple of LONG_STEP rather than a power of two
LONG_STEP = 1024


def bucket_length(length: int) -> int:
    """The padded row length for rows of `length` positions: a power of two from 256 to 4096,
    then a multiple of 1024 (a 16385-position row, a window plus BOS, takes 17408, not 32768)."""
    if length > LONG_LENGTH:
        return -(-length // LONG_STEP) * LONG_STEP
    return max(MIN_LENGTH, 1 << max(0, length - 1).bit_length())


class FixedShapeModel(nn.Module):
    """`model(ids, mask=mask)` for inference, run at a few fixed shapes (see the module docstring).

    A batch of b rows of length l is padded to R rows of L positions (L = bucket_length(l),
    R a multiple of tokens_per_pass // L); the extra rows repeat row 0 and the extra
    positions are padding (mask False), and both are cut from the output. Rows are
    computed as if alone (padding only at the end of a row), so the results are those
    of the plain model on the same rows, up to the arithmetic of other tensor shapes.
    """

    def __init__(self, model: nn.Module, tokens_per_pass: int, compile: bool = True):
        super().__init__()
        self.model = model
        self.tokens_per_pass = tokens_per_pass
        self.compiled = compile
        set_chunk_budget(model, ROUND_UP_ONLY)
        if compile:
            compile_blocks(model)

    @property
    def config(self):
        return self.model.config

    @property
    def num_stages(self) -> int:
        return self.model.num_stages

    def _padded(self, input_ids: torch.Tensor, mask: torch.Tensor | None):
        """ids and mask padded to the fixed shape (R, L), with the real rows' b and length l."""
        b, l = input_ids.shape
        if mask is None:
            mask = torch.ones_like(input_ids, dtype=torch.bool)
        L = bucket_length(l)
        per_pass = max(1, self.tokens_per_pass // L)
        R = -(-b // per_pass) * per_pass
        ids = input_ids.new_zeros(R, L)
        full_mask = mask.new_zeros(R, L)
        ids[:b, :l], full_mask[:b, :l] = input_ids, mask
        ids[b:], full_mask[b:] = ids[:1], full_mask[:1]
        return ids, full_mask, b, l

    @staticmethod
    def _cut(stages: list[StageOutput], b: int, l: int) -> list[StageOutput]:
        # Stage 0 decisions are per position (cut to l); inner stages' sequences keep their length.
        return [StageOutput(*(t[:b, :l] if s == 0 else t[:b] for t in
                              (st.boundary_prob, st.boundary_mask, st.selected_prob, st.valid)))
                for s, st in enumerate(stages)]

    def forward(self, input_ids: torch.Tensor, mask: torch.Tensor | None = None) -> HNetOutput:
        ids, full_mask, b, l = self._padded(input_ids, mask)
        out = self.model(ids, mask=full_mask)
        return HNetOutput(logits=out.logits[:b, :l], stages=self._cut(out.stages, b, l))

    def decide(self, input_ids: torch.Tensor, mask: torch.Tensor | None = None) -> list[StageOutput]:
        """`model.decide` (the chunking decisions alone, what `hnet chunk` needs) at the fixed shapes."""
        ids, full_mask, b, l = self._padded(input_ids, mask)
        return self._cut(self.model.decide(ids, mask=full_mask), b, l)


def for_inference(model: nn.Module, device: torch.device, tokens_per_pass: int) -> nn.Module:
    """The model as eval and chunk should run it on `device`: at fixed shapes on GPUs, as is elsewhere.

    Its blocks are compiled unless this runs inside `ops.without_compilation()` (the
    commands' --no-compile); blocks compiled by an earlier pass stay compiled. The wrapper
    is made once per model and kept on it, so several passes share its compiled code.
    """
    if torch.device(device).type != "cuda" or isinstance(model, FixedShapeModel):
        return model
    compile = compilation_allowed()
    wrapped = getattr(model, "_fixed_shape_model", None)
    if wrapped is None or wrapped.tokens_per_pass != tokens_per_pass or (compile and not wrapped.compiled):
        wrapped = FixedShapeModel(model, tokens_per_pass, compile=compile)
        object.__setattr__(model, "_fixed_shape_model", wrapped)
    return wrapped

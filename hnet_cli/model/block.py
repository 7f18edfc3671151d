"""Pre-norm residual blocks and the isotropic stack that holds them.

Each block, with the residual stream kept in fp32:
    residual = x + residual;  h = RMSNorm1(residual);  x = mixer(h)
    (M/T blocks) residual = x + residual;  h = RMSNorm2(residual);  x = SwiGLU(h)
and a stack ends with RMSNorm(x + residual).
"""

from __future__ import annotations

import torch
from torch import nn

from hnet_cli.model.attention import CausalSelfAttention
from hnet_cli.model.config import HNetConfig, LayerSpec
from hnet_cli.model.mamba2 import Mamba2
from hnet_cli.model.mlp import SwiGLU
from hnet_cli.model.norm import RMSNorm
from hnet_cli.model.precision import at_least_fp32
from hnet_cli.model.sequence import SeqInfo


def _add_residual(x: torch.Tensor, residual: torch.Tensor | None) -> torch.Tensor:
    """The residual stream is at least fp32 (fp64 models stay fp64).

    The stream starts as a copy of the stack's input, never the input itself: a
    block whose output aliased its input would defeat FSDP's backward hooks.
    """
    if residual is None:
        return x.to(torch.promote_types(x.dtype, torch.float32), copy=True)
    return residual + at_least_fp32(x)


class Block(nn.Module):
    def __init__(self, spec: LayerSpec, config: HNetConfig, stage: int, device=None, dtype=None):
        super().__init__()
        d = config.d_model[stage]
        factory = dict(device=device, dtype=dtype)
        self.spec = spec
        self.norm1 = RMSNorm(d, eps=1e-5, **factory)
        if spec.mixer == "mamba":
            self.mixer = Mamba2(d, config.ssm, **factory)
        else:
            a = config.attn
            self.mixer = CausalSelfAttention(d, a.num_heads[stage], a.rotary_emb_dim[stage], a.window_size[stage], **factory)
        if spec.has_mlp:
            self.norm2 = RMSNorm(d, eps=1e-5, **factory)
            self.mlp = SwiGLU(d, config.mlp_width(stage), **factory)
        else:
            self.norm2 = None
            self.mlp = None

    def forward(self, x, residual, info: SeqInfo, cache=None):
        residual = _add_residual(x, residual)
        x = self.mixer(self.norm1(residual), info, cache)
        if self.mlp is not None:
            residual = _add_residual(x, residual)
            x = self.mlp(self.norm2(residual))
        return x, residual

    def step(self, x, residual, cache, active=None):
        """One new position per row (x (b, d)); rows where `active` is False keep their caches."""
        residual = _add_residual(x, residual)
        x = self.mixer.step(self.norm1(residual), cache, active)
        if self.mlp is not None:
            residual = _add_residual(x, residual)
            x = self.mlp(self.norm2(residual))
        return x, residual


class Isotropic(nn.Module):
    """A plain stack of blocks at one width, ending in an RMSNorm."""

    def __init__(self, layers: tuple[LayerSpec, ...], config: HNetConfig, stage: int, device=None, dtype=None):
        super().__init__()
        self.d_model = config.d_model[stage]
        self.layers = nn.ModuleList(Block(spec, config, stage, device=device, dtype=dtype) for spec in layers)
        self.rmsnorm = RMSNorm(self.d_model, eps=1e-5, device=device, dtype=dtype)

    def forward(self, x: torch.Tensor, info: SeqInfo, cache: list | None = None) -> torch.Tensor:
        residual = None
        for i, layer in enumerate(self.layers):
            x, residual = layer(x, residual, info, None if cache is None else cache[i])
        return self.rmsnorm(_add_residual(x, residual))

    def new_cache(self, batch: int, device=None, dtype=torch.float32) -> list:
        return [layer.mixer.new_cache(batch, device=device, dtype=dtype) for layer in self.layers]

    def step(self, x: torch.Tensor, cache: list, active: torch.Tensor | None = None, block_step=None) -> torch.Tensor:
        """`block_step(block, x, residual, cache, active)`, when given, replaces each block's own
        `step` (e.g. a compiled version of it)."""
        residual = None
        for layer, layer_cache in zip(self.layers, cache):
            if block_step is None:
                x, residual = layer.step(x, residual, layer_cache, active)
            else:
                x, residual = block_step(layer, x, residual, layer_cache, active)
        return self.rmsnorm(_add_residual(x, residual))

"""Weight initialisation for training from scratch (paper / released recipe).

- linear weights N(0, 0.02); biases zero
- embeddings N(0, 1)
- `out_proj` and `fc2` (the layers that write into the residual stream) divided by
  sqrt(number of residual additions in their stack), so the stream's variance
  does not grow with depth
- kept as built (`_no_reinit`): routing q/k projections (identity) and
  residual_proj's weight (zero); Mamba-2's dt_bias, A_log, D have their own init
"""

from __future__ import annotations

import math

import torch
from torch import nn

from hnet_cli.model.block import Isotropic

INIT_STD = 0.02


@torch.no_grad()
def init_weights(model: nn.Module, std: float = INIT_STD, generator: torch.Generator | None = None) -> None:
    for module in model.modules():
        if isinstance(module, nn.Linear):
            if not getattr(module.weight, "_no_reinit", False):
                module.weight.normal_(0.0, std, generator=generator)
            if module.bias is not None and not getattr(module.bias, "_no_reinit", False):
                module.bias.zero_()
        elif isinstance(module, nn.Embedding):
            module.weight.normal_(0.0, 1.0, generator=generator)
    for module in model.modules():
        if isinstance(module, Isotropic):
            n_residual = sum(1 + (layer.mlp is not None) for layer in module.layers)
            scale = 1.0 / math.sqrt(max(1, n_residual))
            for layer in module.layers:
                layer.mixer.out_proj.weight.mul_(scale)
                if layer.mlp is not None:
                    layer.mlp.fc2.weight.mul_(scale)

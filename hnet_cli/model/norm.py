"""RMSNorm as a module (the computation is `ops.rms_norm`)."""

from __future__ import annotations

import torch
from torch import nn

from hnet_cli import ops


class RMSNorm(nn.Module):
    def __init__(self, d: int, eps: float = 1e-5, device=None, dtype=None):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d, device=device, dtype=dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Normalised in fp32; handed on in the layer's dtype (bf16 models get bf16).
        return ops.rms_norm(x, self.weight, self.eps).to(self.weight.dtype)

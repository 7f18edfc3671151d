"""SwiGLU MLP: out = fc2(silu(gate) * value), with [value, gate] = fc1(x)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class SwiGLU(nn.Module):
    def __init__(self, d_model: int, width: int, device=None, dtype=None):
        super().__init__()
        self.fc1 = nn.Linear(d_model, 2 * width, bias=False, device=device, dtype=dtype)
        self.fc2 = nn.Linear(width, d_model, bias=False, device=device, dtype=dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        value, gate = self.fc1(x).chunk(2, dim=-1)
        return self.fc2(F.silu(gate) * value)

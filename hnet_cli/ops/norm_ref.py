"""RMSNorm and the gated RMSNorm of Mamba-2, pure PyTorch (computed in fp32)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def rms_norm_ref(x: torch.Tensor, weight: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """y = x / sqrt(mean(x^2) + eps) * weight, in fp32 (fp64 for fp64 input), returned in x's dtype."""
    cdtype = torch.float64 if x.dtype == torch.float64 else torch.float32
    x_ = x if x.dtype == cdtype else x.to(cdtype)
    y = x_ * torch.rsqrt(x_.pow(2).mean(-1, keepdim=True) + eps)
    y = y * (weight if weight.dtype == cdtype else weight.to(cdtype))
    return y if y.dtype == x.dtype else y.to(x.dtype)


def gated_rms_norm_ref(x: torch.Tensor, z: torch.Tensor, weight: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Mamba-2's norm with the gate applied before normalising: RMSNorm(x * silu(z)) * weight."""
    cdtype = torch.float64 if x.dtype == torch.float64 else torch.float32
    gated = x.to(cdtype) * F.silu(z.to(cdtype))
    return rms_norm_ref(gated, weight, eps).to(x.dtype)

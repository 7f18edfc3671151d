"""RMSNorm and Mamba-2's gated RMSNorm as single Triton kernels (from `mamba_ssm`).

Used in eager mode on GPUs. Inside `torch.compile` the references are traced
instead: Inductor fuses them with their neighbours, which a hand-written kernel
would prevent.
"""

from __future__ import annotations

import torch

try:
    from mamba_ssm.ops.triton.layernorm_gated import rmsnorm_fn

    HAVE_TRITON_NORM = True
except Exception:
    HAVE_TRITON_NORM = False

GPU_DTYPES = (torch.float16, torch.bfloat16, torch.float32)


def rms_norm_triton(x, weight, eps=1e-5):
    """x / sqrt(mean(x^2) + eps) * weight, computed in fp32, returned in x's dtype."""
    return rmsnorm_fn(x, weight, None, z=None, eps=eps)


def gated_rms_norm_triton(x, z, weight, eps=1e-5):
    """RMSNorm(x * silu(z)) * weight (gate before the norm, as Mamba-2 does)."""
    return rmsnorm_fn(x, weight, None, z=z, eps=eps, norm_before_gate=False)


def _eager_gpu(x) -> bool:
    return HAVE_TRITON_NORM and x.is_cuda and x.dtype in GPU_DTYPES and not torch.compiler.is_compiling()


def rms_norm_applies(x, weight, eps=1e-5) -> bool:
    return _eager_gpu(x)


def gated_rms_norm_applies(x, z, weight, eps=1e-5) -> bool:
    return _eager_gpu(x) and z.shape == x.shape

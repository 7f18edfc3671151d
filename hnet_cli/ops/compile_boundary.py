"""Marking kernels that `torch.compile` must call rather than trace.

Triton kernels wrapped in autograd Functions (mamba_ssm) and FlexAttention
calls with their own block masks run eagerly between the compiled pieces of a
block. `torch.compiler.disable` does that, but importing it loads the whole
compiler stack (seconds), which a CPU-only `hnet --help` must not pay; the
fast paths only ever apply on CUDA machines, so only those apply the marker.
"""

from __future__ import annotations

import torch


def not_traced(fn):
    """`torch.compiler.disable(fn)` on machines with a CUDA GPU; `fn` unchanged elsewhere."""
    if torch.cuda.is_available():
        return torch.compiler.disable(fn)
    return fn

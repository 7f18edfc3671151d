"""Where `torch.compile` meets the kernels: what it must not trace, and how many shapes it keeps.

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


# Every (block kind, width, sequence shape, grad mode) is one compiled entry of a
# code object. Past Dynamo's default limit of 8 it silently runs the function
# eagerly, and for FlexAttention on a GPU eager means the unfused path that
# materialises every (query, key) score: an H-Net's blocks and attention see a
# dozen shapes in one run (train and validation, chunk budgets that grow,
# eval's fixed shapes), and `hnet compare` trains several models in one process.
DYNAMO_CACHE_LIMIT = 64


def raise_compile_cache_limits() -> None:
    """Room for one compiled entry per (block kind, width, shape); see DYNAMO_CACHE_LIMIT."""
    import torch._dynamo

    config = torch._dynamo.config
    # `recompile_limit` is the current name of `cache_size_limit` (both are accepted by recent torch)
    name = "recompile_limit" if hasattr(config, "recompile_limit") else "cache_size_limit"
    setattr(config, name, max(getattr(config, name), DYNAMO_CACHE_LIMIT))
    for total in ("accumulated_recompile_limit", "accumulated_cache_size_limit"):
        if hasattr(config, total):
            setattr(config, total, max(getattr(config, total), 4 * DYNAMO_CACHE_LIMIT))
            break

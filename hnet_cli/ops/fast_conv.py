"""Depthwise causal convolution on GPUs, never mixing packed documents.

- `causal_conv1d` (the CUDA package) when it imports: it takes `seq_idx` in
  its channel-last layout, which a (b, l, c) tensor already is.
- Otherwise the reference's shifted-tap form compiled by `torch.compile`: the k
  shifted reads, the document masks, the bias and the SiLU become one kernel
  (forward and backward), which is as fast as this memory-bound op gets. Inside
  an already compiled region the reference is simply traced into it.
"""

from __future__ import annotations

import functools

import torch

from hnet_cli.ops.conv_ref import causal_conv1d_ref

try:
    from causal_conv1d import causal_conv1d_fn  # type: ignore

    HAVE_CAUSAL_CONV1D = True
except Exception:
    HAVE_CAUSAL_CONV1D = False

GPU_DTYPES = (torch.float16, torch.bfloat16, torch.float32)


def causal_conv1d_cuda(x, weight, bias=None, seq_idx=None, initial_state=None, activation=None):
    """x (b, l, c) -> (b, l, c) through the causal_conv1d package (channel-last layout)."""
    out = causal_conv1d_fn(
        x.transpose(1, 2), weight, bias,
        seq_idx=None if seq_idx is None else seq_idx.to(torch.int32).contiguous(),
        initial_states=initial_state, activation=activation,
    )
    return out.transpose(1, 2)


def causal_conv1d_cuda_applies(x, weight, bias=None, seq_idx=None, initial_state=None, activation=None) -> bool:
    return (HAVE_CAUSAL_CONV1D and x.is_cuda and x.dtype in GPU_DTYPES and 2 <= weight.shape[-1] <= 4
            and x.stride(2) == 1 and activation in (None, "silu", "swish")
            and (initial_state is None or seq_idx is None))


@functools.lru_cache(maxsize=None)
def _compiled_reference():
    return torch.compile(causal_conv1d_ref)


def causal_conv1d_compiled(x, weight, bias=None, seq_idx=None, initial_state=None, activation=None):
    """The reference computation as one fused kernel (see the module note)."""
    fn = causal_conv1d_ref if torch.compiler.is_compiling() else _compiled_reference()
    return fn(x, weight, bias, seq_idx=seq_idx, initial_state=initial_state, activation=activation)


def causal_conv1d_compiled_applies(x, weight, bias=None, seq_idx=None, initial_state=None, activation=None) -> bool:
    return x.is_cuda and x.dtype in GPU_DTYPES

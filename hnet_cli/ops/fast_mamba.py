"""Mamba-2 SSD scan and the dechunk EMA through `mamba_ssm`'s Triton kernels.

`mamba_chunk_scan_combined` computes exactly the chunked SSD of `ssd_scan_ref`
(same inputs, same meaning, `seq_idx` for packed documents). The dechunk EMA
runs through the same kernel as a scan with one state per channel, the way the
released H-Net computes it (see `ema_ref`):

    zbar_j = P_j zhat_j + (1 - P_j) zbar_{j-1}
      = SSD with dt_j = -log(1 - P_j), A = -1, B_j = P_j, C_j = 1, x_j = zhat_j / dt_j.

The kernels are opaque to `torch.compile`: these functions are excluded from
tracing, so a compiled block runs them eagerly between its compiled pieces.
"""

from __future__ import annotations

import torch

from hnet_cli.ops.compile_boundary import not_traced

try:
    from mamba_ssm.ops.triton.ssd_combined import mamba_chunk_scan_combined

    HAVE_MAMBA_SSD = True
except Exception:  # not installed, no Triton, or no GPU build of its dependencies
    HAVE_MAMBA_SSD = False

GPU_DTYPES = (torch.float16, torch.bfloat16, torch.float32)
# The result does not depend on the chunk length Q (see ssd_ref); the kernels
# need a power of two of at least 16. None keeps the model's own chunk_size.
KERNEL_CHUNK: int | None = None
# Heads of the EMA scan: channels are independent, so any split gives the same
# numbers; the released model uses 32 channels per head.
EMA_HEADDIM = 32


def kernel_chunk_size(chunk_size: int) -> int:
    q = KERNEL_CHUNK or chunk_size
    if q < 16 or q & (q - 1):
        q = 64
    return q


def _kernel_seq_idx(seq_idx: torch.Tensor | None) -> torch.Tensor | None:
    """int32 document numbers starting at 0 in every row.

    The kernels give `initial_states` to document 0 of a row; our contract gives
    it to the row's first document whatever its number, so rows are renumbered.
    """
    if seq_idx is None:
        return None
    return (seq_idx - seq_idx[:, :1]).to(torch.int32).contiguous()


@not_traced
def ssd_scan_mamba(x, dt, A, B, C, D=None, dt_bias=None, dt_softplus=False, seq_idx=None,
                   initial_state=None, return_final_state=False, chunk_size=64):
    """Same contract as `ssd_scan_ref`; y in x's dtype, final state in fp32."""
    out = mamba_chunk_scan_combined(
        x, dt, A.float(), B.to(x.dtype), C.to(x.dtype), kernel_chunk_size(chunk_size),
        D=D, dt_bias=dt_bias, initial_states=None if initial_state is None else initial_state.float(),
        seq_idx=_kernel_seq_idx(seq_idx), dt_softplus=dt_softplus, return_final_states=return_final_state,
    )
    if return_final_state:
        y, state = out
        return y, state.float()
    return out


def ssd_applies(x, dt, A, B, C, **kwargs) -> bool:
    return HAVE_MAMBA_SSD and x.is_cuda and x.dtype in GPU_DTYPES


def _ema_heads(d: int) -> int:
    headdim = EMA_HEADDIM
    while d % headdim:
        headdim //= 2
    return d // headdim


@not_traced
def ema_scan_mamba(x, p, seq_idx=None, initial_state=None, return_final_state=False, chunk_size=256):
    """Same contract as `ema_scan_ref`: x (b, l, d), p (b, l) in (0, 1) -> zbar (b, l, d)."""
    b, l, d = x.shape
    nheads = _ema_heads(d)
    headdim = d // nheads
    cdtype = x.dtype
    p_ = p.float()
    dt = torch.log(1 / (1 - p_))  # (b, l)
    xs = (x / dt[..., None].to(cdtype)).reshape(b, l, nheads, headdim)
    dt_h = dt[..., None].expand(b, l, nheads).contiguous()
    A = -torch.ones(nheads, device=x.device, dtype=torch.float32)
    B = p_.to(cdtype)[:, :, None, None]  # d_state = 1
    C = torch.ones_like(B)
    init = None if initial_state is None else initial_state.float().reshape(b, nheads, headdim, 1)
    out = mamba_chunk_scan_combined(
        xs, dt_h, A, B, C, kernel_chunk_size(chunk_size), initial_states=init,
        seq_idx=_kernel_seq_idx(seq_idx), return_final_states=return_final_state,
    )
    if return_final_state:
        y, state = out
        return y.reshape(b, l, d), state.reshape(b, d).float()
    return out.reshape(b, l, d)


def ema_applies(x, p, **kwargs) -> bool:
    return HAVE_MAMBA_SSD and x.is_cuda and x.dtype in GPU_DTYPES

"""The dechunk EMA ("smoothing"), pure PyTorch.

    zbar_j = P_j * zhat_j + (1 - P_j) * zbar_{j-1}

over the chunk sequence, restarting at each document (`seq_idx`). It is a
linear recurrence with scalar decay (1 - P_j) shared by all channels, i.e. an
SSD scan with one state per channel: dt_j = -log(1 - P_j), A = -1 (decay
exp(-dt_j) = 1 - P_j), input dt_j * B_j * x_j with B_j = P_j and
x_j = zhat_j / dt_j, C = 1. This is exactly how the released model computes it
(through the Mamba-2 kernel), so the same rounding behaviour is reproduced.
"""

from __future__ import annotations

import torch

from hnet_cli.ops.ssd_ref import ssd_scan_ref


def ema_scan_ref(
    x: torch.Tensor,
    p: torch.Tensor,
    seq_idx: torch.Tensor | None = None,
    initial_state: torch.Tensor | None = None,
    return_final_state: bool = False,
    chunk_size: int = 64,
):
    """x (b, l, d), p (b, l) in (0, 1) -> zbar (b, l, d); initial_state (b, d) is zbar_{-1}."""
    b, l, d = x.shape
    cdtype = torch.float64 if x.dtype == torch.float64 else torch.float32
    p_ = p.to(cdtype)
    dt = torch.log(1 / (1 - p_))  # (b, l)
    xs = (x.to(cdtype) / dt[..., None])[:, :, None, :]  # one head of d channels
    A = -torch.ones(1, dtype=cdtype, device=x.device)
    B = p_[:, :, None, None]
    C = torch.ones_like(B)
    init = None if initial_state is None else initial_state.to(cdtype)[:, None, :, None]
    y, state = ssd_scan_ref(
        xs, dt[:, :, None], A, B, C, seq_idx=seq_idx, initial_state=init, return_final_state=True, chunk_size=chunk_size
    )
    y = y[:, :, 0, :].to(x.dtype)
    if return_final_state:
        return y, state[:, 0, :, 0]
    return y

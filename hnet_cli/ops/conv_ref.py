"""Causal depthwise 1-D convolution, pure PyTorch.

    out[t, c] = bias[c] + sum_{j=0}^{k-1} weight[c, k-1-j] * x[t-j, c]

taps that reach before the start of the current document (`seq_idx`) or of the
sequence read zeros, or `initial_state` (the k-1 inputs before position 0).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def causal_conv1d_ref(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    seq_idx: torch.Tensor | None = None,
    initial_state: torch.Tensor | None = None,
    activation: str | None = None,
) -> torch.Tensor:
    """x (b, l, c), weight (c, k), bias (c,), seq_idx (b, l), initial_state (b, c, k-1) -> (b, l, c)."""
    b, l, c = x.shape
    k = weight.shape[-1]
    if initial_state is not None:
        head = initial_state.to(x.dtype).transpose(1, 2)  # (b, k-1, c)
    else:
        head = x.new_zeros(b, k - 1, c)
    padded = torch.cat([head, x], dim=1)  # (b, l+k-1, c)
    if seq_idx is not None:
        # The k-1 positions before 0 count as part of the first document (initial_state).
        seq = seq_idx.to(torch.long)
        seq_padded = torch.cat([seq[:, :1].expand(b, k - 1), seq], dim=1)
    # A sum of k shifted copies (k is 4): cheaper forward and backward on CPU than unfold.
    # Tap i of position t reads position t-(k-1)+i, kept only inside t's document.
    w = weight.to(x.dtype)
    out = None
    for i in range(k):
        term = padded[:, i : i + l] * w[:, i]
        if seq_idx is not None and i < k - 1:
            term = term * (seq_padded[:, i : i + l] == seq)[..., None].to(x.dtype)
        out = term if out is None else out + term
    if bias is not None:
        out = out + bias.to(x.dtype)
    if activation in ("silu", "swish"):
        out = F.silu(out)
    elif activation is not None:
        raise ValueError(f"unknown activation {activation!r}")
    return out


def causal_conv1d_step_ref(
    state: torch.Tensor,
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    activation: str | None = None,
) -> torch.Tensor:
    """One step. state (b, c, k-1) holds the previous inputs and is updated in place; x (b, c)."""
    window = torch.cat([state, x[:, :, None].to(state.dtype)], dim=-1)  # (b, c, k)
    out = (window * weight.to(state.dtype)).sum(-1)
    if bias is not None:
        out = out + bias.to(state.dtype)
    state.copy_(window[:, :, 1:])
    if activation in ("silu", "swish"):
        out = F.silu(out)
    return out.to(x.dtype)

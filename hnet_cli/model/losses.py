"""Training objectives: next-byte cross-entropy (reported as bits per byte) and the ratio loss."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

LN2 = math.log(2.0)


def ratio_loss(boundary_mask: torch.Tensor, boundary_prob: torch.Tensor, valid: torch.Tensor, target_n: float) -> torch.Tensor:
    """Paper eq. (10): L_ratio = N/(N-1) * ((N-1) F G + (1-F)(1-G)).

    F = fraction of valid positions that are boundaries (no gradient: a count),
    G = mean boundary probability over valid positions. Minimal (= 1) at F = G = 1/N.
    """
    if target_n <= 1:
        raise ValueError(f"target compression N must be > 1, got {target_n}")
    n = valid.sum().clamp(min=1)
    F_ = (boundary_mask & valid).sum().float() / n
    G = (boundary_prob.float() * valid).sum() / n
    N = float(target_n)
    return N / (N - 1) * ((N - 1) * F_ * G + (1 - F_) * (1 - G))


def cross_entropy_sum(logits: torch.Tensor, targets: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Sum over positions of -ln p(target), counting positions where weight is True (nats)."""
    ce = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), targets.reshape(-1), reduction="none")
    return (ce * weight.reshape(-1).float()).sum()

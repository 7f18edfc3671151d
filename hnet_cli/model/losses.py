"""Training objectives: next-byte cross-entropy (reported as bits per byte) and the ratio loss."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from hnet_cli.model.precision import at_least_fp32

LN2 = math.log(2.0)


def ratio_loss(boundary_mask: torch.Tensor, boundary_prob: torch.Tensor, valid: torch.Tensor, target_n: float) -> torch.Tensor:
    """Paper eq. (10): L_ratio = N/(N-1) * ((N-1) F G + (1-F)(1-G)).

    F = fraction of valid positions that are boundaries (no gradient: a count),
    G = mean boundary probability over valid positions. Minimal (= 1) at F = G = 1/N.
    """
    boundaries, prob_sum, positions = ratio_counts(boundary_mask, boundary_prob, valid)
    return ratio_loss_share(boundaries, prob_sum, positions, 1.0, target_n)


def ratio_counts(boundary_mask: torch.Tensor, boundary_prob: torch.Tensor, valid: torch.Tensor):
    """What L_ratio is made of: boundaries and positions (integer counts, no gradient) and the sum of p over
    the valid positions (at least fp32)."""
    boundaries = (boundary_mask & valid).sum()
    positions = valid.sum()
    prob_sum = (at_least_fp32(boundary_prob) * valid).sum()
    return boundaries, prob_sum, positions


def ratio_loss_share(boundaries: torch.Tensor, prob_sum: torch.Tensor, positions: torch.Tensor, share: float,
                     target_n: float) -> torch.Tensor:
    """One part's share of L_ratio taken over a pool of parts (e.g. the same micro-batch on every process).

    `boundaries` and `positions` are the pool's totals, `prob_sum` this part's sum of p, `share`
    this part's fraction of the constant term (1/parts). With F = boundaries / positions and
    G_part = prob_sum / positions (so G = sum of G_part over the pool):

        share_L = N/(N-1) * ((N-1) F G_part + (1-F)(share - G_part))

    L_ratio is linear in G for a given F, and F carries no gradient, so the shares add up to
    L_ratio of the pool, value and gradient alike. One part with share 1 is eq. (10) itself.
    """
    if target_n <= 1:
        raise ValueError(f"target compression N must be > 1, got {target_n}")
    n = positions.to(prob_sum.dtype).clamp(min=1)
    F_ = boundaries.to(prob_sum.dtype) / n
    G = prob_sum / n
    N = float(target_n)
    return N / (N - 1) * ((N - 1) * F_ * G + (1 - F_) * (share - G))


def cross_entropy_sum(logits: torch.Tensor, targets: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Sum over positions of -ln p(target), counting positions where weight is True (nats)."""
    ce = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), targets.reshape(-1), reduction="none")
    return (ce * weight.reshape(-1).float()).sum()

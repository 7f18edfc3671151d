"""One batched forward pass over evaluation windows: the bits of each window's targets
and the boundary decisions at the bytes it scores.

Windows are laid out as a padded batch (mask mode: each row one window,
padding only at the end of the row), so every row is computed exactly as it
would be alone; the batch size changes speed, not results.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from hnet_cli.eval.chunk_stats import token_level_boundaries, token_level_probs
from hnet_cli.eval.windows import Window, window_tokens
from hnet_cli.runtime import autocast


@dataclass
class WindowScore:
    """What one window contributes."""

    nats: float  # sum over its scored targets of -ln p(target)
    flags: list[torch.Tensor]  # per stage s, (window.scored,) bool: b^s at the scored bytes (cpu)
    # With per_position: (window.scored,) float64 -ln p of each scored target, and per stage
    # (window.scored,) float32 p^s at the scored bytes (NaN where a byte is no stage-s position).
    nll: torch.Tensor | None = None
    probs: list[torch.Tensor] | None = None


def pad_batch(windows: list[tuple[bytes, Window]]) -> tuple[torch.Tensor, torch.Tensor]:
    """ids (b, L_max) and mask (b, L_max), rows padded with 0 at the end."""
    longest = max(w.length for _, w in windows)
    ids = torch.zeros(len(windows), longest, dtype=torch.long)
    mask = torch.zeros(len(windows), longest, dtype=torch.bool)
    for row, (data, window) in enumerate(windows):
        ids[row, : window.length] = window_tokens(data, window)
        mask[row, : window.length] = True
    return ids, mask


@torch.inference_mode()
def score_windows(model, windows: list[tuple[bytes, Window]], device: torch.device,
                  dtype: torch.dtype, per_position: bool = False) -> list[WindowScore]:
    """Score a batch of (document data, window) pairs in one forward pass.

    per_position: also return each scored byte's -ln p and boundary probabilities.
    """
    ids, mask = pad_batch(windows)
    ids, mask = ids.to(device), mask.to(device)
    with autocast(device, dtype):
        out = model(ids, mask=mask)
    logits = out.logits[:, :-1].float()  # position p predicts token p + 1
    targets = ids[:, 1:]
    # -ln p(target) = logsumexp(logits) - logit[target]
    nll = torch.logsumexp(logits, dim=-1) - logits.gather(-1, targets[..., None])[..., 0]
    # Which predictions this window scores: targets score_from .. end-1 (window-relative).
    target_pos = torch.arange(1, ids.shape[1], device=device)
    first = torch.tensor([w.score_from - w.start for _, w in windows], device=device)
    length = torch.tensor([w.length for _, w in windows], device=device)
    scored = (target_pos[None] >= first[:, None]) & (target_pos[None] < length[:, None])
    nll = nll.double()
    nats = (nll * scored).sum(dim=1).tolist()

    masks = [s.boundary_mask.cpu() for s in out.stages]
    valid = [s.valid.cpu() for s in out.stages]
    probs = [s.boundary_prob.float().cpu() for s in out.stages] if per_position else []
    nll = nll.cpu() if per_position else None
    results = []
    for row, (_, window) in enumerate(windows):
        flags = []
        first_row = window.score_from - window.start  # the first scored token, window-relative
        if masks:
            flags = [f[first_row:] for f in token_level_boundaries(masks, valid, row, window.length)]
        result = WindowScore(nats[row], flags)
        if per_position:
            # target token k is predicted at position k - 1
            result.nll = nll[row, first_row - 1 : window.length - 1].clone()
            result.probs = [p[first_row:].clone() for p in token_level_probs(probs, masks, valid, row, window.length)]
        results.append(result)
    return results

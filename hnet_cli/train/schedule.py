"""Learning-rate schedules as pure functions of the step (nothing to save but the step).

- wsd (warmup-stable-decay): linear warmup, constant, then a linear decay over
  the last `decay_fraction` of the run down to min_lr_ratio * lr.
- cosine: linear warmup, then half a cosine from lr to min_lr_ratio * lr.
- constant: linear warmup, then constant.
"""

from __future__ import annotations

import math


def lr_factor(step: int, total: int, warmup: int, schedule: str = "wsd", decay_fraction: float = 0.2,
              min_ratio: float = 0.0) -> float:
    """Multiplier of the base learning rate for 0-based `step` of a run of `total` steps."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    if schedule == "constant":
        return 1.0
    if schedule == "cosine":
        span = max(1, total - warmup)
        progress = min(1.0, (step - warmup) / span)
        return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))
    if schedule == "wsd":
        decay_steps = int(round(decay_fraction * total))
        decay_start = max(warmup, total - decay_steps)
        if step < decay_start or decay_steps == 0:
            return 1.0
        progress = min(1.0, (step - decay_start) / max(1, total - decay_start))
        return 1.0 - (1.0 - min_ratio) * progress
    raise ValueError(f"unknown schedule {schedule!r}")

"""Health checks while training: non-finite losses, and compression that runs away.

A healthy H-Net's compression goes through a "hockey stick" in its first few
hundred steps (selection probabilities first shrink, then overshoot, then
settle near 1/N), so compression is only watched after `grace` steps. After
that, bytes per chunk (L_s / L_{s+1}) far above N means routing is dying (the
main network sees almost nothing); far below N means nearly every byte is sent
to the main network. Either, held for `patience` steps, gets one warning
(again only after it recovers and drifts away once more).
"""

from __future__ import annotations

import math

from hnet_cli.errors import HnetError


class TrainingDiverged(HnetError):
    """The loss or the gradient became NaN or infinite."""


def check_finite(step: int, **values: float) -> None:
    bad = [name for name, v in values.items() if not math.isfinite(v)]
    if bad:
        raise TrainingDiverged(f"step {step}: {' and '.join(bad)} became {values[bad[0]]}")


def short_run_warnings(total_steps: int, warmup: int, schedule: str) -> list[str]:
    """Said before a run starts: its length leaves the learning-rate schedule unfinished."""
    if warmup > 0 and total_steps <= warmup:
        return [f"warning: the run has {total_steps} steps, no more than the recipe's {warmup} warmup steps: the "
                f"learning rate is still rising when it ends ({schedule} schedule); give --steps above {warmup} "
                f"or --set train.warmup={max(1, total_steps // 10)}"]
    return []


class CompressionWatch:
    @classmethod
    def for_run(cls, targets: list[float], total_steps: int, grace: int = 300, patience: int = 200,
                factor: float = 2.0) -> "CompressionWatch":
        """A watch whose grace and patience fit a run of `total_steps`.

        The hockey stick takes a few hundred steps of a long run; a run of 60
        steps ends before a grace of 300, so it gets a fifth of its length as
        grace and a tenth as patience (at least 10 and 5 steps).
        """
        return cls(targets, min(grace, max(10, total_steps // 5)), min(patience, max(5, total_steps // 10)), factor)

    def __init__(self, targets: list[float], grace: int = 300, patience: int = 200, factor: float = 2.0):
        self.targets = list(targets)
        self.grace = grace
        self.patience = patience
        self.factor = factor
        self._since: list[int | None] = [None] * len(targets)
        self._warned = [False] * len(targets)

    def state_dict(self) -> dict:
        return {"since": [-1 if s is None else s for s in self._since], "warned": list(self._warned)}

    def load_state_dict(self, state: dict) -> None:
        self._since = [None if s < 0 else s for s in state.get("since", [-1] * len(self.targets))]
        self._warned = list(state.get("warned", [False] * len(self.targets)))

    def update(self, step: int, compression: list[float]) -> list[str]:
        """Per-stage compression L_{s+1}/L_s at `step`; returns warnings to show (usually none)."""
        warnings = []
        if step < self.grace:
            return warnings
        for s, (ratio, N) in enumerate(zip(compression, self.targets)):
            bytes_per_chunk = 1.0 / ratio if ratio > 0 else math.inf
            if bytes_per_chunk > self.factor * N:
                problem = (f"stage {s} compression collapsed: {bytes_per_chunk:.3g} positions per chunk against a "
                           f"target of {N:g} (routing is dying; the main network sees almost nothing)")
            elif bytes_per_chunk < N / self.factor:
                problem = (f"stage {s} compression exploded: {bytes_per_chunk:.3g} positions per chunk against a "
                           f"target of {N:g} (nearly every position goes to the main network)")
            else:
                self._since[s] = None
                self._warned[s] = False
                continue
            if self._since[s] is None:
                self._since[s] = step
            if not self._warned[s] and step - self._since[s] >= self.patience:
                self._warned[s] = True
                warnings.append(f"warning: {problem} for {step - self._since[s]} steps; consider "
                                "train.ratio_loss_weight, train.compression_targets or a lower train.lr")
        return warnings

    def final(self, compression: list[float]) -> list[str]:
        """At the end of a run: every stage still out of range and not warned about yet."""
        warnings = []
        for s, (ratio, N) in enumerate(zip(compression, self.targets)):
            bytes_per_chunk = 1.0 / ratio if ratio > 0 else math.inf
            if not self._warned[s] and not (N / self.factor <= bytes_per_chunk <= self.factor * N):
                self._warned[s] = True
                warnings.append(f"warning: the run ended with stage {s} at {bytes_per_chunk:.3g} positions per chunk "
                                f"against a target of {N:g}: routing had not settled; train longer, or consider "
                                "train.ratio_loss_weight or a lower train.lr")
        return warnings

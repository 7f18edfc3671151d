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


class CompressionWatch:
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

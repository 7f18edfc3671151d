"""TrainState: what a checkpoint holds besides the weights and the optimizer, for an exact resume.

One object, saved as RUN/checkpoints/step_N/trainer.pt (and state.json without
the RNG states) and restored from it whole: the step and the planned total,
bytes seen, training time, the best validation score, the data loader's
position, the health watch and the random number generators. Only tensors,
numbers, strings, lists and dicts go in, so loading runs no code.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from hnet_cli.version import __version__


@dataclass
class TrainState:
    """Progress of a run. `loader` and `watch` keep their own state; this object saves and restores it with the rest."""

    loader: object  # hnet_cli.data.loader.TrainLoader: the data position
    watch: object  # hnet_cli.train.health.CompressionWatch
    step: int = 0
    total_steps: int = 0
    bytes_seen: int = 0
    elapsed_s: float = 0.0  # training time over every session of the run
    best_val_bpb: float | None = None
    best_val_bits_per_unit: float | None = None
    best_step: int | None = None
    device: object = None  # torch.device of this process: a CUDA device's RNG is saved with the rest

    def record_validation(self, bpb: float, bits_per_unit: float) -> bool:
        """Keep the best validation score; True when this one is the best so far."""
        improved = self.best_val_bpb is None or bpb < self.best_val_bpb
        if improved:
            self.best_val_bpb, self.best_val_bits_per_unit, self.best_step = bpb, bits_per_unit, self.step
        return improved

    def state_dict(self) -> dict:
        state = {
            "step": self.step, "total_steps": self.total_steps, "data": self.loader.state_dict(),
            "best_val_bpb": self.best_val_bpb, "best_step": self.best_step, "bytes_seen": self.bytes_seen,
            "elapsed_s": self.elapsed_s, "health": self.watch.state_dict(), "version": __version__,
            "rng": {"torch": torch.get_rng_state()}, "best_val_bits_per_unit": self.best_val_bits_per_unit,
        }
        if self._cuda is not None:
            # This process's GPU only: every GPU's state (get_rng_state_all) would start a CUDA
            # context on each GPU of the host from every process, and would not load where fewer
            # GPUs are visible (a 2-GPU run resumed on one).
            state["rng"]["cuda"] = torch.cuda.get_rng_state(self._cuda)
        return state

    @property
    def _cuda(self):
        device = torch.device(self.device) if self.device is not None else None
        return device if device is not None and device.type == "cuda" else None

    def load_state_dict(self, state: dict) -> None:
        """Restore everything `state_dict` saved (checkpoints of earlier versions lack some optional keys)."""
        self.loader.load_state_dict(state["data"])
        self.watch.load_state_dict(state.get("health", {}))
        torch.set_rng_state(state["rng"]["torch"])
        saved = state["rng"].get("cuda")
        if saved is not None and self._cuda is not None:
            if isinstance(saved, (list, tuple)):  # earlier versions saved every GPU's state
                saved = saved[min(self._cuda.index or 0, len(saved) - 1)] if saved else None
            if saved is not None:
                torch.cuda.set_rng_state(saved, self._cuda)
        self.step, self.bytes_seen = int(state["step"]), int(state["bytes_seen"])
        self.total_steps = int(state["total_steps"])
        self.elapsed_s = float(state.get("elapsed_s", 0.0))
        self.best_val_bpb, self.best_step = state.get("best_val_bpb"), state.get("best_step")
        self.best_val_bits_per_unit = state.get("best_val_bits_per_unit")

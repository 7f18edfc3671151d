"""Training checkpoints in RUN/checkpoints/, written atomically, the last K and the best kept.

    RUN/checkpoints/step_000500/
        config.json  model.safetensors   the model (hnet_cli.model.save_model): loadable alone
        optimizer.pt                     AdamW state: tensors and plain numbers only
        trainer.pt                       step, data position, RNG states, best score, ...
        state.json                       the same bookkeeping, readable (no tensors)
    RUN/checkpoints/LATEST               text: the newest complete checkpoint's name
    RUN/checkpoints/BEST                 text: the checkpoint with the best validation score

A checkpoint is assembled in a hidden temporary directory and renamed into
place when complete; LATEST and BEST are replaced atomically after that. A
crash at any moment leaves LATEST naming a complete checkpoint. The .pt files
hold only tensors, numbers, strings, lists and dicts and are read with
torch.load(weights_only=True): loading runs no code.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import torch

from hnet_cli.errors import CheckpointError
from hnet_cli.model.checkpoint import CHECKPOINTS_DIR, CONFIG_NAME, WEIGHTS_NAME, save_model
from hnet_cli.model.weights import torch_load_safely
from hnet_cli.outputs import write_output

OPTIMIZER_NAME = "optimizer.pt"
TRAINER_NAME = "trainer.pt"
STATE_NAME = "state.json"
_STEP_DIR = re.compile(r"^step_(\d+)$")


def checkpoint_name(step: int) -> str:
    return f"step_{step:06d}"


def _save_torch(obj, path: Path) -> None:
    import io

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    write_output(path, buffer.getvalue())


def _load_torch(path: Path):
    return torch_load_safely(path, missing="missing from the checkpoint")


class Checkpointer:
    def __init__(self, run_dir: str | Path, keep: int = 3, metadata: dict | None = None):
        """`metadata`: what every checkpoint says about itself (domain, reader options, recipe; see save_model)."""
        self.dir = Path(run_dir) / CHECKPOINTS_DIR
        self.keep = keep
        self.metadata = dict(metadata or {})

    def pointer(self, which: str) -> str | None:
        f = self.dir / which
        if not f.is_file():
            return None
        name = f.read_text().strip()
        return name if (self.dir / name / WEIGHTS_NAME).is_file() else None

    def remove_partial(self) -> None:
        """Temporary directories left by a crash in the middle of a save."""
        if self.dir.is_dir():
            for p in self.dir.glob(".tmp-*"):
                shutil.rmtree(p, ignore_errors=True)

    def save(self, step: int, model, optimizer, trainer_state: dict, best: bool = False,
             model_state: dict | None = None, optimizer_state: dict | None = None) -> Path:
        """Write a checkpoint; `model_state`/`optimizer_state` replace the objects' own (sharded models)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        name = checkpoint_name(step)
        tmp = self.dir / f".tmp-{name}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            save_model(model, tmp, extra_metadata={"step": step}, state_dict=model_state, metadata=self.metadata)
            _save_torch(optimizer.state_dict() if optimizer_state is None else optimizer_state, tmp / OPTIMIZER_NAME)
            _save_torch(trainer_state, tmp / TRAINER_NAME)
            readable = {k: v for k, v in trainer_state.items() if k != "rng"}
            write_output(tmp / STATE_NAME, json.dumps(readable, indent=2) + "\n")
        except BaseException:
            # A full disk or Ctrl-C in the middle: no half checkpoint left behind (LATEST still
            # names the previous complete one).
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        final = self.dir / name
        if final.exists():  # the same step saved again (e.g. a resumed run ending where it was cut)
            old = self.dir / f".tmp-old-{name}-{os.getpid()}"
            os.replace(final, old)
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final)
        write_output(self.dir / "LATEST", name + "\n")
        if best or self.pointer("BEST") is None:
            write_output(self.dir / "BEST", name + "\n")
        self.prune()
        return final

    def mark_best(self, step: int) -> None:
        name = checkpoint_name(step)
        if (self.dir / name / WEIGHTS_NAME).is_file():
            write_output(self.dir / "BEST", name + "\n")

    def steps(self) -> list[int]:
        if not self.dir.is_dir():
            return []
        out = []
        for p in self.dir.iterdir():
            m = _STEP_DIR.match(p.name)
            if m and p.is_dir():
                out.append(int(m.group(1)))
        return sorted(out)

    def prune(self) -> None:
        """Keep the newest `keep` checkpoints, the one LATEST names and the one BEST names."""
        keep = {checkpoint_name(s) for s in self.steps()[-self.keep:]}
        for which in ("LATEST", "BEST"):
            name = self.pointer(which)
            if name:
                keep.add(name)
        for s in self.steps():
            name = checkpoint_name(s)
            if name not in keep:
                shutil.rmtree(self.dir / name, ignore_errors=True)

    def load_latest(self) -> tuple[Path, dict, dict, dict]:
        """(checkpoint dir, model state dict, optimizer state, trainer state) of LATEST."""
        name = self.pointer("LATEST")
        if name is None:
            raise CheckpointError(f"{self.dir.parent}: no complete checkpoint to resume from (checkpoints/LATEST)")
        path = self.dir / name
        from safetensors.torch import load_file

        try:
            weights = load_file(str(path / WEIGHTS_NAME))
        except Exception as exc:
            raise CheckpointError(f"{path / WEIGHTS_NAME}: cannot read ({exc})") from None
        optimizer = _load_torch(path / OPTIMIZER_NAME)
        trainer = _load_torch(path / TRAINER_NAME)
        if not (path / CONFIG_NAME).is_file():
            raise CheckpointError(f"{path}: no {CONFIG_NAME}")
        return path, weights, optimizer, trainer

"""Which command-line arguments are models, and loading them for evaluation.

The rule `hnet eval` uses to split `MODEL [MORE_MODELS...] PATHS...`:
the first argument is always a model; every later argument is a model when it
 - ends in `.pt` or `.safetensors` (a weights file, whether or not it exists), or
 - is a directory holding `model.safetensors` (a checkpoint directory) or a
   `checkpoints/` directory (a training run),
and data otherwise (files, directories, globs, `-` for stdin). `--model` (repeatable)
names the models explicitly; then every positional argument is data.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from hnet_cli.errors import CheckpointError, ConfigError
from hnet_cli.model.checkpoint import CHECKPOINTS_DIR, WEIGHTS_NAME, resolve_checkpoint_dir

WEIGHT_SUFFIXES = (".pt", ".safetensors")


def looks_like_model(arg: str) -> bool:
    """True when `arg` names a model by the rule in the module docstring."""
    if arg == "-":
        return False
    if arg.endswith(WEIGHT_SUFFIXES):
        return True
    path = Path(arg)
    return path.is_dir() and ((path / WEIGHTS_NAME).is_file() or (path / CHECKPOINTS_DIR).is_dir())


def split_models_and_data(args: list[str], explicit_models: list[str] | None = None) -> tuple[list[str], list[str]]:
    """(models, data paths) from the positional arguments (and `--model`)."""
    if explicit_models:
        return list(explicit_models), list(args)
    if not args:
        return [], []
    models, data = [args[0]], []
    for arg in args[1:]:
        (models if looks_like_model(arg) else data).append(arg)
    return models, data


@dataclass
class ModelSource:
    """A model to evaluate: where it comes from and how it is shown."""

    path: str
    label: str
    checkpoint: str  # the checkpoint directory or weights file actually read
    config: str | None = None  # --config, for models given as weights files

    def load(self, device):
        from hnet_cli.model.checkpoint import load

        return load(self.path, config=self.config, device=device)


def resolve_models(paths: list[str], config: str | os.PathLike | None = None) -> list[ModelSource]:
    """Check every model path before any work starts; unique labels for the tables.

    `config` applies to models given as weights files (.pt, .safetensors);
    checkpoint and run directories always use their own config.json.
    """
    sources = []
    seen: dict[str, int] = {}
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise CheckpointError(f"{raw}: checkpoint not found")
        if path.is_dir():
            checkpoint = str(resolve_checkpoint_dir(path))
            model_config = None
        else:
            if not raw.endswith(WEIGHT_SUFFIXES):
                raise CheckpointError(f"{raw}: not a model (expected a run or checkpoint directory, .pt or .safetensors)")
            checkpoint = raw
            model_config = None if config is None else os.fspath(config)
        label = raw.rstrip("/") or raw
        seen[label] = seen.get(label, 0) + 1
        if seen[label] > 1:
            label = f"{label} #{seen[label]}"
        sources.append(ModelSource(path=raw, label=label, checkpoint=checkpoint, config=model_config))
    if config is not None and not any(s.config for s in sources):
        raise ConfigError("--config applies to models given as .pt or .safetensors files; none was given")
    return sources

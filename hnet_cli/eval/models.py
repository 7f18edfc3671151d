"""Which command-line arguments are models, and loading them for evaluation.

The rule `hnet eval` uses to split `MODEL [MORE_MODELS...] PATHS...`:
the first argument is always a model (a path or a Hub id, org/name[@revision]);
every later argument is a model when it
 - ends in `.pt` or `.safetensors` (a weights file, whether or not it exists), or
 - is a directory holding `model.safetensors` or `model.safetensors.index.json`
   (a checkpoint directory) or a `checkpoints/` directory (a training run),
and data otherwise (files, directories, globs, `-` for stdin). `--model` (repeatable)
names the models explicitly (a later Hub id needs it); then every positional
argument is data.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from hnet_cli.errors import CheckpointError, ConfigError
from hnet_cli.model.checkpoint import CHECKPOINTS_DIR, INDEX_NAME, WEIGHTS_NAME
from hnet_cli.run import ResolvedModel, resolve

WEIGHT_SUFFIXES = (".pt", ".safetensors")


def looks_like_model(arg: str) -> bool:
    """True when `arg` names a model by the rule in the module docstring."""
    if arg == "-":
        return False
    if arg.endswith(WEIGHT_SUFFIXES):
        return True
    path = Path(arg)
    return path.is_dir() and any((path / name).exists() for name in (WEIGHTS_NAME, INDEX_NAME, CHECKPOINTS_DIR))


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
    """A model to evaluate: how it is shown, and what `hnet_cli.run.resolve` found for it."""

    label: str
    resolved: ResolvedModel

    @property
    def path(self) -> str:
        return self.resolved.path

    @property
    def checkpoint(self) -> str:
        """The checkpoint directory or weights file actually read."""
        return str(self.resolved.checkpoint)

    def load(self, device):
        return self.resolved.load(device)


def short_labels(paths: list[str]) -> list[str]:
    """Names for the tables: the fewest trailing path components that tell the models apart.

    ["runs/a", "runs/b"] -> ["a", "b"]; ["x/run", "y/run"] -> ["x/run", "y/run"];
    the same path twice -> "a", "a #2". JSON output keeps the full paths.
    """
    parts = [Path(p).parts or (p,) for p in paths]
    depth = [1] * len(paths)
    while True:
        labels = ["/".join(pt[-d:]) for pt, d in zip(parts, depth)]
        clashes = {i for i, label in enumerate(labels) if labels.count(label) > 1 and depth[i] < len(parts[i])}
        if not clashes:
            break
        for i in clashes:
            depth[i] += 1
    seen: dict[str, int] = {}
    out = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        out.append(label if seen[label] == 1 else f"{label} #{seen[label]}")
    return out


def resolve_models(paths: list[str], config: str | os.PathLike | None = None, domain: str | None = None,
                   domain_options: dict | None = None, data: Sequence[str] = ()) -> list[ModelSource]:
    """Check every model path before any work starts; unique labels for the tables.

    The first model decides the domain and reader options (`hnet_cli.run.resolve`:
    `domain`, else its run's, ...); the others are read the same way. `config`
    applies to models given as weights files (.pt, .safetensors); checkpoint and
    run directories always use their own config.json.
    """
    sources: list[ModelSource] = []
    for raw, label in zip(paths, short_labels(paths)):
        path = Path(raw)
        if path.exists() and not path.is_dir() and not raw.endswith(WEIGHT_SUFFIXES):
            raise CheckpointError(f"{raw}: not a model (expected a run or checkpoint directory, .pt or .safetensors)")
        model_config = None if config is None or path.is_dir() else os.fspath(config)
        if sources:
            domain, domain_options = sources[0].resolved.domain.name, sources[0].resolved.options
        sources.append(ModelSource(label, resolve(raw, domain, domain_options, config=model_config, paths=data)))
    if config is not None and not any(s.resolved.config for s in sources):
        raise ConfigError("--config applies to models given as .pt or .safetensors files; none was given")
    return sources

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
from hnet_cli.runinfo import RECIPE_NAME, RUN_INFO_NAME, read_run_record

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


def resolve_models(paths: list[str], config: str | os.PathLike | None = None) -> list[ModelSource]:
    """Check every model path before any work starts; unique labels for the tables.

    `config` applies to models given as weights files (.pt, .safetensors);
    checkpoint and run directories always use their own config.json.
    """
    sources = []
    labels = short_labels(paths)
    for raw, label in zip(paths, labels):
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
        sources.append(ModelSource(path=raw, label=label, checkpoint=checkpoint, config=model_config))
    if config is not None and not any(s.config for s in sources):
        raise ConfigError("--config applies to models given as .pt or .safetensors files; none was given")
    return sources


def _read_run_json(model_path: str, name: str) -> tuple[dict, str] | None:
    found = read_run_record(model_path, name)
    return None if found is None else (found[0], str(found[1]))


def training_context(model_path: str) -> tuple[int, str] | None:
    """(train.seq_len, where) from the run's recipe.json, or None: the length the model was trained on."""
    found = _read_run_json(model_path, RECIPE_NAME)
    if found is None:
        return None
    recipe, where = found
    train = recipe.get("train")
    seq_len = train.get("seq_len") if isinstance(train, dict) else None
    if isinstance(seq_len, int) and not isinstance(seq_len, bool) and seq_len >= 2:
        return seq_len, where
    return None


def training_domain(model_path: str) -> tuple[str, dict, str] | None:
    """(domain, reader options, where) recorded by `hnet train` for a run, or None.

    Looks at RUN/run.json for a run directory, and at the run around a
    checkpoint directory RUN/checkpoints/NAME. A file that cannot be read is
    treated as absent: the domain then has to be given with --domain.
    """
    found = _read_run_json(model_path, RUN_INFO_NAME)
    if found is None:
        return None
    info, where = found
    if isinstance(info.get("domain"), str):
        options = info.get("domain_options") if isinstance(info.get("domain_options"), dict) else {}
        return info["domain"], options, where
    return None

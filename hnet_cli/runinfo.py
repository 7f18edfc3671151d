"""What a training run recorded next to its checkpoints, for the jobs that use its models.

`hnet train` writes RUN/run.json (domain, inputs, reader options, arch,
targets) and RUN/recipe.json (the resolved recipe). Eval, generate and chunk
read them so that `-m runs/dna` reads data the way the model was trained. A
model path may be the run directory itself or one of its checkpoints,
RUN/checkpoints/NAME. Unreadable records count as absent: the user can always
say --domain.
"""

from __future__ import annotations

import json
from pathlib import Path

from hnet_cli.model.checkpoint import CHECKPOINTS_DIR

RUN_INFO_NAME = "run.json"
RECIPE_NAME = "recipe.json"


def run_dirs(model_path: str | Path) -> list[Path]:
    """Where a model path's run records may be: itself, and RUN for RUN/checkpoints/NAME."""
    path = Path(model_path)
    if not path.is_dir():
        return []
    dirs = [path]
    if path.parent.name == CHECKPOINTS_DIR:
        dirs.append(path.parent.parent)
    return dirs


def read_run_record(model_path: str | Path, name: str = RUN_INFO_NAME) -> tuple[dict, Path] | None:
    """(the JSON object in RUN/name, its path) for the run of `model_path`, or None."""
    for run_dir in run_dirs(model_path):
        try:
            info = json.loads((run_dir / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(info, dict):
            return info, run_dir / name
    return None


def trained_on(model_path: str | Path) -> dict:
    """RUN/run.json of the model's run, or {}."""
    found = read_run_record(model_path)
    return found[0] if found else {}

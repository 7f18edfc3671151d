"""The run directory others rely on (hnet_cli.load, hnet eval/chunk/plot resolve it):

    RUN/config.json       the model config (official format)
    RUN/recipe.json       the resolved recipe (model + every train field)
    RUN/run.json          what was trained on: domain, inputs, reader options, arch, targets
    RUN/metrics.jsonl     one JSON record per logged step / evaluation
    RUN/checkpoints/      step_NNNNNN/ dirs, LATEST, BEST (see checkpointer.py)

A directory that already holds files is never reused without `--resume`
(continue it) or `--force` (start over; only a directory that looks like a
run is cleared, and only the run's own entries are removed).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from hnet_cli.errors import ConfigError, HnetError
from hnet_cli.model.checkpoint import CHECKPOINTS_DIR, CONFIG_NAME
from hnet_cli.outputs import write_output
from hnet_cli.runinfo import RECIPE_NAME, RUN_INFO_NAME

METRICS_NAME = "metrics.jsonl"
TENSORBOARD_DIR = "tensorboard"
PLOTS_DIR = "plots"
RUN_ENTRIES = (CONFIG_NAME, RECIPE_NAME, RUN_INFO_NAME, METRICS_NAME, CHECKPOINTS_DIR, TENSORBOARD_DIR, PLOTS_DIR,
               "stdin")


def is_run_dir(path: Path) -> bool:
    return path.is_dir() and any((path / name).exists() for name in (RECIPE_NAME, RUN_INFO_NAME, CHECKPOINTS_DIR))


def check_new_run_dir(out: Path, force: bool) -> None:
    """Refuse to reuse a directory with files in it, unless --force and it is a run directory."""
    if out.exists() and not out.is_dir():
        raise HnetError(f"{out}: exists and is not a directory")
    if out.is_dir() and any(out.iterdir()):
        if not force:
            raise HnetError(f"{out}: run directory exists; continue it with --resume {out} or start over with --force")
        if not is_run_dir(out):
            raise HnetError(f"{out}: not empty and not a run directory; refusing to clear it (choose another --out)")


def create_run_dir(out: Path, force: bool) -> None:
    """Make `out` ready for a new run (clearing the old run's entries under --force)."""
    check_new_run_dir(out, force)
    if out.is_dir():
        for name in RUN_ENTRIES:
            p = out / name
            if p.is_dir():
                shutil.rmtree(p)
            elif p.exists():
                p.unlink()
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise HnetError(f"{out}: cannot create the run directory ({exc.strerror or exc})") from None


def write_json(path: Path, data: dict) -> None:
    write_output(path, json.dumps(data, indent=2) + "\n")


def read_json(path: Path, what: str) -> dict:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: missing; is {path.parent} a run directory made by hnet train?") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the {what} ({exc})") from None

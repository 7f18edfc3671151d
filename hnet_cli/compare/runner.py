"""Training one arm in its run directory: start it, continue it exactly, or leave a finished one alone.

A comparison is resumable because each arm is an ordinary `hnet train` run
directory: a finished arm is skipped, an interrupted one continues from its
LATEST checkpoint (`hnet_cli.train.resume`: the same batches and numbers as an
uninterrupted run), and one cut before its first checkpoint starts again. An
existing arm trained with other settings is never reused silently.
"""

from __future__ import annotations

import os
from pathlib import Path

from hnet_cli.compare.arms import Arm
from hnet_cli.compare.records import latest_state
from hnet_cli.errors import ConfigError, HnetError
from hnet_cli.run.rundir import RECIPE_NAME, RUN_INFO_NAME, RunDir
from hnet_cli.train import TrainJob, resume, train

NEW, RESTART, RESUME, DONE = "new", "restart", "resume", "done"


def arm_status(run_dir: str | Path) -> str:
    """NEW (nothing there), RESTART (a run with no checkpoint yet), RESUME (unfinished) or DONE."""
    run = RunDir(run_dir)
    if not run.path.exists() or (run.path.is_dir() and not any(run.path.iterdir())):
        return NEW
    if not run.looks_like_run():
        raise HnetError(f"{run.path}: not empty and not a run directory; choose another --out")
    latest = latest_state(run.path)
    if latest is None:
        return RESTART
    state = latest[1]
    return DONE if int(state.get("step", 0)) >= int(state.get("total_steps", 1)) else RESUME


def _first_difference(saved, wanted, prefix: str = "") -> str | None:
    """The first field (dotted path) where two JSON-like values differ, or None."""
    if isinstance(saved, dict) and isinstance(wanted, dict):
        for key in sorted(set(saved) | set(wanted)):
            found = _first_difference(saved.get(key), wanted.get(key), f"{prefix}{key}.")
            if found is not None:
                return found
        return None
    if isinstance(saved, (list, tuple)) and isinstance(wanted, (list, tuple)) and len(saved) == len(wanted):
        for i, (a, b) in enumerate(zip(saved, wanted)):
            found = _first_difference(a, b, f"{prefix}{i}.")
            if found is not None:
                return found
        return None
    if saved != wanted and not (isinstance(saved, (int, float)) and isinstance(wanted, (int, float))
                                and float(saved) == float(wanted)):
        return f"{prefix.rstrip('.')} ({saved!r} there, {wanted!r} here)"
    return None


def check_same_arm(run_dir: str | Path, arm: Arm, domain: str, paths: list[str], domain_options: dict) -> None:
    """Refuse to continue or reuse an arm's run that was started with other settings or data."""
    run = RunDir(run_dir)
    saved = run.read(RECIPE_NAME, "recipe")
    wanted = arm.recipe.to_dict()
    difference = _first_difference({"model": saved.get("model"), "train": saved.get("train")},
                                   {"model": wanted["model"], "train": wanted["train"]})
    info = run.read(RUN_INFO_NAME, "run description")
    if difference is None and info.get("domain") != domain:
        difference = f"domain ({info.get('domain')!r} there, {domain!r} here)"
    if difference is None and paths and info.get("paths") != [os.path.abspath(p) for p in paths]:
        difference = "training files"
    if difference is None:  # typed options (Domain.given_options), as run.json records them
        recorded = info.get("domain_options", {})
        difference = _first_difference({key: recorded.get(key) for key in domain_options}, dict(domain_options),
                                        "domain option ")
    if difference is not None:
        raise ConfigError(f"{run.path}: this arm was trained with other settings: {difference}; "
                          "use another --out, or --force to train every arm again")


def train_arm(arm: Arm, run_dir: str | Path, domain: str, paths: list[str], domain_options: dict,
              device: str = "auto", force: bool = False, reporter=None) -> str:
    """Bring the arm's run to its last step; returns what was done: NEW, RESTART, RESUME or DONE."""
    status = NEW if force else arm_status(run_dir)
    if status in (RESUME, DONE):
        check_same_arm(run_dir, arm, domain, paths, domain_options)
    if status == DONE:
        return status
    if status == RESUME:
        resume(run_dir, device=device, reporter=reporter)
        return status
    job = TrainJob(recipe=arm.recipe, domain=domain, paths=list(paths), domain_options=dict(domain_options),
                   out=run_dir, arch=arm.arch, device=device, force=status == RESTART or force)
    train(job, reporter=reporter)
    return status

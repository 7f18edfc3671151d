"""`hnet train` as a library function.

    from hnet_cli.recipes import load_recipe
    from hnet_cli.train import TrainJob, train, resume

    result = train(TrainJob(recipe=load_recipe("dna-tiny"), domain="dna", paths=[], out="runs/dna"))
    result = resume("runs/dna")                 # continue exactly where it stopped

The objective is in objective.py, the run's parts in build.py, the loop in
trainer.py; this module sets up the processes and standard input around it.
"""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path

from hnet_cli.errors import ConfigError, InputError
from hnet_cli.progress import NullReporter
from hnet_cli.run.rundir import RECIPE_NAME, RUN_INFO_NAME, RunDir
from hnet_cli.train import distributed as dist_util
from hnet_cli.train.build import STDIN, spool_stdin
from hnet_cli.train.job import TrainJob, TrainResult
from hnet_cli.train.trainer import Trainer


def train(job: TrainJob, reporter=None) -> TrainResult:
    """Start a new run in `job.out` (see the module docstring)."""
    return _run(job, reporter or NullReporter(), resume=False)


def resume(run_dir: str | Path, device: str = "auto", steps: int | None = None, reporter=None,
           yardstick: bool = True) -> TrainResult:
    """Continue the run in `run_dir` from its LATEST checkpoint, exactly as if never stopped.

    `steps` may lengthen a run (the schedule is re-sized from there on); the
    recipe, data and batch layout are the run's own. The yardstick recorded in
    run.json is reported again (fitted now if the run has none and `yardstick`).
    """
    from hnet_cli.recipes import Recipe

    run = RunDir(run_dir)
    if not run.path.is_dir():
        raise ConfigError(f"{run.path}: no such run directory")
    recipe = Recipe.from_dict(run.read(RECIPE_NAME, "recipe"), source=str(run.recipe_path))
    info = run.read(RUN_INFO_NAME, "run description")
    if steps is not None:
        recipe.train.schedule.set_steps(steps)
    job = TrainJob(recipe=recipe, domain=info["domain"], paths=list(info.get("paths", [])),
                   domain_options=dict(info.get("domain_options", {})), out=run.path,
                   arch=info.get("arch", "hnet"), device=device, freeze=list(info.get("freeze", [])),
                   yardstick=yardstick)
    return _run(job, reporter or NullReporter(), resume=True)


def _run(job: TrainJob, reporter, resume: bool) -> TrainResult:
    dist, device = dist_util.setup(job.device)
    if not dist.is_main:
        reporter = NullReporter()
    spooled = None
    try:
        if STDIN in job.paths and not resume:
            # Every epoch reads the data again, and a resumed run needs it too: stdin is kept
            # as RUN/stdin (spooled to a temporary directory until the run directory exists).
            if dist.enabled:
                raise ConfigError("training on stdin (-) is not supported under torchrun; give a file")
            spooled = spool_stdin()
        try:
            # One training at a time per run directory (process 0 writes it, so process 0 locks it).
            with RunDir(job.out).lock() if dist.is_main else contextlib.nullcontext():
                return Trainer(job, reporter, dist, device, resume=resume, spooled=spooled).train()
        except InputError as exc:
            if spooled is not None and exc.path == str(spooled):
                # The user gave "-": name stdin, not our temporary copy of it.
                raise InputError(STDIN, exc.problem, line=exc.line, record=exc.record) from None
            raise
    finally:
        if spooled is not None:
            shutil.rmtree(spooled.parent, ignore_errors=True)
        dist_util.teardown()

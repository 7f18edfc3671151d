"""Building a run's parts from its job: inputs, targets, model, speed-ups, length, the stdin copy.

Small functions the Trainer assembles; each can be used and tested alone.
"""

from __future__ import annotations

import math
import os
import shutil
import sys
import tempfile
from pathlib import Path

import torch

from hnet_cli.errors import ConfigError, InputError
from hnet_cli.model.hnet import HNetLM
from hnet_cli.model.init import init_weights
from hnet_cli.recipes import Recipe
from hnet_cli.run.rundir import STDIN_NAME

STDIN = "-"
# max_time: the run's length is fixed from the speed of CALIBRATION_STEPS steps that
# follow WARMUP_STEPS steps (the first steps compile, autotune and allocate).
WARMUP_STEPS = 3
CALIBRATION_STEPS = 10
_GLOB_CHARS = set("*?[")


def resolve_targets(recipe: Recipe, domain) -> list[float]:
    """N per stage: the recipe's compression_targets, else the domain's for this many stages."""
    S = recipe.model.num_stages
    if S == 0:
        return []
    if recipe.train.objective.compression_targets is not None:
        return [float(n) for n in recipe.train.objective.compression_targets]
    return [float(n) for n in domain.targets_for(S)]


def resolve_domain_options(domain, recipe_options: dict, given: dict) -> dict:
    """The recipe's reader options, then the command line's, validated by the domain."""
    try:
        return domain.resolve_options({**recipe_options, **domain.given_options(given)})
    except ConfigError:
        raise
    except Exception as exc:  # a plugin's own validation failing in an unexpected way
        raise ConfigError(f"domain {domain.name!r}: bad reader options ({exc})") from None


def check_inputs(domain, paths: list[str]) -> None:
    """Fail at once on a missing path or a file that is clearly not this domain's (e.g. a PNG)."""
    for path in paths:
        if path == STDIN or _GLOB_CHARS & set(str(path)):
            continue
        if not os.path.exists(path):
            raise InputError(path, "no such file or directory")
        domain.check_input(path)
        if os.path.isdir(path) and not any(os.scandir(path)):
            raise InputError(path, "empty directory")


def build_model(recipe: Recipe, seed: int, device) -> HNetLM:
    """A freshly initialised model (seeded), on `device`."""
    torch.manual_seed(seed)
    model = HNetLM(recipe.model)
    init_weights(model, generator=torch.Generator().manual_seed(seed))
    return model.to(device)


def speed_up(model, speed, targets, device) -> None:
    """On GPUs (or compile=on): chunk budgets (fixed shapes, predictable memory) and compiled blocks."""
    if device.type != "cuda" and speed.compile != "on":
        return
    from hnet_cli.model.fast import make_fast

    budget = None
    stages = model.config.num_stages
    if speed.chunk_budget_margin is not None and stages and len(targets or ()) == stages and device.type == "cuda":
        budget = [min(1.0, speed.chunk_budget_margin / n) for n in targets]
    compile_blocks = speed.compile == "on" or (speed.compile == "auto" and device.type == "cuda")
    make_fast(model, compile=compile_blocks, chunk_budget=budget)
    if device.type == "cuda":
        # The fp32 matmuls (routing q/k, residual_proj) on TF32 tensor cores: training
        # tolerates their 1e-3 relative error; evaluation and chunking keep full fp32.
        torch.backends.cuda.matmul.allow_tf32 = True


def total_steps(schedule, bytes_per_step: int) -> int:
    """The run's length in steps from train.steps / train.max_bytes (provisional under max_time alone)."""
    candidates = []
    if schedule.steps is not None:
        candidates.append(schedule.steps)
    if schedule.max_bytes is not None:
        candidates.append(max(1, math.ceil(schedule.max_bytes / bytes_per_step)))
    if not candidates:  # max_time only: provisional until calibrated
        return 10**9
    return min(candidates)


def calibrated_total(max_time: float, step: int, seconds: float, per_step: float, total: int) -> int:
    """Steps that fit max_time, at `per_step` seconds each after the `seconds` spent in `step` steps."""
    return max(step + 1, min(total, step + int((max_time - seconds) / max(per_step, 1e-9))))


def grad_accum_for(rows_per_step: int, batch_size: int, world_size: int, run: str) -> int:
    """Micro-batches per process that keep a resumed run's `rows_per_step` on `world_size` processes.

    Units of `batch_size` rows are what the loader shards and what each ratio loss is
    taken over (train.ratio_stats=unit), so only grad_accum changes with the world size:
    batch_size * grad_accum * world_size = rows_per_step gives the same data order and the
    same objective.
    """
    per_pass = batch_size * world_size
    if rows_per_step % per_pass:
        raise ConfigError(f"{run}: cannot resume {rows_per_step} rows per step on {world_size} processes of "
                          f"train.batch_size={batch_size} rows ({rows_per_step} is not a multiple of {per_pass})")
    return rows_per_step // per_pass


def spool_stdin() -> Path:
    """Copy standard input to <tmpdir>/stdin (the name it keeps in the run directory)."""
    directory = Path(tempfile.mkdtemp(prefix="hnet-stdin-"))
    target = directory / STDIN_NAME
    with open(target, "wb") as f:
        shutil.copyfileobj(sys.stdin.buffer, f, 1 << 20)
    if target.stat().st_size == 0:
        shutil.rmtree(directory, ignore_errors=True)
        raise InputError(STDIN, "standard input is empty")
    return target

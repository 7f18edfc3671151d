"""`hnet train` as a library function.

    from hnet_cli.recipes import load_recipe
    from hnet_cli.train import TrainJob, train, resume

    result = train(TrainJob(recipe=load_recipe("dna-tiny"), domain="dna", paths=[], out="runs/dna"))
    result = resume("runs/dna")                 # continue exactly where it stopped

Objective (paper §2.3): next-byte cross-entropy over the positions whose
target lies in the same document (document boundaries are resets; nothing is
trained across them), plus alpha * sum_s L_ratio(stage s, N_s).

With P processes and A micro-batches per step (units u = 1..P*A), process p
back-propagates, for its micro-batch m,

    P * CE_sum(p, m) / n_targets(all units)  +  alpha * sum_s L_ratio(s; p, m) / A

and DDP averages over processes, so the gradient is that of
CE_sum(all) / n_targets(all) + alpha * mean over units of sum_s L_ratio: the
same for one process with grad_accum = P*A as for P processes (tested).
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from hnet_cli import __version__
from hnet_cli.data.loader import TrainLoader, validation_batches
from hnet_cli.data.packing import Batch, collate, pack_documents
from hnet_cli.data.registry import get_domain
from hnet_cli.data.split import Split, plan_split
from hnet_cli.errors import CheckpointError, ConfigError, InputError
from hnet_cli.model.checkpoint import CHECKPOINTS_DIR, CONFIG_NAME, load_state_dict_strict
from hnet_cli.model.flops import count_parameters, forward_flops_per_byte
from hnet_cli.model.hnet import HNetLM
from hnet_cli.model.init import init_weights
from hnet_cli.model.losses import LN2, cross_entropy_sum, ratio_loss
from hnet_cli.progress import NullReporter
from hnet_cli.recipes import Recipe
from hnet_cli.run.rundir import RECIPE_NAME, RUN_INFO_NAME, STDIN_NAME, RunDir
from hnet_cli.runtime import autocast, pick_dtype
from hnet_cli.train import distributed as dist_util
from hnet_cli.train.checkpointer import Checkpointer
from hnet_cli.train.sharding import (
    full_model_state,
    full_optimizer_state,
    load_full_optimizer_state,
    norm_tensor,
    set_gradient_sync,
    shard_model,
)
from hnet_cli.train.health import CompressionWatch, TrainingDiverged, check_finite
from hnet_cli.train.metrics import MetricsLog
from hnet_cli.train.optim import build_optimizer, set_lr
from hnet_cli.train.schedule import lr_factor

# max_time: the run's length is fixed from the speed of CALIBRATION_STEPS steps that
# follow WARMUP_STEPS steps (the first steps compile, autotune and allocate).
WARMUP_STEPS = 3
CALIBRATION_STEPS = 10
STDIN = "-"


@dataclass
class TrainJob:
    """Everything a run needs. `paths=[]` trains on the domain's bundled data."""

    recipe: Recipe
    domain: str
    paths: list[str] = field(default_factory=list)
    domain_options: dict = field(default_factory=dict)  # given reader options (override the recipe's)
    out: str | Path = "runs/run"
    arch: str = "hnet"
    device: str = "auto"
    force: bool = False


@dataclass
class TrainResult:
    run_dir: str
    domain: str
    unit: str
    steps: int
    total_steps: int
    bytes_seen: int
    train_loss: float | None
    train_bpb: float | None
    val_bpb: float | None  # at the last evaluation
    val_bits_per_unit: float | None
    best_val_bpb: float | None
    best_val_bits_per_unit: float | None
    best_step: int | None
    compression: list[float]  # L_{s+1}/L_s per stage, last logged training step
    bytes_per_chunk: list[float]  # L_0/L_{s+1}
    targets: list[float]
    parameters: int
    elapsed_s: float  # training time in this process's sessions
    bytes_per_s: float | None
    warnings: list[str] = field(default_factory=list)
    checkpoint: str | None = None
    rank: int = 0  # this process under torchrun (0 = the one that reports)
    world_size: int = 1

    def to_dict(self) -> dict:
        return asdict(self)


# ---------------------------------------------------------------------------- objective


@dataclass
class StepStats:
    """Sums over the micro-batches (and, after all_reduce, the processes) of one step or evaluation."""

    ce_sum: float
    n_targets: float
    ratio_sum: list[float]  # per stage, summed over units
    boundaries: list[float]
    positions: list[float]

    @staticmethod
    def zeros(stages: int, device) -> torch.Tensor:
        """The packed layout [ce_sum, n_targets, ratios (S), boundaries (S), positions (S)], all zero."""
        return torch.zeros(2 + 3 * stages, dtype=torch.float64, device=device)

    @staticmethod
    def add(packed: torch.Tensor, ce_sum, ratios, boundaries, positions) -> None:
        """Add one forward pass's statistics (tensors on the device; ratios may be None) to `packed`,
        without a host sync."""
        S = len(boundaries)
        packed[0] += ce_sum.detach().double()
        if S:
            if ratios is not None:
                packed[2:2 + S] += torch.stack([r.detach() for r in ratios]).double()
            packed[2 + S:2 + 2 * S] += torch.stack(boundaries).double()
            packed[2 + 2 * S:] += torch.stack(positions).double()

    @classmethod
    def from_list(cls, v: list[float], stages: int) -> "StepStats":
        S = stages
        return cls(v[0], v[1], v[2:2 + S], v[2 + S:2 + 2 * S], v[2 + 2 * S:2 + 3 * S])

    @classmethod
    def unpack(cls, t: torch.Tensor, stages: int) -> "StepStats":
        return cls.from_list(t.tolist(), stages)

    @property
    def ce(self) -> float:
        return self.ce_sum / max(1.0, self.n_targets)

    @property
    def compression(self) -> list[float]:
        return [b / max(1.0, p) for b, p in zip(self.boundaries, self.positions)]


def forward_stats(model, batch: Batch, targets: list[float]):
    """One forward pass: ce_sum, [ratio loss per stage], [boundaries], [positions].

    All are tensors on the model's device: reading them would wait for the GPU, so
    the caller reads a whole step's statistics at once.
    """
    out = model(batch.input_ids, seq_idx=batch.seq_idx, mask=batch.mask)
    ce_sum = cross_entropy_sum(out.logits[:, :-1], batch.input_ids[:, 1:], batch.target_mask)
    ratios, boundaries, positions = [], [], []
    for stage, N in zip(out.stages, targets):
        ratios.append(ratio_loss(stage.boundary_mask, stage.boundary_prob, stage.valid, N))
        boundaries.append((stage.boundary_mask & stage.valid).sum().double())
        positions.append(stage.valid.sum().double())
    return ce_sum, ratios, boundaries, positions


def global_targets(batches: list[Batch], world_size: int, device) -> float:
    """Targets of this step over all processes (a collective only under torchrun)."""
    local = float(sum(b.n_targets for b in batches))
    if world_size == 1:
        return local
    return float(dist_util.all_reduce_sum(torch.tensor([local], dtype=torch.float64, device=device))[0])


def accumulate_gradients(forward_model, ddp, batches: list[Batch], targets: list[float], alpha: float,
                         world_size: int, device, dtype, sharded: bool = False) -> torch.Tensor:
    """Forward and backward over this process's micro-batches of one step.

    Back-propagates P * CE_sum / n_targets(all processes) + alpha * sum_s L_ratio / A per
    micro-batch (see the module docstring); DDP averages the gradients over the P processes.
    Returns the step's statistics summed over processes, packed on the device (see
    `StepStats`; n_targets filled in): nothing here waits for the GPU.
    """
    S, A = len(targets), len(batches)
    n_global = global_targets(batches, world_size, device)
    packed = StepStats.zeros(S, device)
    for m, batch in enumerate(batches):
        # DDP and FSDP: average gradients once, after the last micro-batch.
        sync = contextlib.nullcontext() if (ddp is None or m == A - 1) else ddp.no_sync()
        if sharded:
            set_gradient_sync(forward_model, m == A - 1)
        with sync:
            with autocast(device, dtype):
                ce_sum, ratios, b, p = forward_stats(forward_model, batch, targets)
            loss = ce_sum * (world_size / max(1.0, n_global))
            if ratios:
                loss = loss + alpha * torch.stack(ratios).sum() / A
            loss.backward()
        StepStats.add(packed, ce_sum, ratios, b, p)
    packed = dist_util.all_reduce_sum(packed)
    packed[1] = n_global  # already summed over processes
    return packed


@dataclass
class StepResult:
    stats: StepStats
    ratio_means: list[float]  # L_ratio per stage, averaged over the step's units
    loss: float  # CE + alpha * sum of ratio_means
    grad_norm: float  # before clipping


def train_step(forward_model, ddp, optimizer, params, batches: list[Batch], targets: list[float], alpha: float,
               world_size: int, device, dtype, grad_clip: float, step_number: int,
               sharded: bool = False) -> StepResult:
    """One optimizer step of `hnet train` (and what `hnet bench` times).

    Forward and backward over the micro-batches, gradient clipping, then the step's
    single wait for the GPU (statistics and gradient norm read together), the
    finiteness checks, and the optimizer update. Raises TrainingDiverged (naming
    `step_number`) before updating when the loss or the gradient norm is not finite.
    """
    packed = accumulate_gradients(forward_model, ddp, batches, targets, alpha, world_size, device, dtype,
                                  sharded=sharded)
    norm = torch.nn.utils.clip_grad_norm_(params, grad_clip if grad_clip > 0 else math.inf)
    *values, grad_norm = torch.cat([packed, norm_tensor(norm).to(packed).reshape(1)]).tolist()
    stats = StepStats.from_list(values, len(targets))
    ratio_means = [r / (world_size * len(batches)) for r in stats.ratio_sum]
    loss_value = stats.ce + alpha * sum(ratio_means)
    check_finite(step_number, loss=loss_value)
    check_finite(step_number, **{"gradient norm": grad_norm})
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return StepResult(stats, ratio_means, loss_value, grad_norm)


@torch.no_grad()
def evaluate(model: HNetLM, batches: list[Batch], targets: list[float], device, dtype,
             collective: bool = False) -> StepStats:
    """Cross-entropy and compression on this process's validation rows, summed over processes.

    `collective`: every forward is a collective (a sharded model), so each process runs
    as many as the busiest one; the extra passes repeat a batch and are not counted.
    """
    was_training = model.training
    model.eval()
    S = len(targets)
    packed = StepStats.zeros(S, device)
    n_total = 0.0
    if collective:
        most = dist_util.all_reduce_max(torch.tensor([float(len(batches))], device=device))
        for _ in range(int(most[0]) - len(batches)):
            with torch.no_grad(), autocast(device, dtype):
                forward_stats(model, (batches[0] if batches else _dummy_batch()).to(device), targets)
    for batch in batches:
        batch = batch.to(device)
        with autocast(device, dtype):
            ce_sum, _, b, p = forward_stats(model, batch, targets)
        StepStats.add(packed, ce_sum, None, b, p)
        n_total += batch.n_targets
    model.train(was_training)
    packed[1] = n_total
    return StepStats.unpack(dist_util.all_reduce_sum(packed), S)


def _dummy_batch() -> Batch:
    """A one-row batch for a process that has no validation rows of its own (sharded evaluation)."""
    return collate(list(pack_documents([b"A"], 2, carry_context=True, pad_last=True)))


# ---------------------------------------------------------------------------- set-up helpers


def resolve_targets(recipe: Recipe, domain) -> list[float]:
    S = recipe.model_config().num_stages
    if S == 0:
        return []
    if recipe.train.compression_targets is not None:
        return [float(n) for n in recipe.train.compression_targets]
    return [float(n) for n in domain.targets_for(S)]


def resolve_domain_options(domain, recipe_options: dict, given: dict) -> dict:
    """The recipe's reader options, then the command line's, validated by the domain."""
    try:
        return domain.resolve_options({**recipe_options, **given})
    except ConfigError:
        raise
    except Exception as exc:  # a plugin's own validation failing in an unexpected way
        raise ConfigError(f"domain {domain.name!r}: bad reader options ({exc})") from None


_GLOB_CHARS = set("*?[")


def check_inputs(domain, paths: list[str]) -> None:
    """Fail at once on a missing path or a file that is clearly not this domain's (e.g. a PNG)."""
    for path in paths:
        if path == "-" or _GLOB_CHARS & set(str(path)):
            continue
        if not os.path.exists(path):
            raise InputError(path, "no such file or directory")
        domain.check_input(path)
        if os.path.isdir(path) and not any(os.scandir(path)):
            raise InputError(path, "empty directory")


def _make_fast(model, ts, targets, device) -> None:
    """On GPUs: chunk budgets (fixed shapes, predictable memory) and compiled blocks."""
    from hnet_cli.model.fast import make_fast

    budget = None
    stages = model.config.num_stages
    if ts.chunk_budget_margin is not None and stages and len(targets or ()) == stages and device.type == "cuda":
        budget = [min(1.0, ts.chunk_budget_margin / n) for n in targets]
    compile_blocks = ts.compile == "on" or (ts.compile == "auto" and device.type == "cuda")
    make_fast(model, compile=compile_blocks, chunk_budget=budget)
    if device.type == "cuda":
        # The fp32 matmuls (routing q/k, residual_proj) on TF32 tensor cores: training
        # tolerates their 1e-3 relative error; evaluation and chunking keep full fp32.
        torch.backends.cuda.matmul.allow_tf32 = True


def build_model(recipe: Recipe, seed: int, device) -> HNetLM:
    torch.manual_seed(seed)
    model = HNetLM(recipe.model_config())
    init_weights(model, generator=torch.Generator().manual_seed(seed))
    return model.to(device)


def trainer_state(step, total, loader, best_val, best_step, bytes_seen, elapsed, watch, extra=None) -> dict:
    state = {
        "step": step, "total_steps": total, "data": loader.state_dict(),
        "best_val_bpb": best_val, "best_step": best_step, "bytes_seen": bytes_seen,
        "elapsed_s": elapsed, "health": watch.state_dict(), "version": __version__,
        "rng": {"torch": torch.get_rng_state()},
    }
    if torch.cuda.is_available():
        state["rng"]["cuda"] = torch.cuda.get_rng_state_all()
    state.update(extra or {})
    return state


# ---------------------------------------------------------------------------- entry points


def train(job: TrainJob, reporter=None) -> TrainResult:
    """Start a new run in `job.out` (see the module docstring)."""
    return _run(job, reporter or NullReporter(), resume_dir=None)


def resume(run_dir: str | Path, device: str = "auto", steps: int | None = None, reporter=None) -> TrainResult:
    """Continue the run in `run_dir` from its LATEST checkpoint, exactly as if never stopped.

    `steps` may lengthen a run (the schedule is re-sized from there on); the
    recipe, data and batch layout are the run's own.
    """
    from hnet_cli.recipes import Recipe as _Recipe

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ConfigError(f"{run_dir}: no such run directory")
    run = RunDir(run_dir)
    recipe = _Recipe.from_dict(run.read(RECIPE_NAME, "recipe"), source=str(run.recipe_path))
    info = run.read(RUN_INFO_NAME, "run description")
    if steps is not None:
        recipe.train.steps = steps
        recipe.train.max_bytes = None
        recipe.train.max_time = None
    job = TrainJob(recipe=recipe, domain=info["domain"], paths=list(info.get("paths", [])),
                   domain_options=dict(info.get("domain_options", {})), out=run_dir,
                   arch=info.get("arch", "hnet"), device=device)
    return _run(job, reporter or NullReporter(), resume_dir=run_dir)


def _run(job: TrainJob, reporter, resume_dir: Path | None) -> TrainResult:
    dist, device = dist_util.setup(job.device)
    if not dist.is_main:
        reporter = NullReporter()
    spooled = None
    try:
        if STDIN in job.paths and resume_dir is None:
            # Every epoch reads the data again, and a resumed run needs it too: stdin is kept
            # as RUN/stdin (spooled to a temporary directory until the run directory exists).
            if dist.enabled:
                raise ConfigError("training on stdin (-) is not supported under torchrun; give a file")
            spooled = _spool_stdin()
        try:
            return _train(job, reporter, resume_dir, dist, device, spooled)
        except InputError as exc:
            if spooled is not None and exc.path == str(spooled):
                # The user gave "-": name stdin, not our temporary copy of it.
                raise InputError(STDIN, exc.problem, line=exc.line, record=exc.record) from None
            raise
    finally:
        if spooled is not None:
            shutil.rmtree(spooled.parent, ignore_errors=True)
        dist_util.teardown()


def _train(job: TrainJob, reporter, resume_dir, dist, device, spooled: Path | None) -> TrainResult:
    recipe, ts = job.recipe, job.recipe.train
    out = Path(job.out)
    run = RunDir(out)
    if resume_dir is None:
        run.check_new(job.force)
    domain = get_domain(job.domain)
    options = resolve_domain_options(domain, ts.domain_options, job.domain_options)
    paths = list(job.paths)
    check_inputs(domain, paths)
    if spooled is not None:
        paths = [str(spooled) if p == STDIN else p for p in paths]
    targets = resolve_targets(recipe, domain)
    dtype = pick_dtype(ts.dtype, device)
    S = len(targets)

    # Data: the split is planned from the stream itself (hnet_cli.data.split).
    def open_documents():
        return domain.read(list(paths), **options)

    reporter.log(f"reading {domain.name} data: {', '.join(job.paths) if job.paths else domain.default_data + ' (bundled)'}")
    split: Split = plan_split(open_documents, ts.val_fraction, ts.eval_bytes)
    if not split.validation:
        raise InputError(", ".join(paths) or domain.name, "no data left for validation")
    val_units = sum(domain.count_units(d.data) for d in split.validation)
    val_batches = validation_batches(split, ts.seq_len, ts.batch_size, dist.rank, dist.world_size)
    augment = lambda doc, rng: domain.augment(doc, rng, **options)  # noqa: E731  (identity unless the domain augments)
    loader = TrainLoader(open_documents, split, ts.seq_len, ts.batch_size, ts.grad_accum, dist.rank,
                         dist.world_size, ts.seed, ts.shuffle_docs, ts.shuffle_rows, augment, ts.prefetch)

    # Model and optimizer (fresh, or from the LATEST checkpoint). Weights are loaded whole,
    # before the model is made fast or sharded; the optimizer is built on the final parameters.
    model = build_model(recipe, ts.seed, device)
    watch = CompressionWatch(targets, ts.health_grace, ts.health_patience, ts.health_factor)
    checkpointer = Checkpointer(out, ts.keep_checkpoints)
    step, bytes_seen, elapsed_before = 0, 0, 0.0
    best_val, best_step, best_bpu = None, None, None
    total = _total_steps(ts, loader.bytes_per_step)
    if resume_dir is not None:
        path, weights, opt_state, state = checkpointer.load_latest()
        load_state_dict_strict(model, {k: v.to(device) for k, v in weights.items()}, str(path))
    if device.type == "cuda" or ts.compile == "on":
        _make_fast(model, ts, targets, device)
    sharded = dist.enabled and ts.parallel == "fsdp"
    if sharded:
        shard_model(model)
    optimizer = build_optimizer(model, ts.lr, ts.weight_decay, ts.betas, ts.eps, ts.lr_multipliers)
    if resume_dir is not None:
        try:
            if sharded:
                load_full_optimizer_state(model, optimizer, opt_state)
            else:
                optimizer.load_state_dict(opt_state)
        except (ValueError, KeyError, RuntimeError) as exc:
            raise CheckpointError(f"{path}: optimizer state does not match the model ({exc})".split("\n")[0]) from None
        loader.load_state_dict(state["data"])
        watch.load_state_dict(state.get("health", {}))
        torch.set_rng_state(state["rng"]["torch"])
        if "cuda" in state["rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["rng"]["cuda"])
        step, bytes_seen = int(state["step"]), int(state["bytes_seen"])
        elapsed_before = float(state.get("elapsed_s", 0.0))
        best_val, best_step = state.get("best_val_bpb"), state.get("best_step")
        best_bpu = state.get("best_val_bits_per_unit")
        total = int(state["total_steps"]) if ts.steps is None or ts.steps == state["total_steps"] else ts.steps
        if ts.steps is not None and ts.steps < step:
            raise ConfigError(f"{out}: the run is already at step {step}; --steps {ts.steps} would end before that")

    # The run directory: written by process 0 only, after every input check passed.
    if dist.is_main:
        if resume_dir is None:
            run.create(job.force)
            if spooled is not None:
                kept = run.stdin_path
                shutil.move(str(spooled), kept)
                paths[:] = [str(kept) if p == str(spooled) else p for p in paths]
        else:
            checkpointer.remove_partial()
        cfg = recipe.model_config()
        flops = forward_flops_per_byte(cfg, ts.seq_len, [1.0 / n for n in targets] if targets else None)
        run.write(CONFIG_NAME, cfg.to_dict())
        run.write(RECIPE_NAME, recipe.to_dict())
        run.write(RUN_INFO_NAME, {
            "domain": domain.name, "unit": domain.unit,
            "paths": [os.path.abspath(p) for p in paths],
            "domain_options": {k: list(v) if isinstance(v, tuple) else v for k, v in options.items()},
            "arch": job.arch, "recipe": recipe.name, "compression_targets": targets,
            "world_size": dist.world_size, "split": {"mode": split.mode, "val_fraction": split.val_fraction,
                                                      "val_bytes": split.validation_bytes, "val_units": val_units},
            "parameters": count_parameters(model), "flops_per_byte_at_targets": flops.per_byte,
            "hnet_version": __version__,
        })
    dist_util.barrier()
    metrics = MetricsLog(run.metrics_path, enabled=dist.is_main, tensorboard_dir=run.tensorboard_path)
    metrics.open(resume_step=step if resume_dir is not None else None)

    ddp = None
    if dist.enabled and not sharded:
        from torch.nn.parallel import DistributedDataParallel

        ddp = DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)
    forward_model = ddp or model
    model.train()

    P, alpha = dist.world_size, ts.ratio_loss_weight
    params = [p for p in model.parameters() if p.requires_grad]
    warnings: list[str] = []
    last = {"loss": None, "bpb": None, "compression": [], "val_bpb": None, "val_bpu": None}
    session_bytes, session_time, warm_time = 0, 0.0, 0.0

    def save(best: bool = False):
        # A sharded model is gathered by every process together; process 0 writes.
        model_state = full_model_state(model) if sharded else None
        optimizer_state = full_optimizer_state(model, optimizer) if sharded else None
        if dist.is_main:
            state = trainer_state(step, total, loader, best_val, best_step, bytes_seen,
                                  elapsed_before + session_time, watch, {"best_val_bits_per_unit": best_bpu})
            checkpointer.save(step, model, optimizer, state, best=best, model_state=model_state,
                              optimizer_state=optimizer_state)
        dist_util.barrier()

    def run_eval():
        nonlocal best_val, best_step, best_bpu
        stats = evaluate(model, val_batches, targets, device, dtype, collective=sharded)
        bits = stats.ce_sum / LN2
        bpb, bpu = bits / max(1.0, stats.n_targets), bits / max(1, val_units)
        improved = best_val is None or bpb < best_val
        if improved:
            best_val, best_step, best_bpu = bpb, step, bpu
        last.update(val_bpb=bpb, val_bpu=bpu)
        metrics.write({"kind": "val", "step": step, "val_loss": stats.ce, "val_bpb": bpb,
                       f"val_bits_per_{domain.unit}": bpu, "val_compression": stats.compression, "best": improved})
        reporter.log(f"step {step}: validation {bpb:.4f} bits/byte, {bpu:.4f} bits/{domain.unit}"
                     + (" (best)" if improved else ""))
        return improved

    first_step = step
    reporter.start("train", total=total, unit="steps")
    reporter.advance(step)
    try:
        if step < total:
            for item in loader:
                t0 = time.perf_counter()
                lr = set_lr(optimizer, lr_factor(step, total, ts.warmup, ts.schedule, ts.decay_fraction, ts.min_lr_ratio))
                batches = [b.to(device, non_blocking=True) for b in item.micro_batches]
                done = train_step(forward_model, ddp, optimizer, params, batches, targets, alpha, P, device,
                                  dtype, ts.grad_clip, step + 1, sharded=sharded)
                stats, ratio_means, loss_value, grad_norm = done.stats, done.ratio_means, done.loss, done.grad_norm
                step += 1
                # No synchronize: the next step's statistics wait for this optimizer step, so
                # the time of each step is counted once, as the run goes on.
                dt = time.perf_counter() - t0
                session_time += dt
                bytes_seen += loader.bytes_per_step
                session_bytes += loader.bytes_per_step
                compression = stats.compression
                bytes_per_chunk = _bytes_per_chunk(compression)
                bpb = stats.ce / LN2
                last.update(loss=loss_value, bpb=bpb, compression=compression)
                speed = session_bytes / max(session_time, 1e-9)
                if step % ts.log_every == 0 or step == total:
                    metrics.write({"kind": "train", "step": step, "loss": loss_value, "ce": stats.ce, "bpb": bpb,
                                   "ratio_loss": ratio_means, "compression": compression,
                                   "bytes_per_chunk": bytes_per_chunk, "lr": lr, "grad_norm": grad_norm,
                                   "bytes": bytes_seen, "bytes_per_s": speed, "epoch": item.epoch,
                                   "time": elapsed_before + session_time})
                fields = {"loss": loss_value, "bpb": bpb}
                if S:
                    fields["ratio"] = round(sum(ratio_means), 4)
                    fields["comp"] = "/".join(f"{c:.3f}" for c in compression)
                    fields["B/chunk"] = "/".join(f"{x:.2f}" for x in bytes_per_chunk)
                eta = (total - step) * session_time / max(1, step - first_step)
                fields.update({"lr": lr, "gnorm": grad_norm, "B/s": int(speed), "eta": _duration(eta)})
                reporter.advance(1, **fields)
                for message in watch.update(step, compression):
                    warnings.append(message)
                    reporter.log(message)
                    metrics.write({"kind": "warning", "step": step, "message": message})
                if step == WARMUP_STEPS:
                    warm_time = session_time
                if ts.max_time is not None and step == WARMUP_STEPS + CALIBRATION_STEPS and resume_dir is None:
                    per_step = (session_time - warm_time) / CALIBRATION_STEPS
                    total = _calibrated_total(ts, step, session_time, per_step, total)
                    reporter.start("train", total=total, unit="steps")
                    reporter.advance(step)
                best = False
                if step % ts.eval_every == 0 or step == total:
                    best = run_eval()
                if step % ts.checkpoint_every == 0 or step == total or best:
                    save(best=best)
                if step >= total:
                    break
    except TrainingDiverged as exc:
        good = checkpointer.pointer("LATEST")
        where = f"; the last good checkpoint is {out / CHECKPOINTS_DIR / good}" if good else "; no checkpoint was written"
        raise TrainingDiverged(f"training stopped: {exc}{where}") from None
    finally:
        loader.close()
        metrics.close()
        reporter.finish()

    if last["loss"] is None:  # nothing left to train: report the run's last logged figures
        last.update(_last_logged(run.metrics_path, domain.unit))
    return TrainResult(
        run_dir=str(out), domain=domain.name, unit=domain.unit, steps=step, total_steps=total, bytes_seen=bytes_seen,
        train_loss=last["loss"], train_bpb=last["bpb"], val_bpb=last["val_bpb"], val_bits_per_unit=last["val_bpu"],
        best_val_bpb=best_val, best_val_bits_per_unit=best_bpu,
        best_step=best_step, compression=last["compression"], bytes_per_chunk=_bytes_per_chunk(last["compression"]),
        targets=targets, parameters=count_parameters(model), elapsed_s=elapsed_before + session_time,
        bytes_per_s=(session_bytes / session_time) if session_time > 0 else None, warnings=warnings,
        checkpoint=checkpointer.pointer("LATEST"), rank=dist.rank, world_size=dist.world_size,
    )


def _last_logged(path: Path, unit: str) -> dict:
    from hnet_cli.train.metrics import read_metrics

    found: dict = {}
    for record in read_metrics(path):
        if record.get("kind") == "train":
            found.update(loss=record.get("loss"), bpb=record.get("bpb"), compression=record.get("compression", []))
        elif record.get("kind") == "val":
            found.update(val_bpb=record.get("val_bpb"), val_bpu=record.get(f"val_bits_per_{unit}"))
    return found


def _spool_stdin() -> Path:
    """Copy standard input to <tmpdir>/stdin (the name it keeps in the run directory)."""
    directory = Path(tempfile.mkdtemp(prefix="hnet-stdin-"))
    target = directory / STDIN_NAME
    with open(target, "wb") as f:
        shutil.copyfileobj(sys.stdin.buffer, f, 1 << 20)
    if target.stat().st_size == 0:
        shutil.rmtree(directory, ignore_errors=True)
        raise InputError(STDIN, "standard input is empty")
    return target


def _duration(seconds: float) -> str:
    seconds = int(max(0, seconds))
    return f"{seconds // 3600}h{seconds // 60 % 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"


def _bytes_per_chunk(compression: list[float]) -> list[float]:
    out, frac = [], 1.0
    for c in compression:
        frac *= c
        out.append(1.0 / frac if frac > 0 else math.inf)
    return out


def _total_steps(ts, bytes_per_step: int) -> int:
    candidates = []
    if ts.steps is not None:
        candidates.append(ts.steps)
    if ts.max_bytes is not None:
        candidates.append(max(1, math.ceil(ts.max_bytes / bytes_per_step)))
    if not candidates:  # max_time only: provisional until calibrated
        return 10**9
    return min(candidates)


def _calibrated_total(ts, step: int, seconds: float, per_step: float, total: int) -> int:
    """Steps that fit max_time, at `per_step` seconds each after the `seconds` spent in `step` steps."""
    return max(step + 1, min(total, step + int((ts.max_time - seconds) / max(per_step, 1e-9))))

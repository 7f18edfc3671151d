"""The Trainer: `__init__` assembles a run from its parts, `train()` runs it.

    trainer = Trainer(job, reporter, dist, device)     # or resume=True for RUN/checkpoints/LATEST
    result = trainer.train()

Set-up order matters for exact resume and sharding: inputs are checked before
anything is written; a resumed run reads its checkpoint first, so that on another
number of processes grad_accum is set to keep the saved rows per step before the
loader is built; weights are restored whole before the model is made fast
or sharded; the optimizer is built on the final parameters, then its state and
the TrainState (data position, RNG, health, best score) are restored. Process 0
alone writes the run directory, after every check passed.
"""

from __future__ import annotations

import math
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from hnet_cli.version import __version__
from hnet_cli.data.loader import TrainLoader, validation_batches
from hnet_cli.data.registry import get_domain
from hnet_cli.data.split import plan_split
from hnet_cli.errors import CheckpointError, ConfigError, InputError
from hnet_cli.model.checkpoint import CONFIG_NAME, load_state_dict_strict
from hnet_cli.model.flops import count_parameters, forward_flops_per_byte
from hnet_cli.model.losses import LN2
from hnet_cli.model.memory import check_fits
from hnet_cli.run.rundir import RECIPE_NAME, RUN_INFO_NAME, RunDir
from hnet_cli.runtime import pick_dtype
from hnet_cli.train import distributed as dist_util
from hnet_cli.train.build import (
    CALIBRATION_STEPS, STDIN, WARMUP_STEPS, build_model, calibrated_total, check_inputs, grad_accum_for,
    resolve_domain_options, resolve_targets, speed_up, total_steps,
)
from hnet_cli.train.checkpointer import Checkpointer
from hnet_cli.train.finetune import freeze, load_initial_weights
from hnet_cli.train.health import CompressionWatch, TrainingDiverged, short_run_warnings
from hnet_cli.train.job import TrainJob, TrainResult
from hnet_cli.train.metrics import MetricsLog, read_metrics
from hnet_cli.train.objective import StepResult, train_step, validation_stats
from hnet_cli.train.optim import build_optimizer, set_lr
from hnet_cli.train.schedule import lr_factor
from hnet_cli.train.sharding import full_model_state, full_optimizer_state, load_optimizer_state, shard_model
from hnet_cli.train.state import TrainState


def checkpoint_metadata(recipe, domain, options: dict, targets: list[float], arch: str) -> dict:
    """What every checkpoint of the run says about itself, so that a copied checkpoint folder reads,
    chunks and writes its data as in training (hnet_cli.model.checkpoint.save_model)."""
    return {
        "domain": domain.name, "unit": domain.unit,
        "domain_options": {k: list(v) if isinstance(v, tuple) else v for k, v in options.items()},
        "recipe": recipe.name, "seq_len": recipe.train.data.seq_len, "arch": arch,
        "compression_targets": list(targets), "recipe_config": recipe.to_dict(),
    }


@dataclass
class Figures:
    """The latest figures of this session, for the result (None until measured)."""

    loss: float | None = None
    bpb: float | None = None
    compression: list[float] = field(default_factory=list)
    val_bpb: float | None = None
    val_bits_per_unit: float | None = None


class Trainer:
    def __init__(self, job: TrainJob, reporter, dist, device, resume: bool = False, spooled: Path | None = None):
        self.job, self.recipe, self.ts = job, job.recipe, job.recipe.train
        self.reporter, self.dist, self.device, self.resuming = reporter, dist, device, resume
        self.run = RunDir(job.out)
        # Before any data is read: a model that cannot fit fails in a second, not after the split.
        check_fits(self.recipe.model, device, training=True, source="the recipe's model")
        if not resume and dist.is_main:
            # Process 0 alone checks and writes the directory: another process checking it later
            # would find process 0's first files there and refuse its own run.
            self.run.check_new(job.force)
        self._inputs(spooled)
        self.described = checkpoint_metadata(self.recipe, self.domain, self.options, self.targets, self.job.arch)
        self.checkpointer = Checkpointer(self.run.path, self.ts.checkpoint.keep_checkpoints, metadata=self.described)
        latest = self.checkpointer.load_latest() if resume else None
        if latest is not None:
            self._fit_world_size(latest[3])
        self._data()
        self._model(latest)
        self.yardstick = self._yardstick() if dist.is_main else None
        if dist.is_main:
            self._write_run_dir(spooled)
        dist_util.barrier()
        self.metrics = MetricsLog(self.run.metrics_path, enabled=dist.is_main, tensorboard_dir=self.run.tensorboard_path)
        self.metrics.open(resume_step=self.state.step if resume else None)
        self.ddp = None
        if dist.enabled and not self.sharded:
            from torch.nn.parallel import DistributedDataParallel

            self.ddp = DistributedDataParallel(self.model, device_ids=[device] if device.type == "cuda" else None)
        self.model.train()
        self.figures, self.warnings = Figures(), []
        self.session_bytes, self.session_time, self.warm_time, self.first_step = 0, 0.0, 0.0, self.state.step
        self.lr = 0.0

    # ---- set-up -------------------------------------------------------------------------
    def _inputs(self, spooled: Path | None) -> None:
        self.domain = get_domain(self.job.domain)
        self.options = resolve_domain_options(self.domain, self.ts.data.domain_options, self.job.domain_options)
        check_inputs(self.domain, list(self.job.paths))
        self.paths = [str(spooled) if p == STDIN and spooled is not None else p for p in self.job.paths]
        self.targets = resolve_targets(self.recipe, self.domain)
        self.dtype = pick_dtype(self.ts.speed.dtype, self.device)

    def _open_documents(self):
        return self.domain.read(list(self.paths), **self.options)

    def _data(self) -> None:
        """The split is planned from the stream itself (hnet_cli.data.split)."""
        ts, dist, domain = self.ts, self.dist, self.domain
        source = ", ".join(self.job.paths) if self.job.paths else domain.default_data + " (bundled)"
        self.reporter.log(f"reading {domain.name} data: {source}")
        self.split = plan_split(self._open_documents, ts.data.val_fraction, ts.data.eval_bytes)
        if not self.split.validation:
            raise InputError(", ".join(self.paths) or domain.name, "no data left for validation")
        self.val_units = sum(domain.count_units(d.data) for d in self.split.validation)
        data = ts.data
        self.val_batches = validation_batches(self.split, data.seq_len, data.batch_size, dist.rank, dist.world_size)
        options = self.options
        augment = lambda doc, rng: domain.augment(doc, rng, **options)  # noqa: E731  (identity unless the domain augments)
        self.loader = TrainLoader(self._open_documents, self.split, seq_len=data.seq_len, batch_size=data.batch_size,
                                  grad_accum=data.grad_accum, rank=dist.rank, world_size=dist.world_size, seed=ts.seed,
                                  shuffle_docs=data.shuffle_docs, shuffle_rows=data.shuffle_rows, augment=augment,
                                  prefetch=data.prefetch)

    def _yardstick(self) -> dict | None:
        """The Markov yardstick on the validation data (hnet_cli.eval.yardstick), fitted once per run:
        run.json keeps it, and a resumed run reports the recorded one."""
        recorded = (self.run.record(RUN_INFO_NAME) or {}).get("yardstick") if self.resuming else None
        if recorded or not self.job.yardstick:
            return recorded or None
        from hnet_cli.eval.yardstick import yardstick_on_validation

        source = ", ".join(self.job.paths) if self.job.paths else self.domain.default_data + " (bundled)"
        self.reporter.log("fitting the Markov yardstick on the training part (turn off with --no-yardstick)")
        try:
            figure = yardstick_on_validation(self.split.train(self._open_documents()), self.split.validation,
                                             self.domain.count_units, self.domain.unit,
                                             fitted_on=f"the training part of {source}")
        except ValueError as exc:
            self.reporter.log(f"yardstick: not computed ({exc})")
            return None
        self.reporter.log(figure.describe())
        return figure.as_dict()

    def _fit_world_size(self, trainer_state: dict) -> None:
        """Resuming on another number of processes: grad_accum keeps the saved rows per step
        (same batches, same data order, same objective; hnet_cli.data.loader)."""
        saved = trainer_state.get("data", {}).get("rows_per_step")
        data, world = self.ts.data, self.dist.world_size
        if saved is None or saved == data.batch_size * data.grad_accum * world:
            return
        accum = grad_accum_for(int(saved), data.batch_size, world, str(self.run.path))
        self.reporter.log(f"resuming on {world} process{'es' if world > 1 else ''}: train.grad_accum "
                          f"{data.grad_accum} -> {accum} keeps {saved} rows per step")
        if self.ts.objective.ratio_stats == "global":
            before = int(saved) // (data.batch_size * data.grad_accum)
            self.reporter.log(f"note: train.ratio_stats=global pools the ratio loss over {world} micro-batch"
                              f"{'es' if world > 1 else ''} from here on (was {before}): the objective changes a little")
        data.grad_accum = accum

    def _model(self, latest) -> None:
        """Model, optimizer and TrainState: fresh, or restored from the LATEST checkpoint."""
        ts = self.ts
        self.model = build_model(self.recipe, ts.seed, self.device)
        steps = total_steps(ts.schedule, self.loader.bytes_per_step)
        watch = CompressionWatch.for_run(self.targets, steps, ts.health.grace, ts.health.patience, ts.health.factor)
        self.state = TrainState(self.loader, watch, total_steps=steps, device=self.device)
        self.init_checkpoint = None
        if latest is not None:
            path, weights = latest[0], latest[1]
            load_state_dict_strict(self.model, {k: v.to(self.device) for k, v in weights.items()}, str(path))
        elif self.job.init_from is not None:  # a fine-tune's first session: the source's weights, exactly
            self.init_checkpoint = load_initial_weights(self.model, self.job.init_from, self.job.init_config)
        # Frozen before the optimizer is built: it never holds them (also again on resume).
        self.frozen = freeze(self.model, self.job.freeze) if self.job.freeze else []
        speed_up(self.model, ts.speed, self.targets, self.device)
        self.sharded = self.dist.enabled and ts.parallel.mode == "fsdp"
        if self.sharded:
            shard_model(self.model)
        optim = ts.optim
        self.optimizer = build_optimizer(self.model, optim.lr, optim.weight_decay, optim.betas, optim.eps,
                                         optim.lr_multipliers, optim.routing_lr_multiplier)
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        if latest is not None:
            self._restore(*latest)

    def _restore(self, path: Path, weights, optimizer_state: dict, trainer_state: dict) -> None:
        try:
            load_optimizer_state(self.model, self.optimizer, optimizer_state, sharded=self.sharded)
        except (ValueError, KeyError, RuntimeError) as exc:
            raise CheckpointError(f"{path}: optimizer state does not match the model ({exc})".split("\n")[0]) from None
        self.state.load_state_dict(trainer_state)
        steps, state = self.ts.schedule.steps, self.state
        if steps is not None and steps != state.total_steps:
            state.total_steps = steps  # --steps lengthens (or shortens) the run from here on
        if steps is not None and steps < state.step:
            raise ConfigError(f"{self.run.path}: the run is already at step {state.step}; "
                              f"--steps {steps} would end before that")

    def _write_run_dir(self, spooled: Path | None) -> None:
        run = self.run
        if not self.resuming:
            run.create(self.job.force)
            if spooled is not None:
                shutil.move(str(spooled), run.stdin_path)
                self.paths = [str(run.stdin_path) if p == str(spooled) else p for p in self.paths]
        else:
            self.checkpointer.remove_partial()
        cfg, targets, split = self.recipe.model, self.targets, self.split
        flops = forward_flops_per_byte(cfg, self.ts.data.seq_len, [1.0 / n for n in targets] if targets else None)
        run.write(CONFIG_NAME, cfg.to_dict())
        run.write(RECIPE_NAME, self.recipe.to_dict())
        run.write(RUN_INFO_NAME, {
            "domain": self.domain.name, "unit": self.domain.unit,
            "paths": [os.path.abspath(p) for p in self.paths],
            "domain_options": self.described["domain_options"],
            "arch": self.job.arch, "recipe": self.recipe.name, "compression_targets": targets,
            "world_size": self.dist.world_size, "split": {"mode": split.mode, "val_fraction": split.val_fraction,
                                                           "val_bytes": split.validation_bytes, "val_units": self.val_units},
            "parameters": count_parameters(self.model), "flops_per_byte_at_targets": flops.per_byte,
            "hnet_version": __version__, **self._finetune_record(),
            **({"yardstick": self.yardstick} if self.yardstick else {}),
        })

    def _finetune_record(self) -> dict:
        """run.json entries of a fine-tune (kept as first written when it resumes)."""
        if self.resuming:
            before = self.run.record(RUN_INFO_NAME) or {}
            return {k: before[k] for k in ("init_from", "freeze", "frozen_parameters") if k in before}
        if self.job.init_from is None and not self.job.freeze:
            return {}
        record = {"freeze": list(self.job.freeze), "frozen_parameters": len(self.frozen)}
        if self.job.init_from is not None:
            record["init_from"] = {"path": os.path.abspath(self.job.init_from), "checkpoint":
                                   os.path.abspath(self.init_checkpoint), "config": self.job.init_config}
        return record

    # ---- the loop ---------------------------------------------------------------------------
    @property
    def finished(self) -> bool:
        return self.state.step >= self.state.total_steps

    def train(self) -> TrainResult:
        if not self.resuming:
            for message in short_run_warnings(self.state.total_steps, self.ts.schedule.warmup, self.ts.schedule.kind):
                self.warn(message)
        self._start_progress()
        try:
            if not self.finished:
                for item in self.loader:
                    outcome = self.step(item)
                    self.log(item, outcome)
                    self.watch_health(outcome)
                    self.calibrate_length()
                    best = self.validate() if self._due(self.ts.checkpoint.eval_every) else False
                    if self._due(self.ts.checkpoint.checkpoint_every) or best:
                        self.save(best=best)
                    if self.finished:
                        break
            if self.finished and self.figures.compression:
                for message in self.state.watch.final(self.figures.compression):
                    self.warn(message)
        except TrainingDiverged as exc:
            good = self.checkpointer.pointer("LATEST")
            where = (f"; the last good checkpoint is {self.run.checkpoints_path / good}" if good
                     else "; no checkpoint was written")
            raise TrainingDiverged(f"training stopped: {exc}{where}") from None
        finally:
            self.close()
        return self.result()

    def step(self, item) -> StepResult:
        """One optimizer step over this process's micro-batches (objective.train_step)."""
        ts, state = self.ts, self.state
        t0 = time.perf_counter()
        schedule = ts.schedule
        self.lr = set_lr(self.optimizer, lr_factor(state.step, state.total_steps, schedule.warmup, schedule.kind,
                                                   schedule.decay_fraction, schedule.min_lr_ratio))
        batches = [b.to(self.device, non_blocking=True) for b in item.micro_batches]
        done = train_step(self.ddp or self.model, self.ddp, self.optimizer, self.params, batches, self.targets,
                          ts.objective.ratio_loss_weight, self.dist.world_size, self.device, self.dtype,
                          ts.optim.grad_clip, state.step + 1, sharded=self.sharded,
                          ratio_stats=ts.objective.ratio_stats, n_targets=item.n_targets)
        # No synchronize: the next step's statistics wait for this optimizer step, so
        # the time of each step is counted once, as the run goes on.
        seconds = time.perf_counter() - t0
        state.step += 1
        state.elapsed_s += seconds
        state.bytes_seen += self.loader.bytes_per_step
        self.session_time += seconds
        self.session_bytes += self.loader.bytes_per_step
        self.figures.loss, self.figures.bpb, self.figures.compression = done.loss, done.stats.ce / LN2, done.stats.compression
        return done

    def log(self, item, outcome: StepResult) -> None:
        """A metrics.jsonl line every log_every steps; the progress line every step."""
        state, stats = self.state, outcome.stats
        speed = self.session_bytes / max(self.session_time, 1e-9)
        bytes_per_chunk = bytes_per_chunk_of(stats.compression)
        if self._due(self.ts.checkpoint.log_every):
            self.metrics.write({"kind": "train", "step": state.step, "loss": outcome.loss, "ce": stats.ce,
                                "bpb": self.figures.bpb, "ratio_loss": outcome.ratio_means,
                                "compression": stats.compression, "bytes_per_chunk": bytes_per_chunk, "lr": self.lr,
                                "grad_norm": outcome.grad_norm, "bytes": state.bytes_seen, "bytes_per_s": speed,
                                "epoch": item.epoch, "time": state.elapsed_s})
        fields = {"loss": outcome.loss, "bpb": self.figures.bpb}
        if self.targets:
            fields["ratio"] = round(sum(outcome.ratio_means), 4)
            fields["comp"] = "/".join(f"{c:.3f}" for c in stats.compression)
            fields["B/chunk"] = "/".join(f"{x:.2f}" for x in bytes_per_chunk)
        eta = (state.total_steps - state.step) * self.session_time / max(1, state.step - self.first_step)
        fields.update({"lr": self.lr, "gnorm": outcome.grad_norm, "B/s": speed, "eta": duration(eta)})
        self.reporter.advance(1, **fields)

    def watch_health(self, outcome: StepResult) -> None:
        for message in self.state.watch.update(self.state.step, outcome.stats.compression):
            self.warn(message)

    def warn(self, message: str) -> None:
        self.warnings.append(message)
        self.reporter.log(message)
        self.metrics.write({"kind": "warning", "step": self.state.step, "message": message})

    def calibrate_length(self) -> None:
        """max_time: fix a new run's length from the speed of CALIBRATION_STEPS steps after WARMUP_STEPS."""
        state = self.state
        if state.step == WARMUP_STEPS:
            self.warm_time = self.session_time
        max_time = self.ts.schedule.max_time
        if max_time is not None and state.step == WARMUP_STEPS + CALIBRATION_STEPS and not self.resuming:
            per_step = (self.session_time - self.warm_time) / CALIBRATION_STEPS
            total = calibrated_total(max_time, state.step, self.session_time, per_step, state.total_steps)
            # Process 0's length for all: each process timed its own steps, and processes that
            # disagreed on the last step would wait for each other's collectives forever.
            state.total_steps = dist_util.broadcast_object(total)
            self.reporter.set_total(state.total_steps)

    def validate(self) -> bool:
        """Validation bits per byte (and per unit); True when the best so far."""
        stats = validation_stats(self.model, self.val_batches, self.targets, self.device, self.dtype,
                                 collective=self.sharded)
        bits = stats.ce_sum / LN2
        bpb, bpu = bits / max(1.0, stats.n_targets), bits / max(1, self.val_units)
        improved = self.state.record_validation(bpb, bpu)
        self.figures.val_bpb, self.figures.val_bits_per_unit = bpb, bpu
        unit, step = self.domain.unit, self.state.step
        self.metrics.write({"kind": "val", "step": step, "val_loss": stats.ce, "val_bpb": bpb,
                            f"val_bits_per_{unit}": bpu, "val_compression": stats.compression, "best": improved})
        self.reporter.log(f"step {step}: validation {bpb:.4f} bits/byte, {bpu:.4f} bits/{unit}"
                          + (" (best)" if improved else ""))
        return improved

    def save(self, best: bool = False) -> None:
        """A checkpoint of the model, optimizer and TrainState. A sharded model is gathered by every process; process 0 writes."""
        model_state = full_model_state(self.model) if self.sharded else None
        optimizer_state = full_optimizer_state(self.model, self.optimizer) if self.sharded else None
        if self.dist.is_main:
            self.checkpointer.save(self.state.step, self.model, self.optimizer, self.state.state_dict(), best=best,
                                   model_state=model_state, optimizer_state=optimizer_state)
        dist_util.barrier()

    def close(self) -> None:
        self.loader.close()
        self.metrics.close()
        self.reporter.finish()

    def result(self) -> TrainResult:
        figures, state = self.figures, self.state
        if figures.loss is None:  # nothing left to train: report the run's last logged figures
            figures = last_logged(self.run.metrics_path, self.domain.unit)
        return TrainResult(
            run_dir=str(self.run.path), domain=self.domain.name, unit=self.domain.unit, steps=state.step,
            total_steps=state.total_steps, bytes_seen=state.bytes_seen, train_loss=figures.loss, train_bpb=figures.bpb,
            val_bpb=figures.val_bpb, val_bits_per_unit=figures.val_bits_per_unit, best_val_bpb=state.best_val_bpb,
            best_val_bits_per_unit=state.best_val_bits_per_unit, best_step=state.best_step,
            compression=figures.compression, bytes_per_chunk=bytes_per_chunk_of(figures.compression),
            targets=self.targets, parameters=count_parameters(self.model), elapsed_s=state.elapsed_s,
            bytes_per_s=(self.session_bytes / self.session_time) if self.session_time > 0 else None,
            warnings=self.warnings, checkpoint=self.checkpointer.pointer("LATEST"), rank=self.dist.rank,
            world_size=self.dist.world_size, yardstick=self.yardstick,
        )

    def _due(self, every: int) -> bool:
        return self.state.step % every == 0 or self.state.step == self.state.total_steps

    def _start_progress(self) -> None:
        self.reporter.start("train", total=self.state.total_steps, unit="steps")
        self.reporter.advance(self.state.step)


def last_logged(path: Path, unit: str) -> Figures:
    """The last training and validation figures in a metrics file."""
    figures = Figures()
    for record in read_metrics(path):
        if record.get("kind") == "train":
            figures.loss, figures.bpb = record.get("loss"), record.get("bpb")
            figures.compression = record.get("compression", [])
        elif record.get("kind") == "val":
            figures.val_bpb, figures.val_bits_per_unit = record.get("val_bpb"), record.get(f"val_bits_per_{unit}")
    return figures


def duration(seconds: float) -> str:
    seconds = int(max(0, seconds))
    return f"{seconds // 3600}h{seconds // 60 % 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"


def bytes_per_chunk_of(compression: list[float]) -> list[float]:
    """L_0 / L_{s+1} per stage from the compression ratios L_{s+1} / L_s."""
    out, frac = [], 1.0
    for c in compression:
        frac *= c
        out.append(1.0 / frac if frac > 0 else math.inf)
    return out

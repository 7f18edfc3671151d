"""Training throughput, model FLOPs utilisation and peak memory of one model on one GPU.

The step is `hnet train`'s own (`train_step`: bf16 autocast with fp32 weights,
next-byte cross-entropy plus the ratio loss with alpha 0.03, backward, gradient
clipping, the optimizer of `hnet train`), so the benchmark cannot drift from the
product. Blocks are compiled (`make_fast`). Inputs are random bytes, one sequence per row; an H-Net's
compression is held at a chosen fraction per stage (`steering`).

Model FLOPs per byte come from `hnet_cli.model.flops.forward_flops_per_byte`
at the compression measured during the timed steps: matmul FLOPs of every
linear layer, attention scores and values (causal: the mean number of keys
actually attended), the SSD scan's contractions and the conv; multiply-add =
2 FLOPs; norms and elementwise work are not counted. Chunk slots that are
padding (chunk budgets) are not counted either: they are waste, not work.
Training = 3 x forward. MFU = training FLOPs/s / measured bf16 matmul rate.
"""

from __future__ import annotations

import time

import torch

from hnet_cli.bench.device import median
from hnet_cli.bench.steering import steer_compression
from hnet_cli.model import HNetConfig, HNetLM
from hnet_cli.model.fast import chunking_stages, make_fast, record_chunk_slots
from hnet_cli.model.flops import count_parameters, forward_flops_per_byte
from hnet_cli.model.init import init_weights
from hnet_cli.data.packing import Batch
from hnet_cli.train.objective import train_step
from hnet_cli.train.optim import build_optimizer

RATIO_ALPHA = 0.03


def build(config: HNetConfig, seed: int = 0, compile: bool = True, chunk_budget=None, compression=None,
          budget_multiple: int = 128) -> HNetLM:
    torch.manual_seed(seed)
    model = HNetLM(config, device="cuda")
    init_weights(model)
    model.train()
    make_fast(model, compile=compile, chunk_budget=chunk_budget, multiple=budget_multiple)
    record_chunk_slots(model)
    if compression:
        steer_compression(model, list(compression))
    return model


class Trainer:
    """One model, its optimizer and a few batches of random bytes to rotate through.

    Each step is `hnet train`'s own (`hnet_cli.train.objective.train_step`): the same
    objective, the same single host synchronisation, the same optimizer.
    """

    def __init__(self, model: HNetLM, batch: int, seq_len: int, n_batches: int = 4, seed: int = 0):
        self.model = model
        self.opt = build_optimizer(model, lr=1e-4, weight_decay=0.1)
        self.params = [p for p in model.parameters() if p.requires_grad]
        gen = torch.Generator(device="cuda").manual_seed(seed)
        ones = torch.ones(batch, seq_len - 1, dtype=torch.bool, device="cuda")
        self.batches = [
            Batch(torch.randint(0, 256, (batch, seq_len), device="cuda", generator=gen),
                  torch.zeros(batch, seq_len, dtype=torch.long, device="cuda"), None, ones, batch * (seq_len - 1))
            for _ in range(n_batches)
        ]
        self.i = 0
        self.targets_n = [3.0] * model.config.num_stages  # ratio-loss targets; only their cost matters here
        self.reset_counts()

    def step(self) -> None:
        batch = self.batches[self.i % len(self.batches)]
        self.i += 1
        done = train_step(self.model, None, self.opt, self.params, [batch], self.targets_n, RATIO_ALPHA, 1,
                          torch.device("cuda"), torch.bfloat16, grad_clip=1.0, step_number=self.i)
        self.boundaries = [a + b for a, b in zip(self.boundaries, done.stats.boundaries)]
        self.positions = [a + b for a, b in zip(self.positions, done.stats.positions)]

    def reset_counts(self) -> None:
        self.boundaries = [0.0] * self.model.config.num_stages
        self.positions = [0.0] * self.model.config.num_stages

    def compression(self) -> list[float]:
        return [b / max(1.0, p) for b, p in zip(self.boundaries, self.positions)]


def _slots(model) -> list[int]:
    """The chunk-sequence length each stage used last (the budget's reserved length, or the fullest row)."""
    return [getattr(stage, "last_chunk_slots", None) for stage in chunking_stages(model)]


def measure_training(name: str, config: HNetConfig, batch: int, seq_len: int, peak_flops: float,
                     steps: int = 10, warmup: int = 3, compile: bool = True, chunk_budget=None,
                     compression=None, seed: int = 0, budget_multiple: int = 128) -> dict:
    """Median step time over `steps` timed steps after `warmup` steps (the first one compiles)."""
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    model = build(config, seed, compile, chunk_budget, compression, budget_multiple)
    trainer = Trainer(model, batch, seq_len, seed=seed)
    t0 = time.perf_counter()
    trainer.step()
    torch.cuda.synchronize()
    first_step_s = time.perf_counter() - t0
    for _ in range(warmup - 1):
        trainer.step()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    trainer.reset_counts()
    times = []
    wall0 = time.perf_counter()
    for _ in range(steps):
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        trainer.step()
        stop.record()
        times.append((start, stop))
    torch.cuda.synchronize()
    wall_s = (time.perf_counter() - wall0) / steps
    step_ms = median([a.elapsed_time(b) for a, b in times])
    measured = trainer.compression()
    fpb = forward_flops_per_byte(config, seq_len, measured or None).per_byte
    bytes_per_s = batch * seq_len / (step_ms * 1e-3)
    result = {
        "name": name,
        "layout": config.arch_layout,
        "d_model": config.d_model,
        "params_m": count_parameters(model) / 1e6,
        "batch": batch,
        "seq_len": seq_len,
        "compression": [round(c, 4) for c in measured],
        "chunk_budget": chunk_budget,
        "chunk_slots": _slots(model),
        "step_ms": step_ms,
        "wall_step_ms": wall_s * 1e3,
        "bytes_per_s": bytes_per_s,
        "fwd_flops_per_byte": fpb,
        "train_tflops": 3 * fpb * bytes_per_s / 1e12,
        "mfu": 3 * fpb * bytes_per_s / peak_flops,
        "peak_mem_gib": torch.cuda.max_memory_allocated() / 2**30,
        "peak_reserved_gib": torch.cuda.max_memory_reserved() / 2**30,
        "first_step_s": first_step_s,
        "compiled": compile,
    }
    del trainer, model
    torch.cuda.empty_cache()
    return result


def memory_vs_compression(config: HNetConfig, batch: int, seq_len: int, compressions: list[list[float]],
                          chunk_budget=None, steps: int = 3, seed: int = 0, compile: bool = True,
                          budget_multiple: int = 128) -> list[dict]:
    """Peak memory of training steps at each compression, one model (so one set of weights and optimizer state)."""
    model = build(config, seed, compile, chunk_budget, compressions[0], budget_multiple)
    trainer = Trainer(model, batch, seq_len, seed=seed)
    trainer.step()  # optimizer state exists from here on, as in a running job
    rows = []
    for fractions in compressions:
        steer_compression(model, list(fractions))
        trainer.step()  # any compilation for new shapes happens here, outside the measurement
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        trainer.reset_counts()
        for _ in range(steps):
            trainer.step()
        torch.cuda.synchronize()
        rows.append({
            "steered": list(fractions),
            "compression": [round(c, 4) for c in trainer.compression()],
            "chunk_budget": chunk_budget,
            "chunk_slots": _slots(model),
            "peak_mem_gib": torch.cuda.max_memory_allocated() / 2**30,
        })
    del trainer, model
    torch.cuda.empty_cache()
    return rows

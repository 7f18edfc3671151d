"""The benchmark suite behind `hnet bench` and `bench/gpu_bench.py`: cases, order, time budget.

Sections (run in this order, each optional):
    peak      measured bf16 matmul rate and copy bandwidth (always, MFU needs it)
    kernels   forward+backward of each hot op at the Large shapes
    train     training bytes/s, FLOPs/byte, MFU, peak memory per model
    memory    peak memory at two compressions 2x apart, with and without a chunk budget
    generate  bytes/s of cached generation at batch 1 and 64
Results go to `results.jsonl` (one JSON object per row, written as it is
measured, so a run cut short keeps what it measured) under the output folder.
"""

from __future__ import annotations

import json
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import torch

from hnet_cli.bench import device
from hnet_cli.bench.models import flop_matched_isotropic, hnet_config, isotropic_config
from hnet_cli.model.flops import forward_flops_per_byte

SECTIONS = ("peak", "kernels", "train", "memory", "generate")
STAGE0_COMPRESSION = 0.22  # a 1-stage H-Net keeps ~1 boundary per 4.5 bytes (paper)
TWO_STAGE_COMPRESSION = (1 / 3, 1 / 3)  # 2-stage targets N = (3, 3)
BUDGET_SLACK = 1.07  # chunk slots reserved per stage, relative to its compression
BUDGET_MULTIPLE = 128


@dataclass
class SuiteOptions:
    sections: tuple[str, ...] = SECTIONS
    seq_len: int = 8192
    batch: int = 8
    depth_scale: float = 1.0
    steps: int = 10
    time_budget_s: float = 540.0
    generate_bytes: int = 256
    models: tuple[str, ...] = ("iso-T22-2048", "hnet-1stage", "iso-T-matched", "iso-m-matched", "hnet-2stage")
    out_dir: Path = field(default_factory=lambda: Path("bench-out"))


class Recorder:
    """Appends result rows to results.jsonl and to a list; the library never prints."""

    def __init__(self, out_dir: Path, on_row=None):
        self.path = Path(out_dir) / "results.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.rows: list[dict] = []
        self.on_row = on_row

    def add(self, section: str, row: dict) -> None:
        row = {"section": section, **row}
        self.rows.append(row)
        with open(self.path, "a") as f:
            f.write(json.dumps(row) + "\n")
        if self.on_row:
            self.on_row(row)


def _budget(compression):
    return [min(1.0, BUDGET_SLACK * c) for c in compression]


def train_cases(opts: SuiteOptions) -> list[tuple[str, object, int, int, dict]]:
    """(name, config, batch, seq_len, extra kwargs) in run order; matched models follow the H-Net they match."""
    cases = []
    L = opts.seq_len
    one = hnet_config(1, opts.depth_scale)
    two = hnet_config(2, opts.depth_scale)
    target = forward_flops_per_byte(one, L, [STAGE0_COMPRESSION]).per_byte
    for name in opts.models:
        if name == "iso-T22-2048":
            # The acceptance check: d_model 1536, 22 layers, 2048-token sequences, bf16.
            cases.append((name, isotropic_config("T", 22), 2 * opts.batch, 2048, {}))
        elif name == "hnet-1stage":
            c = [STAGE0_COMPRESSION]
            cases.append((name, one, opts.batch, L, {"compression": c, "chunk_budget": _budget(c)}))
        elif name == "hnet-2stage":
            c = list(TWO_STAGE_COMPRESSION)
            cases.append((name, two, opts.batch, L, {"compression": c, "chunk_budget": _budget(c)}))
        elif name == "iso-T-matched":
            cfg, n = flop_matched_isotropic("T", target, L, d_model=1024, d_intermediate=2816, heads=16, rotary=32)
            cases.append((f"iso-T{n}-d1024 (FLOP-matched)", cfg, opts.batch, L, {}))
        elif name == "iso-m-matched":
            cfg, n = flop_matched_isotropic("m", target, L, d_model=1024)
            cases.append((f"iso-m{n}-d1024 (FLOP-matched)", cfg, opts.batch, L, {}))
        else:
            raise ValueError(f"unknown benchmark model {name!r}")
    return cases


def run_suite(opts: SuiteOptions, on_row=None) -> list[dict]:
    """Run the chosen sections within the time budget; returns every row recorded."""
    from hnet_cli.bench import generation, kernels, training

    start = time.perf_counter()
    rec = Recorder(opts.out_dir, on_row)
    left = lambda: opts.time_budget_s - (time.perf_counter() - start)  # noqa: E731

    def guarded(section, fn):
        if left() <= 0:
            rec.add(section, {"skipped": "time budget spent"})
            return
        try:
            fn()
        except Exception as exc:  # one failing case must not lose the others' figures
            rec.add(section, {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()})
            torch.cuda.empty_cache()

    rec.add("device", device.describe())
    peak = device.matmul_peak()
    rec.add("peak", {"bf16_matmul_tflops": peak / 1e12, "copy_tb_s": device.copy_bandwidth() / 1e12})

    if "kernels" in opts.sections:
        for part in (kernels.ssd_rows, kernels.ema_rows, kernels.attention_rows, kernels.conv_rows):
            guarded("kernels", lambda part=part: [rec.add("kernels", r) for r in part()])

    if "train" in opts.sections:
        for name, cfg, batch, L, extra in train_cases(opts):
            guarded("train", lambda: rec.add("train", training.measure_training(
                name, cfg, batch, L, peak, steps=opts.steps, **extra)))

    if "memory" in opts.sections:
        one = hnet_config(1, opts.depth_scale)
        low, high = 0.15, 0.30
        for budget in (None, [min(1.0, BUDGET_SLACK * high)]):
            guarded("memory", lambda budget=budget: [rec.add("memory", r) for r in training.memory_vs_compression(
                one, opts.batch, opts.seq_len, [[low], [high]], chunk_budget=budget)])

    if "generate" in opts.sections:
        one = hnet_config(1, opts.depth_scale)
        for batch, compiled in ((1, True), (64, True), (1, False)):
            guarded("generate", lambda batch=batch, compiled=compiled: rec.add("generate", generation.measure_generation(
                "hnet-1stage", one, batch, new_bytes=opts.generate_bytes, compression=[STAGE0_COMPRESSION],
                compile=compiled)))
    rec.add("done", {"elapsed_s": time.perf_counter() - start})
    return rec.rows

"""The benchmark suite behind `hnet bench` and `bench/gpu_bench.py`: cases, order, time budget.

Sections (each optional; they run in the order asked, by default this one):
    peak      measured bf16 matmul rate and copy bandwidth (always, MFU needs it)
    train     training bytes/s, FLOPs/byte, MFU, peak memory per model
    generate  bytes/s of cached generation at batch 1 and 64
    memory    peak memory at two compressions 2x apart, with and without a chunk budget
    kernels   forward+backward of each hot op at the Large shapes
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
from hnet_cli.outputs import append_output

SECTIONS = ("peak", "train", "generate", "memory", "kernels")
STAGE0_COMPRESSION = 0.22  # a 1-stage H-Net keeps ~1 boundary per 4.5 bytes (paper)
TWO_STAGE_COMPRESSION = (1 / 3, 1 / 3)  # 2-stage targets N = (3, 3)
BUDGET_SLACK = 1.0  # chunk slots reserved per stage, relative to its compression (then rounded up)
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
    generate_modes: tuple[tuple[int, str], ...] = ((1, "graphed+compiled"), (64, "graphed+compiled"), (1, "graphed"),
                                                   (1, "eager"))
    # fp32 matmuls (routing q/k, residual_proj) on TF32 tensor cores: fp32 storage and
    # accumulation, inputs rounded to 10 mantissa bits. Off = true fp32 (PyTorch's default).
    tf32: bool = True
    models: tuple[str, ...] = ("iso-T22-2048", "hnet-1stage", "iso-T-matched", "hnet-2stage", "iso-m-matched")
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
        with append_output(self.path) as f:
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
        elif name in ("hnet-1stage", "hnet-1stage-fp32"):
            c = [STAGE0_COMPRESSION]
            extra = {"compression": c, "chunk_budget": _budget(c)}
            if name == "hnet-1stage-fp32":  # routing and residual_proj in true fp32 (no TF32)
                extra["tf32"] = False
            cases.append((name, one, opts.batch, L, extra))
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
    """Run the chosen sections, in the order given, within the time budget; returns every row recorded."""
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

    torch.backends.cuda.matmul.allow_tf32 = opts.tf32
    rec.add("device", {**device.describe(), "tf32_fp32_matmuls": opts.tf32})
    peak = device.matmul_peak()
    rec.add("peak", {"bf16_matmul_tflops": peak / 1e12, "copy_tb_s": device.copy_bandwidth() / 1e12})

    def train():
        for name, cfg, batch, L, extra in train_cases(opts):
            tf32 = extra.pop("tf32", opts.tf32)

            def one():
                torch.backends.cuda.matmul.allow_tf32 = tf32
                try:
                    row = training.measure_training(name, cfg, batch, L, peak, steps=opts.steps,
                                                    budget_multiple=BUDGET_MULTIPLE, **extra)
                finally:
                    torch.backends.cuda.matmul.allow_tf32 = opts.tf32
                rec.add("train", {**row, "tf32": tf32})

            guarded("train", one)

    def generate():
        holder = {}

        def model():
            if "model" not in holder:
                holder["model"] = generation.build(hnet_config(1, opts.depth_scale), [STAGE0_COMPRESSION])
            return holder["model"]

        for batch, mode in opts.generate_modes:
            guarded("generate", lambda batch=batch, mode=mode: rec.add("generate", generation.measure_generation(
                "hnet-1stage", model(), batch, mode, new_bytes=opts.generate_bytes)))
        holder.clear()
        torch.cuda.empty_cache()

    def memory():
        one = hnet_config(1, opts.depth_scale)
        low, high = 0.15, 0.30
        for budget in (None, [min(1.0, BUDGET_SLACK * high)]):
            guarded("memory", lambda budget=budget: [rec.add("memory", r) for r in training.memory_vs_compression(
                one, opts.batch, opts.seq_len, [[low], [high]], chunk_budget=budget, budget_multiple=BUDGET_MULTIPLE)])

    def kernel_section():
        for part in (kernels.ssd_rows, kernels.ema_rows, kernels.attention_rows, kernels.conv_rows):
            guarded("kernels", lambda part=part: [rec.add("kernels", r) for r in part()])

    run = {"train": train, "generate": generate, "memory": memory, "kernels": kernel_section, "peak": lambda: None}
    for section in opts.sections:
        run[section]()
    rec.add("done", {"elapsed_s": time.perf_counter() - start})
    torch.backends.cuda.matmul.allow_tf32 = False
    return rec.rows

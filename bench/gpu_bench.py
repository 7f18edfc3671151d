#!/usr/bin/env python3
"""GPU benchmark: training MFU and bytes/s, memory vs compression, generation speed (issue 8).

    python bench/gpu_bench.py                          # everything, ~10 min on an H100
    python bench/gpu_bench.py --sections train --models hnet-1stage,iso-T-matched
    python bench/gpu_bench.py --sections kernels,generate --out /tmp/b

Prints one line per measured row as it comes and the tables at the end;
writes results.jsonl and tables.md to --out. The same suite runs as
`hnet bench`. See hnet_cli/bench/ for what is measured and how FLOPs count.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from hnet_cli.bench.report import render
from hnet_cli.bench.suite import SECTIONS, SuiteOptions, run_suite


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", default=",".join(SECTIONS))
    parser.add_argument("--models", default=",".join(SuiteOptions.models))
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seq-len", type=int, default=8192)
    parser.add_argument("--depth-scale", type=float, default=1.0)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--tf32", type=int, default=1, help="1: fp32 matmuls (routing, residual_proj) on TF32 tensor cores")
    parser.add_argument("--time-budget", type=float, default=540.0, help="seconds; later cases are skipped past it")
    parser.add_argument("--out", type=Path, default=Path("bench-out"))
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("gpu_bench: needs a CUDA GPU", file=sys.stderr)
        return 1
    opts = SuiteOptions(
        sections=tuple(args.sections.split(",")), models=tuple(args.models.split(",")), batch=args.batch,
        seq_len=args.seq_len, depth_scale=args.depth_scale, steps=args.steps, time_budget_s=args.time_budget,
        out_dir=args.out, tf32=bool(args.tf32),
    )

    def show(row):
        brief = {k: v for k, v in row.items() if k != "traceback"}
        print(json.dumps(brief, default=str), flush=True)
        if "traceback" in row:
            print(row["traceback"], file=sys.stderr, flush=True)

    rows = run_suite(opts, on_row=show)
    text = render(rows)
    (args.out / "tables.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

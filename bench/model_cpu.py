"""CPU throughput of the model itself: forward and forward+backward bytes/s.

Runs the `tiny` (1-stage) and `tiny-2stage` recipe models on batches of
8 x 2048 random bytes, fp32, with the pure-PyTorch reference ops, and prints a
table. Routing is left as initialised (identity q/k), so the chunk counts are
those of a model at the start of training.

    python bench/model_cpu.py [--recipes tiny,tiny-2stage] [--batch 8] [--seq-len 2048] [--repeats 3] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import torch

from hnet_cli.model import HNetLM
from hnet_cli.model.flops import count_parameters
from hnet_cli.model.init import init_weights
from hnet_cli.recipes import load_recipe


def time_it(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipes", default="tiny,tiny-2stage")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seq-len", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    rows = []
    for name in args.recipes.split(","):
        torch.manual_seed(0)
        model = HNetLM(load_recipe(name).model)
        init_weights(model)
        ids = torch.randint(0, 256, (args.batch, args.seq_len))
        n_bytes = ids.numel()

        def forward():
            with torch.no_grad():
                model(ids)

        def forward_backward():
            model.zero_grad(set_to_none=True)
            out = model(ids)
            out.logits.float().logsumexp(-1).mean().backward()

        with torch.no_grad():
            stages = model(ids).stages
        compression = [float(s.boundary_mask.sum() / s.valid.sum()) for s in stages]
        t_f = time_it(forward, args.repeats)
        t_fb = time_it(forward_backward, args.repeats)
        rows.append((name, count_parameters(model), compression, n_bytes / t_f, n_bytes / t_fb))

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"{args.threads} threads, torch {torch.__version__}; batch {args.batch} x {args.seq_len} bytes, fp32")
    print(f"{'recipe':<14}{'params':>10}  {'L1/L0 (L2/L1)':<16}{'fwd bytes/s':>13}{'fwd+bwd bytes/s':>17}")
    for name, params, comp, fwd, fb in rows:
        comp_s = " ".join(f"{c:.2f}" for c in comp)
        print(f"{name:<14}{params:>10,}  {comp_s:<16}{fwd:>13,.0f}{fb:>17,.0f}")


if __name__ == "__main__":
    main()

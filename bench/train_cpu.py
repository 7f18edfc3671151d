"""CPU training benchmark: `hnet train` end to end, each run pinned to its own cores.

Modes (each prints a Markdown table; --results FILE also saves the rows as JSON):

  accept   `hnet train --domain dna` with no other argument (issue 4, acceptance 1):
           wall time of the whole command, validation bits per base, compression
           against the target. Goal: < 300 s on 2 cores, < 2.0 bits/base,
           compression within 25% of 1/N.
  variants the same with extra `--set` overrides, several runs side by side:
           --variant 'name=--set train.lr=3e-3 --set train.steps=400'
  sweep    compression targets per domain at equal compute (issue 3, recipes/README.md):
           --sweep dna=2,3,4 --sweep text=3,4.5,6 ...; every run of a domain spends
           the same training FLOPs (steps scaled by the FLOPs per byte at 1/N).

Runs use `taskset` to pin each to --cores-per-run cores (OMP_NUM_THREADS the
same) and run --parallel at a time. Runs sharing a machine share its memory
bandwidth and caches, so parallel timings are a little pessimistic.

  python bench/train_cpu.py accept
  python bench/train_cpu.py variants --parallel 6 --variant 'b4=--set train.batch_size=4'
  python bench/train_cpu.py sweep --parallel 7 --sweep dna=2,3,4 --sweep zh=2,3,4
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HNET = [sys.executable, "-m", "hnet_cli"]


def run_one(name: str, args: list[str], out_dir: Path, cores: list[int] | None, timeout: float) -> dict:
    run_dir = out_dir / name
    cmd = HNET + ["train", *args, "--out", str(run_dir), "--force", "--json", "--quiet"]
    env = dict(os.environ)
    if cores:
        env["OMP_NUM_THREADS"] = str(len(cores))
        if shutil.which("taskset"):
            cmd = ["taskset", "-c", ",".join(map(str, cores))] + cmd
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"name": name, "args": args, "error": f"timed out after {timeout:.0f} s", "wall_s": timeout}
    wall = time.perf_counter() - t0
    row = {"name": name, "args": args, "wall_s": wall, "cores": len(cores) if cores else os.cpu_count()}
    if proc.returncode != 0:
        row["error"] = (proc.stderr.strip().splitlines() or ["exit %d" % proc.returncode])[-1]
        return row
    result = json.loads(proc.stdout)
    row.update({k: result[k] for k in ("steps", "best_val_bpb", "best_val_bits_per_unit", "best_step", "val_bpb",
                                       "compression", "targets", "bytes_per_s", "elapsed_s", "unit", "parameters",
                                       "bytes_seen", "warnings")})
    return row


def run_all(jobs: list[tuple[str, list[str]]], out_dir: Path, parallel: int, cores_per_run: int, timeout: float,
            first_core: int = 0) -> list[dict]:
    ncpu = (os.cpu_count() or 1) - first_core
    slots = [list(range(first_core + i * cores_per_run, first_core + (i + 1) * cores_per_run))
             for i in range(max(1, ncpu // cores_per_run))]
    parallel = max(1, min(parallel, len(slots)))
    free = list(slots[:parallel])

    def work(job):
        cores = free.pop()
        try:
            return run_one(job[0], job[1], out_dir, cores, timeout)
        finally:
            free.append(cores)

    with ThreadPoolExecutor(parallel) as pool:
        return list(pool.map(work, jobs))


def table(rows: list[dict]) -> str:
    head = "| run | wall s | steps | val bits/unit (best) | val bpb (best) | compression (target 1/N) | kB/s | note |"
    lines = [head, "|" + "---|" * 8]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['name']} | {r['wall_s']:.0f} | | | | | | {r['error']} |")
            continue
        comp = ", ".join(f"{c:.3f} ({1 / n:.3f})" for c, n in zip(r["compression"], r["targets"])) or "-"
        lines.append(
            f"| {r['name']} | {r['wall_s']:.0f} | {r['steps']} | {r['best_val_bits_per_unit']:.4f} /{r['unit']} "
            f"| {r['best_val_bpb']:.4f} | {comp} | {r['bytes_per_s'] / 1e3:.1f} | "
            f"{'; '.join(w[:60] for w in r['warnings'])} |"
        )
    return "\n".join(lines)


def sweep_jobs(specs: list[str], base_steps: int | None, seed: int = 0) -> list[tuple[str, list[str]]]:
    """domain=N1,N2,... -> runs of the domain's default recipe at each N, equal training FLOPs."""
    from hnet_cli.data.registry import get_domain
    from hnet_cli.model.flops import forward_flops_per_byte
    from hnet_cli.recipes import load_recipe

    jobs = []
    for spec in specs:
        name, _, values = spec.partition("=")
        domain = get_domain(name)
        recipe = load_recipe(domain.default_recipe)
        cfg = recipe.model
        default_n = domain.targets_for(cfg.num_stages)
        steps0 = base_steps or recipe.train.schedule.steps
        flops0 = forward_flops_per_byte(cfg, recipe.train.data.seq_len, [1 / n for n in default_n]).per_byte
        for value in values.split(","):
            n = float(value)
            targets = [n] + default_n[1:]
            flops = forward_flops_per_byte(cfg, recipe.train.data.seq_len, [1 / x for x in targets]).per_byte
            steps = max(1, round(steps0 * flops0 / flops))
            jobs.append((f"{domain.name}-N{value}" + (f"-seed{seed}" if seed else ""),
                         ["--domain", domain.name, "--steps", str(steps), "--set", f"train.seed={seed}",
                          "--set", f"train.compression_targets={json.dumps(targets)}"]))
    return jobs


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["accept", "variants", "sweep"])
    parser.add_argument("--variant", action="append", default=[], help="NAME=ARGS (variants mode)")
    parser.add_argument("--sweep", action="append", default=[], help="DOMAIN=N1,N2,... (sweep mode)")
    parser.add_argument("--sweep-steps", type=int, default=None, help="steps at the domain's default N (sweep)")
    parser.add_argument("--seed", type=int, default=0, help="train.seed of the sweep runs")
    parser.add_argument("--domain", default="dna", help="domain of the variants (default dna)")
    parser.add_argument("--no-default", action="store_true", help="variants: leave out the run without overrides")
    parser.add_argument("--parallel", type=int, default=1)
    parser.add_argument("--first-core", type=int, default=0, help="pin runs to cores from this one on")
    parser.add_argument("--cores-per-run", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--out", default=None, help="where the runs go (default: a temporary directory)")
    parser.add_argument("--results", default=None, help="save the rows as JSON here")
    args = parser.parse_args(argv)

    out_dir = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="hnet-bench-"))
    out_dir.mkdir(parents=True, exist_ok=True)
    if args.mode == "accept":
        jobs = [("dna-default", ["--domain", "dna"])]
    elif args.mode == "variants":
        jobs = [] if args.no_default else [("default", ["--domain", args.domain])]
        for spec in args.variant:
            name, _, rest = spec.partition("=")
            jobs.append((name, ["--domain", args.domain, *shlex.split(rest)]))
    else:
        jobs = sweep_jobs(args.sweep, args.sweep_steps, args.seed)
    rows = run_all(jobs, out_dir, args.parallel, args.cores_per_run, args.timeout, args.first_core)
    print(f"machine: {os.cpu_count()} CPUs, {args.cores_per_run} cores per run, {args.parallel} runs at a time")
    print(table(rows))
    if args.results:
        Path(args.results).write_text(json.dumps(rows, indent=2) + "\n")
    return 0 if all("error" not in r for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())

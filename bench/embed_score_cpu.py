"""hnet embed and hnet score on a whole bacterial genome, on CPU: speed and peak memory.

    python bench/embed_score_cpu.py                                   # H. pylori G27 (ragout-examples), dna-tiny
    python bench/embed_score_cpu.py --genome other.fa.gz --model runs/dna
    python bench/embed_score_cpu.py --cases score-bedgraph,embed-chunk --context 1024 --stride 896

Each case runs the command in a fresh process, which reports its own peak
resident memory (ru_maxrss: Python, torch and the model included); wall and
CPU time are measured around it. The genome defaults to Helicobacter pylori G27 (1.65 Mb, one record) from
the Debian package ragout-examples; the model to an untrained `dna-tiny`
recipe model saved to a temporary folder (speed does not depend on training,
except through how many boundaries the routing draws, which is printed).
Prints a markdown table; --json FILE also writes the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
G27 = Path("/usr/share/doc/ragout/examples/H.Pylori/references/G27.fasta.gz")

CASES = {
    "score-tsv": ["score", "-f", "tsv"],
    "score-bedgraph": ["score", "-f", "bedgraph", "--stage", "all"],
    "embed-pool": ["embed", "--pool", "mean", "-f", "npy"],
    "embed-chunk": ["embed", "--per", "chunk", "-f", "parquet"],
    "embed-byte": ["embed", "--per", "byte", "-f", "npy"],
}
SUFFIX = {"score-tsv": "tsv", "score-bedgraph": "bedGraph", "embed-pool": "npy", "embed-chunk": "parquet",
          "embed-byte": "npy"}


# Runs one hnet command in this (child) process and reports the process's own peak RSS.
RUNNER = """
import resource, sys, torch
torch.set_num_threads(int(sys.argv[1]))
from hnet_cli.cli import main
code = main(sys.argv[2:])
print("PEAK_RSS_KB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
sys.exit(code)
"""


def make_model(folder: Path) -> str:
    import torch

    from hnet_cli.model import HNetLM, save_model
    from hnet_cli.model.init import init_weights
    from hnet_cli.recipes import load_recipe

    torch.manual_seed(0)
    model = HNetLM(load_recipe("dna-tiny").model)
    init_weights(model)
    return str(save_model(model.eval(), folder / "dna-tiny"))


def run_case(name: str, genome: str, model: str, out_dir: Path, context: int, stride: int, threads: int) -> dict:
    output = out_dir / f"{name}.{SUFFIX[name]}"
    args = [sys.executable, "-c", RUNNER, str(threads), *CASES[name], genome, "-m", model, "-d", "dna",
            "-o", str(output), "-c", str(context), "--stride", str(stride), "-q", "--json"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    run = subprocess.run(args, capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS=str(threads)))
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if run.returncode != 0:
        raise SystemExit(f"{name} failed: {run.stderr.strip()}")
    summary = json.loads(run.stdout)
    peak_kb = int(run.stderr.split("PEAK_RSS_KB")[-1].split()[0])
    return {"case": name, "command": " ".join(["hnet", *CASES[name], "...", "-c", str(context), "--stride", str(stride)]),
            "bases": summary["bytes"], "wall_s": wall, "bases_per_s": summary["bytes"] / wall,
            "cpu_s": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
            "peak_rss_mb": peak_kb / 1024, "output_mb": output.stat().st_size / 1e6,
            "rows": summary.get("rows")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--genome", default=str(G27))
    parser.add_argument("--model", default=None, help="a run or checkpoint (default: untrained dna-tiny)")
    parser.add_argument("--cases", default="score-tsv,score-bedgraph,embed-pool,embed-chunk,embed-byte")
    parser.add_argument("--context", type=int, default=1024)
    parser.add_argument("--stride", type=int, default=896)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", default=None, help="also write the figures here")
    opts = parser.parse_args()
    if not Path(opts.genome).is_file():
        raise SystemExit(f"{opts.genome}: not found (apt-get install ragout-examples, or give --genome)")
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        model = opts.model or make_model(tmp_path)
        rows = []
        for name in opts.cases.split(","):
            rows.append(run_case(name, opts.genome, model, tmp_path, opts.context, opts.stride, opts.threads))
            print(f"# {name}: {rows[-1]['wall_s']:.1f} s", file=sys.stderr)
    print("| case | bases | wall s | bases/s | CPU s | peak RSS MB | output MB |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(f"| `{r['command']}` | {r['bases']:,} | {r['wall_s']:.1f} | {r['bases_per_s']:,.0f} | {r['cpu_s']:.1f} "
              f"| {r['peak_rss_mb']:.0f} | {r['output_mb']:.1f} |")
    if opts.json:
        Path(opts.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()

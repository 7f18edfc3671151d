"""Peak memory of `hnet chunk` on whole genomes: bounded by the window, not the record (issue 14).

Each input runs as a fresh process, `/usr/bin/time -v python -m hnet_cli chunk
INPUT -m MODEL -f bed -q`, its BED read from a pipe as it is written: the
table gives the peak RSS (from time -v), the wall time, when the first BED
line arrived, and the process's RSS sampled every few seconds (the JSON keeps
the samples, so a flat line can be seen). The model is the dna domain's
default recipe (dna-tiny) with freshly initialised weights: memory does not
depend on the weights.

    python bench/chunk_memory.py --genome MG1655-K12.fasta.gz --synthetic 1000000
    python bench/chunk_memory.py --genome g.fa --batch-tokens 65536 --out /tmp/x.json

Inputs: --genome (real FASTA, plain or gzip), --synthetic N (one chromosome of
N random bases, seed 0, written to a temporary FASTA).
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_EVERY = 2.0  # seconds between RSS samples


def make_model(folder: Path) -> Path:
    import torch

    from hnet_cli.model import HNetLM, save_model
    from hnet_cli.model.init import init_weights
    from hnet_cli.recipes import load_recipe

    torch.manual_seed(0)
    model = HNetLM(load_recipe("dna-tiny").model)
    init_weights(model)
    return save_model(model.eval(), folder / "dna-tiny")


def synthetic_fasta(folder: Path, n: int) -> Path:
    path = folder / f"synthetic_{n}.fa"
    rng = random.Random(0)
    with open(path, "w") as f:
        f.write(f">synthetic_{n}\n")
        left = n
        while left:
            k = min(left, 1 << 20)
            line = "".join(rng.choices("ACGT", k=k))
            f.write("\n".join(line[i : i + 80] for i in range(0, k, 80)) + "\n")
            left -= k
    return path


def _tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and its children (the python under /usr/bin/time)."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return total / 1024


def run_one(path: Path, model: Path, batch_tokens: int | None) -> dict:
    cmd = ["/usr/bin/time", "-v", sys.executable, "-m", "hnet_cli", "chunk", str(path), "-m", str(model),
           "-f", "bed", "-q"]
    if batch_tokens:
        cmd += ["--batch-tokens", str(batch_tokens)]
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    seen = {"first": None, "lines": 0, "last": ""}

    def read():
        for line in proc.stdout:
            if seen["first"] is None:
                seen["first"] = time.monotonic() - start
            seen["lines"] += 1
            seen["last"] = line

    reader = threading.Thread(target=read)
    reader.start()
    samples = []
    while proc.poll() is None:
        samples.append((round(time.monotonic() - start, 1), round(_tree_rss_mb(proc.pid), 1)))
        time.sleep(SAMPLE_EVERY)
    reader.join()
    wall = time.monotonic() - start
    err = proc.stderr.read().decode()
    if proc.returncode != 0:
        raise SystemExit(f"{path}: hnet chunk failed:\n{err[-2000:]}")
    peak_kb = int(next(line for line in err.splitlines() if "Maximum resident set size" in line).split()[-1])
    last = seen["last"].decode().split("\t")
    return {"input": str(path), "bases": int(last[2]), "batch_tokens": batch_tokens or "default",
            "peak_rss_mb": round(peak_kb / 1024, 1), "wall_s": round(wall, 1),
            "first_line_s": round(seen["first"], 1), "bed_lines": seen["lines"], "rss_samples_mb": samples}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--genome", action="append", default=[], help="a real FASTA (plain or .gz)")
    ap.add_argument("--synthetic", action="append", type=int, default=[], help="a random chromosome of N bases")
    ap.add_argument("--batch-tokens", type=int, default=None)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "chunk-memory.json"))
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        model = make_model(folder)
        inputs = [Path(g) for g in args.genome] + [synthetic_fasta(folder, n) for n in args.synthetic]
        print("| input | bases | --batch-tokens | peak RSS MB | wall s | first BED line s | BED lines |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        for path in inputs:
            row = run_one(path, model, args.batch_tokens)
            rows.append(row)
            print(f"| {path.name} | {row['bases']:,} | {row['batch_tokens']} | {row['peak_rss_mb']:,.0f} | "
                  f"{row['wall_s']:.0f} | {row['first_line_s']:.1f} | {row['bed_lines']:,} |", flush=True)
    result = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "model": "dna-tiny (initialised)",
              "command": "hnet chunk INPUT -m MODEL -f bed -q (BED read from a pipe)", "runs": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(f"\nwritten {args.out}")


if __name__ == "__main__":
    main()

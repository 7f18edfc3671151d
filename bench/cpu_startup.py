"""How long the commands take on a CPU when the work itself is small: start-up, loading, the yardstick.

Pipelines call hnet once per file; on small inputs the fixed cost of each call
(imports, loading the model, fitting the Markov yardstick) is most of the time.
Each command runs as a fresh process `--repeats` times; the table gives the
median wall time. `--src DIR` runs another checkout's source tree the same way
(its `hnet_cli` first on PYTHONPATH), for a before/after comparison on the same
machine.

    python bench/cpu_startup.py --genomes COL.fasta.gz N315.fasta.gz G27_1mb.fa
    python bench/cpu_startup.py --genomes ... --src /tmp/before --out /tmp/before.json

Models: a dna-tiny run trained for 2 steps on the bundled genome (no yardstick
data beyond it), and one trained for 2 steps on --genomes, whose `hnet eval`
fits the yardstick on their training split. Input: the first 20,000 bytes of
the first genome.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

HNET = [sys.executable, "-m", "hnet_cli"]


def timed(cmd: list[str], env: dict, repeats: int, cwd: Path) -> float:
    seconds = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run(cmd, env=env, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        seconds.append(time.perf_counter() - t0)
    return statistics.median(seconds)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--genomes", nargs="+", required=True, help="FASTA files (plain or gzip) for the yardstick run")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--src", help="run this source tree instead of the installed one")
    p.add_argument("--out", default="bench/results/cpu-startup.json")
    args = p.parse_args()

    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2")}
    if args.src:
        env["PYTHONPATH"] = os.pathsep.join([str(Path(args.src).resolve()), env.get("PYTHONPATH", "")])
    with tempfile.TemporaryDirectory(prefix="hnet-startup-") as tmp:
        tmp = Path(tmp)
        train = [*HNET, "train", "--domain", "dna", "--recipe", "dna-tiny", "--steps", "2", "--force", "-q",
                 "--device", "cpu"]
        # Run from the temporary folder: `python -m` puts the working directory first on sys.path,
        # which would shadow --src with a checkout the benchmark is started from.
        genomes = [str(Path(g).resolve()) for g in args.genomes]
        subprocess.run([*train, "-o", str(tmp / "bundled")], env=env, cwd=tmp, check=True, stdout=subprocess.DEVNULL)
        subprocess.run([*train, *genomes, "-o", str(tmp / "genomes")], env=env, cwd=tmp, check=True,
                       stdout=subprocess.DEVNULL)
        first = Path(args.genomes[0])
        data = (gzip.open(first) if first.suffix == ".gz" else open(first, "rb")).read(20_000)
        small = tmp / "small.fa"
        small.write_bytes(data.rsplit(b"\n", 1)[0] + b"\n")
        commands = {
            "eval, no yardstick": ["eval", str(tmp / "bundled"), str(small), "-d", "dna", "-q", "--json",
                                   "--no-yardstick"],
            "eval, yardstick fitted on --genomes": ["eval", str(tmp / "genomes"), str(small), "-q", "--json"],
            "chunk to BED": ["chunk", "-m", str(tmp / "bundled"), str(small), "-f", "bed", "-o", str(tmp / "o.bed"),
                             "-q"],
            "generate 64 bytes": ["generate", str(tmp / "bundled"), "-p", "ACGT", "--max-bytes", "64", "--seed", "1",
                                  "-q", "-o", str(tmp / "g.txt")],
            "--version": ["--version"],
        }
        results = {name: timed([*HNET, *cmd], env, args.repeats, tmp) for name, cmd in commands.items()}
    print(f"| command (fresh process, median of {args.repeats}) | seconds |")
    print("| --- | ---: |")
    for name, seconds in results.items():
        print(f"| `hnet {commands[name][0]}`: {name} | {seconds:.2f} |")
    machine = f"{platform.machine()}, {os.cpu_count()} cores, OMP_NUM_THREADS={env['OMP_NUM_THREADS']}"
    record = {"date": datetime.now(timezone.utc).date().isoformat(), "machine": machine,
              "python": platform.python_version(),
              "src": args.src or "installed", "genomes": args.genomes, "repeats": args.repeats, "seconds": results}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(record, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

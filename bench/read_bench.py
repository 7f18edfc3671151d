#!/usr/bin/env python3
"""Reader throughput and peak memory: a multi-GB synthetic FASTA.gz and large code trees.

    python bench/read_bench.py                 # 4 GB of FASTA (uncompressed), /usr/lib/python3* and /usr/share
    python bench/read_bench.py --size 0.2      # a quick run
    python bench/read_bench.py --json

Each case runs in a fresh child process so its peak RSS is its own. MB/s is
output bytes (the Document data the model will see) per second of wall time;
"MB/cpu-s" divides by the process's CPU time instead, i.e. per core. Targets
(issue 3): >= 50 MB/s per core for FASTA and < 500 MB peak memory.
The synthetic genome is random sequence with soft-masked stretches and N
runs, in 60-column lines, in chromosome-sized records (up to 250 Mb, like
human chr1), gzip level 1; it is written once to --tmp and reused.
"""

from __future__ import annotations

import argparse
import glob
import gzip
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import time

TARGET_MB_S = 50.0
TARGET_PEAK_MB = 500.0
RECORD_BASES = 250_000_000
LINE = 60


def _pool(rng: random.Random, size: int) -> bytes:
    """Random bases with soft-masked (lowercase) stretches and a few N runs."""
    table = bytes(b"ACGT"[i % 4] for i in range(256))
    pool = bytearray(os.urandom(size).translate(table))
    for _ in range(size // 20_000):
        start, length = rng.randrange(size - 2000), rng.randint(100, 2000)
        pool[start : start + length] = pool[start : start + length].lower()
    for _ in range(size // 2_000_000):
        start = rng.randrange(size - 10_000)
        length = rng.choice([1, 10, 5000])
        pool[start : start + length] = b"N" * length
    return bytes(pool)


def make_fasta(path: str, total_bases: int, seed: int = 0) -> None:
    """Write the synthetic genome through `gzip -1` (a second core compresses while Python generates)."""
    rng = random.Random(seed)
    pool = _pool(rng, 16 << 20)
    tmp = path + ".partial"
    gz = shutil.which("gzip")
    with open(tmp, "wb") as out:
        proc = subprocess.Popen([gz, "-1", "-c"], stdin=subprocess.PIPE, stdout=out) if gz else None
        sink = proc.stdin if proc else gzip.open(out, "wb", compresslevel=1)
        written, chrom = 0, 0
        while written < total_bases:
            chrom += 1
            n = min(RECORD_BASES, total_bases - written)
            sink.write(b">chr%d synthetic\n" % chrom)
            done = 0
            while done < n:
                start = rng.randrange(len(pool) - (1 << 20))
                length = min(1 << 20, n - done)
                if length > LINE:  # whole lines, except for a record's last one
                    length -= length % LINE
                piece = pool[start : start + length]
                sink.write(b"\n".join(piece[i : i + LINE] for i in range(0, len(piece), LINE)) + b"\n")
                done += len(piece)
            written += n
        sink.close()
        if proc:
            proc.wait()
    os.replace(tmp, path)


def make_fastq(path: str, reads: int, seed: int = 1) -> None:
    rng = random.Random(seed)
    pool = _pool(rng, 4 << 20).upper()
    with gzip.open(path, "wb", compresslevel=1) as out:
        for i in range(reads):
            start = rng.randrange(len(pool) - 150)
            seq = pool[start : start + 150]
            out.write(b"@read%d\n%s\n+\n%s\n" % (i, seq, b"I" * 150))


# ---- the cases (each runs in a child process) -------------------------------------------

def case_domain(domain_name: str, paths: list[str], options: dict) -> dict:
    from hnet_cli.data.registry import get_domain

    domain = get_domain(domain_name)
    stream = domain.read(paths, **options)
    docs = out = 0
    for doc in stream:
        docs += 1
        out += len(doc.data)
    return {"documents": docs, "bytes": out, "files": stream.stats.files, "skipped": stream.stats.total_skipped}


def case_biopython_fasta(paths: list[str], options: dict) -> dict:
    from Bio.SeqIO.FastaIO import SimpleFastaParser

    docs = out = 0
    for path in paths:
        with gzip.open(path, "rt") as handle:
            for _title, seq in SimpleFastaParser(handle):
                docs += 1
                out += len(seq.upper().encode("ascii"))
    return {"documents": docs, "bytes": out, "files": len(paths), "skipped": 0}


def run_child(spec: dict) -> dict:
    t0, c0 = time.perf_counter(), time.process_time()
    if spec["kind"] == "biopython":
        result = case_biopython_fasta(spec["paths"], spec.get("options", {}))
    else:
        result = case_domain(spec["kind"], spec["paths"], spec.get("options", {}))
    result["seconds"] = time.perf_counter() - t0
    result["cpu_seconds"] = time.process_time() - c0
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return result


def measure(label: str, spec: dict) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)], capture_output=True, text=True)
    if proc.returncode != 0:
        return {"case": label, "error": proc.stderr.strip().splitlines()[-1] if proc.stderr else "failed"}
    result = json.loads(proc.stdout)
    result["case"] = label
    result["mb_s"] = result["bytes"] / 1e6 / result["seconds"]
    result["mb_cpu_s"] = result["bytes"] / 1e6 / max(result["cpu_seconds"], 1e-9)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=float, default=4.0, help="uncompressed FASTA size in GB (default 4)")
    parser.add_argument("--tmp", default="/tmp/hnet-read-bench", help="where the synthetic files go")
    parser.add_argument("--code", nargs="*", default=None,
                        help="code trees to read (default: /usr/lib/python3* and /usr/share)")
    parser.add_argument("--no-biopython", action="store_true", help="skip the biopython SimpleFastaParser comparison")
    parser.add_argument("--json", action="store_true", help="print JSON rows instead of a table")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_child(json.loads(args.child))))
        return 0

    os.makedirs(args.tmp, exist_ok=True)
    bases = int(args.size * 1e9)
    fasta = os.path.join(args.tmp, f"synthetic_{bases}.fa.gz")
    fastq = os.path.join(args.tmp, f"synthetic_{bases // 8}.fq.gz")
    if not os.path.exists(fasta):
        print(f"writing {fasta} ({args.size:g} GB of bases) ...", file=sys.stderr)
        make_fasta(fasta, bases)
    if not os.path.exists(fastq):
        make_fastq(fastq, max(1, bases // 8 // 300))
    code_trees = args.code if args.code is not None else sorted(glob.glob("/usr/lib/python3*/")) + ["/usr/share"]
    code_trees = [p for p in code_trees if os.path.isdir(p)]

    cases = [
        (f"dna FASTA.gz {os.path.getsize(fasta) / 1e9:.2f} GB gz", {"kind": "dna", "paths": [fasta]}),
        (f"dna FASTQ.gz {os.path.getsize(fastq) / 1e6:.0f} MB gz", {"kind": "dna", "paths": [fastq]}),
    ]
    if not args.no_biopython:
        cases.append(("biopython SimpleFastaParser, same FASTA.gz", {"kind": "biopython", "paths": [fasta]}))
    if code_trees:
        cases.append((f"code tree {' '.join(code_trees)}", {"kind": "code", "paths": code_trees}))
    rows = []
    for label, spec in cases:
        print(f"reading: {label} ...", file=sys.stderr)
        rows.append(measure(label, spec))

    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    header = f"{'case':<58} {'out MB':>9} {'docs':>8} {'s':>7} {'MB/s':>7} {'MB/cpu-s':>9} {'peak MB':>8}"
    print(f"cpu: {os.cpu_count()} cores; targets: FASTA >= {TARGET_MB_S:g} MB/s per core, peak < {TARGET_PEAK_MB:g} MB")
    print(header)
    print("-" * len(header))
    for row in rows:
        if "error" in row:
            print(f"{row['case'][:58]:<58} error: {row['error']}")
            continue
        print(f"{row['case'][:58]:<58} {row['bytes'] / 1e6:>9.0f} {row['documents']:>8} {row['seconds']:>7.1f} "
              f"{row['mb_s']:>7.1f} {row['mb_cpu_s']:>9.1f} {row['peak_rss_mb']:>8.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

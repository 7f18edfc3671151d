"""How much of a model's chunking is a fixed rule of the neighbouring bytes?

Reads the per-chunk TSV of `hnet chunk` (one stage) and measures the
boundary indicator b_t (1 where a chunk starts at byte t) against the bytes
around it: the conditional entropy H(b_t | x[t-k..t+j]) for small windows,
and the boundary rate after each pair (x[t-1], x[t]). A router that reads
content (a word's start in text, a motif in DNA) keeps much of its entropy
given a few neighbours; one that has learned a fixed k-mer rule loses almost
all of it, and then behaves like a hand-made tokenizer.

    hnet chunk held_out.fa -m RUN --per chunk -f tsv --stage 0 -o chunks.tsv
    python bench/chunk_context.py chunks.tsv [--json out.json] [--against other.tsv]

--against: another model's chunks of the same bytes (another seed, say): the
Jaccard overlap of the two boundary sets, beside what two independent
routers with the same rates would share by chance.
"""

from __future__ import annotations

import argparse
import collections
import csv
import json
import math
import sys


def read_chunks(path: str) -> tuple[str, set[int]]:
    """The bytes covered by the first document's chunks (stage 0 only) and the offsets where chunks start."""
    csv.field_size_limit(sys.maxsize)
    text, starts, first = [], set(), None
    with open(path, newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            if row["doc"] != "0" or row["stage"] != "0":
                continue
            start = int(row["start"])
            first = start if first is None else first
            starts.add(start - first)
            text.append(row["text"])
    return "".join(text), starts


def binary_entropy(p: float) -> float:
    return 0.0 if p <= 0 or p >= 1 else -(p * math.log2(p) + (1 - p) * math.log2(1 - p))


def conditional_entropy(seq: str, starts: set[int], before: int, after: int) -> float:
    """H(b_t | x[t-before .. t+after-1]) in bits, over positions with the whole window inside."""
    seen, hits = collections.Counter(), collections.Counter()
    for t in range(max(before, 1), len(seq) - after):
        key = seq[t - before:t + after]
        seen[key] += 1
        hits[key] += t in starts
    total = sum(seen.values())
    return sum(n * binary_entropy(hits[k] / n) for k, n in seen.items()) / total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("tsv", help="hnet chunk --per chunk -f tsv output")
    parser.add_argument("--json", help="also write the figures here")
    parser.add_argument("--against", help="another chunk TSV of the same bytes: how many boundaries they share")
    args = parser.parse_args()

    seq, starts = read_chunks(args.tsv)
    rate = len(starts) / len(seq)
    windows = [(0, 0), (1, 0), (0, 1), (1, 1), (2, 1), (2, 2), (3, 2)]
    rows = [{"before": b, "after": a, "bits": conditional_entropy(seq, starts, b, a)} for b, a in windows]
    pairs = collections.Counter(seq[t - 1:t + 1] for t in range(1, len(seq)))
    pair_starts = collections.Counter(seq[t - 1:t + 1] for t in range(1, len(seq)) if t in starts)
    pair_rate = {k: pair_starts[k] / n for k, n in sorted(pairs.items())}

    print(f"{len(seq):,} bytes, {len(starts):,} chunks (boundary rate {rate:.3f}, H(b) = {binary_entropy(rate):.3f} bits)\n")
    print("| context (bytes before t, from t on) | H(b_t given context), bits | share of H(b) left |")
    print("| --- | ---: | ---: |")
    for r in rows:
        print(f"| {r['before']} before, {r['after']} from t | {r['bits']:.3f} | {r['bits'] / binary_entropy(rate):.0%} |")
    print("\n| x[t-1] x[t] | count | P(chunk starts at t) |")
    print("| --- | ---: | ---: |")
    for k, p in pair_rate.items():
        print(f"| {k} | {pairs[k]:,} | {p:.2f} |")
    figures = {"bytes": len(seq), "chunks": len(starts), "boundary_rate": rate, "entropy_bits": binary_entropy(rate),
               "conditional": rows, "pair_rate": pair_rate}
    if args.against:
        other_seq, other = read_chunks(args.against)
        if other_seq != seq:
            sys.exit(f"{args.against}: not the same bytes as {args.tsv}")
        q = len(other) / len(seq)
        figures["jaccard"] = len(starts & other) / len(starts | other)
        figures["jaccard_by_chance"] = rate * q / (rate + q - rate * q)  # independent boundaries at these rates
        print(f"\nboundaries shared with {args.against}: Jaccard {figures['jaccard']:.3f} "
              f"(independent routers at these rates: {figures['jaccard_by_chance']:.3f})")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(figures, f, indent=2)


if __name__ == "__main__":
    main()

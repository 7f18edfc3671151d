"""hnet chunk on CPU: model throughput, writer throughput, and windowed vs single-pass boundaries.

    python bench/chunk_cpu.py --model runs/dna            # a trained run (recommended)
    python bench/chunk_cpu.py                             # untrained recipes/tiny.json model
    python bench/chunk_cpu.py --model runs/dna --threads 2 --text-bytes 100000

Prints three markdown tables:
1. segmentation (forward passes, batching, stitching) in bytes/s on the bundled
   lambda genome and the first --text-bytes of the bundled English novel;
2. each writer's throughput, from Segmentations already computed (MB of input/s);
3. windows against one pass, for a model with Mamba-2 layers (unbounded context):
   for several overlaps V at window W, how many chunk starts match the single
   pass (Jaccard) and how the seams agreed (what --json reports).
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import time
from pathlib import Path

import torch

import hnet_cli
from hnet_cli.chunk import segment_documents
from hnet_cli.chunk.bed import BedWriter
from hnet_cli.chunk.html import HtmlWriter
from hnet_cli.chunk.pieces import whole_document_piece
from hnet_cli.chunk.stats import ChunkStats
from hnet_cli.chunk.tables import TABLE_WRITERS
from hnet_cli.chunk.terminal import TerminalWriter
from hnet_cli.data.documents import Document
from hnet_cli.model import HNetConfig, HNetLM
from hnet_cli.model.init import init_weights

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "domains" / "data"


def lambda_genome() -> Document:
    with gzip.open(DATA / "lambda_phage.fa.gz", "rb") as f:
        lines = f.read().split(b"\n")
    return Document(b"".join(line.strip() for line in lines[1:]), "lambda_phage.fa.gz", "NC_001416.1",
                    {"record": "NC_001416.1", "offset": 0})


def novel(n: int) -> Document:
    with gzip.open(DATA / "persuasion.txt.gz", "rb") as f:
        data = f.read(n)
    data = data[: len(data.decode("utf-8", "ignore").encode())]
    return Document(data, "persuasion.txt.gz", "persuasion")


def load_model(path: str | None) -> tuple[HNetLM, str]:
    if path:
        return hnet_cli.load(path), path
    recipe = json.loads((ROOT / "recipes" / "tiny.json").read_text())
    torch.manual_seed(0)
    model = HNetLM(HNetConfig.from_dict(recipe["model"]))
    init_weights(model)
    return model.eval(), "untrained recipes/tiny.json"


def timed(fn, repeat: int = 1):
    best, result = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def segment(model, doc, **kw):
    return list(segment_documents(model, [doc], **kw))


def bench_segmentation(model, docs):
    rows = []
    for doc in docs:
        for window, overlap in [(1 << 20, 0), (16384, 2048), (4096, 512)]:
            seconds, segs = timed(lambda: segment(model, doc, window=window, overlap=overlap))
            rows.append((doc.name, len(doc.data), window, overlap, segs[0].windows, seconds, len(doc.data) / seconds))
    print("| input | bytes | window W | overlap V | forward windows | seconds | bytes/s |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, n, w, v, k, s, rate in rows:
        print(f"| {name} | {n:,} | {w:,} | {v:,} | {k} | {s:.2f} | {rate:,.0f} |")


def bench_writers(segs, stages, dna):
    cases = {
        "tsv per byte": lambda f: TABLE_WRITERS["tsv"](f, "byte", stages),
        "tsv per chunk": lambda f: TABLE_WRITERS["tsv"](f, "chunk", stages),
        "json per byte": lambda f: TABLE_WRITERS["json"](f, "byte", stages),
        "json per chunk": lambda f: TABLE_WRITERS["json"](f, "chunk", stages),
        "parquet per byte": lambda f: TABLE_WRITERS["parquet"](f, "byte", stages),
        "parquet per chunk": lambda f: TABLE_WRITERS["parquet"](f, "chunk", stages),
        "bed": lambda f: BedWriter(f, stages),
        "html": lambda f: HtmlWriter(f, stages, sequence=dna),
        "term (no colour)": lambda f: TerminalWriter(f, stages, sequence=dna, width=100, color=False),
        "stats": None,
    }
    total = sum(s.length for s in segs)
    print("| writer | output bytes | seconds | input MB/s |")
    print("| --- | ---: | ---: | ---: |")
    for name, make in cases.items():
        def run():
            if make is None:
                stats = ChunkStats(stages, sequence=dna)
                for seg in segs:
                    stats.add(whole_document_piece(seg))
                return len(json.dumps(stats.as_dict()))
            binary = name.startswith("parquet")
            stream = io.BytesIO() if binary else io.StringIO()
            writer = make(stream)
            writer.begin()
            whole = name.startswith(("html", "term"))  # the views draw whole documents; the rest stream pieces
            for seg in segs:
                writer.add(seg if whole else whole_document_piece(seg))
            writer.end()
            return len(stream.getvalue())
        seconds, size = timed(run, repeat=2)
        print(f"| {name} | {size:,} | {seconds:.3f} | {total / seconds / 1e6:.2f} |")


def bench_windows(model, doc, window):
    single = segment(model, doc, window=1 << 30, overlap=0)[0]
    stages = range(single.num_stages)
    print("| W | V | stage | chunk starts (1 pass) | identical to 1 pass (Jaccard) | seam agreement | exact seams |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for overlap in (0, 64, 256, 1024, window // 2):
        seg = segment(model, doc, window=window, overlap=overlap)[0]
        for s in stages:
            a, b = set(single.chunk_starts(s).tolist()), set(seg.chunk_starts(s).tolist())
            agree = seg.seams.agreement[s]
            print(f"| {window} | {overlap} | {s} | {len(a):,} | {len(a & b) / len(a | b):.4f} | "
                  f"{'n/a' if agree is None else f'{agree:.4f}'} | {seg.seams.exact_seams[s]}/{seg.seams.seams} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="run dir or checkpoint (default: untrained recipes/tiny.json model)")
    parser.add_argument("--text-bytes", type=int, default=100_000)
    parser.add_argument("--window", type=int, default=4096, help="window W for the windows-vs-one-pass table")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    model, name = load_model(args.model)
    print(f"model: {name} ({model.config.num_stages} stage(s)); torch threads: {torch.get_num_threads()}\n")
    dna, text = lambda_genome(), novel(args.text_bytes)
    print("### Segmentation throughput\n")
    bench_segmentation(model, [dna, text])
    stages = list(range(model.config.num_stages))
    print("\n### Writers (DNA: lambda genome)\n")
    bench_writers(segment(model, dna), stages, dna=True)
    print("\n### Writers (text)\n")
    bench_writers(segment(model, text), stages, dna=False)
    print("\n### Windows vs one pass (lambda genome)\n")
    bench_windows(model, dna, args.window)


if __name__ == "__main__":
    main()

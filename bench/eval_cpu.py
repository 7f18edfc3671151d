"""Benchmark of `hnet eval`: throughput, cost of sliding windows, stride sensitivity, robustness.

    .venv/bin/python bench/eval_cpu.py                        # official tiny fixture, CPU
    .venv/bin/python bench/eval_cpu.py --model runs/text      # a trained run: meaningful bpb columns
    python bench/eval_cpu.py --device cuda --dtype bf16       # same tables on a GPU

Prints four tables (markdown, for bench/RESULTS.md):
1. throughput: a plain batched forward (the ceiling) vs evaluate_documents on one
   long document, at stride C/2 and C-1, batch 1 and 8; overhead = the share of
   evaluation time not spent in that forward (windows, scoring, chunk statistics).
2. many short documents (paragraphs): padding cost of mask-mode batches.
3. stride sensitivity: bpb and compression of one document of 8 contexts at
   several strides vs one pass over the whole document.
4. robustness: bpb of each perturbation of the same text (with --model a trained run).
Data: the bundled text sample (Jane Austen, Persuasion).
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import time
from pathlib import Path

import torch

from hnet_cli.data.documents import Document
from hnet_cli.eval.corpus import evaluate_documents
from hnet_cli.eval.perturb import PERTURBATIONS, perturb_bytes
from hnet_cli.model import load
from hnet_cli.runtime import autocast, pick_device, pick_dtype

ROOT = Path(__file__).resolve().parent.parent
TEXT = ROOT / "domains" / "data" / "persuasion.txt.gz"
FIXTURE = ROOT / "tests" / "fixtures" / "official" / "tiny_1stage.pt"


def text_bytes(n: int, offset: int = 20_000) -> bytes:
    with gzip.open(TEXT, "rb") as f:
        data = f.read(offset + n)[offset:]
    if len(data) < n:
        raise SystemExit(f"the text sample has fewer than {offset + n} bytes")
    return data


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def raw_forward_rate(model, data: bytes, device, dtype, batch, context, repeats=3) -> tuple[float, float]:
    """(tokens/s, tokens/cpu-s) of model(ids, mask) alone on `batch` rows of `context` bytes of the
    same text: the ceiling for evaluation (random bytes would chunk, and so cost, differently)."""
    rows = [list(data[i * context : (i + 1) * context]) for i in range(batch)]
    if any(len(r) < context for r in rows):
        raise SystemExit(f"--bytes must be at least batch x context = {batch * context}")
    ids = torch.tensor(rows, device=device)
    mask = torch.ones_like(ids, dtype=torch.bool)
    with torch.inference_mode(), autocast(device, dtype):
        model(ids, mask=mask)  # warm-up
        sync(device)
        start, cpu = time.perf_counter(), time.process_time()
        for _ in range(repeats):
            model(ids, mask=mask)
        sync(device)
    tokens = repeats * batch * context
    return tokens / (time.perf_counter() - start), tokens / (time.process_time() - cpu)


class TimedModel(torch.nn.Module):
    """The model, with the wall time spent inside its forward passes (synchronised) added up."""

    def __init__(self, model, device):
        super().__init__()
        self.model, self.device, self.seconds = model, device, 0.0
        self.config = model.config

    def forward(self, *args, **kwargs):
        sync(self.device)
        start = time.perf_counter()
        out = self.model(*args, **kwargs)
        sync(self.device)
        self.seconds += time.perf_counter() - start
        return out


def run(model, docs, device, dtype, context, stride, batch_size, **kw):
    """The evaluation result, with .cpu_seconds (process CPU time: steadier than wall on a shared VM)
    and .forward_share (fraction of the wall time spent inside the model's forward)."""
    timed = TimedModel(model, device)
    sync(device)
    cpu = time.process_time()
    result = evaluate_documents(timed, docs, count_units=len, context=context, stride=stride,
                                batch_size=batch_size, device=device, dtype=dtype, **kw)
    sync(device)
    result.cpu_seconds = time.process_time() - cpu
    result.forward_share = timed.seconds / result.seconds
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=str(FIXTURE), help="run dir, checkpoint dir or .pt (default: the tiny fixture)")
    ap.add_argument("--config", default=None)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="fp32")
    ap.add_argument("--context", type=int, default=2048)
    ap.add_argument("--bytes", type=int, default=32_768, help="length of the long document")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", default=None, help="also write the figures here")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    dtype = pick_dtype(args.dtype, device)
    model = load(args.model, config=args.config, device=device)
    C = args.context
    figures: dict = {"model": args.model, "device": str(device), "dtype": str(dtype), "context": C,
                     "threads": args.threads}
    print(f"model {args.model} ({model.config.num_stages} stages, d_model {model.config.d_model}); "
          f"device {device}, {dtype}, {args.threads} threads")

    # 1. throughput on one long document
    long_doc = [Document(text_bytes(args.bytes), "persuasion", "long")]
    print(f"\n### 1. Throughput, one document of {args.bytes:,} bytes, context {C}\n")
    print("| setting | windows | tokens fwd / byte | wall s | bytes/s | tokens/s | tokens/cpu-s | "
          "overhead vs plain forward (cpu-s) | time inside forward |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    rows = []
    for batch in (1, 8):
        ceiling, ceiling_cpu = raw_forward_rate(model, long_doc[0].data, device, dtype, batch, C)
        print(f"| plain forward, batch {batch} x {C} | - | 1.00 | - | - | {ceiling:,.0f} | {ceiling_cpu:,.0f} | - | - |")
        for stride in (C // 2, C - 1):
            r = run(model, long_doc, device, dtype, C, stride, batch)
            tok_rate, tok_cpu = r.forwarded_tokens / r.seconds, r.forwarded_tokens / r.cpu_seconds
            overhead = 1 - tok_cpu / ceiling_cpu
            tpb = r.forwarded_tokens / r.corpus.bytes
            print(f"| eval, batch {batch}, stride {stride} | {r.windows} | {tpb:.2f} | {r.seconds:.2f} | "
                  f"{r.bytes_per_second:,.0f} | {tok_rate:,.0f} | {tok_cpu:,.0f} | {overhead:+.1%} | "
                  f"{r.forward_share:.1%} |")
            rows.append({"batch": batch, "stride": stride, "windows": r.windows, "seconds": r.seconds,
                         "cpu_seconds": r.cpu_seconds, "bytes_per_second": r.bytes_per_second,
                         "tokens_per_second": tok_rate, "plain_forward_tokens_per_second": ceiling,
                         "plain_forward_tokens_per_cpu_second": ceiling_cpu, "forward_share": r.forward_share,
                         "bpb": r.corpus.bpb})
    figures["throughput"] = rows

    # 2. many short documents
    paragraphs = [p.strip() for p in text_bytes(args.bytes).split(b"\n\n") if p.strip()]
    docs = [Document(p, "persuasion", f"p{i}") for i, p in enumerate(paragraphs)]
    lengths = sorted(len(d.data) for d in docs)
    r = run(model, docs, device, dtype, C, C // 2, 8)
    padding = 1 - (r.corpus.bytes + len(docs)) / max(1, r.forwarded_tokens)
    print(f"\n### 2. {len(docs)} paragraphs ({r.corpus.bytes:,} bytes; median {lengths[len(lengths) // 2]} bytes), "
          f"batch 8, context {C}\n")
    print(f"bytes/s {r.bytes_per_second:,.0f}; bpb {r.corpus.bpb:.4f}; windows {r.windows}; padding {padding:.1%}")
    figures["paragraphs"] = {"documents": len(docs), "bytes": r.corpus.bytes, "bytes_per_second": r.bytes_per_second,
                             "bpb": r.corpus.bpb}

    # 3. stride sensitivity
    n = 8 * C
    doc = [Document(text_bytes(n, offset=100_000), "persuasion", "stride")]
    whole = run(model, doc, device, dtype, n + 1, 1, 1)
    print(f"\n### 3. Stride sensitivity: one document of {n:,} bytes (8 contexts), context {C}\n")
    print("| stride | min left context C-S | windows | bpb | bpb - whole | L1/L0 | L1/L0 - whole |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    c_whole = whole.stages[0].compression if whole.stages else float("nan")
    print(f"| whole document, one pass | - | 1 | {whole.corpus.bpb:.5f} | 0 | {c_whole:.4f} | 0 |")
    stride_rows = []
    for stride in (C // 8, C // 4, C // 2, 3 * C // 4, C - C // 16, C - 1):
        r = run(model, doc, device, dtype, C, stride, 8)
        comp = r.stages[0].compression if r.stages else float("nan")
        print(f"| {stride} | {C - stride} | {r.windows} | {r.corpus.bpb:.5f} | {r.corpus.bpb - whole.corpus.bpb:+.5f} | "
              f"{comp:.4f} | {comp - c_whole:+.4f} |")
        stride_rows.append({"stride": stride, "bpb": r.corpus.bpb, "delta_bpb": r.corpus.bpb - whole.corpus.bpb,
                            "compression": comp})
    figures["stride"] = {"whole_bpb": whole.corpus.bpb, "rows": stride_rows}

    # 4. robustness suite on the same long document
    print(f"\n### 4. Robustness: {args.bytes:,} bytes of text, context {C}, stride {C // 2}, seed 0\n")
    clean = run(model, long_doc, device, dtype, C, C // 2, 8)
    print("| text | bytes | bpb | Δbpb | bits per original byte | L1/L0 |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    comp = clean.stages[0].compression if clean.stages else float("nan")
    print(f"| clean | {clean.corpus.bytes:,} | {clean.corpus.bpb:.4f} | 0 | {clean.corpus.bpb:.4f} | {comp:.4f} |")
    robust = {"clean": clean.corpus.bpb}
    for name in PERTURBATIONS:
        r = run(model, long_doc, device, dtype, C, C // 2, 8,
                transform=lambda i, data, name=name: perturb_bytes(data, name, 0, i))
        comp = r.stages[0].compression if r.stages else float("nan")
        print(f"| {name} | {r.corpus.bytes:,} | {r.corpus.bpb:.4f} | {r.corpus.bpb - clean.corpus.bpb:+.4f} | "
              f"{r.bits_per_original_byte:.4f} | {comp:.4f} |")
        robust[name] = r.corpus.bpb
    figures["robustness"] = robust

    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2, default=lambda x: None if isinstance(x, float) and math.isnan(x) else x))


if __name__ == "__main__":
    main()

"""Forward + backward time of each hot op at the Large models' shapes, fast path vs reference where useful.

Shapes: batch 8 x 8192 bytes at d_model 1024 (Mamba-2: 32 heads x 64,
d_state 128; conv over 2304 channels), and the inner stage at about 1/4.5 of
that (1792 chunk slots per row, d_model 1536, 16 heads x 96).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from hnet_cli import ops
from hnet_cli.bench.device import cuda_time_ms, median
from hnet_cli.ops import fast_mamba, registry


def _fwd_bwd(fn, inputs):
    def run():
        for t in inputs:
            t.grad = None
        out = fn()
        out.backward(torch.ones_like(out))
    return run


def _time(fn, repeats=10):
    return median(cuda_time_ms(fn, warmup=3, repeats=repeats))


def ssd_rows(batch=8, seqlen=8192, nheads=32, headdim=64, dstate=128, chunks=(64, 128, 256)):
    gen = torch.Generator(device="cuda").manual_seed(0)
    x = torch.randn(batch, seqlen, nheads, headdim, device="cuda", dtype=torch.bfloat16, generator=gen).requires_grad_()
    dt = F.softplus(torch.randn(batch, seqlen, nheads, device="cuda", generator=gen) - 2).requires_grad_()
    A = (-torch.rand(nheads, device="cuda", generator=gen) * 4).requires_grad_()
    B = torch.randn(batch, seqlen, 1, dstate, device="cuda", dtype=torch.bfloat16, generator=gen).requires_grad_()
    C = torch.randn(batch, seqlen, 1, dstate, device="cuda", dtype=torch.bfloat16, generator=gen).requires_grad_()
    D = torch.randn(nheads, device="cuda", generator=gen).requires_grad_()
    rows = []
    for q in chunks:
        fast_mamba.KERNEL_CHUNK = q
        fwd = lambda: fast_mamba.ssd_scan_mamba(x, dt, A, B, C, D=D, chunk_size=q)  # noqa: E731
        rows.append({"op": "ssd_scan mamba_ssm", "shape": f"{batch}x{seqlen} h{nheads}x{headdim} n{dstate} Q{q}",
                     "fwd_ms": _time(fwd), "fwd_bwd_ms": _time(_fwd_bwd(fwd, [x, dt, A, B, C, D]))})
    fast_mamba.KERNEL_CHUNK = None
    return rows


def ema_rows(batch=8, length=1792, d=1536):
    gen = torch.Generator(device="cuda").manual_seed(1)
    x = torch.randn(batch, length, d, device="cuda", generator=gen).requires_grad_()
    p = (torch.rand(batch, length, device="cuda", generator=gen) * 0.98 + 0.01).requires_grad_()
    fwd = lambda: fast_mamba.ema_scan_mamba(x, p)  # noqa: E731
    return [{"op": "ema_scan mamba_ssm (fp32)", "shape": f"{batch}x{length}x{d}",
             "fwd_ms": _time(fwd), "fwd_bwd_ms": _time(_fwd_bwd(fwd, [x, p]))}]


def attention_rows():
    rows = []
    cases = [
        ("causal, one document per row", 8, 8192, 16, 64, -1, False),
        ("window 1023", 8, 8192, 16, 64, 1023, False),
        ("causal, packed documents", 8, 8192, 16, 64, -1, True),
        ("inner stage: causal", 8, 1792, 16, 96, -1, False),
        ("inner stage: packed documents", 8, 1792, 16, 96, -1, True),
    ]
    gen = torch.Generator(device="cuda").manual_seed(2)
    for label, b, l, h, d, window, packed in cases:
        q, k, v = (torch.randn(b, l, h, d, device="cuda", dtype=torch.bfloat16, generator=gen).requires_grad_()
                   for _ in range(3))
        seq_idx = None
        if packed:  # documents of 1/8 of the row each
            seq_idx = (torch.arange(l, device="cuda") // (l // 8))[None].expand(b, l).contiguous()
        impl = registry.select("attention", q, k, v, window=window, seq_idx=seq_idx)
        fwd = lambda: impl.fn(q, k, v, window=window, seq_idx=seq_idx)  # noqa: E731
        keys = l / 2 if window < 0 else min(window + 1, l)
        keys = keys / 8 if packed else keys
        flops = 4 * b * h * l * keys * d * 3.5  # fwd 2 matmuls, bwd 5 (incl. recompute): 3.5x the forward
        ms = _time(_fwd_bwd(fwd, [q, k, v]))
        rows.append({"op": f"attention {impl.name}: {label}", "shape": f"{b}x{l} h{h}x{d}",
                     "fwd_ms": _time(fwd), "fwd_bwd_ms": ms, "tflops": flops / (ms * 1e-3) / 1e12})
    return rows


def conv_rows(batch=8, seqlen=8192, channels=2304):
    gen = torch.Generator(device="cuda").manual_seed(3)
    x = torch.randn(batch, seqlen, channels, device="cuda", dtype=torch.bfloat16, generator=gen).requires_grad_()
    w = torch.randn(channels, 4, device="cuda", generator=gen).requires_grad_()
    bias = torch.randn(channels, device="cuda", generator=gen).requires_grad_()
    seq_idx = (torch.arange(seqlen, device="cuda") // 1000)[None].expand(batch, seqlen).contiguous()
    rows = []
    for name in ("compiled", "reference"):
        with registry.backend(name):
            fwd = lambda: ops.causal_conv1d(x, w, bias, seq_idx=seq_idx, activation="silu")  # noqa: E731
            rows.append({"op": f"causal_conv1d {name}, packed", "shape": f"{batch}x{seqlen}x{channels}",
                         "fwd_ms": _time(fwd), "fwd_bwd_ms": _time(_fwd_bwd(fwd, [x, w, bias]))})
    return rows


def all_rows() -> list[dict]:
    return ssd_rows() + ema_rows() + attention_rows() + conv_rows()

"""The two ceilings of the GPU a benchmark runs on: bf16 matmul rate and copy bandwidth."""

from __future__ import annotations

import torch


def cuda_time_ms(fn, warmup: int = 3, repeats: int = 10) -> list[float]:
    """Per-call times (ms) of `fn` on the current CUDA stream, from CUDA events after warm-up."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        times.append(start.elapsed_time(stop))
    return times


def median(values: list[float]) -> float:
    s = sorted(values)
    n = len(s)
    return s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2])


def matmul_peak(n: int = 8192, repeats: int = 20) -> float:
    """Measured dense bf16 matmul rate (FLOP/s): n x n x n products of random data (zeros run faster)."""
    gen = torch.Generator(device="cuda").manual_seed(0)
    a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16, generator=gen)
    b = torch.randn(n, n, device="cuda", dtype=torch.bfloat16, generator=gen)
    out = torch.empty(n, n, device="cuda", dtype=torch.bfloat16)
    ms = median(cuda_time_ms(lambda: torch.matmul(a, b, out=out), warmup=5, repeats=repeats))
    return 2 * n**3 / (ms * 1e-3)


def copy_bandwidth(nbytes: int = 2 << 30, repeats: int = 20) -> float:
    """Device-to-device copy rate (bytes/s), counting bytes read plus bytes written."""
    src = torch.empty(nbytes // 2, device="cuda", dtype=torch.bfloat16).normal_()
    dst = torch.empty_like(src)
    ms = median(cuda_time_ms(lambda: dst.copy_(src), warmup=3, repeats=repeats))
    return 2 * nbytes / (ms * 1e-3)


def describe() -> dict:
    props = torch.cuda.get_device_properties(0)
    return {
        "gpu": props.name,
        "memory_gib": round(props.total_memory / 2**30, 1),
        "multiprocessors": props.multi_processor_count,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
    }

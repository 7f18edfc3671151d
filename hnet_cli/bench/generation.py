"""Generation speed: bytes per second of cached stepping at a given batch size.

The model is cast to bf16 (routing and residual_proj compute in fp32) and
held at a chosen compression, so the inner network runs at the rate a
trained model's boundaries would make it run. One byte per row per step,
sampled from the softmax; prefill of the prompt is not counted.

Modes:
    eager             `model.step` as is
    compiled          `model.step` with each block's step compiled (`compile_step`)
    graphed           `dense_step` captured in one CUDA graph per batch size (`GraphedStep`)
    graphed+compiled  the same with each block's step fused by torch.compile first
Graphed modes are checked against `model.step` on the first steps (`check_rel_err`).
"""

from __future__ import annotations

import copy
import time

import torch

from hnet_cli.bench.steering import freeze_steering, steer_compression
from hnet_cli.model import HNetConfig, HNetLM
from hnet_cli.model.checkpoint import cast_model
from hnet_cli.model.fast import compile_step
from hnet_cli.model.graph_step import GraphedStep
from hnet_cli.model.init import init_weights

MODES = ("eager", "compiled", "graphed", "graphed+compiled")
CHECK_STEPS = 16


def build(config: HNetConfig, compression, seed: int = 0) -> HNetLM:
    torch.manual_seed(seed)
    model = HNetLM(config, device="cuda")
    init_weights(model)
    model = cast_model(model, torch.bfloat16).eval()
    if compression:
        steer_compression(model, list(compression))
        gen = torch.Generator(device="cuda").manual_seed(seed + 1)
        with torch.no_grad():
            model(torch.randint(0, 256, (2, 2048), device="cuda", generator=gen))
        freeze_steering(model)
    return model


def _rel(a, b):
    return ((a.float() - b.float()).norm() / b.float().norm().clamp_min(1e-30)).item()


def measure_generation(name: str, model: HNetLM, batch: int, mode: str, new_bytes: int = 256,
                       prompt_len: int = 64, seed: int = 0) -> dict:
    if mode not in MODES:
        raise ValueError(f"unknown generation mode {mode!r}; choose from {', '.join(MODES)}")
    gen = torch.Generator(device="cuda").manual_seed(seed)
    prompt = torch.randint(0, 256, (batch, prompt_len), device="cuda", generator=gen)
    cache = model.new_cache(batch)
    t0 = time.perf_counter()
    with torch.no_grad():
        logits = model(prompt, cache=cache).logits[:, -1]
    check = None
    if mode == "compiled":
        compile_step(model)
        step = lambda ids: model.step(ids, cache)  # noqa: E731
    elif mode == "eager":
        step = lambda ids: model.step(ids, cache)  # noqa: E731
    else:
        reference_cache = copy.deepcopy(cache)
        graphed = GraphedStep(model, cache, batch, max_new=new_bytes + CHECK_STEPS + 8,
                              compile=mode == "graphed+compiled")
        step = graphed
        # The graph against model.step, byte by byte, before timing.
        errs = []
        with torch.no_grad():
            ids = torch.randint(0, 256, (CHECK_STEPS, batch), device="cuda", generator=gen)
            check_cache = copy.deepcopy(cache)
            for t in range(CHECK_STEPS):
                want = model.step(ids[t], reference_cache).logits
                got = graphed(ids[t]).logits
                errs.append(_rel(got, want))
            # put the graph's cache back to the prefill state for the timed run
            for dst, src in zip(_tensors(cache), _tensors(check_cache)):
                dst.copy_(src)
        check = max(errs)
    warm_s = time.perf_counter() - t0
    boundaries = torch.zeros((), device="cuda")
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    with torch.no_grad():
        for _ in range(new_bytes):
            nxt = torch.multinomial(torch.softmax(logits.float(), -1), 1, generator=gen)[:, 0]
            out = step(nxt)
            logits = out.logits
            if out.stages:
                boundaries += out.stages[0].boundary_mask.sum()
    torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    return {
        "name": name,
        "batch": batch,
        "mode": mode,
        "new_bytes": new_bytes,
        "bytes_per_s": batch * new_bytes / seconds,
        "ms_per_step": seconds / new_bytes * 1e3,
        "stage0_boundary_rate": round(boundaries.item() / (new_bytes * batch), 4),
        "check_rel_err": check,
        "setup_s": warm_s,
    }


def _tensors(cache):
    from hnet_cli.model.cache_tree import cache_leaves

    return list(cache_leaves(cache))

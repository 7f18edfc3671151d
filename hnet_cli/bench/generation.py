"""Generation speed: bytes per second of cached stepping (`model.step`) at a given batch size.

The model is cast to bf16 (routing and residual_proj compute in fp32) and
held at a chosen compression, so the inner network runs at the rate a
trained model's boundaries would make it run. One byte per row per step,
sampled from the softmax; prefill of the prompt is not counted.
"""

from __future__ import annotations

import time

import torch

from hnet_cli.bench.steering import freeze_steering, steer_compression
from hnet_cli.model import HNetConfig, HNetLM
from hnet_cli.model.checkpoint import cast_model
from hnet_cli.model.fast import compile_step
from hnet_cli.model.init import init_weights


def measure_generation(name: str, config: HNetConfig, batch: int, new_bytes: int = 256, prompt_len: int = 64,
                       compression=None, compile: bool = True, warmup_steps: int = 8, seed: int = 0) -> dict:
    torch.manual_seed(seed)
    model = HNetLM(config, device="cuda")
    init_weights(model)
    model = cast_model(model, torch.bfloat16).eval()
    gen = torch.Generator(device="cuda").manual_seed(seed)
    if compression:
        steer_compression(model, list(compression))
        with torch.no_grad():
            model(torch.randint(0, 256, (2, 2048), device="cuda", generator=gen))
        freeze_steering(model)
    if compile:
        compile_step(model)

    def run(n_steps: int):
        cache = model.new_cache(batch)
        prompt = torch.randint(0, 256, (batch, prompt_len), device="cuda", generator=gen)
        with torch.no_grad():
            logits = model(prompt, cache=cache).logits[:, -1]
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            boundaries = torch.zeros((), device="cuda")
            for _ in range(n_steps):
                nxt = torch.multinomial(torch.softmax(logits.float(), -1), 1, generator=gen)[:, 0]
                out = model.step(nxt, cache)
                logits = out.logits
                if out.stages:
                    boundaries += out.stages[0].boundary_mask.sum()
            torch.cuda.synchronize()
        return time.perf_counter() - t0, boundaries.item() / max(1, n_steps * batch)

    t0 = time.perf_counter()
    run(warmup_steps)
    warm_s = time.perf_counter() - t0
    seconds, boundary_rate = run(new_bytes)
    result = {
        "name": name,
        "batch": batch,
        "new_bytes": new_bytes,
        "bytes_per_s": batch * new_bytes / seconds,
        "ms_per_step": seconds / new_bytes * 1e3,
        "stage0_boundary_rate": round(boundary_rate, 4),
        "compiled_step": compile,
        "warmup_s": warm_s,
    }
    del model
    torch.cuda.empty_cache()
    return result

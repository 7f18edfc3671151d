"""Tiny models for tests: a few thousand parameters, every stage exercised."""

import torch

from hnet_cli.model import HNetConfig, HNetLM


def tiny_config(stages: int = 1, window: int = 5, d=(16, 24, 32, 40), heads=2, d_state=8, expand=2, headdim=8):
    """S-stage config with Mamba-2 encoders/decoders and attention (sliding window) everywhere."""
    layout = ["m1T1"]
    for _ in range(stages):
        layout = ["m1t1", layout, "T1m1"]
    n = stages + 1
    return HNetConfig.from_dict({
        "arch_layout": layout,
        "d_model": list(d[:n]),
        "d_intermediate": [32] * n,
        "vocab_size": 256,
        "ssm_cfg": {"chunk_size": 8, "d_conv": 4, "d_state": d_state, "expand": expand, "headdim": headdim},
        "attn_cfg": {"num_heads": [heads] * n, "rotary_emb_dim": [4] * n, "window_size": [window] * n},
        "tie_embeddings": False,
    })


def tiny_model(stages: int = 1, seed: int = 0, dtype=torch.float32, noise: float = 0.3, **kw) -> HNetLM:
    """A model with noisy weights so routing decisions are varied and every parameter matters."""
    torch.manual_seed(seed)
    model = HNetLM(tiny_config(stages, **kw))
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(noise * torch.randn(p.shape, generator=gen))
    return model.to(dtype).eval()


def random_bytes(n: int, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n,), generator=gen)


def rel_err(a, b):
    a, b = a.double(), b.double()
    return ((a - b).norm() / b.norm().clamp_min(1e-30)).item()

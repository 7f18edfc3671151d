"""The benchmark models: the paper's Large H-Nets and isotropic models matched to their FLOPs.

`hnet_1stage_L` / `hnet_2stage_L` are the released configs (Large widths:
d_model 1024 outside, 1536 inside); `depth_scale` shortens every layer group
proportionally when the time budget is short. Isotropic baselines run at the
main network's width; their depth is chosen so that forward FLOPs per byte
(`hnet_cli.model.flops`) match the H-Net's at the compression it runs at.
"""

from __future__ import annotations

import re

from hnet_cli.model.config import HNetConfig
from hnet_cli.model.flops import depth_for_flops
from hnet_cli.recipes import load_recipe

SSM = {"chunk_size": 256, "d_conv": 4, "d_state": 128, "expand": 2}

# The paper's Large models: the released configs, as bundled in recipes/hnet-{1,2}stage-L.json.
HNET_RECIPES = {1: "hnet-1stage-L", 2: "hnet-2stage-L"}


def _scale_layout(layout, scale: float):
    if isinstance(layout, list):
        return [_scale_layout(x, scale) for x in layout]
    return "".join(f"{letter}{max(1, round(int(n) * scale))}" for letter, n in re.findall(r"([mMtT])(\d+)", layout))


def hnet_config(stages: int, depth_scale: float = 1.0) -> HNetConfig:
    base = load_recipe(HNET_RECIPES[stages]).model.to_dict()
    if depth_scale != 1.0:
        base["arch_layout"] = _scale_layout(base["arch_layout"], depth_scale)
    return HNetConfig.from_dict(base)


def isotropic_config(kind: str, layers: int, d_model: int = 1536, d_intermediate: int = 4096,
                     heads: int = 16, rotary: int = 48, window: int = -1) -> HNetConfig:
    """A plain stack: kind "T" (attention + SwiGLU) or "m" (Mamba-2 alone, as the paper's baselines)."""
    return HNetConfig.from_dict({
        "arch_layout": [f"{kind}{layers}"],
        "d_model": [d_model], "d_intermediate": [d_intermediate if kind == "T" else 0], "vocab_size": 256,
        "ssm_cfg": SSM,
        "attn_cfg": {"num_heads": [heads], "rotary_emb_dim": [rotary], "window_size": [window]},
        "tie_embeddings": False,
    })


def flop_matched_isotropic(kind: str, target_flops_per_byte: float, seq_len: int, **kw) -> tuple[HNetConfig, int]:
    """The isotropic depth whose forward FLOPs/byte is closest to the target; returns (config, layers)."""
    layers, _ = depth_for_flops(lambda n: isotropic_config(kind, n, **kw), target_flops_per_byte, seq_len)
    return isotropic_config(kind, layers, **kw), layers

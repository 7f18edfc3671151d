"""The benchmark models: the paper's Large H-Nets and isotropic models matched to their FLOPs.

`hnet_1stage_L` / `hnet_2stage_L` are the released configs (Large widths:
d_model 1024 outside, 1536 inside); `depth_scale` shortens every layer group
proportionally when the time budget is short. Isotropic baselines run at the
main network's width; their depth is chosen so that forward FLOPs per byte
(`hnet_cli.model.flops`) match the H-Net's at the compression it runs at.
"""

from __future__ import annotations

import copy
import re

from hnet_cli.model.config import HNetConfig
from hnet_cli.model.flops import forward_flops_per_byte

SSM = {"chunk_size": 256, "d_conv": 4, "d_state": 128, "expand": 2}

HNET_1STAGE_L = {
    "arch_layout": ["m4", ["T22"], "m4"],
    "d_model": [1024, 1536], "d_intermediate": [0, 4096], "vocab_size": 256,
    "ssm_cfg": SSM,
    "attn_cfg": {"num_heads": [16, 16], "rotary_emb_dim": [32, 48], "window_size": [1023, -1]},
    "tie_embeddings": False,
}
HNET_2STAGE_L = {
    "arch_layout": ["m4", ["T1m4", ["T26"], "m4T1"], "m4"],
    "d_model": [1024, 1024, 1536], "d_intermediate": [0, 2816, 4096], "vocab_size": 256,
    "ssm_cfg": SSM,
    "attn_cfg": {"num_heads": [16, 16, 16], "rotary_emb_dim": [32, 32, 48], "window_size": [1023, 1023, -1]},
    "tie_embeddings": False,
}


def _scale_layout(layout, scale: float):
    if isinstance(layout, list):
        return [_scale_layout(x, scale) for x in layout]
    return "".join(f"{letter}{max(1, round(int(n) * scale))}" for letter, n in re.findall(r"([mMtT])(\d+)", layout))


def hnet_config(stages: int, depth_scale: float = 1.0) -> HNetConfig:
    base = copy.deepcopy(HNET_1STAGE_L if stages == 1 else HNET_2STAGE_L)
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
    best = None
    for layers in range(1, 200):
        f = forward_flops_per_byte(isotropic_config(kind, layers, **kw), seq_len).per_byte
        gap = abs(f - target_flops_per_byte)
        if best is None or gap < best[0]:
            best = (gap, layers)
        if f > target_flops_per_byte:
            break
    return isotropic_config(kind, best[1], **kw), best[1]

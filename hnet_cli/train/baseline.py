"""Isotropic baselines (all-Transformer, all-Mamba-2) matched to an H-Net in FLOPs per byte.

The paper compares an H-Net with isotropic models of equal compute per byte.
An H-Net's cost depends on its compression (its inner stages run on fewer
positions), so the match is made at the target compression 1/N per stage:
for each candidate width (the H-Net's stage widths) the depth whose forward
FLOPs per byte come closest is found, and the closest (width, depth) wins,
the wider one on a tie.
"""

from __future__ import annotations

from hnet_cli.model.config import HNetConfig
from hnet_cli.model.flops import depth_for_flops, forward_flops_per_byte

ARCHS = ("hnet", "transformer", "mamba")


def isotropic_config(arch: str, width: int, depth: int, like: HNetConfig) -> HNetConfig:
    """A 0-stage model: `depth` T blocks (attention + SwiGLU) or m blocks (Mamba-2)."""
    stage = like.d_model.index(width) if width in like.d_model else len(like.d_model) - 1
    attn = like.attn
    mlp = like.d_intermediate[stage] or 4 * width
    heads = attn.num_heads[stage] if width % max(1, attn.num_heads[stage]) == 0 else max(1, width // 64)
    head_dim = width // heads
    rotary = min(attn.rotary_emb_dim[stage] or min(32, head_dim), head_dim) // 2 * 2
    letter = "T" if arch == "transformer" else "m"
    return HNetConfig.from_dict({
        "arch_layout": [f"{letter}{depth}"],
        "d_model": [width],
        "d_intermediate": [mlp if arch == "transformer" else 0],
        "vocab_size": like.vocab_size,
        "tie_embeddings": like.tie_embeddings,
        "ssm_cfg": dict(like.ssm_cfg),
        "attn_cfg": {"num_heads": [heads], "rotary_emb_dim": [rotary], "window_size": [-1]},
    }, source=f"{arch} baseline")


def matched_baseline(config: HNetConfig, arch: str, seq_len: int, targets: list[float] | None = None,
                     max_depth: int = 96) -> tuple[HNetConfig, dict]:
    """The isotropic `arch` model closest in forward FLOPs per byte to `config` at compression 1/N.

    Returns (config, report) where report has both models' FLOPs per byte.
    """
    if arch not in ("transformer", "mamba"):
        raise ValueError(f"arch must be transformer or mamba, got {arch!r}")
    compression = [1.0 / n for n in targets] if targets else None
    target = forward_flops_per_byte(config, seq_len, compression).per_byte
    best = None
    for width in sorted(set(config.d_model)):
        depth, flops = depth_for_flops(lambda d: isotropic_config(arch, width, d, config), target, seq_len, max_depth)
        err = abs(flops - target) / target
        key = (round(err, 3), -width)
        if best is None or key < best[0]:
            best = (key, isotropic_config(arch, width, depth, config), flops)
    _, cand, flops = best
    return cand, {"hnet_flops_per_byte": target, "baseline_flops_per_byte": flops,
                  "relative_difference": (flops - target) / target}


def baseline_recipe(recipe, arch: str, targets: list[float]):
    """The recipe with its H-Net replaced by the FLOP-matched isotropic `arch` model.

    Training settings stay (same data, steps, schedule), so the comparison is
    one flag apart; per-stage settings collapse to the single stage.
    """
    import copy

    from hnet_cli.recipes import Recipe

    if arch == "hnet":
        return recipe
    config, report = matched_baseline(recipe.model, arch, recipe.train.data.seq_len, targets)
    train = copy.deepcopy(recipe.train)
    train.optim.lr_multipliers = None
    train.optim.routing_lr_multiplier = 1.0  # baselines have no routing
    train.objective.compression_targets = None
    description = (f"{arch} baseline matched to {recipe.name} in FLOPs per byte "
                   f"({report['baseline_flops_per_byte']:.3g} vs {report['hnet_flops_per_byte']:.3g} at N={targets})")
    return Recipe(name=f"{recipe.name}-{arch}", description=description, model=config, train=train)

"""Parameter counts and forward FLOPs per byte.

FLOPs count multiply-adds as 2 and include only the matrix work that dominates
(linear layers, attention scores and values, the SSD scan's contractions, the
depthwise conv); norms, activations and the elementwise parts of routing are
left out. A stage's layers run on L_s = L_0 * prod_{r<s} compression_r
positions, so an H-Net's cost per byte depends on the compression it learned:
pass the measured `compression` (L_{s+1}/L_s per stage, e.g. [0.22]).
Training costs about 3x the forward FLOPs (forward + backward).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from hnet_cli.model.config import HNetConfig, LayerSpec


def count_parameters(model: torch.nn.Module, exclude_embeddings: bool = False) -> int:
    seen: set[int] = set()
    total = 0
    for name, p in model.named_parameters():
        if id(p) in seen:
            continue
        seen.add(id(p))
        if exclude_embeddings and name.startswith(("embeddings.", "lm_head.")):
            continue
        total += p.numel()
    return total


def _mean_keys(seq_len: float, window: int) -> float:
    """Average number of keys a query attends to over a causal sequence of seq_len positions."""
    L = max(1.0, seq_len)
    if window < 0 or window + 1 >= L:
        return (L + 1) / 2
    w = window + 1
    # the first w positions see 1..w keys, the rest see w
    return (w * (w + 1) / 2 + (L - w) * w) / L


def layer_flops_per_token(spec: LayerSpec, config: HNetConfig, stage: int, seq_len: float) -> float:
    d = config.d_model[stage]
    flops = 0.0
    if spec.mixer == "mamba":
        ssm = config.ssm
        d_inner = ssm.expand * d
        nheads = d_inner // ssm.headdim
        n, p, Q = ssm.d_state, ssm.headdim, min(ssm.chunk_size, max(1, int(seq_len)))
        conv_dim = d_inner + 2 * n
        flops += 2 * d * (2 * d_inner + 2 * n + nheads)  # in_proj
        flops += 2 * conv_dim * ssm.d_conv  # depthwise conv
        # SSD, chunked: C B^T within the chunk (one group), weights x values, chunk state, state readout
        flops += 2 * n * (Q / 2) + nheads * (2 * p * (Q / 2) + 2 * p * n + 2 * p * n)
        flops += 2 * d_inner * d  # out_proj
    else:
        a = config.attn
        keys = _mean_keys(seq_len, a.window_size[stage])
        flops += 2 * d * 3 * d + 2 * d * d  # Wqkv, out_proj
        flops += 2 * 2 * d * keys  # q k^T and attention-weighted values, all heads
    if spec.has_mlp:
        flops += 3 * 2 * d * config.mlp_width(stage)
    return flops


@dataclass
class FlopsBreakdown:
    per_byte: float  # total forward FLOPs per input byte
    per_stage: list[float]  # forward FLOPs per byte spent at each stage (incl. routing)
    lengths: list[float]  # L_s / L_0


def forward_flops_per_byte(config: HNetConfig, seq_len: int, compression: list[float] | None = None) -> FlopsBreakdown:
    """Forward FLOPs per byte for sequences of `seq_len` bytes.

    compression[s] = L_{s+1} / L_s at stage s (fraction of positions that are
    boundaries); defaults to 1/4 per stage when not measured.
    """
    S = config.num_stages
    compression = list(compression) if compression is not None else [0.25] * S
    if len(compression) < S:
        raise ValueError(f"need a compression ratio per stage ({S}), got {len(compression)}")
    fractions = [1.0]
    for s in range(S):
        fractions.append(fractions[-1] * compression[s])
    per_stage = []
    for s, layout in enumerate(config.stages):
        L_s = seq_len * fractions[s]
        d = config.d_model[s]
        layers = layout.main if s == S else layout.encoder + layout.decoder
        f = sum(layer_flops_per_token(spec, config, s, L_s) for spec in layers)
        if s < S:
            f += 2 * 2 * d * d  # routing q/k projections
            f += 2 * d * d  # residual_proj
        per_stage.append(f * fractions[s])
    head = 2 * config.d_model[0] * config.vocab_size
    per_stage[0] += head
    return FlopsBreakdown(per_byte=sum(per_stage), per_stage=per_stage, lengths=fractions)


def depth_for_flops(build, target_per_byte: float, seq_len: int, max_depth: int = 200) -> tuple[int, float]:
    """The depth d whose `build(d)` config comes closest to `target_per_byte` forward FLOPs per byte.

    `build(depth) -> HNetConfig` describes a family (an isotropic stack of one
    width, say). FLOPs grow with depth, so the search stops at the first depth
    past the target. Returns (depth, its FLOPs per byte); the shallower depth wins a tie.
    """
    best = None
    for depth in range(1, max_depth + 1):
        flops = forward_flops_per_byte(build(depth), seq_len).per_byte
        gap = abs(flops - target_per_byte)
        if best is None or gap < best[0]:
            best = (gap, depth, flops)
        if flops > target_per_byte:
            break
    return best[1], best[2]

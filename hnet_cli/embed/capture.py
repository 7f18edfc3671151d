"""Hidden states of one forward pass, at every stage, mapped back to token positions.

An H-Net of S chunking stages has, for each stage s, a network (stage 0 = the
whole backbone, stage s >= 1 = the main network of stage s - 1, the innermost
being an isotropic stack). What is taken from one forward pass:

    stage output, stage s   the output of the stage-s network at each stage-s
                            position (stage 0: the backbone's output at every
                            byte, what the LM head reads = HNetOutput.hidden;
                            stage s >= 1: z^_{s-1}, one vector per stage-(s-1)
                            chunk, before dechunking)
    chunk input, stage s    what the stage-s main network receives: the encoder
                            output h^s at the stage-s boundaries, one vector per
                            chunk (s < S); their number is the number of
                            stage-s boundaries b^s_t = 1, BOS's included

Both are read with forward hooks on the stage modules, so the model's own
forward runs unchanged (the same code `hnet eval` runs, including its fixed-shape
wrapper on GPUs, hnet_cli.model.fast.for_inference, whose padding the valid
masks cut away), and each is given with the token index where its position
(or chunk) begins.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from hnet_cli.model.hnet import HNet, HNetLM
from hnet_cli.runtime import autocast


def stage_modules(model: HNetLM) -> list[HNet]:
    """The stage-s network for s = 0 .. S (the backbone first, the innermost last)."""
    model = getattr(model, "model", model)  # the plain model inside an inference wrapper
    modules = [model.backbone]
    while not modules[-1].is_innermost:
        modules.append(modules[-1].main_network)
    return modules


@dataclass
class RowStates:
    """One batch row's captured states. `tokens` index the row's own tokens (0 = its first)."""

    vectors: torch.Tensor  # (m, d) float32, cpu
    tokens: torch.Tensor  # (m,) int64: the token where each vector's position or chunk begins


@torch.inference_mode()
def capture(model: HNetLM, ids: torch.Tensor, mask: torch.Tensor, stage: int, per: str,
            device: torch.device, dtype: torch.dtype) -> list[RowStates]:
    """One padded forward pass; per row, the stage-`stage` outputs (per="position") or chunk
    inputs (per="chunk") with their starting tokens (see the module docstring)."""
    modules = stage_modules(model)
    captured: dict = {}
    if per == "chunk":
        def pre_hook(_module, args):
            captured["x"], captured["valid"] = args[0], args[1].mask
        hook = modules[stage + 1].register_forward_pre_hook(pre_hook)
    else:  # stage 0's output is what the LM head reads (HNetOutput.hidden)
        def post_hook(_module, args, output):
            captured["x"], captured["valid"] = output[0], args[1].mask
        hook = modules[stage].register_forward_hook(post_hook)
    try:
        with autocast(device, dtype):
            out = model(ids.to(device), mask=mask.to(device))
    finally:
        hook.remove()
    x, valid = captured["x"].float().cpu(), captured["valid"]
    valid = valid.cpu()
    boundary_masks = [s.boundary_mask.cpu() for s in out.stages]
    stage_valid = [s.valid.cpu() for s in out.stages]
    # The stage whose positions the vectors sit on: stage s's own, or stage s+1's for chunks.
    level = stage + 1 if per == "chunk" else stage
    rows = []
    for row in range(ids.shape[0]):
        tokens = torch.arange(int(mask[row].sum()))
        for s in range(level):
            n = int(stage_valid[s][row].sum())
            tokens = tokens[boundary_masks[s][row, :n]]
        count = int(valid[row].sum())
        if count != len(tokens):  # the model's chunking disagrees with ours: a bug, not user error
            raise RuntimeError(f"captured {count} positions at stage {level}, expected {len(tokens)}")
        rows.append(RowStates(x[row, :count].clone(), tokens))
    return rows

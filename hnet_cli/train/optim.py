"""AdamW with one parameter group per (stage, weight decay or not).

- Stage s of an H-Net is everything that runs on L_s positions: stage 0 holds
  the embeddings, lm_head, and the outermost encoder, decoder, routing module
  and residual_proj; the innermost stage holds its main network. Each stage's
  learning rate is lr * lr_multipliers[s] (the paper gives outer, longer
  stages larger rates, e.g. [3.0, 1.7, 0.9]).
- No weight decay on 1-D parameters: norm weights, biases, Mamba-2's A_log,
  D and dt_bias, the widening vector pad_dimension.
- The routing modules' projections (W_q, W_k of the paper's p_t) may take a
  further factor, `routing_lr_multiplier` (1 = as their stage).
"""

from __future__ import annotations

import torch
from torch import nn

from hnet_cli.model.dynamic_chunking import RoutingModule
from hnet_cli.model.hnet import HNet, HNetLM


def parameter_stages(model: HNetLM) -> dict[str, int]:
    """Parameter name -> stage index (0 = bytes)."""
    stage_of: dict[int, int] = {}
    for module in model.modules():
        if isinstance(module, HNet):
            for name, child in module.named_children():
                if name == "main_network" and not module.is_innermost:
                    continue  # the inner H-Net assigns its own
                for p in child.parameters():
                    stage_of[id(p)] = module.stage
            for p in module.parameters(recurse=False):
                stage_of[id(p)] = module.stage
    return {name: stage_of.get(id(p), 0) for name, p in model.named_parameters()}


def build_optimizer(model: HNetLM, lr: float, weight_decay: float, betas=(0.9, 0.95), eps: float = 1e-8,
                    lr_multipliers: list[float] | None = None,
                    routing_lr_multiplier: float = 1.0) -> torch.optim.AdamW:
    num_stages = model.config.num_stages
    multipliers = list(lr_multipliers) if lr_multipliers is not None else [1.0] * (num_stages + 1)
    stages = parameter_stages(model)
    routing_params = {id(p) for m in model.modules() if isinstance(m, RoutingModule) for p in m.parameters()}
    groups: dict[tuple[int, bool, bool], list[nn.Parameter]] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        decay = p.dim() >= 2
        routing = routing_lr_multiplier != 1.0 and id(p) in routing_params  # one group per stage unless asked
        groups.setdefault((stages[name], decay, routing), []).append(p)
    param_groups = []
    for (stage, decay, routing), params in sorted(groups.items()):
        base = lr * multipliers[stage] * (routing_lr_multiplier if routing else 1.0)
        param_groups.append({
            "params": params, "lr": base, "base_lr": base, "stage": stage, "routing": routing,
            "weight_decay": weight_decay if decay else 0.0,
        })
    params = [p for group in param_groups for p in group["params"]]
    # On GPUs the fused kernel updates every tensor of a group in one launch; elsewhere (CPU,
    # sharded DTensors) the default implementation keeps results exactly as they were.
    fused = bool(params) and all(p.is_cuda and type(p) is nn.Parameter for p in params) or None
    return torch.optim.AdamW(param_groups, lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                             fused=fused)


def set_lr(optimizer: torch.optim.Optimizer, factor: float) -> float:
    """Set every group to base_lr * factor; returns the stage-0 rate (for reports)."""
    reported = None
    for group in optimizer.param_groups:
        group["lr"] = group["base_lr"] * factor
        if reported is None or (group["stage"] == 0 and not group.get("routing")):
            reported = group["lr"]
    return float(reported)

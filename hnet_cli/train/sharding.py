"""Fully sharded data parallel training (PyTorch FSDP2) for models that outgrow one GPU.

`train.parallel = "fsdp"` under torchrun shards every residual block and then
the rest of the model across the processes: each holds 1/P of the weights,
gradients and optimizer state, and gathers a block's weights only while that
block runs. The objective and the data are those of DDP (`objective.py`), so the
updates are the same up to rounding; checkpoints are gathered into the usual
full `model.safetensors` by every process together and written by process 0,
so a run trained with FSDP loads anywhere (eval, chunk, generate, one GPU).
"""

from __future__ import annotations

import torch
from torch import nn

from hnet_cli.model.block import Block

PARALLEL_MODES = ("ddp", "fsdp")


def shard_model(model: nn.Module) -> nn.Module:
    """Shard each residual block, then the rest of the model (embeddings, routing, norms, head)."""
    from torch.distributed.fsdp import fully_shard

    for module in model.modules():
        if isinstance(module, Block):
            fully_shard(module)
    fully_shard(model)
    return model


def _options(**kw):
    from torch.distributed.checkpoint.state_dict import StateDictOptions

    return StateDictOptions(full_state_dict=True, **kw)


def full_model_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The whole model's state dict on the CPU (collective: every process must call it)."""
    from torch.distributed.checkpoint.state_dict import get_model_state_dict

    return get_model_state_dict(model, options=_options(cpu_offload=True))


def full_optimizer_state(model: nn.Module, optimizer: torch.optim.Optimizer) -> dict:
    """The whole optimizer state, keyed by parameter name, on the CPU (collective)."""
    from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict

    return get_optimizer_state_dict(model, optimizer, options=_options(cpu_offload=True))


def load_optimizer_state(model: nn.Module, optimizer: torch.optim.Optimizer, state: dict, sharded: bool) -> None:
    """Restore a saved optimizer state, whichever way the run that saved it was parallel.

    A sharded run saves the state keyed by parameter name (`full_optimizer_state`); one
    process and DDP key it by position (`optimizer.state_dict()`). A plain optimizer
    matches either by position within its groups; a sharded one needs names, so a state
    saved by position (a run started on one process, resumed on two with FSDP) is renamed.
    Sharded: every process takes its shard of the full state.
    """
    if not sharded:
        optimizer.load_state_dict(state)
        return
    from torch.distributed.checkpoint.state_dict import set_optimizer_state_dict

    set_optimizer_state_dict(model, optimizer, optim_state_dict=_keyed_by_name(model, optimizer, state),
                             options=_options())


def _keyed_by_name(model: nn.Module, optimizer: torch.optim.Optimizer, state: dict) -> dict:
    """`state` with positions replaced by parameter names. Positions follow the optimizer's
    parameter order, which `build_optimizer` takes from `model.named_parameters()`
    whether or not the model is sharded."""
    if all(isinstance(k, str) for k in state.get("state", {})):
        return state
    names = {id(p): n for n, p in model.named_parameters()}
    order = [names[id(p)] for group in optimizer.param_groups for p in group["params"]]
    return {"state": {order[k]: v for k, v in state["state"].items()},
            "param_groups": [{**g, "params": [order[k] for k in g["params"]]} for g in state["param_groups"]]}


def set_gradient_sync(model: nn.Module, enabled: bool) -> None:
    """Reduce-scatter gradients after this backward (the last micro-batch of a step) or keep them local."""
    model.set_requires_gradient_sync(enabled)


def norm_tensor(norm: torch.Tensor) -> torch.Tensor:
    """A gradient norm as a plain tensor; a sharded (DTensor) norm is first made whole."""
    if hasattr(norm, "full_tensor"):
        norm = norm.full_tensor()
    return norm

"""Will a model fit? Its memory, estimated from the config before anything is allocated.

A model of a billion-wide layer would otherwise fail deep inside PyTorch (or
swap the machine to a halt) after minutes of work. The estimate counts only
what must exist whatever the input: the parameters (4 bytes each in fp32,
2 in bf16) and, for training, their gradients and AdamW's two moments
(16 bytes per parameter in all). Activations come on top, so a model that
passes can still run out of memory at a large batch; one that fails cannot
run at all.
"""

from __future__ import annotations

import os

import torch

from hnet_cli.errors import ConfigError
from hnet_cli.model.config import HNetConfig

# Bytes per parameter: fp32 weights; training adds fp32 gradients and two AdamW moments.
INFERENCE_BYTES_PER_PARAMETER = 4
TRAINING_BYTES_PER_PARAMETER = 16


def parameter_count(config: HNetConfig) -> int:
    """Parameters of the model `config` describes (built on the meta device: nothing allocated)."""
    from hnet_cli.model.flops import count_parameters
    from hnet_cli.model.hnet import HNetLM
    from hnet_cli.model.skeleton import skeleton

    return count_parameters(skeleton(HNetLM, config))


def device_memory(device: torch.device | str) -> int | None:
    """Total memory of the device in bytes (physical RAM for the CPU); None if unknown."""
    device = torch.device(device)
    if device.type == "cuda":
        try:
            return int(torch.cuda.get_device_properties(device).total_memory)
        except (RuntimeError, AssertionError):
            return None
    if device.type == "cpu":
        try:
            return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (ValueError, OSError, AttributeError):  # not on this platform
            return None
    return None


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if abs(n) < 1000 or unit == "PB":
            return f"{n:.3g} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1000
    return f"{n:.3g} PB"


def estimate(config: HNetConfig, training: bool = False, parameters: int | None = None) -> dict:
    """Parameters and the bytes they need (weights; with training, gradients and optimizer too)."""
    params = parameter_count(config) if parameters is None else parameters
    per = TRAINING_BYTES_PER_PARAMETER if training else INFERENCE_BYTES_PER_PARAMETER
    return {"parameters": params, "bytes": params * per, "training": training}


def check_fits(config: HNetConfig, device: torch.device | str = "cpu", training: bool = False,
               source: str = "model", parameters: int | None = None) -> None:
    """Raise ConfigError when the model cannot fit in the device's memory at all."""
    need = estimate(config, training, parameters)
    have = device_memory(device)
    if have is None or need["bytes"] <= have:
        return
    what = "weights, gradients and optimizer state" if training else "weights"
    device = torch.device(device)
    where = "this machine's" if device.type == "cpu" else f"the GPU's ({device})"
    raise ConfigError(
        f"{source}: {need['parameters']:,} parameters: the {what} alone need {human_bytes(need['bytes'])}, "
        f"more than {where} {human_bytes(have)} of memory; choose a smaller model"
    )

"""Where and in what precision jobs run: device choice and autocast.

Used by train, eval, generate and chunk alike so `--device` and `--dtype` mean
the same everywhere.
"""

from __future__ import annotations

import contextlib

import torch

from hnet_cli.errors import HnetError

DTYPES = {"fp32": torch.float32, "float32": torch.float32, "bf16": torch.bfloat16, "bfloat16": torch.bfloat16}


def pick_device(name: str = "auto") -> torch.device:
    """'auto' takes the GPU when there is one; 'cuda' without one is a user error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise HnetError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise HnetError("--device cuda was asked for but no CUDA GPU is available")
    return device


def pick_dtype(name: str, device: torch.device) -> torch.dtype:
    """'auto' is bf16 autocast on GPUs and fp32 on CPUs."""
    if name == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    if name not in DTYPES:
        raise HnetError(f"unknown dtype {name!r}; use auto, fp32 or bf16")
    return DTYPES[name]


def autocast(device: torch.device, dtype: torch.dtype):
    """bf16 autocast (weights stay fp32); a no-op for fp32."""
    if dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)

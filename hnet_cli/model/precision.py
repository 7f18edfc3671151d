"""Where the model insists on at least fp32, whatever the compute dtype."""

import torch


def at_least_fp32(t: torch.Tensor) -> torch.Tensor:
    """fp32 for bf16/fp16/fp32 tensors; fp64 stays fp64 (for float64 reference checks)."""
    return t.to(torch.promote_types(t.dtype, torch.float32))


def full_precision(device_type: str):
    """A region where autocast is off: fp32 tensors stay fp32 (residual_proj, routing)."""
    return torch.autocast(device_type, enabled=False)

"""A model's modules and parameter shapes without computing any initial values.

Loading a checkpoint builds the model on PyTorch's "meta" device, then
allocates it where it will run and fills it from the file. Building on "meta"
still runs every layer's `reset_parameters`, and random initialisation of a
meta tensor goes through PyTorch's reference implementations, whose first use
imports the compiler stack (`torch._dynamo`, about a second of start-up for
every command that loads a model on a CPU). The values would be thrown away,
so they are not computed: `torch.nn.init`'s in-place initialisers are swapped
for no-ops while the skeleton is built.
"""

from __future__ import annotations

import contextlib

import torch

# The initialisers torch.nn's layers call from reset_parameters (looked up on
# torch.nn.init at call time, so replacing the module attribute reaches them).
_INITIALISERS = (
    "uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_", "eye_", "dirac_",
    "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "orthogonal_", "sparse_",
)


def _keep(tensor, *args, **kwargs):
    return tensor


@contextlib.contextmanager
def no_initial_values():
    """Within: torch.nn layers keep their (uninitialised) parameters as allocated."""
    init = torch.nn.init
    saved = {name: getattr(init, name) for name in _INITIALISERS if hasattr(init, name)}
    try:
        for name in saved:
            setattr(init, name, _keep)
        yield
    finally:
        for name, fn in saved.items():
            setattr(init, name, fn)


def skeleton(model_class, *args, **kwargs):
    """`model_class(*args, **kwargs)` on the meta device, parameters of the right shapes and no values."""
    with no_initial_values():
        return model_class(*args, device="meta", **kwargs)

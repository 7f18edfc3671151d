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
import functools
import threading

import torch

# The initialisers torch.nn's layers call from reset_parameters (looked up on
# torch.nn.init at call time, so replacing the module attribute reaches them).
_INITIALISERS = (
    "uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_", "eye_", "dirac_",
    "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "orthogonal_", "sparse_",
)

# The replacements skip only in the thread that is building a skeleton: another thread
# initialising a model of its own meanwhile gets real values. The first builder installs
# them, the last one to finish puts the originals back.
_lock = threading.Lock()
_builders = 0
_originals: dict = {}
_here = threading.local()


def _skipped_while_building(original):
    @functools.wraps(original)
    def initialiser(tensor, *args, **kwargs):
        if getattr(_here, "building", 0):
            return tensor
        return original(tensor, *args, **kwargs)
    return initialiser


@contextlib.contextmanager
def no_initial_values():
    """Within (in this thread): torch.nn layers keep their parameters as allocated, uninitialised."""
    global _builders
    with _lock:
        if _builders == 0:
            init = torch.nn.init
            for name in _INITIALISERS:
                if hasattr(init, name):
                    _originals[name] = getattr(init, name)
                    setattr(init, name, _skipped_while_building(_originals[name]))
        _builders += 1
    _here.building = getattr(_here, "building", 0) + 1
    try:
        yield
    finally:
        _here.building -= 1
        with _lock:
            _builders -= 1
            if _builders == 0:
                for name, fn in _originals.items():
                    setattr(torch.nn.init, name, fn)
                _originals.clear()


def skeleton(model_class, *args, **kwargs):
    """`model_class(*args, **kwargs)` on the meta device, parameters of the right shapes and no values."""
    with no_initial_values():
        return model_class(*args, device="meta", **kwargs)


def allocate(model: torch.nn.Module, device) -> torch.nn.Module:
    """A skeleton's parameters and buffers allocated (uninitialised) on `device`, in place.

    `Module.to_empty` does the same through `empty_like` of each meta tensor, whose
    reference implementation imports torch.fx's symbolic shapes (a third of a second);
    allocating from the shapes alone does not.
    """
    device = torch.device(device)
    return model._apply(lambda t: torch.empty(t.shape, dtype=t.dtype, device=device))

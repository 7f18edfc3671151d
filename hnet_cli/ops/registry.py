"""Choosing an implementation for each hot operation at run time.

Every op has a pure-PyTorch *reference* implementation that runs anywhere and is
the oracle the others are tested against. Fast implementations (Triton kernels
from mamba_ssm, FlexAttention, ...) register themselves with a predicate that
says when they apply (device, dtype, library importable). A call goes to the
highest-priority implementation whose predicate accepts the inputs.

Users and tests can force the reference everywhere with the environment
variable `HNET_OPS=reference` or, in code, `with ops.backend("reference"): ...`.

Some fast paths are code that `torch.compile` generates for each new input
shape (`compiles=True`): seconds per shape, paid back over many calls at that
shape. A one-off forward at a shape never seen before (a generation prompt)
runs inside `without_compilation()`, which passes them over for the next
implementation that applies. The same block tells `hnet_cli.model.fast` not
to compile the model's blocks (`compilation_allowed()`): the commands'
`--no-compile` runs a whole job inside it.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Callable

_FORCED: list[str] = []
_NO_COMPILATION: list[bool] = []


@dataclass
class Implementation:
    op: str
    name: str
    fn: Callable
    applies: Callable[..., bool]  # same arguments as fn; True if this implementation can run them
    priority: int
    compiles: bool = False  # torch.compile builds it per input shape (see the module docstring)


_REGISTRY: dict[str, list[Implementation]] = {}


def register(op: str, name: str, fn: Callable, applies: Callable[..., bool] | None = None, priority: int = 0,
             compiles: bool = False):
    """Add an implementation of `op`. The reference registers with priority 0 and applies always."""
    impls = _REGISTRY.setdefault(op, [])
    impls[:] = [i for i in impls if i.name != name]
    impls.append(Implementation(op, name, fn, applies or (lambda *a, **k: True), priority, compiles))
    impls.sort(key=lambda i: -i.priority)


def forced_backend() -> str | None:
    if _FORCED:
        return _FORCED[-1]
    return os.environ.get("HNET_OPS") or None


@contextlib.contextmanager
def backend(name: str):
    """Force one backend ("reference" or a fast path's name) inside the block."""
    _FORCED.append(name)
    try:
        yield
    finally:
        _FORCED.pop()


@contextlib.contextmanager
def without_compilation():
    """Inside the block, implementations that compile per shape are not chosen (a forced backend still is)."""
    _NO_COMPILATION.append(True)
    try:
        yield
    finally:
        _NO_COMPILATION.pop()


def compilation_allowed() -> bool:
    """False inside `without_compilation()`."""
    return not _NO_COMPILATION


def compilation(allowed: bool):
    """The block a job runs in for --compile (`allowed`, nothing changes) or --no-compile."""
    return contextlib.nullcontext() if allowed else without_compilation()


def select(op: str, *args, **kwargs) -> Implementation:
    impls = _REGISTRY[op]
    forced = forced_backend()
    if forced:
        for impl in impls:
            if impl.name == forced:
                return impl
        # A forced fast path that does not implement this op falls back to the reference.
        return next(i for i in impls if i.name == "reference")
    skip_compiled = not compilation_allowed()
    for impl in impls:
        if skip_compiled and impl.compiles:
            continue
        if impl.applies(*args, **kwargs):
            return impl
    raise RuntimeError(f"no implementation of {op} applies")  # unreachable: the reference always applies


def dispatch(op: str, *args, **kwargs):
    return select(op, *args, **kwargs).fn(*args, **kwargs)


def implementations(op: str | None = None) -> dict[str, list[str]]:
    """Registered implementation names per op (for `hnet info` and tests)."""
    ops = [op] if op else sorted(_REGISTRY)
    return {o: [i.name for i in _REGISTRY.get(o, [])] for o in ops}

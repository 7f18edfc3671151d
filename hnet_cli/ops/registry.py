"""Choosing an implementation for each hot operation at run time.

Every op has a pure-PyTorch *reference* implementation that runs anywhere and is
the oracle the others are tested against. Fast implementations (Triton kernels
from mamba_ssm, FlexAttention, ...) register themselves with a predicate that
says when they apply (device, dtype, library importable). A call goes to the
highest-priority implementation whose predicate accepts the inputs.

Users and tests can force the reference everywhere with the environment
variable `HNET_OPS=reference` or, in code, `with ops.backend("reference"): ...`.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Callable

_FORCED: list[str] = []


@dataclass
class Implementation:
    op: str
    name: str
    fn: Callable
    applies: Callable[..., bool]  # same arguments as fn; True if this implementation can run them
    priority: int


_REGISTRY: dict[str, list[Implementation]] = {}


def register(op: str, name: str, fn: Callable, applies: Callable[..., bool] | None = None, priority: int = 0):
    """Add an implementation of `op`. The reference registers with priority 0 and applies always."""
    impls = _REGISTRY.setdefault(op, [])
    impls[:] = [i for i in impls if i.name != name]
    impls.append(Implementation(op, name, fn, applies or (lambda *a, **k: True), priority))
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


def select(op: str, *args, **kwargs) -> Implementation:
    impls = _REGISTRY[op]
    forced = forced_backend()
    if forced:
        for impl in impls:
            if impl.name == forced:
                return impl
        # A forced fast path that does not implement this op falls back to the reference.
        return next(i for i in impls if i.name == "reference")
    for impl in impls:
        if impl.applies(*args, **kwargs):
            return impl
    raise RuntimeError(f"no implementation of {op} applies")  # unreachable: the reference always applies


def dispatch(op: str, *args, **kwargs):
    return select(op, *args, **kwargs).fn(*args, **kwargs)


def implementations(op: str | None = None) -> dict[str, list[str]]:
    """Registered implementation names per op (for `hnet info` and tests)."""
    ops = [op] if op else sorted(_REGISTRY)
    return {o: [i.name for i in _REGISTRY.get(o, [])] for o in ops}

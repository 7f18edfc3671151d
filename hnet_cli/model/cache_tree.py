"""Walking a generation cache.

`HNetLM.new_cache` returns a tree of dataclasses (HNetCache, Mamba2Cache,
AttentionCache, ...) and lists, with tensors at the leaves, every one of them
batch-first. These two functions are the one place that knows how to walk it.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Iterator

import torch


def cache_leaves(cache, kind: type = torch.Tensor) -> Iterator:
    """Every node of type `kind` in the tree (tensors by default), depth first, in field order."""
    if isinstance(cache, kind):
        yield cache
    elif isinstance(cache, (list, tuple)):
        for item in cache:
            yield from cache_leaves(item, kind)
    elif dataclasses.is_dataclass(cache) and not isinstance(cache, type):
        for f in dataclasses.fields(cache):
            yield from cache_leaves(getattr(cache, f.name), kind)


def map_cache_tensors(cache, fn: Callable[[torch.Tensor], torch.Tensor]):
    """Replace every tensor t of the tree by fn(t); dataclasses are updated in place. Returns the tree."""
    if isinstance(cache, torch.Tensor):
        return fn(cache)
    if isinstance(cache, list):
        return [map_cache_tensors(item, fn) for item in cache]
    if isinstance(cache, tuple):
        return tuple(map_cache_tensors(item, fn) for item in cache)
    if dataclasses.is_dataclass(cache) and not isinstance(cache, type):
        for f in dataclasses.fields(cache):
            setattr(cache, f.name, map_cache_tensors(getattr(cache, f.name), fn))
    return cache  # flags such as AttentionCache.ring, None for absent parts

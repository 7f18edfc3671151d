"""Walking a generation cache.

`HNetLM.new_cache` returns a tree of dataclasses (HNetCache, Mamba2Cache,
AttentionCache, ...) and lists, with tensors at the leaves, every one of them
batch-first. The functions here are the one place that knows how to walk it,
and how a step updates only some of its rows (`blend`, `gather_rows`/`scatter_rows`).
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


def blend(active: torch.Tensor | None, new: torch.Tensor, old: torch.Tensor) -> torch.Tensor:
    """new on the rows where `active` (b,) is True, old elsewhere; new everywhere when active is None."""
    if active is None:
        return new
    return torch.where(active.view(-1, *([1] * (new.dim() - 1))), new, old)


def gather_rows(cache, rows: torch.Tensor):
    """A new tree holding rows `rows` of every tensor (copies); the original is untouched."""
    if isinstance(cache, torch.Tensor):
        return cache.index_select(0, rows)
    if isinstance(cache, list):
        return [gather_rows(item, rows) for item in cache]
    if isinstance(cache, tuple):
        return tuple(gather_rows(item, rows) for item in cache)
    if dataclasses.is_dataclass(cache) and not isinstance(cache, type):
        return dataclasses.replace(cache, **{f.name: gather_rows(getattr(cache, f.name), rows)
                                            for f in dataclasses.fields(cache) if f.init})
    return cache


def scatter_rows(cache, part, rows: torch.Tensor) -> None:
    """Write the tree `part` (from `gather_rows(cache, rows)`, then updated) back into rows `rows`."""
    for full, piece in zip(cache_leaves(cache), cache_leaves(part)):
        full[rows] = piece

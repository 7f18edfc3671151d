"""Selecting rows of a generation cache: repeat a prefilled prompt for n samples, drop finished rows.

The model's cache (`HNetLM.new_cache`) is a tree of dataclasses and lists
whose tensors all have the batch as their first dimension. Indexing every
tensor of the tree with the same row index therefore gives the cache of those
rows, in that order (an index may repeat a row). Dropping the rows of finished
samples keeps every later step as small as the work left.
"""

from __future__ import annotations

import dataclasses

import torch


def select_rows(cache, index: torch.Tensor, batch: int):
    """The cache restricted to rows `index` (1-D long tensor into the current `batch` rows).

    Works in place on dataclasses (their tensor fields are replaced) and returns
    the cache. A tensor whose first dimension is not `batch` means the cache
    layout has changed and this function no longer applies: that raises.
    """
    if isinstance(cache, torch.Tensor):
        if cache.dim() == 0 or cache.shape[0] != batch:
            raise RuntimeError(
                f"generation cache holds a tensor of shape {tuple(cache.shape)} that is not batch-first "
                f"(batch {batch}); select_rows needs every cache tensor indexed by row"
            )
        return cache.index_select(0, index.to(cache.device))
    if isinstance(cache, list):
        return [select_rows(item, index, batch) for item in cache]
    if isinstance(cache, tuple):
        return tuple(select_rows(item, index, batch) for item in cache)
    if dataclasses.is_dataclass(cache) and not isinstance(cache, type):
        for f in dataclasses.fields(cache):
            setattr(cache, f.name, select_rows(getattr(cache, f.name), index, batch))
        return cache
    return cache  # flags such as AttentionCache.ring, None for absent parts

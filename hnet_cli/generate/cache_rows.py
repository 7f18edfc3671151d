"""Selecting rows of a generation cache: repeat a prefilled prompt for n samples, drop finished rows.

The model's cache (`HNetLM.new_cache`) is a tree of dataclasses and lists
whose tensors all have the batch as their first dimension. Indexing every
tensor of the tree with the same row index therefore gives the cache of those
rows, in that order (an index may repeat a row). Dropping the rows of finished
samples keeps every later step as small as the work left.
"""

from __future__ import annotations

import torch

from hnet_cli.model.cache_tree import map_cache_tensors


def select_rows(cache, index: torch.Tensor, batch: int):
    """The cache restricted to rows `index` (1-D long tensor into the current `batch` rows).

    Works in place on dataclasses (their tensor fields are replaced) and returns
    the cache. A tensor whose first dimension is not `batch` means the cache
    layout has changed and this function no longer applies: that raises.
    """

    def select(t: torch.Tensor) -> torch.Tensor:
        if t.dim() == 0 or t.shape[0] != batch:
            raise RuntimeError(
                f"generation cache holds a tensor of shape {tuple(t.shape)} that is not batch-first "
                f"(batch {batch}); select_rows needs every cache tensor indexed by row"
            )
        return t.index_select(0, index.to(t.device))

    return map_cache_tensors(cache, select)

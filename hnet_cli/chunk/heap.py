"""Keeping a long `hnet chunk` run's resident memory at what is alive (glibc only; no-ops elsewhere).

Two habits of glibc's allocator let the resident size of a streaming run sit
well above its live tensors (bench/RESULTS.md, "hnet chunk on a whole genome"):

- Freed memory stays in the heap, and small blocks allocated between a pass's
  large activations (results, output lines) pin whole stretches of it:
  `release_freed_memory` hands the free pages back after each pass (about a
  millisecond).
- Blocks above the mmap threshold get their own mapping, returned to the system
  when freed; but the threshold is dynamic: each freed mapping raises it to its
  own size (up to 32 MB), so from the second pass on a window's activations
  are carved from the heap, where they fragment. `map_large_blocks` fixes the
  threshold at 1 MB, which also switches the dynamic adjustment off: every
  activation tensor is mapped and unmapped whole. On the 200 kb benchmark this
  took the peak from 492 to 425 MB at about the same speed.

No library wraps mallopt/malloc_trim; both are two-line ctypes calls.
"""

from __future__ import annotations

import ctypes
import os
import sys

M_MMAP_THRESHOLD = -3  # mallopt parameter number, <malloc.h>
MMAP_THRESHOLD_BYTES = 1 << 20


def _libc():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
        return libc if hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt") else None
    except OSError:  # not glibc (musl, ...): nothing to do
        return None


_LIBC = _libc()


def release_freed_memory() -> None:
    """Return the heap's free pages to the system (after a forward pass)."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def map_large_blocks() -> bool:
    """Give every allocation of 1 MB or more its own mapping from now on; True if applied.

    Process-wide and permanent; called when a CPU chunk run starts (a GPU run's
    activations live on the device). MALLOC_MMAP_THRESHOLD_ in the environment wins.
    """
    if _LIBC is None or "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return False
    return bool(_LIBC.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))

"""Where compiled GPU code and kernel tuning results are kept between processes.

A new process would otherwise autotune every Triton kernel of the SSD scan and
compile every block again (minutes on a fresh machine). Both caches live under
the user's cache directory, so only the first run of a model shape pays:

    Triton autotuning results     TRITON_CACHE_AUTOTUNING=1 (Triton >= 3.4 keeps them
                                  beside its kernel cache, ~/.triton/cache)
    torch.compile (inductor)      $XDG_CACHE_HOME/hnet/inductor (TORCHINDUCTOR_CACHE_DIR;
                                  by default torch uses /tmp, which a reboot empties)

Settings already in the environment are respected. This must run before the
kernels' modules are imported: their autotuners read the setting when defined.

MAMBA_DETERMINISTIC=1 asks mamba_ssm for its cheapest kernel configuration
instead of autotuning (the GPU tests use it; on one H200 `small` started its
first step after 49 s with eager blocks instead of 204 s compiled and autotuned,
at the same step time, its step being bound by host work; kernel-bound models
may step slower). mamba_ssm autotunes anyway when TRITON_CACHE_AUTOTUNING=1,
so in that mode the cache setting is left out.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "hnet"


def cheapest_kernels_requested() -> bool:
    return os.environ.get("MAMBA_DETERMINISTIC", "").startswith("1")


def configure() -> None:
    if not cheapest_kernels_requested():
        os.environ.setdefault("TRITON_CACHE_AUTOTUNING", "1")
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(cache_root() / "inductor"))

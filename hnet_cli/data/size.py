"""How many bytes a domain reader yields for some inputs: the total a progress bar counts towards.

Reading is much faster than running a model over what is read (hundreds of
MB/s against kB/s to MB/s), so jobs count their input in a first pass and
then show progress with a total and an ETA. Standard input cannot be read
twice: its size is unknown (None).
"""

from __future__ import annotations

import os
from typing import Sequence

from hnet_cli.data.readers.sources import STDIN


def input_bytes(domain, paths: Sequence[str | os.PathLike], options: dict, limit: int | None = None) -> int | None:
    """The bytes of the Documents `domain.read(paths, **options)` yields (at most `limit`); None for stdin."""
    if any(os.fspath(p) == STDIN for p in paths):
        return None
    total = 0
    stream = domain.read(list(paths), **options)
    try:
        for doc in stream:
            total += len(doc.data)
            if limit is not None and total >= limit:
                return limit
    finally:
        stream.close()
    return total

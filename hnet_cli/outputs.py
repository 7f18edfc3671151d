"""Writing results safely: `-` is stdout; files are written to a temporary name and renamed.

A failed or interrupted job never leaves a half-written or truncated output in
place of a good one.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from pathlib import Path

from hnet_cli.errors import HnetError


def _umask() -> int:
    current = os.umask(0o022)
    os.umask(current)
    return current


@contextlib.contextmanager
def open_output(path: str | Path, mode: str = "w", encoding: str | None = "utf-8"):
    """Yield a file object for `path` ("-" = stdout); replace the target only on success."""
    binary = "b" in mode
    if str(path) == "-":
        stream = sys.stdout.buffer if binary else sys.stdout
        yield stream
        stream.flush()
        return
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise HnetError(f"{path}: output directory {parent} does not exist")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent)
    except OSError as exc:
        raise HnetError(f"{path}: cannot write here ({exc.strerror})") from None
    try:
        # mkstemp creates 0600; a finished output gets the usual permissions (umask).
        os.chmod(tmp, 0o666 & ~_umask())
        with os.fdopen(fd, mode, encoding=None if binary else encoding) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_output(path: str | Path, data: str | bytes) -> None:
    with open_output(path, "wb" if isinstance(data, bytes) else "w") as f:
        f.write(data)

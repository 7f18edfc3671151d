"""Where results go: the one opener every command's writer uses.

    check_output("out.bed")             # before any work: a directory, a missing folder... fail now
    with open_output("out.bed") as f:   # "-" is stdout
        f.write(...)

- A regular file (or a new name) is written to a temporary file in the same
  directory and renamed over the target only when the job succeeds: a failed
  or interrupted job never leaves a half-written file in place of a good one.
  A symbolic link to a file keeps the link; the file it names is replaced.
- Anything else that can be written (a character device such as /dev/null or
  a terminal, a FIFO, /dev/stdout or /proc/self/fd/N) is written directly:
  renaming over it would replace a device node or a pipe with a regular file,
  and a FIFO's reader would get nothing.
- Write errors become one line, with the conventional exit code: `OutputError`
  (1) for a full disk, a quota, an I/O error; `OutputClosed` (141, as if killed
  by SIGPIPE) when the reader of a pipe went away (`hnet chunk ... | head`), so
  the job stops at once instead of computing for nobody. `GuardedStream` gives
  any stream the same translation (the CLI wraps stdout in one; the training
  log appends through `append_output`).
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import stat
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from hnet_cli.errors import HnetError, OutputClosed, OutputError

STDOUT = "-"

# Paths that name an already open stream rather than a file to create: written directly.
_STREAM_PREFIXES = ("/dev/stdout", "/dev/stderr", "/dev/fd/", "/proc/")

_PROBLEMS = {
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EFBIG: "file too large for this file system",
    errno.EROFS: "read-only file system",
    errno.EIO: "input/output error",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
}


def write_error(name: str, exc: OSError) -> HnetError:
    """An OSError from writing `name` as the one-line error the CLI shows."""
    if isinstance(exc, BrokenPipeError) or exc.errno in (errno.EPIPE, errno.ECONNRESET):
        return OutputClosed(f"{name}: the reader closed the pipe")
    problem = _PROBLEMS.get(exc.errno) or (exc.strerror or str(exc)).lower()
    return OutputError(f"{name}: cannot write: {problem}")


class GuardedStream:
    """A file object whose write errors are OutputError / OutputClosed naming the destination.

    Everything but writing, flushing and closing is the wrapped stream's own.
    """

    def __init__(self, stream, name: str):
        self._stream = stream
        self._name = name

    def write(self, data):
        try:
            return self._stream.write(data)
        except OSError as exc:
            raise write_error(self._name, exc) from None

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def flush(self):
        try:
            self._stream.flush()
        except OSError as exc:
            raise write_error(self._name, exc) from None

    def close(self):
        try:
            self._stream.close()
        except OSError as exc:
            raise write_error(self._name, exc) from None

    @property
    def wrapped(self):
        return self._stream

    def __getattr__(self, name):
        return getattr(self._stream, name)

    def __iter__(self):
        return iter(self._stream)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


@dataclass(frozen=True)
class Destination:
    """Where an output goes: stdout, a file replaced atomically, or a stream written directly."""

    given: str  # as the user wrote it (named in messages)
    path: Path | None  # the file to write (symbolic links resolved); None for stdout
    direct: bool  # write in place (devices, FIFOs, /dev/fd/N): no temporary file, no rename

    @property
    def is_stdout(self) -> bool:
        return self.path is None


def check_output(path: str | os.PathLike) -> Destination:
    """Check that `path` can be written, before any work is done; where and how it will be written.

    Raises OutputError for an existing directory, a folder that does not exist,
    a folder or file without write permission.
    """
    given = os.fspath(path)
    if given == STDOUT:
        return Destination(given, None, direct=True)
    if not given:
        raise OutputError("an empty output name")
    target = Path(given)
    absolute = os.path.abspath(given)
    try:
        info = os.stat(target)  # follows symbolic links: what would actually be written
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise OutputError(f"{given}: cannot write: {(exc.strerror or str(exc)).lower()}") from None
    if info is not None and stat.S_ISDIR(info.st_mode):
        raise OutputError(f"{given}: is a directory; give a file name (e.g. {os.path.join(given, 'out')})")
    if info is not None and (not stat.S_ISREG(info.st_mode) or absolute.startswith(_STREAM_PREFIXES)):
        # A device, FIFO or socket, or a name for an open stream: write into it, never replace it.
        if not os.access(target, os.W_OK):
            raise OutputError(f"{given}: cannot write: permission denied")
        return Destination(given, target, direct=True)
    real = Path(os.path.realpath(target))  # a link to a file: replace the file, keep the link
    folder = real.parent
    if not folder.is_dir():
        raise OutputError(f"{given}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"{given}: cannot write in {folder}: permission denied")
    if info is not None and not os.access(real, os.W_OK):
        raise OutputError(f"{given}: the file is read-only")
    return Destination(given, real, direct=False)


def _umask() -> int:
    current = os.umask(0o022)
    os.umask(current)
    return current


def _stdout(binary: bool):
    stream = sys.stdout
    if binary:
        stream.flush()  # text already written comes first
        stream = stream.buffer
    return stream if isinstance(stream, GuardedStream) else GuardedStream(stream, "stdout")


@contextlib.contextmanager
def open_output(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8"):
    """Yield a file object for `path` ("-" = stdout); a file is replaced only on success."""
    binary = "b" in mode
    dest = check_output(path)
    if dest.is_stdout:
        stream = _stdout(binary)
        yield stream
        stream.flush()
        return
    if dest.direct:
        try:
            raw = open(dest.path, mode, encoding=None if binary else encoding)
        except OSError as exc:
            raise write_error(dest.given, exc) from None
        stream = GuardedStream(raw, dest.given)
        try:
            yield stream
            stream.flush()
        finally:
            try:
                raw.close()
            except OSError:
                pass  # already reported by the flush above, or the job failed first
        return
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.path.name}.", suffix=".tmp", dir=dest.path.parent)
    except OSError as exc:
        raise write_error(dest.given, exc) from None
    raw = None
    try:
        # mkstemp creates 0600; a finished output gets the usual permissions (umask).
        os.chmod(tmp, 0o666 & ~_umask())
        raw = os.fdopen(fd, mode, encoding=None if binary else encoding)
        stream = GuardedStream(raw, dest.given)
        yield stream
        stream.flush()
        try:
            os.fsync(raw.fileno())
        except OSError as exc:
            raise write_error(dest.given, exc) from None
        stream.close()
        os.replace(tmp, dest.path)
    except BaseException as failure:
        if raw is not None:
            with contextlib.suppress(OSError):
                raw.close()  # what is still buffered is discarded with the file
        else:
            with contextlib.suppress(OSError):
                os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(failure, OSError):  # chmod or rename
            raise write_error(dest.given, failure) from None
        raise


def write_output(path: str | os.PathLike, data: str | bytes) -> None:
    """Write all of `data` to `path` (see open_output)."""
    with open_output(path, "wb" if isinstance(data, bytes) else "w") as f:
        f.write(data)


def output_folder(path: str | os.PathLike) -> Path:
    """Make the folder `path` (and its parents) for outputs; OutputError when it cannot be (a file there)."""
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{os.fspath(path)}: is a file, not a folder; give a folder for the outputs")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise write_error(os.fspath(path), exc) from None
    return folder


def append_output(path: str | os.PathLike, encoding: str = "utf-8") -> GuardedStream:
    """Open a log for appending (not atomic: each line is flushed as written), write errors guarded."""
    try:
        return GuardedStream(open(path, "a", encoding=encoding), os.fspath(path))
    except OSError as exc:
        raise write_error(os.fspath(path), exc) from None


@contextlib.contextmanager
def guard_stdout():
    """Make sys.stdout a GuardedStream for the duration (the CLI's print and echo go through it)."""
    original = sys.stdout
    if original is not None and not isinstance(original, GuardedStream):
        sys.stdout = GuardedStream(original, "stdout")
    try:
        yield
    finally:
        sys.stdout = original


def silence_stdout() -> None:
    """After the reader of stdout went away: point fd 1 at /dev/null so the exit flush cannot fail."""
    stream = sys.__stdout__
    try:
        fd = stream.fileno()
    except (AttributeError, ValueError, io.UnsupportedOperation):
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)

"""Where input comes from: paths, globs, directories, stdin, and compression.

`expand_paths` turns what the user typed into a list of `Source`s (failing
early, before any training starts, on a path that does not exist or a glob
that matches nothing). `open_input` opens one of them for binary reading and
undoes gzip (including bgzip, which is multi-member gzip), xz or bzip2,
recognised by content rather than by name so that stdin works too.
Decompression failures (a truncated or corrupt file) surface as `InputError`
through `read_errors`, which readers wrap around their loops.
"""

from __future__ import annotations

import bz2
import contextlib
import fnmatch
import glob
import gzip
import io
import lzma
import os
import re
import sys
import zlib
from dataclasses import dataclass
from typing import BinaryIO, Callable, Iterator, Sequence

from hnet_cli.data.readers.stats import ReadStats
from hnet_cli.errors import InputError

STDIN = "-"

# Bytes a reader peeks at to recognise a format (enough for any magic number
# and for a binary / encoding sniff).
SNIFF_BYTES = 64 * 1024

COMPRESSION_SUFFIXES = (".gz", ".bgz", ".bgzf", ".xz", ".bz2")

_MAGIC_COMPRESSION = (
    (b"\x1f\x8b", "gzip"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"BZh", "bzip2"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
)

# Magic numbers of common binary formats, so an error can say what a file is.
_MAGIC_BINARY = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"%PDF-", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive"),
    (b"\x7fELF", "an ELF executable"),
    (b"MZ", "a Windows executable"),
    (b"\xca\xfe\xba\xbe", "a Java class or Mach-O file"),
    (b"\xcf\xfa\xed\xfe", "a Mach-O executable"),
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"PAR1", "a Parquet file"),
    (b"BAM\x01", "a BAM alignment file"),
)

# Errors the standard decompressors (and the OS) raise on bad input.
READ_ERRORS = (EOFError, OSError, zlib.error, lzma.LZMAError)


@dataclass(frozen=True)
class Source:
    """One input named by the user: a file, a directory, or stdin ("-")."""

    path: str
    is_dir: bool = False

    @property
    def is_stdin(self) -> bool:
        return self.path == STDIN

    def __str__(self) -> str:
        return self.path


def expand_paths(paths: Sequence[str | os.PathLike] | str | os.PathLike) -> list[Source]:
    """Files, directories, globs ("data/*.fa.gz", "src/**/*.py") and "-" -> Sources.

    Order is kept as given; a glob's matches are sorted so runs are repeatable.
    Raises InputError for a path that does not exist or a glob that matches nothing.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    sources: list[Source] = []
    for entry in paths:
        text = os.fspath(entry)
        if text == STDIN:
            sources.append(Source(STDIN))
        elif os.path.isdir(text):
            sources.append(Source(text, is_dir=True))
        elif os.path.exists(text):
            sources.append(Source(text))
        elif glob.has_magic(text):
            matches = glob_paths(text)
            if not matches:
                raise InputError(text, "no files match this pattern")
            sources.extend(Source(m, is_dir=os.path.isdir(m)) for m in matches)
        else:
            raise InputError(text, "no such file or directory")
    return sources


def glob_paths(pattern: str) -> list[str]:
    """The paths a glob matches ("data/*.fa", "src/**/*.py"), sorted, each file once.

    Written here because glob.glob(recursive=True) follows symbolic links to
    directories under "**": a link to a parent directory makes it walk forever,
    a link to "." returns every file again at each depth (pathlib's
    recurse_symlinks=False needs Python 3.13). Here "**" descends into real
    directories only, as the directory walks do ("dir/**" is the directory
    itself, read by such a walk); a link named by a plain
    component ("data/*/x.fa") is still followed, once. Names starting with "."
    match only a pattern that starts with "." (as in glob and the shell), and
    paths naming the same file (links, "." and "..") are kept once.
    """
    drive, rest = os.path.splitdrive(pattern)
    parts = [p for p in re.split(r"[\\/]" if os.sep == "\\" else "/", rest)]
    if parts and parts[0] == "":  # an absolute pattern
        base, parts = drive + os.sep, parts[1:]
    else:
        base = drive
    parts = [p for p in parts if p not in ("", ".")] or [""]
    matches: dict[tuple[int, int] | str, str] = {}
    for path in sorted(_glob_walk(base, parts)):
        try:
            info = os.stat(path)
            key: tuple[int, int] | str = (info.st_dev, info.st_ino)
        except OSError:
            key = os.path.abspath(path)  # a dangling link: reported when it is read
        matches.setdefault(key, path)
    return sorted(matches.values())


def _glob_walk(base: str, parts: list[str]) -> Iterator[str]:
    part, rest = parts[0], parts[1:]
    if part == "**":
        if not rest:  # "dir/**": the directory, whose walk reads what is below it
            yield base or "."
            return
        yield from _glob_walk(base, rest)  # "**" matches no directory too
        for entry in _scan(base):
            if not entry.name.startswith(".") and entry.is_dir(follow_symlinks=False):
                yield from _glob_walk(os.path.join(base, entry.name), parts)
        return
    if glob.has_magic(part):
        names = [e.name for e in _scan(base) if fnmatch.fnmatchcase(e.name, part)
                 and (part.startswith(".") or not e.name.startswith("."))]
    else:
        names = [part] if part and os.path.lexists(os.path.join(base, part)) else []
    for name in names:
        path = os.path.join(base, name)
        if not rest:
            yield path
        elif os.path.isdir(path):
            yield from _glob_walk(path, rest)


def _scan(directory: str) -> list[os.DirEntry]:
    try:
        return list(os.scandir(directory or "."))
    except OSError:  # unreadable or not a directory: it matches nothing
        return []


def sorted_entries(directory: str, stats: ReadStats) -> list[tuple[str, bool]] | None:
    """(name, is_directory) of a directory's entries in walk order; None if unreadable (counted).

    A directory sorts as "name/", so a recursive walk yields files in the sorted
    order of their relative paths. Symlinked directories count as files here
    (they are not followed: no loops).
    """
    try:
        entries = list(os.scandir(directory))
    except OSError as exc:
        stats.skip("unreadable directory", f"{directory} ({exc.strerror})")
        return None
    subdirs = {e.name for e in entries if e.is_dir(follow_symlinks=False)}
    names = sorted((e.name for e in entries), key=lambda n: n + "/" if n in subdirs else n)
    return [(name, name in subdirs) for name in names]


def walk_files(
    root: str, stats: ReadStats, accept: Callable[[str], bool] | None = None, what: str = "file type"
) -> Iterator[str]:
    """Every file under `root`, in the sorted order of their paths relative to it.

    Hidden files and directories (".git", ".DS_Store") are left out, and so
    are files `accept(name)` rejects; both are counted in `stats.excluded`.
    Symlinked directories are not followed (no loops).
    """
    for name, is_dir in sorted_entries(root, stats) or ():
        path = os.path.join(root, name)
        if name.startswith("."):
            stats.exclude("hidden", path)
        elif is_dir:
            yield from walk_files(path, stats, accept, what)
        elif accept is not None and not accept(name):
            stats.exclude(what, path)
        elif os.path.isfile(path) and stats.first_visit(path):
            yield path


def strip_compression_suffix(name: str) -> str:
    """"reads.fq.gz" -> "reads.fq" (to recognise the format behind the compression)."""
    lower = name.lower()
    for suffix in COMPRESSION_SUFFIXES:
        if lower.endswith(suffix):
            return name[: -len(suffix)]
    return name


def detect_compression(head: bytes) -> str | None:
    for magic, kind in _MAGIC_COMPRESSION:
        if head.startswith(magic):
            return kind
    return None


def describe_binary(head: bytes) -> str | None:
    """What kind of binary data `head` starts, or None if it may be text.

    Like git, data with a NUL byte in its first block counts as binary.
    """
    for magic, what in _MAGIC_BINARY:
        if head.startswith(magic):
            return what
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "UTF-16 text (convert it to UTF-8 first, e.g. with iconv)"
    if b"\x00" in head[:8000]:
        return "binary data (it contains NUL bytes)"
    return None


def _open_raw(path: str) -> BinaryIO:
    if path == STDIN:
        return sys.stdin.buffer
    try:
        return open(path, "rb")
    except IsADirectoryError:
        raise InputError(path, "is a directory") from None
    except OSError as exc:
        raise InputError(path, f"cannot open: {exc.strerror or exc}") from None


@contextlib.contextmanager
def open_input(path: str) -> Iterator[BinaryIO]:
    """Open a file (or "-" for stdin) for binary reading, decompressed.

    gzip and bgzip (multi-member gzip) go through the standard gzip module,
    xz through lzma, bzip2 through bz2; the kind is recognised from the first
    bytes. zstd is recognised and refused with a hint.
    """
    raw = _open_raw(path)
    buffered = raw if hasattr(raw, "peek") else io.BufferedReader(raw)
    try:
        with read_errors(path):
            kind = detect_compression(buffered.peek(6)[:6])
        if kind == "gzip":
            stream: BinaryIO = gzip.GzipFile(fileobj=buffered, mode="rb")
        elif kind == "xz":
            stream = lzma.LZMAFile(buffered, mode="rb")
        elif kind == "bzip2":
            stream = bz2.BZ2File(buffered, mode="rb")
        elif kind == "zstd":
            raise InputError(path, "zstd-compressed input is not supported; decompress it first (zstd -d)")
        else:
            stream = buffered
        yield stream
    finally:
        if path != STDIN:
            raw.close()


def read_error(path: str, exc: BaseException, line: int | None = None) -> InputError:
    """Turn a decompressor's or the OS's exception into a one-line InputError."""
    if isinstance(exc, EOFError):
        problem = "truncated compressed file: it ends before the end-of-stream marker (was the download or copy cut short?)"
    elif isinstance(exc, gzip.BadGzipFile):
        problem = f"not a valid gzip file: {exc}"
    elif isinstance(exc, zlib.error):
        problem = f"corrupt gzip data: {exc}"
    elif isinstance(exc, lzma.LZMAError):
        problem = f"corrupt xz data: {exc}"
    elif isinstance(exc, OSError) and exc.strerror:
        problem = f"cannot read: {exc.strerror}"
    else:
        problem = f"cannot read: {exc}"
    return InputError(path, problem, line=line)


@contextlib.contextmanager
def read_errors(path: str, line: Callable[[], int | None] | None = None) -> Iterator[None]:
    """Raise decompression/OS errors inside the block as InputError naming `path`.

    `line`, if given, is called to name the line the reader had reached.
    """
    try:
        yield
    except READ_ERRORS as exc:
        raise read_error(path, exc, line() if line else None) from exc


def sniff(path: str, n: int = SNIFF_BYTES) -> bytes:
    """The first `n` decompressed bytes of a file ("" for stdin, which cannot be re-read)."""
    if path == STDIN:
        return b""
    with open_input(path) as stream, read_errors(path):
        return stream.read(n)

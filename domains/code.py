"""The code domain: source trees and repositories, one Document per file.

A directory is walked in sorted order with `.gitignore` honoured (pathspec),
include/exclude globs and a language filter applied (see
hnet_cli.data.readers.tree). Binary files, files over `max_bytes`, empty
files, files that are not UTF-8 (under errors=skip) and exact duplicates are
skipped and counted. With path_header=true each Document starts with one
line naming the file's path ("{path}\\n"; meta["header_bytes"] says how long).
"""

from __future__ import annotations

import hashlib
import os
import pathlib
import sys
import sysconfig
from typing import Iterator

from hnet_cli.data.documents import Document
from hnet_cli.data.domain import Domain, DomainOption
from hnet_cli.data.readers.decoding import ERROR_POLICIES, decode_to_utf8
from hnet_cli.data.readers.sources import STDIN, describe_binary, read_errors
from hnet_cli.data.readers.stats import ReadStats
from hnet_cli.data.readers.tree import language_of, suffixes_for, walk_tree
from hnet_cli.errors import InputError

from hnet_domains.targets import COMPRESSION_TARGETS, MEASURED

# Like git: a NUL byte in the first 8000 bytes makes a file binary.
BINARY_SNIFF_BYTES = 8000

# Parts of an installed standard library that are not its own source.
_STDLIB_SKIP = {"site-packages", "dist-packages", "__pycache__", "lib-dynload"}


class _Dedup:
    """Exact-duplicate detection by a 128-bit content hash (16 bytes of memory per file)."""

    def __init__(self):
        self._seen: set[bytes] = set()

    def seen(self, data: bytes) -> bool:
        digest = hashlib.blake2b(data, digest_size=16).digest()
        if digest in self._seen:
            return True
        self._seen.add(digest)
        return False


class CodeDomain(Domain):
    name = "code"
    aliases = ("source", "src")
    summary = "source trees, .gitignore honoured"
    unit = "char"
    default_recipe = "code-tiny"
    compression_targets = COMPRESSION_TARGETS["code"]
    targets_measured = MEASURED
    default_data = "installed Python stdlib (not bundled)"
    options = {
        "gitignore": DomainOption(bool, True, "honour .gitignore files (nested ones too)"),
        "include": DomainOption(list, (), "keep only files matching these globs (gitignore syntax, e.g. 'src/**')"),
        "exclude": DomainOption(list, (), "leave out files matching these globs (gitignore syntax, e.g. 'tests/')"),
        "languages": DomainOption(list, (), "keep only these languages or suffixes, e.g. 'python,rust' or 'py,pyx'"),
        "max_bytes": DomainOption(int, 1 << 20, "skip files larger than this (counted)", minimum=1),
        "errors": DomainOption(str, "skip", "files that are not valid UTF-8: skip (counted), replace "
                               "invalid bytes with U+FFFD (counted), or stop with an error", choices=ERROR_POLICIES),
        "dedup": DomainOption(bool, True, "skip exact duplicate files (counted)"),
        "path_header": DomainOption(bool, False, "start each Document with a line holding the file's path"),
    }

    def default_paths(self) -> list[pathlib.Path]:
        stdlib = pathlib.Path(sysconfig.get_paths()["stdlib"])
        if not stdlib.is_dir():
            return []
        return sorted(p for p in stdlib.iterdir() if p.name not in _STDLIB_SKIP and not p.name.startswith("."))

    def resolve_options(self, given) -> dict:
        resolved = super().resolve_options(given)
        suffixes_for(resolved["languages"])  # an unknown language name fails here, before reading
        return resolved

    def _documents(self, sources, stats, options) -> Iterator[Document]:
        # One duplicate detector per read, across all the given trees.
        dedup = _Dedup() if options["dedup"] else None
        before = stats.documents
        for source in sources:
            if source.is_dir:
                for path, rel in walk_tree(
                    source.path,
                    stats,
                    gitignore=options["gitignore"],
                    include=options["include"],
                    exclude=options["exclude"],
                    languages=options["languages"],
                ):
                    yield from self._file(path, rel, source.path, stats, options, dedup)
            elif stats.first_visit(source.path):
                rel = "-" if source.is_stdin else os.path.basename(source.path)
                yield from self._file(source.path, rel, source.path, stats, options, dedup)
        if stats.documents == before:
            names = ", ".join(s.path for s in sources[:3]) + (", ..." if len(sources) > 3 else "")
            raise InputError(names, f"no code documents found ({stats.summary()})")

    def read_file(self, path: str, stats: ReadStats, options: dict) -> Iterator[Document]:
        rel = "-" if path == STDIN else os.path.basename(path)
        yield from self._file(path, rel, path, stats, options, None)

    def _file(
        self, path: str, rel: str, root: str, stats: ReadStats, options: dict, dedup: _Dedup | None
    ) -> Iterator[Document]:
        stats.files += 1
        limit = options["max_bytes"]
        with read_errors(path):
            if path == STDIN:
                data = sys.stdin.buffer.read(limit + 1)
            else:
                if os.path.getsize(path) > limit:
                    stats.skip("larger than max_bytes", path)
                    return
                with open(path, "rb") as handle:
                    data = handle.read(limit + 1)
        if len(data) > limit:
            stats.skip("larger than max_bytes", path)
            return
        if not data.strip():
            stats.skip("empty file", path)
            return
        if describe_binary(data[:BINARY_SNIFF_BYTES]) is not None:
            stats.skip("binary file", path)
            return
        text = decode_to_utf8(data, path=path, stats=stats, where=path, errors=options["errors"])
        if text is None:
            return
        if dedup is not None and dedup.seen(text):
            stats.skip("duplicate file", path)
            return
        meta = {"path": rel, "language": language_of(os.path.basename(rel))}
        if options["path_header"]:
            header = (rel + "\n").encode("utf-8", "replace")
            meta["header_bytes"] = len(header)
            text = header + text
        yield stats.yielded(Document(text, root, rel, meta))


domain = CodeDomain()

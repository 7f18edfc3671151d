"""What a read did: counts of files, documents and bytes, and every skip.

Readers never drop input silently. Whatever they do not turn into a Document
(a binary file in a source tree, a duplicate, a JSONL row without the text
field when the policy is "skip", ...) is counted in a `ReadStats` under a
short reason, with the first few places it happened, so the CLI can report
"skipped 3 binary files (e.g. src/logo.png)". Inputs left out on purpose by
the user's own filters (.gitignore, --domain-opt exclude=...) are counted
separately as `excluded`, since they are not problems.

`DocumentStream` is what `Domain.read` returns: an ordinary iterator of
Documents that also carries the `ReadStats` being filled while it is consumed.

    stream = domain.read(["genome.fa.gz"])
    for doc in stream:
        ...
    print(stream.stats.summary())   # the counts are final once the stream is exhausted
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterator

from hnet_cli.data.documents import Document

# How many example places are kept per skip reason (enough to find the files).
EXAMPLES_PER_REASON = 3


@dataclass
class ReadStats:
    """Counters a reader fills while it streams.

    files:      input files opened (stdin counts as one).
    documents:  Documents yielded.
    bytes:      total length of the yielded Documents' data.
    skipped:    reason -> count of inputs not yielded because of a problem
                (e.g. "binary file", "duplicate file", "invalid UTF-8").
    excluded:   reason -> count of inputs left out by the user's own rules
                (e.g. ".gitignore", "exclude pattern", "language filter").
    replaced:   invalid byte sequences replaced by U+FFFD (errors=replace).
    encodings:  source encoding -> number of files decoded from it (text domains).
    counts:     other tallies worth reporting, e.g. "N bases between documents".
    examples:   reason -> the first few places ("file", "file:line") it happened.
    """

    files: int = 0
    documents: int = 0
    bytes: int = 0
    skipped: Counter = field(default_factory=Counter)
    excluded: Counter = field(default_factory=Counter)
    replaced: int = 0
    encodings: Counter = field(default_factory=Counter)
    counts: Counter = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)
    # (device, inode) of every file opened so far: a file reached twice (a link, a file also
    # inside a given directory, overlapping globs) is read once.
    _visited: set = field(default_factory=set, repr=False, compare=False)

    def skip(self, reason: str, where: str, n: int = 1) -> None:
        """Count `n` inputs not yielded because of `reason`, remembering where."""
        self.skipped[reason] += n
        self._example(reason, where)

    def exclude(self, reason: str, where: str, n: int = 1) -> None:
        """Count `n` inputs the user's own filters left out."""
        self.excluded[reason] += n
        self._example(reason, where)

    def _example(self, reason: str, where: str) -> None:
        places = self.examples.setdefault(reason, [])
        if len(places) < EXAMPLES_PER_REASON:
            places.append(str(where))

    def first_visit(self, path: str) -> bool:
        """True the first time a file is met; later visits are counted as skipped "same file again"."""
        if path == "-":  # stdin
            return True
        try:
            info = os.stat(path)
        except OSError:
            return True  # a file that is gone: its reader reports it
        key = (info.st_dev, info.st_ino)
        if key in self._visited:
            self.skip("same file again", path)
            return False
        self._visited.add(key)
        return True

    def yielded(self, doc: Document) -> Document:
        """Count a Document on its way out (readers call this as they yield)."""
        self.documents += 1
        self.bytes += len(doc.data)
        return doc

    @property
    def total_skipped(self) -> int:
        return sum(self.skipped.values())

    def merge(self, other: "ReadStats") -> None:
        self.files += other.files
        self.documents += other.documents
        self.bytes += other.bytes
        self.skipped.update(other.skipped)
        self.excluded.update(other.excluded)
        self.replaced += other.replaced
        self.encodings.update(other.encodings)
        self.counts.update(other.counts)
        for reason, places in other.examples.items():
            for place in places:
                self._example(reason, place)

    def as_dict(self) -> dict:
        """Plain JSON-ready data (for `--json` output and run logs)."""
        return {
            "files": self.files,
            "documents": self.documents,
            "bytes": self.bytes,
            "skipped": dict(sorted(self.skipped.items())),
            "excluded": dict(sorted(self.excluded.items())),
            "replaced": self.replaced,
            "encodings": dict(sorted(self.encodings.items())),
            "counts": dict(sorted(self.counts.items())),
            "examples": {k: list(v) for k, v in sorted(self.examples.items())},
        }

    def summary(self) -> str:
        """One line for logs: what was read and what was left out, and why."""
        text = f"{self.files} files, {self.documents} documents, {self.bytes} bytes"
        if self.skipped:
            text += "; skipped " + ", ".join(
                f"{n} ({reason}, e.g. {self.examples.get(reason, ['?'])[0]})"
                for reason, n in sorted(self.skipped.items())
            )
        if self.excluded:
            text += "; excluded " + ", ".join(f"{n} ({reason})" for reason, n in sorted(self.excluded.items()))
        if self.replaced:
            text += f"; replaced {self.replaced} invalid byte sequences"
        return text


class DocumentStream(Iterator[Document]):
    """An iterator of Documents that carries the ReadStats it fills.

    Errors in the input surface as `InputError` while iterating (reading
    streams; nothing is read ahead of the consumer).
    """

    def __init__(self, documents: Iterator[Document], stats: ReadStats):
        self._documents = documents
        self.stats = stats

    def __iter__(self) -> "DocumentStream":
        return self

    def __next__(self) -> Document:
        return next(self._documents)

    def close(self) -> None:
        """Stop early and release open files."""
        close = getattr(self._documents, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> "DocumentStream":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

"""The unit every reader yields and every job consumes: a document of bytes.

Data flows one way: files -> domain reader -> Documents -> byte stream /
batches -> model. A Document is one natural unit of the domain: a FASTA/FASTQ
record, a source file, a JSONL row, a text file (or paragraph group).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Document:
    """One document, already converted to the bytes the model sees.

    data:   the model's input bytes (UTF-8 for text and code; ASCII bases for DNA).
    source: the file it came from ("-" for stdin).
    name:   a stable identifier inside that source: the FASTA record id, the
            file's path relative to the tree root, "line 12" for JSONL, ...
    meta:   domain-specific extras, e.g. {"record": "chr1", "offset": 0} so that
            tools can map byte positions back to genome coordinates (BED).
    """

    data: bytes
    source: str
    name: str
    meta: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.data)


def continues(prev: Document, doc: Document) -> bool:
    """`doc` is the next piece of the record or file that a reader cut `prev` from (meta["continues"])."""
    if not prev.meta.get("continues") or doc.source != prev.source:
        return False
    if doc.meta.get("record") != prev.meta.get("record"):
        return False
    if "offset" in prev.meta:
        return doc.meta.get("offset") == prev.meta["offset"] + len(prev.data)
    return True


def joined_name(first: Document, length: int) -> str:
    """The name of a document joined from pieces of `length` bytes in all: a record's range when known."""
    if "record" in first.meta and "offset" in first.meta:
        start = int(first.meta["offset"])
        return f"{first.meta['record']}:{start}-{start + length}"
    return first.name

"""A deterministic train/validation split of a document stream.

Two modes, chosen from the data itself (the same input always splits the same
way, whatever the order of the files on disk or the number of processes):

- "documents" (corpora with many documents): a document is held out when the
  hash of its identity - the file's base name, the document's name, and its
  occurrence number under that name - falls below `val_fraction`. Whole
  documents are held out, so validation never shares a document with training.
- "tail" (fewer than `min_documents` documents, e.g. one genome or one book, or
  when hashing held out nothing): every document is cut at
  (1 - val_fraction) of its length; the head trains, the tail validates. The cut
  is moved forward to a UTF-8 character boundary.

The validation set is kept in memory (at most `eval_bytes`); training documents
are streamed and filtered on the fly, so a large corpus is never held in memory.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

from hnet_cli.data.documents import Document

MIN_DOCUMENTS = 50  # fewer documents than this: split inside documents ("tail")


def document_key_fraction(doc: Document, occurrence: int) -> float:
    """A number in [0, 1), a stable function of the document's identity."""
    key = f"{os.path.basename(doc.source)}\0{doc.name}\0{occurrence}".encode("utf-8", "surrogatepass")
    digest = hashlib.blake2b(key, digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


def utf8_cut(data: bytes, at: int) -> int:
    """`at` moved forward past UTF-8 continuation bytes (0b10xxxxxx), so no character is cut."""
    while 0 < at < len(data) and (data[at] & 0xC0) == 0x80:
        at += 1
    return at


def with_occurrence(docs: Iterable[Document]) -> Iterator[tuple[Document, int]]:
    """(document, how many earlier documents had the same source and name): a stable identity."""
    seen: dict[tuple[str, str], int] = {}
    for doc in docs:
        key = (doc.source, doc.name)
        occurrence = seen.get(key, 0)
        seen[key] = occurrence + 1
        yield doc, occurrence


def _close(stream) -> None:
    close = getattr(stream, "close", None)
    if close is not None:
        close()


@dataclass
class Split:
    """How documents are divided; `train` filters a stream, `validation` is in memory."""

    mode: str  # "documents" or "tail"
    val_fraction: float
    validation: list[Document] = field(default_factory=list)
    documents_seen: int = 0  # documents read while planning

    def is_validation(self, doc: Document, occurrence: int) -> bool:
        return self.mode == "documents" and document_key_fraction(doc, occurrence) < self.val_fraction

    def tail_cut(self, doc: Document) -> int:
        return utf8_cut(doc.data, int(round(len(doc.data) * (1.0 - self.val_fraction))))

    def train(self, docs: Iterable[Document]) -> Iterator[Document]:
        """The training part of a document stream (the same stream `plan_split` read)."""
        for doc, occurrence in with_occurrence(docs):
            if self.mode == "tail":
                cut = self.tail_cut(doc)
                if cut > 0:
                    yield Document(doc.data[:cut], doc.source, doc.name, doc.meta)
            elif not self.is_validation(doc, occurrence):
                yield doc

    @property
    def validation_bytes(self) -> int:
        return sum(len(d.data) for d in self.validation)


def plan_split(
    open_stream: Callable[[], Iterable[Document]],
    val_fraction: float,
    eval_bytes: int,
    min_documents: int = MIN_DOCUMENTS,
) -> Split:
    """Decide the mode and collect up to `eval_bytes` of validation documents.

    Reads the stream from its start only as far as needed: until at least
    `min_documents` documents are seen and the validation set is full (or the
    stream ends). `open_stream()` must give the same documents each call.
    """
    held_out: list[Document] = []
    held_bytes = 0
    n_docs = 0
    stream = open_stream()
    first_docs: list[Document] = []  # kept only while the mode is undecided
    try:
        for doc, occurrence in with_occurrence(stream):
            n_docs += 1
            if n_docs <= min_documents:
                first_docs.append(doc)
            if held_bytes < eval_bytes and document_key_fraction(doc, occurrence) < val_fraction:
                take = doc.data[: eval_bytes - held_bytes]
                held_out.append(Document(take, doc.source, doc.name, doc.meta))
                held_bytes += len(take)
            if n_docs >= min_documents and held_bytes >= eval_bytes:
                break
    finally:
        _close(stream)
    if n_docs >= min_documents and held_out:
        return Split("documents", val_fraction, held_out, n_docs)
    # Few documents (or hashing held none out): the tail of every document validates.
    split = Split("tail", val_fraction, [], n_docs)
    if n_docs < min_documents:
        source_docs: Iterable[Document] = first_docs
    else:
        source_docs = open_stream()
    held_bytes = 0
    for doc in source_docs:
        if held_bytes >= eval_bytes:
            break
        tail = doc.data[split.tail_cut(doc):][: eval_bytes - held_bytes]
        if tail:
            split.validation.append(Document(tail, doc.source, doc.name, {**doc.meta, "tail": True}))
            held_bytes += len(tail)
    _close(source_docs)
    return split

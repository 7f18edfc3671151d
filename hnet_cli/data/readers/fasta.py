"""FASTA and FASTQ records, streamed.

FASTQ goes through biopython's `FastqGeneralIterator` (reads are short, so a
record always fits in memory). FASTA is parsed here, by hand, because
biopython's parsers (`SeqIO.parse`, `SimpleFastaParser`) hold a whole record
in memory before yielding it: a human chromosome is 250 MB, and the target is
a bounded footprint for any input. They are also ~2.5x slower than the block
parser below (see bench/RESULTS.md, "Readers"), which works on 1 MB blocks
with C-speed bytes methods (find, count, translate) and never splits records
into Python lines.

`SequenceDocuments` turns the bases of one record into Documents with
coordinates: it folds soft-masked (lowercase) bases on request, splits at
long runs of N, and caps each Document's length. A Document never has bases
removed from its middle, so `meta["offset"] + i` is always the 0-based
position of `data[i]` in the record.
"""

from __future__ import annotations

import io
import re
from typing import BinaryIO, Iterator

from hnet_cli.data.documents import Document
from hnet_cli.data.readers.stats import ReadStats
from hnet_cli.errors import InputError

BLOCK_SIZE = 1 << 20
MAX_HEADER_BYTES = 1 << 20

# IUPAC nucleotide codes in both cases, plus the alignment gap.
NUCLEOTIDES = b"ACGTUNRYSWKMBDHVacgtunryswkmbdhv-"
_WHITESPACE = b" \t\r\n"


def _first_invalid(segment: bytes, clean: bytes, allowed: bytes) -> int | None:
    """Index in `segment` of its first byte outside `allowed` (whitespace aside), or None."""
    leftover = clean.translate(None, allowed)
    if not leftover:
        return None
    return segment.find(leftover[:1])


def _describe_byte(value: int) -> str:
    char = chr(value)
    return repr(char) if char.isprintable() else f"byte 0x{value:02x}"


def iter_fasta(
    stream: BinaryIO, path: str, allowed: bytes | None = NUCLEOTIDES, block_size: int = BLOCK_SIZE
) -> Iterator[tuple[int, str, bytes]]:
    """(record number, header line, bases) for each piece of each record.

    A record's first tuple carries b"" (so empty records are seen), later ones
    carry its bases in order, whitespace removed, at most about `block_size`
    at a time. Raises InputError (with the line number) for data before the
    first header and for bytes outside `allowed` (None allows anything).
    """
    record = 0
    header: str | None = None
    header_buf = bytearray()
    in_header = False
    at_line_start = True
    line = 1  # number of the line the parser is on
    while True:
        block = stream.read(block_size)
        if not block:
            break
        pos, end_of_block = 0, len(block)
        while pos < end_of_block:
            if in_header:
                nl = block.find(b"\n", pos)
                header_buf += block[pos : nl if nl >= 0 else end_of_block]
                if len(header_buf) > MAX_HEADER_BYTES:
                    raise InputError(path, "a header line longer than 1 MB: not FASTA", line=line)
                if nl < 0:
                    break
                pos = nl + 1
                text = header_buf.decode("utf-8", "replace").strip()
                if not text:
                    raise InputError(path, "empty FASTA header line ('>' without a name)", line=line)
                record += 1
                header = text
                in_header, at_line_start = False, True
                line += 1
                yield record, header, b""
                continue
            if at_line_start and block.startswith(b">", pos):
                in_header, header_buf = True, bytearray()
                pos += 1
                continue
            nxt = block.find(b"\n>", pos)
            stop = nxt + 1 if nxt >= 0 else end_of_block
            segment = block[pos:stop]
            clean = segment.translate(None, _WHITESPACE)
            if clean:
                if header is None:
                    first = pos + len(segment) - len(segment.lstrip())
                    raise InputError(
                        path,
                        "sequence data before the first '>' header line: not FASTA "
                        "(each record starts with a '>name' line)",
                        line=line + block.count(b"\n", pos, first),
                    )
                if allowed is not None:
                    bad = _first_invalid(segment, clean, allowed)
                    if bad is not None:
                        raise InputError(
                            path,
                            f"{_describe_byte(segment[bad])} is not a nucleotide code (IUPAC ACGTUN...)",
                            line=line + segment.count(b"\n", 0, bad),
                            record=header.split(None, 1)[0],
                        )
                yield record, header, clean
            line += segment.count(b"\n")
            at_line_start = segment.endswith(b"\n")
            pos = stop
    if in_header:  # a last header line without a newline
        text = header_buf.decode("utf-8", "replace").strip()
        if not text:
            raise InputError(path, "empty FASTA header line ('>' without a name)", line=line)
        yield record + 1, text, b""


class _LineCounter:
    """A text handle that counts the lines FastqGeneralIterator takes from it."""

    def __init__(self, handle: io.TextIOBase):
        self._handle = handle
        self.lines = 0

    def read(self, n: int = -1) -> str:
        return self._handle.read(n)

    def readline(self) -> str:
        text = self._handle.readline()
        if text:
            self.lines += 1
        return text

    def __iter__(self):
        return self

    def __next__(self) -> str:
        text = self._handle.readline()
        if not text:
            raise StopIteration
        self.lines += 1
        return text


_FASTQ_RECORD_IN_MESSAGE = re.compile(r"differs for (\S+)")


def iter_fastq(
    stream: BinaryIO, path: str, allowed: bytes | None = NUCLEOTIDES
) -> Iterator[tuple[int, str, bytes]]:
    """(record number, title line, sequence) per FASTQ record; quality is checked, then dropped."""
    from Bio.SeqIO.QualityIO import FastqGeneralIterator  # imported here: keeps `hnet --help` fast

    text = io.TextIOWrapper(stream, encoding="latin-1", newline=None)
    handle = _LineCounter(text)
    record = 0
    start_line = 1  # first line of the record being parsed
    title = None
    try:
        for title, seq, _quality in FastqGeneralIterator(handle):
            record += 1
            data = seq.encode("latin-1")
            if allowed is not None:
                bad = _first_invalid(data, data, allowed)
                if bad is not None:
                    raise InputError(
                        path,
                        f"{_describe_byte(data[bad])} is not a nucleotide code (IUPAC ACGTUN...)",
                        line=start_line + 1,
                        record=title.split(None, 1)[0],
                    )
            yield record, title, data
            # The iterator has already read the next record's '@' line.
            start_line = handle.lines
    except ValueError as exc:
        message = str(exc).rstrip(".")
        named = _FASTQ_RECORD_IN_MESSAGE.search(message)
        if named:
            where = named.group(1)
        else:
            where = f"#{record + 1}"
        message = message.replace("Lengths of sequence and quality values differs", "sequence and quality lengths differ")
        raise InputError(path, f"malformed FASTQ: {message}", line=start_line, record=where) from None
    finally:
        text.detach()


class SequenceDocuments:
    """Turns the bases of one record into Documents with exact coordinates.

    fold_case:   upper-case soft-masked (lowercase) bases.
    n_split:     split the record at runs of at least this many N (the run
                 itself is left out, counted in stats.counts); 0 keeps N runs.
    max_length:  longest Document; a longer stretch continues in the next
                 Document (meta["continues"] is True on the earlier one).
    min_length:  shorter Documents are skipped (counted).
    Each Document's meta: {"record", "offset", "continues"} (+ "description").
    """

    def __init__(
        self,
        path: str,
        header: str,
        stats: ReadStats,
        *,
        fold_case: bool = True,
        n_split: int = 0,
        max_length: int = 1 << 20,
        min_length: int = 1,
    ):
        self.path = path
        parts = header.split(None, 1)
        self.record = parts[0]
        self.description = parts[1] if len(parts) > 1 else ""
        self.stats = stats
        self.fold_case = fold_case
        self.n_split = n_split
        self.max_length = max_length
        self.min_length = max(min_length, 1)
        self._n_pattern = re.compile(rb"[Nn]+") if n_split else None
        self._buf = bytearray()
        self._start = 0  # record coordinate of self._buf[0]
        self._pos = 0  # record coordinate of the next base to arrive
        self._n_run = 0  # length of the N run seen but not yet placed
        self._n_bytes = bytearray()  # its first n_split bytes (kept if the run is short)
        self._emitted = 0

    def add(self, bases: bytes) -> Iterator[Document]:
        if not bases:
            return
        if self.fold_case:
            bases = bases.upper()
        if self._n_pattern is None or (b"N" not in bases and b"n" not in bases):
            yield from self._bases(bases)
            return
        prev = 0
        for run in self._n_pattern.finditer(bases):
            yield from self._bases(bases[prev : run.start()])
            self._n(bases[run.start() : run.end()])
            prev = run.end()
        yield from self._bases(bases[prev:])

    def finish(self) -> Iterator[Document]:
        if self._n_run:
            self._close_n_run()
        if self._pos == 0:
            self.stats.skip("empty record", f"{self.path} ({self.record})")
        yield from self._emit(len(self._buf), continues=False)

    def _n(self, run: bytes) -> None:
        self._n_run += len(run)
        if len(self._n_bytes) < self.n_split:
            self._n_bytes += run[: self.n_split - len(self._n_bytes)]
        self._pos += len(run)

    def _close_n_run(self) -> bool:
        """Place the pending N run: kept in the Document if short; True if it is a split point."""
        run_start = self._pos - self._n_run
        long_run = self._n_run >= self.n_split
        if long_run:
            self.stats.counts["N bases left out (long runs)"] += self._n_run
        else:
            if not self._buf:
                self._start = run_start
            self._buf += self._n_bytes
        self._n_run = 0
        self._n_bytes = bytearray()
        return long_run

    def _bases(self, bases: bytes) -> Iterator[Document]:
        if not bases:
            return
        if self._n_run and self._close_n_run():
            yield from self._emit(len(self._buf), continues=False)
        if not self._buf:
            self._start = self._pos
        self._buf += bases
        self._pos += len(bases)
        # Strictly longer: the bases left over follow at once, so "continues" is true.
        while len(self._buf) > self.max_length:
            yield from self._emit(self.max_length, continues=True)

    def _emit(self, length: int, continues: bool) -> Iterator[Document]:
        if length == 0:
            return
        data = bytes(self._buf[:length])
        del self._buf[:length]
        start = self._start
        self._start += length
        if length < self.min_length:
            self.stats.skip("shorter than min_length", f"{self.path} ({self.record}:{start})")
            return
        whole = self._emitted == 0 and start == 0 and not continues and self._pos == length
        name = self.record if whole else f"{self.record}:{start}-{start + length}"
        meta = {"record": self.record, "offset": start, "continues": continues}
        if self.description:
            meta["description"] = self.description
        self._emitted += 1
        yield self.stats.yielded(Document(data, self.path, name, meta))

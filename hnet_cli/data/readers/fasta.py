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

# Complement of every IUPAC code (ambiguity codes map to their complements), both cases.
_COMPLEMENT = bytes.maketrans(
    b"ACGTURYSWKMBDHVNacgturyswkmbdhvn",
    b"TGCAAYRSWMKVHDBNtgcaayrswmkvhdbn",
)


def reverse_complement(bases: bytes) -> bytes:
    """The other strand, 5' to 3': each IUPAC code complemented, then the order reversed."""
    return bases.translate(_COMPLEMENT)[::-1]


def _first_invalid(segment: bytes, allowed: bytes) -> int | None:
    """Index in `segment` of its first byte outside `allowed` (whitespace aside), or None."""
    leftover = segment.translate(None, allowed + _WHITESPACE)
    if not leftover:
        return None
    return segment.find(leftover[:1])


def _describe_byte(value: int) -> str:
    char = chr(value)
    return repr(char) if char.isprintable() else f"byte 0x{value:02x}"


_INVALID, _SPACE = 0, 1  # marker bytes the cleaning table writes


def _cleaning_table(allowed: bytes | None, fold_case: bool) -> bytes:
    """A bytes.translate table that cleans sequence lines in one pass.

    Allowed bytes map to themselves (upper-cased if fold_case), other
    whitespace than "\n" to _SPACE, anything else to _INVALID; "\n" itself is
    deleted by translate, so the length difference counts lines for free.
    Two memchr-speed `in` tests then tell whether any marker appeared.
    """
    table = bytearray(range(256)) if allowed is None else bytearray(_INVALID for _ in range(256))
    if allowed is not None:
        for value in allowed:
            table[value] = value
    table[_INVALID] = _INVALID
    table[_SPACE] = _INVALID
    for value in b" \t\r":
        table[value] = _SPACE
    if fold_case:
        for value in range(ord("a"), ord("z") + 1):
            if table[value] == value:
                table[value] = value - 32
    return bytes(table)


def _header_text(header_buf: bytearray, path: str, line: int) -> str:
    text = header_buf.decode("utf-8", "replace").strip()
    if not text:
        raise InputError(path, "empty FASTA header line ('>' without a name)", line=line)
    return text


def _segment_error(path: str, segment: bytes, line: int, header: str | None, allowed: bytes | None) -> InputError:
    """What is wrong with a segment of sequence lines: data before any header, or a byte outside `allowed`."""
    if header is None:
        first = len(segment) - len(segment.lstrip())
        return InputError(path, "sequence data before the first '>' header line: not FASTA "
                          "(each record starts with a '>name' line)", line=line + segment.count(b"\n", 0, first))
    bad = _first_invalid(segment, allowed if allowed is not None else b"")
    return InputError(path, f"{_describe_byte(segment[bad])} is not a nucleotide code (IUPAC ACGTUN...)",
                      line=line + segment.count(b"\n", 0, bad), record=header.split(None, 1)[0])


def iter_fasta(
    stream: BinaryIO,
    path: str,
    allowed: bytes | None = NUCLEOTIDES,
    fold_case: bool = False,
    block_size: int = BLOCK_SIZE,
) -> Iterator[tuple[int, str, bytes]]:
    """(record number, header line, bases) for each piece of each record.

    A record's first tuple carries b"" (so empty records are seen), later ones
    carry its bases in order, whitespace removed (upper-cased if fold_case),
    at most about `block_size` at a time. Raises InputError (with the line
    number) for data before the first header and for bytes outside `allowed`
    (None allows any byte but NUL and 0x01).
    """
    table = _cleaning_table(allowed, fold_case)
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
                header = _header_text(header_buf, path, line)
                record += 1
                in_header, at_line_start = False, True
                line += 1
                yield record, header, b""
                continue
            if at_line_start and block[pos] == 0x3E:  # ">"
                in_header, header_buf = True, bytearray()
                pos += 1
                continue
            # The next header starts at a ">" just after a newline. A ">" anywhere
            # else is kept in the segment, where the alphabet check reports it.
            gt = block.find(b">", pos)
            if gt < 0:
                stop = end_of_block
            elif gt > pos and block[gt - 1] == 0x0A:
                stop = gt
            else:
                stop = gt + 1
            segment = block[pos:stop]
            clean = segment.translate(table, b"\n")
            newlines = len(segment) - len(clean)
            if clean:
                if b"\x01" in clean:  # spaces, tabs, carriage returns
                    clean = clean.translate(None, b"\x01")
                if (clean and header is None) or b"\x00" in clean:
                    raise _segment_error(path, segment, line, header, allowed)
                if clean:
                    yield record, header, clean
            line += newlines
            at_line_start = segment.endswith(b"\n")
            pos = stop
    if in_header:  # a last header line without a newline
        text = _header_text(header_buf, path, line)
        yield record + 1, text, b""


def sniff_sequence_format(head: bytes) -> str | None:
    """"FASTA" or "FASTQ" when the first bytes of a file look like one, else None.

    FASTA: a '>' line, then lines of which at least 90% of the bytes are
    nucleotide codes. FASTQ: an '@' line, a sequence line, a '+' line. Used
    to refuse (or pick the dna domain for) sequences about to be read as text,
    which would silently give wrong coordinates and scores.
    """
    lines = head.lstrip().split(b"\n")
    if len(lines) < 2:
        return None
    if lines[0][:1] == b"@" and len(lines) >= 3 and lines[2][:1] == b"+" and lines[1].strip():
        if _first_invalid(lines[1].strip(), NUCLEOTIDES) is None:
            return "FASTQ"
    if lines[0][:1] != b">":
        return None
    body = b"".join(line for line in lines[1:-1] if not line.startswith(b">")) if len(lines) > 2 else lines[1]
    body = body.translate(None, _WHITESPACE)
    if not body:
        return None
    other = len(body.translate(None, NUCLEOTIDES))
    return "FASTA" if other * 10 <= len(body) else None


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
        # A generator resumes faster than a __next__ method is called; each
        # `for line in handle` of the parser gets one, all reading the same file.
        for text in self._handle:
            self.lines += 1
            yield text


_N_RUN = re.compile(rb"[Nn]+")
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
                bad = _first_invalid(data, allowed)
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


def short_record(
    path: str, header: str, bases: bytes, stats: ReadStats, *, fold_case: bool, n_split: int, max_length: int,
    min_length: int,
) -> Document | None | bool:
    """The fast path for a short record that needs no splitting (a sequencing read).

    Returns its Document, None if it is skipped (counted), or False if it needs
    SequenceDocuments (longer than max_length, or holding a long N run).
    Same results as SequenceDocuments, without its per-record bookkeeping.
    """
    if len(bases) > max_length:
        return False
    if fold_case:
        bases = bases.upper()
    if n_split and len(bases) >= n_split:
        run = b"N" * n_split
        if run in (bases if fold_case else bases.upper()):
            return False
    parts = header.split(None, 1)
    record = parts[0]
    if not bases:
        stats.skip("empty record", f"{path} ({record})")
        return None
    if len(bases) < max(min_length, 1):
        stats.skip("shorter than min_length", f"{path} ({record}:0)")
        return None
    meta = {"record": record, "offset": 0, "continues": False}
    if len(parts) > 1:
        meta["description"] = parts[1]
    return stats.yielded(Document(bases, path, record, meta))


class SequenceDocuments:
    """Turns the bases of one record into Documents with exact coordinates.

    fold_case:   upper-case soft-masked (lowercase) bases.
    input_folded: the bases come already upper-cased (iter_fasta(fold_case=True)).
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
        input_folded: bool = False,
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
        self.input_folded = input_folded  # the parser already upper-cased the bases
        self._buf = bytearray()
        self._start = 0  # record coordinate of self._buf[0]
        self._pos = 0  # record coordinate of the next base to arrive
        self._n_run = 0  # length of the N run seen but not yet placed
        self._n_bytes = bytearray()  # its first n_split bytes (kept if the run is short)
        self._emitted = 0

    def add(self, bases: bytes) -> Iterator[Document]:
        if not bases:
            return
        if self.fold_case and not self.input_folded:
            bases = bases.upper()
        if not self.n_split:
            yield from self._bases(bases)
            return
        prev = 0
        for start, end in self._n_runs(bases):
            yield from self._bases(bases[prev:start])
            self._n(bases[start:end])
            prev = end
        yield from self._bases(bases[prev:])

    def _n_runs(self, bases: bytes) -> Iterator[tuple[int, int]]:
        """(start, end) of each run of N/n in `bases`.

        bytes.find (memchr speed) jumps to each run and a regex match measures
        it, so a block with a few Ns costs about a scan, not a regex pass over
        every base.
        """
        lower = not (self.fold_case or self.input_folded)  # after folding there is no "n" to look for
        next_upper = bases.find(b"N")
        next_lower = bases.find(b"n") if lower else -1
        while next_upper >= 0 or next_lower >= 0:
            if next_lower < 0 or 0 <= next_upper < next_lower:
                start = next_upper
            else:
                start = next_lower
            end = _N_RUN.match(bases, start).end()
            yield start, end
            if next_upper >= 0 and next_upper < end:
                next_upper = bases.find(b"N", end)
            if next_lower >= 0 and next_lower < end:
                next_lower = bases.find(b"n", end)

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

"""Property-based tests of the readers and the output writers (hypothesis).

Whatever bytes a file holds, reading it ends in Documents or in one of our own
errors (HnetError: a one-line message naming the file), never in another
exception. Valid FASTA and FASTQ read the same as Biopython reads them (an
independent parser), and the FASTA reader's result does not depend on the
block size it reads in. Outputs hold exactly what was written, or, when the
write fails, the previous file and nothing else.

The session's hypothesis seed is printed in the header and with any failure
(tests/conftest.py), so a failure replays with --hypothesis-seed=N.
"""

import errno
import io
import json
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hnet_cli.data.readers.fasta import iter_fasta
from hnet_cli.data.registry import get_domain
from hnet_cli.errors import HnetError, OutputClosed, OutputError
from hnet_cli.outputs import GuardedStream, open_output, write_output

SETTINGS = settings(max_examples=int(os.environ.get("HNET_PROPERTY_EXAMPLES", 60)), deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Bytes that make the parsers' decisions: markers, line ends, NUL, invalid UTF-8, bases.
_SPECIAL = st.sampled_from([b">", b"@", b"+", b"\n", b"\r\n", b"\x00", b"\xff", b"\xc3", b"ACGT", b"acgtn",
                            b"N" * 5, b" ", b"\t", b"{", b"[", b'"text"', b":", b"}", b"]", b"\xe4\xb8\xad"])
HOSTILE = st.one_of(st.binary(max_size=400),
                    st.lists(st.one_of(_SPECIAL, st.binary(max_size=8)), max_size=60).map(b"".join))


def _read_all(domain: str, data: bytes, suffix: str, **options) -> list:
    """Every Document of `data` written to a file NAME.suffix, read by the domain; HnetError passes."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"input{suffix}"
        path.write_bytes(data)
        stream = get_domain(domain).read([str(path)], **options)
        try:
            return list(stream)
        finally:
            stream.close()


def _only_our_errors(domain: str, data: bytes, suffix: str, **options) -> None:
    try:
        _read_all(domain, data, suffix, **options)
    except HnetError as exc:
        assert "\n" not in str(exc).strip(), str(exc)


# ------------------------------------------------------------------ any bytes: documents or our error


@SETTINGS
@given(data=HOSTILE, suffix=st.sampled_from([".fa", ".fastq", ".txt"]))
def test_dna_reader_on_any_bytes(data, suffix):
    _only_our_errors("dna", data, suffix)


@SETTINGS
@given(data=HOSTILE, split=st.sampled_from(["file", "paragraph", "line"]), max_bytes=st.integers(1, 64),
       encoding=st.sampled_from(["utf-8", "gb18030", "utf-16", "latin-1", "big5"]),
       errors=st.sampled_from(["error", "replace", "skip"]))
def test_text_reader_on_any_bytes(data, split, max_bytes, encoding, errors):
    _only_our_errors("text", data, ".txt", split=split, max_bytes=max_bytes, encoding=encoding, errors=errors,
                     format="text")


@SETTINGS
@given(data=HOSTILE, on_missing=st.sampled_from(["error", "skip"]))
def test_jsonl_reader_on_any_bytes(data, on_missing):
    _only_our_errors("text", data, ".jsonl", on_missing=on_missing)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=20,
)


@SETTINGS
@given(rows=st.lists(JSON_VALUES, min_size=1, max_size=6), field=st.sampled_from(["text", "a.b", "x"]))
def test_jsonl_rows_of_any_json(rows, field):
    """Any JSON value per line: the field's string is read exactly, anything else is our error."""
    data = "".join(json.dumps(r) + "\n" for r in rows).encode()
    try:
        docs = _read_all("text", data, ".jsonl", field=field, on_missing="skip")
    except HnetError:
        return
    expected = []
    for row in rows:
        value = row
        for key in field.split("."):
            value = value.get(key) if isinstance(value, dict) else None
        if isinstance(value, str) and value:
            expected.append(value.encode())
    assert [d.data for d in docs] == expected


@SETTINGS
@given(data=HOSTILE)
def test_parquet_reader_on_any_bytes(data):
    _only_our_errors("text", data, ".parquet")


@SETTINGS
@given(values=st.lists(st.one_of(st.none(), st.text(max_size=30), st.binary(max_size=30), st.integers(-2**63, 2**63 - 1)),
                       min_size=1, max_size=12),
       column=st.sampled_from(["text", "other"]))
def test_parquet_tables_of_any_column(values, column):
    """A table whose column holds strings, bytes, numbers or nulls: documents or our error."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pa.table({column: values})
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed types pyarrow itself refuses to build
        table = pa.table({column: [None if v is None else str(v) for v in values]})
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    try:
        docs = _read_all("text", buffer.getvalue(), ".parquet")
    except HnetError:
        return
    assert column == "text"
    assert all(d.data for d in docs)


# ------------------------------------------------------------------ valid FASTA and FASTQ: exact


_NAMES = st.from_regex(r"[A-Za-z0-9_.|]{1,12}", fullmatch=True)
_BASES = st.text(alphabet="ACGTNacgtnRYKM", max_size=300)


@st.composite
def fasta_files(draw):
    """(file bytes, [(name, bases)]) with any line width and line ends, blank lines between records."""
    records = draw(st.lists(st.tuples(_NAMES, _BASES), min_size=1, max_size=5))
    width = draw(st.integers(1, 80))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    out = []
    for name, bases in records:
        out.append(f">{name} some description{newline}")
        out += [bases[i:i + width] + newline for i in range(0, len(bases), width)]
        if draw(st.booleans()):
            out.append(newline)
    return "".join(out).encode(), records


def _pieces_by_record(data: bytes, block_size: int) -> list[tuple[str, bytes]]:
    joined: dict[int, list] = {}
    for record, header, bases in iter_fasta(io.BytesIO(data), "x.fa", allowed=None, block_size=block_size):
        joined.setdefault(record, [header, b""])
        joined[record][1] += bases
    return [(h, b) for h, b in joined.values()]


@SETTINGS
@given(case=fasta_files(), block_size=st.integers(1, 97))
def test_fasta_reader_is_block_size_invariant_and_agrees_with_biopython(case, block_size):
    from Bio.SeqIO.FastaIO import SimpleFastaParser

    data, _records = case
    reference = [(title, seq.encode()) for title, seq in SimpleFastaParser(io.StringIO(data.decode()))]
    assert _pieces_by_record(data, block_size) == reference
    assert _pieces_by_record(data, 1 << 16) == reference


@SETTINGS
@given(case=fasta_files())
def test_dna_domain_reads_fasta_exactly(case):
    """Through the domain (soft-masking folded, N runs kept): each record's bases, upper-cased, in order."""
    data, records = case
    expected: dict[str, bytes] = {}
    for name, bases in records:  # a name given twice: both records, in order
        if bases:
            expected[name] = expected.get(name, b"") + bases.upper().encode()
    if not expected:  # only empty records: nothing to read, said in one line
        with pytest.raises(HnetError, match="no dna documents found"):
            _read_all("dna", data, ".fa", n_split=0)
        return
    got: dict[str, bytes] = {}
    for doc in _read_all("dna", data, ".fa", n_split=0):
        got[doc.meta["record"]] = got.get(doc.meta["record"], b"") + doc.data
    assert got == expected


@SETTINGS
@given(records=st.lists(st.tuples(_NAMES, st.text(alphabet="ACGTN", min_size=1, max_size=150)), min_size=1,
                        max_size=5),
       quality=st.text(alphabet="!#%&5?AIJ", min_size=1, max_size=1))
def test_fastq_reader_agrees_with_biopython(records, quality):
    from Bio.SeqIO.QualityIO import FastqGeneralIterator

    data = "".join(f"@{n}\n{s}\n+\n{quality * len(s)}\n" for n, s in records).encode()
    reference = [(t.split()[0], s.encode()) for t, s, _ in FastqGeneralIterator(io.StringIO(data.decode()))]
    docs = _read_all("dna", data, ".fastq", n_split=0)
    assert [(d.meta["record"], d.data) for d in docs] == reference


# ------------------------------------------------------------------ output writers


@SETTINGS
@given(chunks=st.lists(st.one_of(st.text(max_size=50), st.binary(max_size=50)), max_size=8),
       binary=st.booleans())
def test_open_output_writes_exactly_what_was_written(chunks, binary):
    pieces = [c if isinstance(c, bytes) else c.encode() for c in chunks] if binary else \
        [c if isinstance(c, str) else c.decode("latin-1") for c in chunks]
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "out.txt"
        target.write_bytes(b"previous")
        with open_output(target, "wb" if binary else "w") as f:
            for piece in pieces:
                f.write(piece)
        expected = b"".join(pieces) if binary else "".join(pieces).encode("utf-8")
        assert target.read_bytes() == expected
        assert sorted(os.listdir(tmp)) == ["out.txt"]


@SETTINGS
@given(before=st.binary(max_size=40), pieces=st.lists(st.binary(max_size=40), min_size=1, max_size=5),
       fail_at=st.integers(0, 4), code=st.sampled_from([errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EFBIG]))
def test_a_failed_write_keeps_the_previous_file(before, pieces, fail_at, code):
    """A write that fails partway (a full disk): our one-line error, the old file intact, no temporary left."""
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "out.bin"
        target.write_bytes(before)
        with pytest.raises(OutputError, match="out.bin: cannot write"):
            with open_output(target, "wb") as f:
                for i, piece in enumerate(pieces):
                    if i == min(fail_at, len(pieces) - 1):
                        raise OSError(code, os.strerror(code), str(target))
                    f.write(piece)
        assert target.read_bytes() == before
        assert os.listdir(tmp) == ["out.bin"]


class _Failing(io.RawIOBase):
    def __init__(self, code, after):
        self.code, self.left = code, after

    def writable(self):
        return True

    def write(self, data):
        if self.left <= 0:
            raise OSError(self.code, os.strerror(self.code))
        self.left -= 1
        return len(data)


@SETTINGS
@given(code=st.sampled_from([errno.ENOSPC, errno.EPIPE, errno.EIO, errno.EACCES, errno.EROFS, errno.ECONNRESET]),
       after=st.integers(0, 3), pieces=st.lists(st.binary(min_size=1, max_size=10), min_size=1, max_size=6))
def test_guarded_streams_raise_only_our_errors(code, after, pieces):
    stream = GuardedStream(_Failing(code, after), "out.tsv")
    try:
        for piece in pieces:
            stream.write(piece)
        stream.flush()
    except OutputClosed as exc:
        assert code in (errno.EPIPE, errno.ECONNRESET) and exc.exit_code == 141
    except OutputError as exc:
        assert str(exc).startswith("out.tsv: cannot write") and exc.exit_code == 1


@SETTINGS
@given(data=st.one_of(st.text(max_size=200), st.binary(max_size=200)))
def test_write_output_round_trips(data):
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "x"
        write_output(target, data)
        assert target.read_bytes() == (data if isinstance(data, bytes) else data.encode("utf-8"))

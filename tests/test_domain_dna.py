"""The dna domain on the bundled real data and on malformed files."""

import gzip
import io
import lzma
import random
import re
import sys

import pytest
from Bio import SeqIO

from hnet_cli.data.readers.fasta import SequenceDocuments, iter_fasta
from hnet_cli.data.readers.stats import ReadStats
from hnet_cli.data.registry import get_domain
from hnet_cli.errors import InputError
from hnet_domains.dna import DATA, reverse_complement

dna = get_domain("dna")
GENOME = DATA / "lambda_phage.fa.gz"
READS = DATA / "lambda_reads.fq.gz"


def read_all(paths, **options):
    stream = dna.read(paths, **options)
    return list(stream), stream.stats


def test_bundled_genome_matches_biopython():
    docs, stats = read_all([])  # no paths: the bundled sample
    with gzip.open(GENOME, "rt") as handle:
        records = list(SeqIO.parse(handle, "fasta"))
    assert len(records) == 1 and len(records[0]) == 48502
    assert [d.data for d in docs] == [bytes(records[0].seq).upper()]
    doc = docs[0]
    assert doc.meta["record"] == records[0].id == "gi|9626243|ref|NC_001416.1|"
    assert doc.meta["offset"] == 0 and doc.meta["continues"] is False
    assert doc.name == records[0].id
    assert doc.meta["description"] == "Enterobacteria phage lambda, complete genome"
    assert stats.files == 1 and stats.documents == 1 and stats.bytes == 48502
    assert dna.count_units(doc.data) == 48502


def test_bundled_reads_match_biopython():
    docs, stats = read_all([READS])
    with gzip.open(READS, "rt") as handle:
        records = list(SeqIO.parse(handle, "fastq"))
    assert len(records) == 200
    assert [d.data for d in docs] == [bytes(r.seq) for r in records]
    assert [d.meta["record"] for d in docs] == [r.id for r in records]


def test_windows_keep_exact_coordinates():
    docs, _ = read_all([GENOME], max_length=10_000)
    with gzip.open(GENOME, "rt") as handle:
        genome = bytes(next(SeqIO.parse(handle, "fasta")).seq)
    assert [len(d) for d in docs] == [10_000] * 4 + [8502]
    assert [d.meta["continues"] for d in docs] == [True] * 4 + [False]
    for doc in docs:
        start = doc.meta["offset"]
        assert genome[start : start + len(doc)] == doc.data
        assert doc.name == f"{doc.meta['record']}:{start}-{start + len(doc)}"


def reference_documents(seq: bytes, n_split: int, max_length: int):
    """Straightforward whole-sequence version of the streaming splitter: (offset, data) pairs."""
    pieces, start = [], 0
    if n_split:
        for run in re.finditer(rb"[Nn]{%d,}" % n_split, seq):
            pieces.append((start, seq[start : run.start()]))
            start = run.end()
    pieces.append((start, seq[start:]))
    out = []
    for offset, data in pieces:
        for i in range(0, len(data), max_length):
            out.append((offset + i, data[i : i + max_length]))
    return [(o, d) for o, d in out if d]


@pytest.mark.parametrize("seed", range(12))
def test_streaming_split_matches_reference(seed):
    rng = random.Random(seed)
    parts = []
    for _ in range(rng.randint(1, 12)):
        parts.append(bytes(rng.choice(b"ACGTacgt") for _ in range(rng.randint(0, 40))))
        parts.append(b"N" * rng.choice([0, 1, 3, 5, 6, 20]))
    seq = b"".join(parts)
    n_split, max_length = rng.choice([0, 5, 6]), rng.choice([7, 13, 1000])
    text = b">r1 test\n" + b"\n".join(seq[i : i + 11] for i in range(0, len(seq), 11)) + b"\n"
    stats = ReadStats()
    builder, docs = None, []
    # A tiny block size makes records, lines and N runs straddle block ends.
    for _record, header, bases in iter_fasta(io.BytesIO(text), "t.fa", block_size=rng.choice([3, 5, 8])):
        builder = builder or SequenceDocuments("t.fa", header, stats, fold_case=False, n_split=n_split,
                                               max_length=max_length)
        docs.extend(builder.add(bases))
    docs.extend(builder.finish())
    assert [(d.meta["offset"], d.data) for d in docs] == reference_documents(seq, n_split, max_length)
    for d in docs:
        assert seq[d.meta["offset"] : d.meta["offset"] + len(d)] == d.data


def test_n_runs_split_records_and_are_counted(tmp_path):
    path = tmp_path / "chr.fa"
    path.write_bytes(b">chr1\n" + b"N" * 120 + b"ACGT" + b"N" * 150 + b"GGCC" + b"N" * 5 + b"TT\n" + b"N" * 200 + b"\n")
    docs, stats = read_all([path])
    assert [(d.meta["offset"], d.data) for d in docs] == [(124 - 4, b"ACGT"), (274, b"GGCCNNNNNTT")]
    assert stats.counts["N bases left out (long runs)"] == 120 + 150 + 200
    docs, _ = read_all([path], n_split=0)
    assert len(docs) == 1 and len(docs[0]) == 120 + 4 + 150 + 4 + 5 + 2 + 200


def test_softmask_fold_or_keep(tmp_path):
    path = tmp_path / "masked.fa"
    path.write_bytes(b">a\r\nACgtnN\r\nac\r\n>b\r\n\r\nggg\r\n")  # CRLF line ends, a blank line
    assert [d.data for d in read_all([path])[0]] == [b"ACGTNNAC", b"GGG"]
    assert [d.data for d in read_all([path], softmask="keep")[0]] == [b"ACgtnNac", b"ggg"]


def test_multi_member_gzip_and_xz(tmp_path):
    bgz = tmp_path / "two.fa.gz"  # bgzip writes many gzip members back to back
    bgz.write_bytes(gzip.compress(b">x\nACGT\n") + gzip.compress(b"TTTT\n>y\nGG\n"))
    assert [(d.name, d.data) for d in read_all([bgz])[0]] == [("x", b"ACGTTTTT"), ("y", b"GG")]
    xz = tmp_path / "one.fa.xz"
    xz.write_bytes(lzma.compress(b">z\nCCCC\n"))
    assert [d.data for d in read_all([xz])[0]] == [b"CCCC"]


def test_stdin(monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BufferedReader(io.BytesIO(b"@r\nACGN\n+\n!!!!\n"))))
    docs, _ = read_all(["-"])
    assert [(d.source, d.name, d.data) for d in docs] == [("-", "r", b"ACGN")]


def test_directory_and_glob(tmp_path):
    (tmp_path / "a.fa").write_bytes(b">a\nAC\n")
    (tmp_path / "b.fastq.gz").write_bytes(gzip.compress(b"@b\nGT\n+\n!!\n"))
    (tmp_path / "notes.txt").write_text("not sequence")
    docs, stats = read_all([tmp_path])
    assert [d.name for d in docs] == ["a", "b"]
    assert stats.excluded["file type"] == 1
    assert [d.name for d in read_all([str(tmp_path / "*.fa")])[0]] == ["a"]


# ---- malformed input -------------------------------------------------------------


def test_truncated_gzip(tmp_path):
    path = tmp_path / "cut.fa.gz"
    path.write_bytes(GENOME.read_bytes()[:8000])
    with pytest.raises(InputError, match=r"cut\.fa\.gz.*truncated compressed file"):
        read_all([path])


def test_corrupt_gzip(tmp_path):
    data = bytearray(GENOME.read_bytes())
    data[5000:5100] = bytes(100)
    path = tmp_path / "bad.fa.gz"
    path.write_bytes(bytes(data))
    with pytest.raises(InputError, match=r"bad\.fa\.gz: (corrupt gzip data|cannot read)"):
        read_all([path])


def test_fasta_without_header(tmp_path):
    path = tmp_path / "noheader.fa"
    path.write_bytes(b"\nACGTACGT\nACGT\n>r2\nAC\n")
    with pytest.raises(InputError) as err:
        read_all([path])
    assert err.value.line == 2 and "before the first '>' header" in str(err.value)
    assert str(err.value).startswith(f"{path}:2: ")


def test_fastq_quality_length_mismatch(tmp_path):
    path = tmp_path / "bad.fq"
    path.write_bytes(b"@r1\nACGT\n+\nIIII\n@r2\nACGTA\n+\nIIII\n@r3\nA\n+\nI\n")
    with pytest.raises(InputError) as err:
        read_all([path])
    assert err.value.record == "r2" and err.value.line == 5
    assert "sequence and quality lengths differ" in str(err.value)


def test_invalid_character_names_line_and_record(tmp_path):
    path = tmp_path / "protein.fa"
    path.write_bytes(b">ok\nACGT\n>p1 a protein\nMKVEL\nLLE\n")  # M, K, V are IUPAC codes; E is not
    with pytest.raises(InputError) as err:
        read_all([path])
    assert err.value.line == 4 and err.value.record == "p1" and "'E' is not a nucleotide" in str(err.value)


def test_text_and_binary_are_not_dna(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("hello world\n")
    with pytest.raises(InputError, match="not FASTA/FASTQ"):
        dna.check_input(text)
    png = tmp_path / "x.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    with pytest.raises(InputError, match="PNG image, not dna input"):
        dna.check_input(png)
    dna.check_input(GENOME)  # real data passes
    dna.check_input(READS)


def test_empty_input_is_reported(tmp_path):
    empty = tmp_path / "empty.fa"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match=r"no dna documents found.*empty file"):
        read_all([empty])
    with pytest.raises(InputError, match="no such file"):
        dna.read([tmp_path / "missing.fa"])
    with pytest.raises(InputError, match="no files match"):
        dna.read([str(tmp_path / "*.fasta")])


def test_reverse_complement_augmentation():
    assert reverse_complement(b"AACGTNacgRY") == b"RYcgtNACGTT"
    doc = read_all([GENOME], max_length=100)[0][0]
    rng = random.Random(0)
    assert dna.augment(doc, rng) is doc  # rc_prob defaults to 0
    flipped = dna.augment(doc, rng, rc_prob=1.0)
    assert flipped.data == reverse_complement(doc.data) and flipped.meta["strand"] == "-"
    assert flipped.meta["offset"] == doc.meta["offset"]
    seen = [dna.augment(doc, random.Random(s), rc_prob=0.5).data != doc.data for s in range(200)]
    assert 60 < sum(seen) < 140


@pytest.mark.parametrize("seed", range(8))
def test_fastq_fast_path_matches_general_path(tmp_path, seed):
    rng = random.Random(seed)
    reads = []
    for i in range(30):
        seq = bytes(rng.choice(b"ACGTNacgtn") for _ in range(rng.randint(0, 30)))
        if rng.random() < 0.3:
            seq = seq[:5] + b"N" * rng.randint(6, 9) + seq[5:]
        reads.append((f"r{i} desc", seq))
    path = tmp_path / "r.fq"
    path.write_bytes(b"".join(b"@%s\n%s\n+\n%s\n" % (t.encode(), s, b"I" * len(s)) for t, s in reads))
    options = dict(n_split=6, max_length=rng.choice([10, 100]), min_length=rng.choice([1, 3]),
                   softmask=rng.choice(["fold", "keep"]))
    stream = dna.read([path], **options)
    got = [(d.name, d.data, d.meta) for d in stream]
    expected, stats = [], ReadStats()
    for title, seq in reads:  # the general path, record by record
        builder = SequenceDocuments(str(path), title, stats, fold_case=options["softmask"] == "fold",
                                    n_split=6, max_length=options["max_length"], min_length=options["min_length"])
        expected += [(d.name, d.data, d.meta) for d in [*builder.add(seq), *builder.finish()]]
    assert got == expected
    assert stream.stats.skipped == stats.skipped

"""Progress: totals and ETA when the input size is known, human units, counts equal to the input."""

import io
import json
import re

import pytest

from hnet_cli.cli import main
from hnet_cli.model.checkpoint import save_model
from hnet_cli.progress import PlainReporter, RichReporter, format_fields, human_bytes

from model_helpers import tiny_model

RECORDS = {"r1": "ACGTTGCAAGGCT" * 150, "r2": "TTAACCGGA" * 70, "r3": "GATTACA"}  # 1950 + 630 + 7 bases
BASES = sum(map(len, RECORDS.values()))


@pytest.fixture(scope="module")
def dna_model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("model")
    save_model(tiny_model(stages=1, seed=4), folder, metadata={"domain": "dna"})
    return folder


@pytest.fixture
def fasta(tmp_path):
    path = tmp_path / "genome.fa"
    path.write_text("".join(f">{name}\n" + "\n".join(seq[i:i + 60] for i in range(0, len(seq), 60)) + "\n"
                            for name, seq in RECORDS.items()))
    return path


def test_human_units():
    assert human_bytes(16384) == "16.38 kB" and human_bytes(4_941_234) == "4.94 MB" and human_bytes(999) == "999 bytes"
    line = format_fields({"bytes": 16384, "B/s": 2_500_000.0, "val_bytes": 1_000_000, "bpb": 1.97})
    assert line == "bytes=16.38 kB B/s=2.50 MB/s val_bytes=1.00 MB bpb=1.97"
    assert "e+" not in line


def test_plain_lines_have_total_percent_and_eta():
    stream = io.StringIO()
    reporter = PlainReporter(stream, every=0)
    reporter.start("chunking", total=16384, unit="bytes")
    reporter.advance(8192)
    reporter.advance(8192)
    reporter.finish()
    first, last, done = stream.getvalue().splitlines()
    assert first.startswith("chunking: 8.19 kB/16.38 kB (50%)") and " eta " in first
    assert last.startswith("chunking: 16.38 kB/16.38 kB (100%)") and "eta" not in last
    assert done.startswith("chunking: done, 16.38 kB (16,384 bytes) in ")


def test_plain_lines_without_a_total_and_in_other_units():
    stream = io.StringIO()
    reporter = PlainReporter(stream, every=3600)  # no line until finish
    reporter.start("reading dna input", unit="docs")
    for _ in range(3):
        reporter.advance(1, bytes=2000)
    reporter.start("train", total=10, unit="steps")  # a new task finishes the previous one
    reporter.advance(4)
    reporter.set_total(8)
    reporter.advance(4)
    reporter.finish()
    lines = stream.getvalue().splitlines()
    assert lines[0] == "reading dna input: 3 docs bytes=2.00 kB"
    assert lines[1].startswith("reading dna input: done, 3 docs in ")
    assert lines[2].startswith("train: 8/8 steps (100%)")
    assert lines[3].startswith("train: done, 8 steps in ")


def test_rich_bar_shows_sizes_and_never_none():
    from rich.console import Console

    buffer = io.StringIO()
    reporter = RichReporter(console=Console(file=buffer, force_terminal=True, width=150))
    reporter.start("chunking", total=4_940_000, unit="bytes")
    reporter.advance(1_640_000)
    reporter.finish()
    text = buffer.getvalue()
    assert "None" not in text and "1.6/4.9 MB" in text


def _progress_lines(err: str, what: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith(f"{what}: ")]


def test_chunk_log_counts_every_byte_once(dna_model, fasta, tmp_path, capsys):
    # Windows of 512 bytes overlapping by 128: overlapping bytes are read twice but counted once.
    out = tmp_path / "c.bed"
    assert main(["chunk", str(fasta), "-m", str(dna_model), "-f", "bed", "-o", str(out), "--window", "512",
                 "--overlap", "128", "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["bytes"] == BASES
    lines = _progress_lines(captured.err, "chunking")
    total = human_bytes(BASES)
    assert lines[-2].startswith(f"chunking: {total}/{total} (100%)"), lines
    assert lines[-1].startswith(f"chunking: done, {total} ({BASES:,} bytes) in "), lines


def test_chunk_limit_is_the_total(dna_model, fasta, tmp_path, capsys):
    assert main(["chunk", str(fasta), "-m", str(dna_model), "-f", "bed", "-o", str(tmp_path / "c.bed"),
                 "--limit", "1000"]) == 0
    lines = _progress_lines(capsys.readouterr().err, "chunking")
    assert lines[-2].startswith("chunking: 1.00 kB/1.00 kB (100%)") and "(1,000 bytes)" in lines[-1]


def test_eval_log_has_the_total_from_the_first_model_on(dna_model, fasta, capsys):
    assert main(["eval", str(dna_model), str(fasta), "--context", "256", "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["corpus"]["bytes"] == BASES
    lines = [line for line in captured.err.splitlines() if re.match(r"^\S+: ", line) and "(100%)" in line]
    assert lines and lines[0].split(": ")[1].startswith(f"{human_bytes(BASES)}/{human_bytes(BASES)} (100%)")
    assert f"({BASES:,} bytes)" in captured.err


def test_stdin_has_no_total(dna_model, fasta, tmp_path, capsys, monkeypatch):
    import sys

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(fasta.read_bytes())))
    assert main(["chunk", "-", "-m", str(dna_model), "-d", "dna", "-f", "bed", "-o", str(tmp_path / "c.bed")]) == 0
    lines = _progress_lines(capsys.readouterr().err, "chunking")
    assert "%" not in lines[-2] and lines[-2].startswith(f"chunking: {human_bytes(BASES)}")
    assert f"({BASES:,} bytes)" in lines[-1]

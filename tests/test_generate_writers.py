"""Output writers: UTF-8-safe streaming, output order, FASTA checked by Biopython, JSON records."""

import base64
import io
import json

from Bio import SeqIO

from hnet_cli.generate.engine import Sample, SampleBytes, SampleStart
from hnet_cli.generate.prompts import Prompt
from hnet_cli.generate.writers import FastaWriter, JsonlWriter, TextWriter


class RecordingStream(io.BytesIO):
    """Keeps every write separately, so tests can check what each write contained."""

    def __init__(self):
        super().__init__()
        self.writes = []

    def write(self, data):
        self.writes.append(bytes(data))
        return super().write(data)


def events_for(number, prompt, pieces, end="max_bytes", sample_index=0, boundaries=None):
    data = b"".join(pieces)
    start = SampleStart(number, prompt, sample_index, seed=number + 100)
    middle = [SampleBytes(number, p) for p in pieces]
    done = Sample(number, prompt, sample_index, number + 100, data, end, None, boundaries)
    return start, middle, done


def test_text_writer_never_splits_a_utf8_character():
    text = "né 你好 🙂!"
    data = text.encode()
    stream = RecordingStream()
    writer = TextWriter(stream, echo=False)
    start, middle, done = events_for(0, Prompt(b"", "1", 0), [bytes([b]) for b in data])  # one byte at a time
    for event in [start, *middle, done]:
        writer.handle(event)
    for chunk in stream.writes:
        chunk.decode("utf-8")  # raises if a write ended inside a character
    assert stream.getvalue().decode() == text + "\n"


def test_text_writer_replaces_invalid_bytes_and_truncated_tail():
    stream = io.BytesIO()
    writer = TextWriter(stream, echo=True)
    start, middle, done = events_for(0, Prompt(b"ab", "1", 0), [b"c\xff", b"d\xe4\xbd"])
    for event in [start, *middle, done]:
        writer.handle(event)
    assert stream.getvalue().decode() == "abc\ufffdd\ufffd\n"


def test_ordered_writer_streams_interleaved_samples_in_order():
    prompts = [Prompt(b"P0", "1", 0), Prompt(b"P1", "2", 1)]
    samples = [events_for(k, prompts[k // 2], [f"<{k}a>".encode(), f"<{k}b>".encode()], sample_index=k % 2)
               for k in range(4)]
    # All start, then pieces arrive round-robin, and sample 2 ends before sample 0.
    order = [s[0] for s in samples]
    order += [samples[k][1][0] for k in range(4)] + [samples[2][1][1], samples[2][2]]
    order += [samples[k][1][1] for k in (0, 1, 3)]
    order += [samples[0][2], samples[3][2], samples[1][2]]
    stream = io.BytesIO()
    writer = TextWriter(stream, echo=True, headers=True)
    for event in order:
        writer.handle(event)
    expected = ""
    for k in range(4):
        expected += ("\n" if k else "") + f"==> prompt {k // 2 + 1}, sample {k % 2 + 1} <==\n"
        expected += f"P{k // 2}<{k}a><{k}b>\n"
    assert stream.getvalue().decode() == expected


def test_fasta_writer_output_parses_with_biopython_and_wraps():
    prompts = [Prompt(b"ACGT", "chr1", 0), Prompt(b"", "2", 1)]
    lengths = [0, 1, 59, 60, 61, 250]
    stream = io.BytesIO()
    writer = FastaWriter(stream, echo=True, width=60)
    expected = []
    for k, n in enumerate(lengths):
        prompt = prompts[k % 2]
        seq = bytes(b"ACGTN"[(i * 7 + k) % 5] for i in range(n))
        pieces = [seq[i : i + 7] for i in range(0, len(seq), 7)]
        start, middle, done = events_for(k, prompt, pieces, sample_index=k // 2)
        for event in [start, *middle, done]:
            writer.handle(event)
        expected.append((f"sample_{k + 1}", (prompt.data + seq).decode()))
    text = stream.getvalue().decode()
    records = list(SeqIO.parse(io.StringIO(text), "fasta"))
    assert [(r.id, str(r.seq)) for r in records] == expected
    assert records[0].description == "sample_1 prompt=chr1 sample=1 seed=100"
    for line in text.splitlines():
        assert line.startswith(">") or 0 < len(line) <= 60
    # Every sequence line but a record's last is exactly 60 letters.
    blocks = text.split(">")[1:]
    for block in blocks:
        lines = block.splitlines()[1:]
        assert all(len(line) == 60 for line in lines[:-1])


def test_jsonl_writer_record():
    stream = io.BytesIO()
    writer = JsonlWriter(stream)
    prompt = Prompt("héllo".encode(), "7", 3)
    start, middle, done = events_for(0, prompt, [b"ab", b"\xff"], end="eos", boundaries=[[1, 0, 1], [1, 0, 0]])
    for event in [start, *middle, done]:
        writer.handle(event)
    record = json.loads(stream.getvalue())
    assert record["prompt"] == "héllo" and record["prompt_name"] == "7" and record["prompt_index"] == 4
    assert record["text"] == "ab\ufffd"
    assert base64.b64decode(record["bytes_b64"]) == b"ab\xff"
    assert record["boundaries"] == [[1, 0, 1], [1, 0, 0]]
    assert record["end"] == "eos" and record["length"] == 3

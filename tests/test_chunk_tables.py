"""hnet chunk tables (TSV, JSON Lines, Parquet) carry the model's numbers; --stats counts right."""

import json
import struct
from collections import Counter

import pyarrow.parquet as pq
import pytest

import hnet_cli
from hnet_cli.cli import main
from hnet_cli.model import save_model
from model_helpers import tiny_model
from test_chunk_reference import reference_segmentation

TEXTS = {
    "mixed.txt": "Grüße aus Köln!\tTab, then a newline\nand 中文字符 too; ctrl \x01 byte.\n"
                 "Back\\slash and \"quotes\" and a long tail of words to make more chunks.\n",
    "short.txt": "hello hello hello world\n",
}


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("chunk_models")
    return {s: save_model(tiny_model(s, seed=5), root / f"m{s}") for s in (1, 2)}


@pytest.fixture(scope="module")
def texts(tmp_path_factory):
    root = tmp_path_factory.mktemp("chunk_texts")
    paths = []
    for name, text in TEXTS.items():
        (root / name).write_text(text, encoding="utf-8")
        paths.append(root / name)
    return paths


def run(args, capsys=None):
    code = main(["chunk", *map(str, args), "-q"])
    assert code == 0, capsys.readouterr().err if capsys else code


def expected_bytes(model, data: bytes):
    """Per stage, per byte: (p or None, begins a chunk, chunk index), from a direct forward."""
    ref = reference_segmentation(model, data)
    out = []
    for stage in ref:
        p_at = {e[0]: e[1] for e in stage["elements"]}
        starts = {c[0] for c in stage["chunks"]}
        rows, chunk = [], -1
        for i in range(len(data)):
            chunk += i in starts
            rows.append((p_at.get(i), i in starts, chunk))
        out.append(rows)
    return out


def check_byte_rows(rows, model, paths, stages):
    """rows: dicts with the per-byte columns, in output order."""
    by_doc = {}
    for row in rows:
        by_doc.setdefault(row["doc"], []).append(row)
    assert sorted(by_doc) == list(range(len(paths)))
    for doc, path in enumerate(paths):
        data = path.read_bytes()
        got = by_doc[doc]
        assert [r["position"] for r in got] == list(range(len(data)))
        assert bytes(r["byte"] for r in got) == data
        assert {r["record"] for r in got} == {path.name}
        expected = expected_bytes(model, data)
        for s in stages:
            for i, (r, (p, begins, chunk)) in enumerate(zip(got, expected[s])):
                if p is None:
                    assert r[f"p{s}"] is None, (s, i)
                else:
                    assert r[f"p{s}"] == pytest.approx(p, abs=1e-5), (s, i)
                if p is None or abs(p - 0.5) > 1e-5:
                    assert bool(r[f"boundary{s}"]) == begins, (s, i)
                    assert r[f"chunk{s}"] == chunk, (s, i)


def tsv_rows(path):
    lines = path.read_text(encoding="utf-8").splitlines()
    header = lines[0].split("\t")
    rows = []
    for line in lines[1:]:
        cells = line.split("\t")
        assert len(cells) == len(header)
        row = {}
        for name, cell in zip(header, cells):
            if name in ("record", "text"):
                row[name] = cell
            elif cell == "":
                row[name] = None
            elif name.startswith("p") or name in ("boundary_prob", "mean_confidence"):
                row[name] = float(cell)
            else:
                row[name] = int(cell)
        rows.append(row)
    return header, rows


@pytest.mark.parametrize("fmt", ["tsv", "json", "parquet"])
def test_per_byte_tables_equal_direct_forward(fmt, models, texts, tmp_path, capsys):
    model = hnet_cli.load(models[2])
    out = tmp_path / f"bytes.{fmt}"
    run([*texts, "-m", models[2], "--output", out], capsys)  # format from the suffix
    if fmt == "tsv":
        header, rows = tsv_rows(out)
        assert header == ["doc", "record", "position", "byte", "p0", "boundary0", "chunk0", "p1", "boundary1", "chunk1"]
    elif fmt == "json":
        rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    else:
        rows = pq.read_table(out).to_pylist()
    check_byte_rows(rows, model, texts, [0, 1])


def unescape_tsv(text: str) -> bytes:
    """Inverse of the TSV text escaping, written independently: \\\\ \\t \\n \\r \\xNN."""
    out = bytearray()
    i = 0
    while i < len(text):
        ch = text[i]
        if ch != "\\":
            out += ch.encode("utf-8")
            i += 1
            continue
        nxt = text[i + 1]
        if nxt == "x":
            out.append(int(text[i + 2 : i + 4], 16))
            i += 4
        else:
            out += {"\\": b"\\", "t": b"\t", "n": b"\n", "r": b"\r"}[nxt]
            i += 2
    return bytes(out)


@pytest.mark.parametrize("fmt", ["tsv", "json", "parquet"])
def test_per_chunk_tables_equal_direct_forward(fmt, models, texts, tmp_path, capsys):
    model = hnet_cli.load(models[2])
    out = tmp_path / f"chunks.{fmt}"
    run([*texts, "-m", models[2], "--per", "chunk", "-f", fmt, "--output", out], capsys)
    if fmt == "tsv":
        _, rows = tsv_rows(out)
    elif fmt == "json":
        rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    else:
        rows = pq.read_table(out).to_pylist()
    for doc, path in enumerate(texts):
        data = path.read_bytes()
        ref = reference_segmentation(model, data)
        for s in (0, 1):
            got = [r for r in rows if r["doc"] == doc and r["stage"] == s]
            assert [r["chunk"] for r in got] == list(range(len(ref[s]["chunks"])))
            for r, (start, end, p_first, conf, n) in zip(got, ref[s]["chunks"]):
                assert (r["start"], r["end"], r["length"], r["elements"]) == (start, end, end - start, n)
                assert r["boundary_prob"] == pytest.approx(p_first, abs=1e-5)
                assert r["mean_confidence"] == pytest.approx(conf, abs=1e-5)
                piece = data[start:end]
                if fmt == "tsv":
                    assert "\t" not in r["text"] and unescape_tsv(r["text"]) == piece
                else:
                    assert r["text"] == piece.decode("utf-8", "backslashreplace")
                if fmt == "parquet":
                    assert r["bytes"] == piece
    # Rows for stage 0 then stage 1 within each document, documents in input order.
    assert [(r["doc"], r["stage"]) for r in rows] == sorted((r["doc"], r["stage"]) for r in rows)


def test_single_stage_selection_and_stdout_with_exact_float32(models, texts, capsys):
    assert main(["chunk", str(texts[1]), "-m", str(models[2]), "--stage", "1", "-f", "tsv", "-q"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split("\t") == ["doc", "record", "position", "byte", "p1", "boundary1", "chunk1"]
    data = TEXTS["short.txt"].encode()
    assert len(lines) == 1 + len(data)
    # One document, one forward: the TSV text reads back as the very float32 of a direct forward.
    p_at = {e[0]: e[1] for e in reference_segmentation(hnet_cli.load(models[2]), data)[1]["elements"]}
    cells = [line.split("\t")[4] for line in lines[1:]]
    assert [i for i, c in enumerate(cells) if c] == sorted(p_at)
    for i, cell in enumerate(cells):
        if cell:
            assert struct.unpack("f", struct.pack("f", float(cell)))[0] == p_at[i], i


def test_stats_counts_match_the_chunks(models, tmp_path, capsys):
    """--stats on DNA: histogram, most frequent chunks, GC by length and first-base composition."""
    model = hnet_cli.load(models[1])
    fasta = tmp_path / "x.fa"
    seq = ("ACGTTGCA" * 40 + "GGGGCCCCAATT" * 30 + "ATATATGCGC" * 25).encode()
    fasta.write_bytes(b">x test\n" + b"\n".join(seq[i : i + 60] for i in range(0, len(seq), 60)) + b"\n")
    assert main(["chunk", str(fasta), "-m", str(models[1]), "-f", "bed", "--output", str(tmp_path / "x.bed"),
                 "--stats", "--json", "-q"]) == 0
    summary = json.loads(capsys.readouterr().out)
    stats = summary["stats"]["stages"][0]
    chunks = reference_segmentation(model, seq)[0]["chunks"]
    lengths = [end - start for start, end, *_ in chunks]
    assert stats["chunks"] == len(chunks) == summary["per_stage"][0]["chunks"]
    assert stats["elements"] == len(seq)
    assert stats["compression"] == pytest.approx(len(chunks) / len(seq))
    assert stats["max_chunk_bytes"] == max(lengths)
    assert stats["length_histogram"].get("1", 0) == lengths.count(1)
    assert stats["length_histogram"].get("9-16", 0) == sum(9 <= n <= 16 for n in lengths)
    top = Counter(seq[start:end] for start, end, *_ in chunks)
    best, count = top.most_common(1)[0]
    assert stats["most_frequent"][0]["count"] == count
    assert stats["most_frequent"][0]["text"].encode() in {c for c, n in top.items() if n == count}
    firsts = Counter(chr(seq[start]) for start, *_ in chunks)
    assert stats["first_base"]["G"] == pytest.approx(firsts["G"] / len(chunks))
    ones = [seq[start:end] for start, end, *_ in chunks if end - start == 1]
    if ones:
        assert stats["gc_by_length"]["1"] == pytest.approx(sum(c in (b"G", b"C") for c in ones) / len(ones))
    assert summary["stats"]["composition"]["A"] == pytest.approx(seq.count(b"A") / len(seq))

"""The text domain: plain files, JSON Lines, Parquet; the invalid-UTF-8 policy; malformed files."""

import gzip
import io
import json
import re
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hnet_cli.data.registry import get_domain
from hnet_cli.errors import ConfigError, InputError
from hnet_domains.text import DATA

text = get_domain("text")
PERSUASION = DATA / "persuasion.txt.gz"


def read_all(paths, **options):
    stream = text.read(paths, **options)
    return list(stream), stream.stats


def test_bundled_novel_is_one_document():
    docs, stats = read_all([])
    original = gzip.decompress(PERSUASION.read_bytes())
    assert [d.data for d in docs] == [original]
    assert docs[0].data.startswith(b"Persuasion\n") and b"Anne Elliot" in docs[0].data
    assert stats.encodings == {"utf-8": 1}
    assert text.count_units(docs[0].data) == len(original.decode("utf-8"))


def test_paragraphs_and_lines_keep_boundaries():
    original = gzip.decompress(PERSUASION.read_bytes()).decode()
    paragraphs = [p for p in re.split(r"\n[ \t]*\n", original) if p.strip()]
    docs, _ = read_all([PERSUASION], split="paragraph")
    assert len(docs) == len(paragraphs)
    assert [d.data.decode().strip("\n") for d in docs] == [p.strip("\n") for p in paragraphs]
    lines = [line for line in original.split("\n") if line.strip()]
    docs, _ = read_all([PERSUASION], split="line")
    assert [d.data.decode() for d in docs] == lines
    assert docs[0].name == "persuasion.txt.gz:1" and docs[0].meta["line"] == 1


def test_long_file_is_cut_at_line_ends():
    original = gzip.decompress(PERSUASION.read_bytes())
    docs, _ = read_all([PERSUASION], max_bytes=50_000)
    assert b"".join(d.data for d in docs) == original
    assert all(len(d) <= 50_000 for d in docs) and len(docs) >= 10
    assert all(d.data.endswith(b"\n") for d in docs[:-1])
    assert [d.meta.get("continues", False) for d in docs] == [True] * (len(docs) - 1) + [False]


def test_a_line_longer_than_max_bytes_is_cut_between_characters(tmp_path):
    path = tmp_path / "one_line.txt"
    line = "é" * 3000  # 6000 bytes, no newline
    path.write_text(line)
    docs, _ = read_all([path], max_bytes=1025)
    assert "".join(d.data.decode() for d in docs) == line


# ---- invalid UTF-8: error / replace / skip -------------------------------------------

@pytest.fixture
def broken_utf8(tmp_path):
    path = tmp_path / "broken.txt"
    path.write_bytes("first line\nsecond line\ncaf\xe9 latin-1 here\n".encode("utf-8").replace("\xe9".encode(), b"\xe9"))
    return path


def test_invalid_utf8_error_names_line(broken_utf8):
    with pytest.raises(InputError) as err:
        read_all([broken_utf8])
    assert err.value.line == 3 and "invalid utf-8" in str(err.value) and "errors=replace" in str(err.value)


def test_invalid_utf8_replace_is_counted(broken_utf8):
    docs, stats = read_all([broken_utf8], errors="replace")
    assert docs[0].data.decode() == "first line\nsecond line\ncaf\ufffd latin-1 here\n"
    assert stats.replaced == 1


def test_invalid_utf8_skip_is_counted(broken_utf8, tmp_path):
    good = tmp_path / "good.txt"
    good.write_text("fine\n")
    docs, stats = read_all([broken_utf8, good], errors="skip")
    assert [d.data for d in docs] == [b"fine\n"]
    assert stats.skipped == {"invalid utf-8": 1} and stats.examples["invalid utf-8"] == [f"{broken_utf8}:1"]


def test_normalisation_and_bom(tmp_path):
    path = tmp_path / "bom.txt"
    path.write_bytes(b"\xef\xbb\xbf" + "ﬁne café".encode())  # the "fi" ligature; a UTF-8 BOM
    assert read_all([path])[0][0].data == "ﬁne café".encode()
    assert read_all([path], normalize="NFKC")[0][0].data == "fine café".encode()
    with pytest.raises(ConfigError, match="normalize='NFX'"):
        text.read([path], normalize="NFX")


# ---- JSON Lines -------------------------------------------------------------------------

def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return path


def test_jsonl_rows_and_nested_field(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", [{"meta": {"body": "one"}}, {"meta": {"body": "two"}}])
    docs, _ = read_all([path], field="meta.body")
    assert [(d.name, d.data) for d in docs] == [("d.jsonl:1", b"one"), ("d.jsonl:2", b"two")]


def test_jsonl_missing_field_error_names_line_and_fields(tmp_path):
    path = write_jsonl(tmp_path / "m.jsonl", [{"text": "a"}, {"text": "b"}, {"id": 3, "content": "c"}])
    with pytest.raises(InputError) as err:
        read_all([path])
    assert err.value.line == 3
    assert "no field 'text' in this row (fields: id, content)" in str(err.value)
    docs, stats = read_all([path], on_missing="skip")
    assert [d.data for d in docs] == [b"a", b"b"]
    assert stats.skipped == {"missing field 'text'": 1}


def test_jsonl_invalid_json_and_wrong_type(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "ok"}\n{"text": "unterminated}\n')
    with pytest.raises(InputError, match=r"bad\.jsonl:2: invalid JSON"):
        read_all([path])
    path.write_text('{"text": 5}\n')
    with pytest.raises(InputError, match="holds a JSON int, not a string"):
        read_all([path])


def test_gzip_jsonl_from_stdin(monkeypatch):
    data = gzip.compress(b'{"text": "from stdin"}\n')
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BufferedReader(io.BytesIO(data))))
    docs, _ = read_all(["-"], format="jsonl")
    assert [(d.source, d.data) for d in docs] == [("-", b"from stdin")]


def test_truncated_gzip_text(tmp_path):
    path = tmp_path / "cut.txt.gz"
    path.write_bytes(PERSUASION.read_bytes()[:20_000])
    with pytest.raises(InputError, match=r"cut\.txt\.gz.*truncated compressed file"):
        read_all([path])


# ---- Parquet ----------------------------------------------------------------------------

def test_parquet_streams_rows_in_order(tmp_path):
    path = tmp_path / "d.parquet"
    values = [f"row {i}" for i in range(2500)]
    values[7], values[8] = None, ""
    pq.write_table(pa.table({"id": list(range(2500)), "content": values}), path, row_group_size=300)
    assert pq.ParquetFile(path).num_row_groups == 9
    docs, stats = read_all([path], column="content")
    assert [d.data.decode() for d in docs] == [v for v in values if v]
    assert docs[0].name == "d.parquet:row1" and docs[-1].meta["row"] == 2500
    assert stats.skipped == {"null value": 1, "empty document": 1}


def test_parquet_missing_column(tmp_path):
    path = tmp_path / "d.parquet"
    pq.write_table(pa.table({"body": ["x"]}), path)
    with pytest.raises(InputError, match=r"no column 'text' \(columns: body\); choose one with --domain-opt column=NAME"):
        read_all([path])


def test_empty_parquet_files_are_counted(tmp_path):
    no_rows = tmp_path / "no_rows.parquet"
    pq.write_table(pa.table({"text": pa.array([], pa.string())}), no_rows)
    zero_bytes = tmp_path / "zero.parquet"
    zero_bytes.write_bytes(b"")
    good = tmp_path / "good.parquet"
    pq.write_table(pa.table({"text": ["hello"]}), good)
    docs, stats = read_all([no_rows, zero_bytes, good])
    assert [d.data for d in docs] == [b"hello"]
    assert stats.skipped == {"empty file": 2}
    # Nothing but empty files: an error that says so.
    with pytest.raises(InputError, match=r"no text documents found.*2 \(empty file"):
        read_all([no_rows, zero_bytes])


def test_not_a_parquet_file(tmp_path):
    path = tmp_path / "fake.parquet"
    path.write_bytes(b"PAR1 this is not really parquet")
    with pytest.raises(InputError, match=r"fake\.parquet: not a readable Parquet file"):
        read_all([path])


def test_directory_reads_known_suffixes_in_order(tmp_path):
    (tmp_path / "b.txt").write_text("bee\n")
    (tmp_path / "a.jsonl").write_text('{"text": "ay"}\n')
    (tmp_path / "c.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "d.txt.gz").write_bytes(gzip.compress(b"dee\n"))
    docs, stats = read_all([tmp_path])
    assert [d.data for d in docs] == [b"ay", b"bee\n", b"dee\n"]
    assert stats.excluded == {"file suffix": 1}


def test_binary_file_named_txt(tmp_path):
    path = tmp_path / "image.txt"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    with pytest.raises(InputError, match="image.txt: a PNG image, not text"):
        read_all([path])
    with pytest.raises(InputError, match="PNG image, not text input"):
        text.check_input(path)

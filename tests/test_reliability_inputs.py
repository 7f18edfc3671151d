"""Inputs: whatever the bytes, a Document stream or one clean error naming the file.

Rows of issue #14: F1 (deeply nested JSONL), F2 (a 5,000-digit integer), H1 (a "**" glob through
symlink loops), S1 (a self-loop reads a file again and again), S5 (a long GB18030/Big5 line),
S7 (FASTA read as text), and the extra: UTF-16 lines split inside characters.
See docs/RELIABILITY.md.
"""

import json
import os
import random

import pytest

from hnet_cli.cli import main
from hnet_cli.data.readers.sources import glob_paths
from hnet_cli.data.registry import get_domain
from hnet_cli.errors import InputError
from hnet_cli.model import save_model
from model_helpers import tiny_model


def _error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("hnet: error: "), err
    return err[0]


def test_deeply_nested_jsonl_is_a_clean_error(tmp_path, capsys):
    """F1: a line of 100,000 '[' then 100,000 ']'."""
    path = tmp_path / "d.jsonl"
    path.write_text("[" * 100_000 + "]" * 100_000 + "\n")
    assert main(["domains", "text", "--check", str(path)]) == 1
    assert "d.jsonl:1: invalid JSON: nested too deeply" in _error(capsys)
    assert main(["generate", str(save_model(tiny_model(1), tmp_path / "m")), "--prompt-file", str(path), "-q"]) == 1
    assert "d.jsonl:1" in _error(capsys)


def test_a_huge_integer_in_an_unused_field_reads(tmp_path, capsys):
    """F2: {"text": "ok", "n": 999...9 (5,000 digits)} is valid JSON: the text is read."""
    path = tmp_path / "n.jsonl"
    path.write_text('{"text": "ok", "n": ' + "9" * 5000 + "}\n")
    docs = list(get_domain("text").read([str(path)]))
    assert [d.data for d in docs] == [b"ok"]
    assert main(["domains", "text", "--check", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["documents"] == 1


def test_a_huge_integer_as_the_text_is_a_clean_error(tmp_path):
    path = tmp_path / "n.jsonl"
    path.write_text('{"text": ' + "9" * 5000 + "}\n")
    with pytest.raises(InputError, match="holds a JSON float, not a string"):
        list(get_domain("text").read([str(path)]))


@pytest.mark.timeout(60)
def test_globs_do_not_follow_symlink_loops(tmp_path, capsys, monkeypatch):
    """H1: t/a/x.txt, t/a/up -> .., t/a/same -> ../a: 't/**/*.txt' ends, and reads x.txt once."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "t" / "a").mkdir(parents=True)
    (tmp_path / "t" / "a" / "x.txt").write_text("hello\n")
    os.symlink("..", tmp_path / "t" / "a" / "up")
    os.symlink("../a", tmp_path / "t" / "a" / "same")
    assert glob_paths("t/**/*.txt") == ["t/a/x.txt"]
    assert main(["domains", "text", "--check", "t/**/*.txt", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["files"] == 1 and report["documents"] == 1


def test_a_self_loop_reads_each_file_once(tmp_path, capsys, monkeypatch):
    """S1: l/me -> .: 'l/**/*.fa' reads l/a.fa once (dna and text); the same file named twice too."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "l").mkdir()
    (tmp_path / "l" / "a.fa").write_text(">r\nACGTACGT\n")
    (tmp_path / "l" / "b.txt").write_text("words\n")
    os.symlink(".", tmp_path / "l" / "me")
    assert main(["domains", "dna", "--check", "l/**/*.fa", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["documents"] == 1
    assert main(["domains", "text", "--check", "l/**/*.txt", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["documents"] == 1
    # Named twice, or as a file and inside its directory: read once, the repeat counted.
    stream = get_domain("dna").read(["l/a.fa", "l", "l/me/a.fa"])
    assert len(list(stream)) == 1
    assert stream.stats.skipped["same file again"] == 2


@pytest.mark.parametrize("encoding", ["gb18030", "big5"])
def test_long_lines_in_cjk_encodings_are_cut_between_characters(tmp_path, encoding):
    """S5: a ~4.5 MB one-line file, longer than max_bytes: read exactly, no U+FFFD, no error."""
    rng = random.Random(0)
    pool = "中文繁體字測試資料的一行非常長沒有換行符號" if encoding == "big5" else None
    if pool is None:
        text = "".join(chr(rng.randint(0x4E00, 0x9FA5)) for _ in range(1_500_000))
    else:
        text = "".join(rng.choice(pool) for _ in range(1_500_000))
    path = tmp_path / "g.txt"
    path.write_bytes(text.encode(encoding))
    assert path.stat().st_size > 2_900_000
    for errors in ("error", "replace"):
        stream = get_domain("zh").read([str(path)], encoding=encoding, max_bytes=1 << 20, errors=errors)
        docs = list(stream)
        assert len(docs) > 3 and all(len(d.data) <= 1 << 20 for d in docs)
        assert b"".join(d.data for d in docs).decode("utf-8") == text
        assert stream.stats.replaced == 0


def test_detected_gb18030_long_line(tmp_path):
    """S5 with encoding=auto (the chinese domain's default): detected, then cut between characters."""
    text = "這是一行很長的中文，沒有換行。" * 100_000
    path = tmp_path / "g.txt"
    path.write_bytes(text.encode("gb18030"))
    docs = list(get_domain("zh").read([str(path)], max_bytes=1 << 20))
    assert b"".join(d.data for d in docs).decode("utf-8") == text


def test_utf16_lines_are_whole_characters(tmp_path):
    """Extra: the UTF-16 line splitter cut inside characters (0x0A bytes inside U+0A0A, U+0A00...)."""
    lines = ["line one é", "ਊ\u0a0a and \u0a00", "𝄞 music", "last"]
    for encoding in ("utf-16", "utf-16-le", "utf-16-be"):
        path = tmp_path / f"{encoding}.txt"
        path.write_bytes("\n".join(lines).encode(encoding))
        docs = list(get_domain("text").read([str(path)], encoding=encoding, split="line"))
        assert [d.data.decode() for d in docs] == lines
        docs = list(get_domain("text").read([str(path)], encoding=encoding))
        assert docs[0].data.decode() == "\n".join(lines)


def test_invalid_bytes_in_a_declared_encoding_follow_the_policy(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_bytes("好".encode("gb18030") + b"\x81\n" + "好".encode("gb18030") + b"\n")
    with pytest.raises(InputError, match=r"bad.txt:1: invalid gb18030"):
        list(get_domain("zh").read([str(path)], encoding="gb18030", split="line"))
    stream = get_domain("zh").read([str(path)], encoding="gb18030", split="line", errors="skip")
    assert [d.data.decode() for d in stream] == ["好"] and stream.stats.skipped["invalid gb18030"] == 1
    stream = get_domain("zh").read([str(path)], encoding="gb18030", split="line", errors="replace")
    assert [d.data.decode() for d in stream] == ["好\ufffd", "好"] and stream.stats.replaced == 1
    jsonl = tmp_path / "bad.jsonl"
    jsonl.write_bytes(b'{"text": "' + "好".encode("gb18030") + b'\x81"}\n')
    with pytest.raises(InputError, match=r"bad.jsonl:1: invalid gb18030"):
        list(get_domain("zh").read([str(jsonl)], encoding="gb18030"))


FASTA = ">chr1 test record\nACGTACGTACGGGTTTAACCAGGT\nACGTNNACGTTTGACA\n"


def test_fasta_read_as_text_is_refused(tmp_path, capsys):
    """S7: FASTA through the text reader would give chrom '-' and coordinates shifted by the header."""
    path = tmp_path / "x.txt"
    path.write_text(FASTA)
    assert main(["domains", "text", "--check", str(path)]) == 1
    assert "looks like FASTA (DNA), not text: read it with --domain dna" in _error(capsys)
    # Said on purpose, it is read as text.
    assert len(list(get_domain("text").read([str(path)], format="text"))) == 1


def test_fasta_on_stdin_is_chunked_as_dna(tmp_path):
    """S7: `cat x.fa | hnet chunk - -m saved_folder -f bed`: the records' names and coordinates."""
    from reliability_helpers import run_hnet

    model = save_model(tiny_model(1, seed=3), tmp_path / "saved")
    fasta = tmp_path / "x.fa"
    fasta.write_text(FASTA)
    with open(fasta, "rb") as stdin:
        done = run_hnet(["chunk", "-", "-m", str(model), "-f", "bed", "-q"], stdin=stdin)
    assert done.returncode == 0, done.stderr
    rows = [line.split("\t") for line in done.stdout.decode().splitlines()]
    assert {r[0] for r in rows} == {"chr1"} and rows[0][1] == "0" and rows[-1][2] == "40"

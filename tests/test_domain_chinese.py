"""The chinese domain: bundled classical poems, GB18030/GBK input, full-width punctuation."""

import gzip
import json

import pytest

from hnet_cli.data.readers.decoding import detect_cjk_encoding
from hnet_cli.data.registry import get_domain
from hnet_cli.errors import ConfigError, InputError
from hnet_domains.chinese import DATA

zh = get_domain("zh")
POEMS = DATA / "classical_poems.jsonl.gz"

# 《静夜思》 (Li Bai), with full-width punctuation, as a GBK corpus file would hold it.
QUIET_NIGHT = "《静夜思》\n作者：李白\n床前明月光，疑是地上霜。\n举头望明月，低头思故乡。\n"


def read_all(paths, **options):
    stream = zh.read(paths, **options)
    return list(stream), stream.stats


def test_alias_and_bundled_poems():
    assert get_domain("chinese") is zh
    docs, stats = read_all([])
    rows = [json.loads(line) for line in gzip.decompress(POEMS.read_bytes()).decode().splitlines()]
    assert len(docs) == len(rows) == 408
    assert [d.data.decode() for d in docs] == [r["text"] for r in rows]
    assert docs[0].data.decode().startswith("《感遇・其一》\n作者：张九龄\n兰叶春葳蕤，桂华秋皎洁。")
    assert stats.encodings == {"utf-8": 1}


def test_full_width_punctuation_kept_and_units_are_characters():
    docs, _ = read_all([])
    all_text = b"".join(d.data for d in docs).decode()
    for mark in "，。？：《》":
        assert mark in all_text
    doc = docs[0]
    assert zh.count_units(doc.data) == len(doc.data.decode())
    assert len(doc.data) > 2.5 * zh.count_units(doc.data)  # mostly 3-byte characters


def test_gbk_file_detected_and_converted(tmp_path):
    path = tmp_path / "gbk.txt"
    path.write_bytes(QUIET_NIGHT.encode("gbk"))
    docs, stats = read_all([path])
    assert [d.data for d in docs] == [QUIET_NIGHT.encode("utf-8")]
    assert stats.encodings == {"gb18030": 1}


def test_gbk_declared_and_wrongly_declared(tmp_path):
    path = tmp_path / "gbk.txt"
    path.write_bytes(QUIET_NIGHT.encode("gbk"))
    assert read_all([path], encoding="gbk")[0][0].data == QUIET_NIGHT.encode()
    with pytest.raises(InputError) as err:
        read_all([path], encoding="utf-8")
    assert err.value.line == 1 and "invalid utf-8" in str(err.value)


def test_gb18030_jsonl(tmp_path):
    path = tmp_path / "corpus.jsonl"
    rows = [{"content": QUIET_NIGHT}, {"content": "春眠不觉晓，处处闻啼鸟。"}]
    path.write_bytes("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode("gb18030"))
    docs, stats = read_all([path], field="content")
    assert [d.data.decode() for d in docs] == [r["content"] for r in rows]
    assert stats.encodings == {"gb18030": 1}


def test_big5_must_be_declared(tmp_path):
    path = tmp_path / "big5.txt"
    traditional = "床前明月光，疑是地上霜。"
    path.write_bytes(traditional.encode("big5"))
    assert read_all([path], encoding="big5")[0][0].data.decode() == traditional


def test_utf8_with_a_corrupt_byte_stays_utf8(tmp_path):
    data = (QUIET_NIGHT * 20).encode()
    data = data[:100] + b"\xff" + data[101:]
    assert detect_cjk_encoding(data) == "utf-8"
    path = tmp_path / "corrupt.txt"
    path.write_bytes(data)
    with pytest.raises(InputError, match="invalid utf-8"):
        read_all([path])
    docs, stats = read_all([path], errors="replace")
    assert stats.replaced >= 1 and stats.encodings == {"utf-8": 1}


def test_detection_rule_on_plain_cases():
    assert detect_cjk_encoding(QUIET_NIGHT.encode()) == "utf-8"
    assert detect_cjk_encoding(QUIET_NIGHT.encode("gbk")) == "gb18030"
    assert detect_cjk_encoding(b"plain ascii") == "utf-8"
    # Cut in the middle of a character: still recognised.
    assert detect_cjk_encoding(QUIET_NIGHT.encode("gbk")[:9]) == "gb18030"
    assert detect_cjk_encoding(QUIET_NIGHT.encode()[:8]) == "utf-8"


def test_nfkc_is_not_offered_and_unknown_encoding_fails():
    with pytest.raises(ConfigError, match="normalize='NFKC': choose one of none, NFC"):
        zh.parse_options(["normalize=NFKC"])
    with pytest.raises(ConfigError, match="unknown encoding"):
        zh.parse_options(["encoding=klingon-8"])


def test_check_input_accepts_any_text_but_not_binaries(tmp_path):
    from hnet_domains.dna import DATA as DNA_DATA

    zh.check_input(DNA_DATA / "lambda_phage.fa.gz")  # text, if an odd corpus: fine
    zh.check_input(POEMS)
    png = tmp_path / "scan.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(32))
    with pytest.raises(InputError, match="scan.png: a PNG image, not chinese input"):
        zh.check_input(png)

"""`hnet domains`: the table, JSON, one domain, and --check with its counts and one-line errors."""

import json

from hnet_cli.cli import main
from hnet_domains.dna import DATA


def test_table_lists_every_domain_with_its_defaults(capsys):
    assert main(["domains"]) == 0
    out = capsys.readouterr().out
    for expected in ("dna", "code", "text", "chinese", "zh", "dna-tiny", "zh-tiny", "base", "1:3", "lambda"):
        assert expected in out


def test_json_listing(capsys):
    assert main(["domains", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    dna = next(d for d in listing["domains"] if d["name"] == "dna")
    assert dna["unit"] == "base" and dna["compression_targets"]["1"] == [3.0]
    assert dna["default_paths"][0].endswith("lambda_phage.fa.gz")
    assert dna["options"]["softmask"] == {"type": "str", "default": "fold", "choices": ["fold", "keep"],
                                          "help": dna["options"]["softmask"]["help"]}


def test_show_one_domain(capsys):
    assert main(["domains", "zh"]) == 0
    out = capsys.readouterr().out
    assert "name: chinese" in out and "encoding" in out and "zh-tiny" in out


def test_check_reports_counts_and_skips(tmp_path, capsys):
    (tmp_path / "a.py").write_text("print(1)\n")
    (tmp_path / "b.py").write_text("print(1)\n")
    (tmp_path / "c.bin").write_bytes(b"\x00\x01\x02")
    assert main(["domains", "code", "--check", str(tmp_path), "--json", "-q"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["documents"] == 1 and report["units"] == 9
    assert report["skipped"] == {"binary file": 1, "duplicate file": 1}
    assert main(["domains", "code", "--check", str(tmp_path), "-q"]) == 0
    out = capsys.readouterr().out
    assert "skipped 1: binary file" in out and "skipped 1: duplicate file" in out


def test_check_bundled_reads(capsys):
    assert main(["domains", "dna", "--check", str(DATA / "lambda_reads.fq.gz"), "-q"]) == 0
    assert "200 documents" in capsys.readouterr().out


def test_errors_are_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.fq"
    bad.write_text("@r1\nACGT\n+\nII\n")
    assert main(["domains", "dna", "--check", str(bad), "-q"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"hnet: error: {bad}:1 (record 'r1'): malformed FASTQ: sequence and quality lengths differ for r1 (4 and 2)"]
    assert main(["domains", "dna", "-D", "colour=red"]) == 1
    assert "unknown option 'colour'" in capsys.readouterr().err
    assert main(["domains", "protein"]) == 1
    assert "unknown domain 'protein'" in capsys.readouterr().err

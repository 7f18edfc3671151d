"""`hnet eval` end to end: official checkpoints, run directories, comparisons, JSON/CSV, stdin,
the three domains, the robustness suite, and one-line errors for bad input."""

import csv
import gzip
import io
import json
import math
from pathlib import Path

import pytest
import torch

from hnet_cli.cli import main
from hnet_cli.eval.models import looks_like_model, split_models_and_data
from hnet_cli.model import load, save_model
from model_helpers import tiny_model

DATA = Path(__file__).parent.parent / "domains" / "data"
OFFICIAL = Path(__file__).parent / "fixtures" / "official"


def prose(n: int = 600) -> bytes:
    with gzip.open(DATA / "persuasion.txt.gz", "rb") as f:
        return f.read(20_000)[10_000 : 10_000 + n]


def bits_of(model, data: bytes) -> float:
    """Independent: sum of -log2 p(byte) from one plain forward over [BOS] + data."""
    ids = torch.tensor([254, *data])[None]
    with torch.no_grad():
        logp = torch.log_softmax(model(ids).logits[0, :-1].double(), dim=-1)
    return -logp[torch.arange(len(data)), ids[0, 1:]].sum().item() / math.log(2)


def run(argv, capsys):
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def run_dirs(tmp_path):
    """Two training-run layouts (checkpoints/<name> + LATEST/BEST) and one bare checkpoint dir."""
    dirs = []
    for i, stages in enumerate((1, 2)):
        run_dir = tmp_path / f"run{i}"
        save_model(tiny_model(stages, seed=20 + i), run_dir / "checkpoints" / "step_000100")
        (run_dir / "checkpoints" / "LATEST").write_text("step_000100\n")
        dirs.append(run_dir)
    return dirs


def test_official_checkpoint_with_config_end_to_end(tmp_path, capsys):
    text = tmp_path / "some.txt"
    text.write_bytes(prose(500))
    pt, cfg = OFFICIAL / "tiny_1stage.pt", OFFICIAL / "tiny_1stage.json"
    code, out, err = run(["eval", str(pt), "--config", str(cfg), str(text), "--domain", "text", "--json", "-q"], capsys)
    assert code == 0, err
    report = json.loads(out)
    (model,) = report["models"]
    expected = bits_of(load(pt, config=cfg), text.read_bytes()) / 500
    assert model["bytes"] == 500 and abs(model["bpb"] - expected) <= 1e-6
    assert model["stages"] == 1 and 0 < model["chunking"][0]["compression"] < 1
    assert model["bytes_per_second"] > 0 and report["context"] == 8192 and report["stride"] == 4096


def test_table_goes_to_stdout(tmp_path, capsys, run_dirs):
    text = tmp_path / "a.txt"
    text.write_bytes(prose(300))
    code, out, err = run(["eval", str(run_dirs[0]), str(text), "-q"], capsys)
    assert code == 0, err
    assert "bpb" in out and "bits/char" in out and "bytes/s" in out and "chunks per stage" in out


def test_comparison_per_file_csv_and_perturbations(tmp_path, capsys, run_dirs):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_bytes(prose(300))
    b.write_bytes("兰叶春葳蕤，桂华秋皎洁。欣欣此生意，自尔为佳节。\n".encode() * 3)
    out_csv = tmp_path / "scores.csv"
    argv = ["eval", str(run_dirs[0]), str(run_dirs[1]), str(a), str(b), "--context", "128", "--stride", "64",
            "--per-file", "--perturb", "uppercase,drop", "--csv", str(out_csv), "--json", "--yardstick-train", str(a)]
    code, out, err = run(argv, capsys)
    assert code == 0, err
    report = json.loads(out)
    assert [m["stages"] for m in report["models"]] == [1, 2]
    assert [m["checkpoint"].endswith("step_000100") for m in report["models"]] == [True, True]
    # the tables went to stderr, since JSON took stdout: a comparison with both models
    assert [m["model"] for m in report["models"]] == ["run0", "run1"]  # short labels; full paths in "path"
    assert [m["path"] for m in report["models"]] == [str(d) for d in run_dirs]
    assert "run0" in err and "run1" in err and "Δbpb" in err and "robustness" in err
    for m in report["models"]:
        files = {Path(f["source"]).name: f for f in m["files"]}
        assert files["a.txt"]["bytes"] == 300 and files["b.txt"]["units"] == 24 * 3 + 3
        assert sum(f["bits"] for f in files.values()) == pytest.approx(m["bits"], rel=1e-12)
        assert len(m["chunking"]) == m["stages"]
        upper = m["perturbations"]["uppercase"]
        assert upper["delta_bpb"] == pytest.approx(upper["bpb"] - m["bpb"])
        assert upper["bytes"] == m["bytes"]  # ASCII and CJK upper-case to the same length
        drop = m["perturbations"]["drop"]
        assert drop["bytes"] < m["bytes"] and drop["original_bytes"] == m["bytes"]
        assert drop["bits_per_original_byte"] == pytest.approx(drop["bits"] / m["bytes"])
    rows = list(csv.DictReader(out_csv.open()))
    corpus_rows = [r for r in rows if r["scope"] == "corpus" and not r["model"].endswith("(yardstick)")]
    yardstick_rows = [r for r in rows if r["model"].endswith("(yardstick)")]
    assert report["yardstick"] is not None and len(yardstick_rows) == 1
    assert float(yardstick_rows[0]["bpb"]) == pytest.approx(report["yardstick"]["bpb"], rel=1e-12)
    assert yardstick_rows[0]["scope"] == "corpus" and int(yardstick_rows[0]["bytes"]) == report["models"][0]["bytes"]
    assert [(r["model"], r["path"], r["perturbation"]) for r in corpus_rows] == [
        (d.name, str(d), p) for d in run_dirs for p in ("clean", "uppercase", "drop")]
    assert float(corpus_rows[0]["bpb"]) == pytest.approx(report["models"][0]["bpb"], rel=1e-12)
    assert sum(r["scope"] == "file" for r in rows) == 2 * 3 * 2


def test_uppercase_pass_scores_the_uppercased_text(tmp_path, capsys, run_dirs):
    text = tmp_path / "a.txt"
    text.write_bytes(prose(200))
    code, out, err = run(["eval", str(run_dirs[0]), str(text), "--perturb", "uppercase", "--json", "-q"], capsys)
    assert code == 0, err
    model = load(run_dirs[0])
    upper = text.read_bytes().upper()
    got = json.loads(out)["models"][0]["perturbations"]["uppercase"]
    assert abs(got["bpb"] - bits_of(model, upper) / len(upper)) <= 1e-6


def test_stdin_and_explicit_models(tmp_path, capsys, monkeypatch, run_dirs):
    data = prose(250)
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(data)))
    code, out, err = run(["eval", "--model", str(run_dirs[0]), "--model", str(run_dirs[0] / "checkpoints" / "step_000100"),
                          "-", "--json", "-q", "--perturb", "repeat"], capsys)
    assert code == 0, err
    first, second = json.loads(out)["models"]
    assert first["bytes"] == second["bytes"] == 250
    assert first["bpb"] == second["bpb"]  # the run dir resolves to that checkpoint
    assert abs(first["bpb"] - bits_of(load(run_dirs[0]), data) / 250) <= 1e-6
    assert first["perturbations"]["repeat"]["bytes"] > 250  # stdin was kept for the second pass


def test_dna_bits_per_base(tmp_path, capsys, run_dirs):
    with gzip.open(DATA / "lambda_phage.fa.gz", "rt") as f:
        genome = "".join(line.strip() for line in f if not line.startswith(">"))
    fasta = tmp_path / "held_out.fa"
    fasta.write_text(f">r1\n{genome[:120]}\n>r2 second\n{genome[5000:5090]}\n")
    code, out, err = run(["eval", str(run_dirs[0]), str(fasta), "--domain", "dna", "--per-record", "--json"], capsys)
    assert code == 0, err
    model = json.loads(out)["models"][0]
    assert model["bits_per_unit_name"] == "base" and model["units"] == model["bytes"] == 210
    assert model["bits_per_unit"] == model["bpb"]
    assert [(r["name"], r["bytes"]) for r in model["records"]] == [("r1", 120), ("r2", 90)]
    expected = bits_of(load(run_dirs[0]), genome[:120].encode())
    assert abs(model["records"][0]["bpb"] - expected / 120) <= 1e-6
    assert "per record" in err and "r2" in err


def test_chinese_bits_per_character(tmp_path, capsys, run_dirs):
    with gzip.open(DATA / "classical_poems.jsonl.gz", "rt", encoding="utf-8") as f:
        rows = [next(f) for _ in range(2)]
    corpus = tmp_path / "poems.jsonl"
    corpus.write_text("".join(rows), encoding="utf-8")
    code, out, err = run(["eval", str(run_dirs[0]), str(corpus), "--domain", "zh", "--json", "-q"], capsys)
    assert code == 0, err
    model = json.loads(out)["models"][0]
    chars = sum(len(json.loads(r)["text"]) for r in rows)
    assert model["units"] == chars and model["bytes"] > 2.5 * chars
    assert model["bits_per_unit"] == pytest.approx(model["bpb"] * model["bytes"] / chars)


def test_code_tree(tmp_path, capsys, run_dirs):
    src = tmp_path / "src"
    src.mkdir()
    sources = ["def f(x):\n    return x + 1\n", "import os\nprint(os.sep)\n"]
    (src / "a.py").write_text(sources[0])
    (src / "b.py").write_text(sources[1])
    (src / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(20))
    code, out, err = run(["eval", str(run_dirs[0]), str(src), "--domain", "code", "--per-file", "--json", "-q"], capsys)
    assert code == 0, err
    report = json.loads(out)
    assert report["corpus"]["documents"] == 2 and report["models"][0]["bytes"] == sum(map(len, sources))
    assert report["corpus"]["skipped"] == {"binary file": 1}
    # per file means each file of the tree, not the tree
    files = report["models"][0]["files"]
    assert [(f["source"], f["bytes"]) for f in files] == [(str(src / "a.py"), len(sources[0])),
                                                          (str(src / "b.py"), len(sources[1]))]


def test_domain_and_reader_options_come_from_the_training_run(tmp_path, capsys, run_dirs):
    run_dir = tmp_path / "dna_run"
    save_model(tiny_model(1, seed=5), run_dir / "checkpoints" / "step_000010")
    (run_dir / "checkpoints" / "BEST").write_text("step_000010")
    (run_dir / "run.json").write_text(json.dumps({"domain": "dna", "domain_options": {"softmask": "keep"}}))
    (run_dir / "recipe.json").write_text(json.dumps({"train": {"seq_len": 12}}))
    fasta = tmp_path / "soft.fa"
    fasta.write_text(">r1\nACGTacgtACGTacgt\n")
    code, out, err = run(["eval", str(run_dir), str(fasta), "--json"], capsys)
    assert code == 0, err
    report = json.loads(out)
    assert report["domain"] == "dna" and report["domain_options"]["softmask"] == "keep"
    assert "run.json" in err and "recipe.json" in err
    assert (report["context"], report["stride"]) == (12, 6)  # the training length: 16 bases need windows
    assert report["models"][0]["windows"] > 1
    model = load(run_dir)
    keep = json.loads(run(["eval", str(run_dir), str(fasta), "--context", "64", "--json", "-q"], capsys)[1])
    assert abs(keep["models"][0]["bpb"] - bits_of(model, b"ACGTacgtACGTacgt") / 16) <= 1e-6
    # --domain-opt overrides what the run recorded; checkpoint dirs inside the run find it too
    code, out, err = run(["eval", str(run_dir / "checkpoints" / "step_000010"), str(fasta), "-D", "softmask=fold",
                          "--context", "64", "--json", "-q"], capsys)
    assert code == 0, err
    fold = json.loads(out)
    assert fold["domain"] == "dna" and fold["domain_options"]["softmask"] == "fold"
    assert abs(fold["models"][0]["bpb"] - bits_of(model, b"ACGTACGTACGTACGT") / 16) <= 1e-6


def test_model_or_data_rule(tmp_path, run_dirs):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    assert looks_like_model(str(run_dirs[0])) and looks_like_model("missing.pt") and looks_like_model("w.safetensors")
    assert not looks_like_model(str(data_dir)) and not looks_like_model("-") and not looks_like_model("x.txt")
    args = [str(run_dirs[0]), str(run_dirs[1]), str(data_dir), "-"]
    assert split_models_and_data(args) == ([str(run_dirs[0]), str(run_dirs[1])], [str(data_dir), "-"])
    assert split_models_and_data(["nope", "x.txt"]) == (["nope"], ["x.txt"])  # the first is always a model
    assert split_models_and_data(args, ["m.pt"]) == (["m.pt"], args)


@pytest.mark.parametrize("case", ["missing checkpoint", "config mismatch", "empty corpus", "truncated gzip",
                                  "binary file", "missing data", "no data", "not a model", "bad stride",
                                  "bad perturbation", "run without checkpoints"])
def test_bad_input_is_one_line_and_fails(case, tmp_path, capsys, run_dirs):
    text = tmp_path / "a.txt"
    text.write_bytes(prose(100))
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    truncated = tmp_path / "cut.txt.gz"
    truncated.write_bytes(gzip.compress(prose(2000))[:60])
    image = tmp_path / "image.txt"
    image.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(30))
    (tmp_path / "new_run" / "checkpoints").mkdir(parents=True)
    model = str(run_dirs[0])
    argv, expected = {
        "missing checkpoint": ([str(tmp_path / "nope"), str(text)], "checkpoint not found"),
        "config mismatch": ([str(OFFICIAL / "tiny_1stage.pt"), "--config", str(OFFICIAL / "tiny_2stage.json"), str(text)],
                            "weights do not match the config"),
        "empty corpus": ([model, str(empty)], "no text documents found"),
        "truncated gzip": ([model, str(truncated)], "truncated"),
        "binary file": ([model, str(image)], "PNG"),
        "missing data": ([model, str(tmp_path / "missing.txt")], "no such file"),
        "no data": ([model], "no data to evaluate"),
        "not a model": ([str(text), str(text)], "not a model"),
        "bad stride": ([model, str(text), "--context", "64", "--stride", "64"], "--stride 64"),
        "bad perturbation": ([model, str(text), "--perturb", "shout"], "unknown perturbation"),
        "run without checkpoints": ([str(tmp_path / "new_run"), str(text)], "no complete checkpoint"),
    }[case]
    code, out, err = run(["eval", *argv, "-q"], capsys)
    lines = err.strip().splitlines()
    assert code != 0 and len(lines) == 1 and lines[0].startswith("hnet: error: ") and expected in lines[0], err
    assert out == ""


def test_help_shows_examples(capsys):
    code, out, _ = run(["eval", "--help"], capsys)
    assert code == 0 and "Examples" in out and "--domain dna" in out and "--perturb" in out

"""`hnet chunk` as a command: help, defaults, official checkpoints, --json, --limit, errors."""

import gzip
import json

import pytest

import hnet_cli
from hnet_cli.chunk.pipeline import parse_stages, resolve_format
from hnet_cli.cli import main
from hnet_cli.errors import ConfigError
from hnet_cli.model import save_model
from model_helpers import tiny_model
from test_chunk_reference import reference_segmentation
from test_chunk_tables import tsv_rows


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_model(tiny_model(1, seed=5), tmp_path_factory.mktemp("cli_model") / "m1")


@pytest.fixture
def text_file(tmp_path):
    path = tmp_path / "in.txt"
    path.write_text("Chunk me, please: this line has words and punctuation!\n", encoding="utf-8")
    return path


def error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("hnet: error: "), err
    return err[0]


def test_help_shows_examples(capsys):
    assert main(["chunk", "--help"]) == 0
    out = capsys.readouterr().out
    assert "Examples" in out and "hnet chunk genome.fa.gz" in out and "--format" in out


def test_format_and_stage_choices():
    assert resolve_format("auto", "-", stdout_is_tty=True) == "term"
    assert resolve_format("auto", "-", stdout_is_tty=False) == "tsv"
    assert resolve_format("auto", "x.bed") == "bed" and resolve_format("auto", "x.parquet") == "parquet"
    assert resolve_format("auto", "x.jsonl") == "json" and resolve_format("auto", "x.html") == "html"
    assert resolve_format("auto", "x.out") == "tsv" and resolve_format("bed", "x.html") == "bed"
    assert parse_stages("all", 2) == [0, 1] and parse_stages("1,0", 2) == [0, 1] and parse_stages("1", 3) == [1]
    with pytest.raises(ConfigError, match="has 2 stages"):
        parse_stages("2", 2)
    with pytest.raises(ConfigError, match="isotropic"):
        parse_stages("all", 0)


def test_official_checkpoint_with_config(official_dir, text_file, tmp_path, capsys):
    out = tmp_path / "official.tsv"
    pt, cfg = official_dir / "tiny_2stage.pt", official_dir / "tiny_2stage.json"
    assert main(["chunk", str(text_file), "-m", str(pt), "--config", str(cfg), "--per", "chunk",
                 "--output", str(out), "-q"]) == 0
    _, rows = tsv_rows(out)
    ref = reference_segmentation(hnet_cli.load(pt, config=cfg), text_file.read_bytes())
    for s in (0, 1):
        got = [(r["start"], r["end"]) for r in rows if r["stage"] == s]
        assert got == [(c[0], c[1]) for c in ref[s]["chunks"]]


def test_isotropic_model_is_a_clear_error(official_dir, text_file, capsys):
    code = main(["chunk", str(text_file), "-m", str(official_dir / "tiny_isotropic.pt"), "--config",
                 str(official_dir / "tiny_isotropic.json"), "-q"])
    assert code != 0 and "no chunking stages" in error_line(capsys)


@pytest.mark.parametrize("args, message", [
    (["--stage", "3"], "--stage 3: this model has 1 stage"),
    (["--window", "100", "--overlap", "100"], "--overlap must be between 0 and window - 1"),
    (["--format", "pdf"], "unknown --format 'pdf'"),
    (["--per", "word"], "unknown --per 'word'"),
    (["--limit", "0"], "--limit must be at least 1"),
    (["--domain", "klingon"], "unknown domain 'klingon'"),
])
def test_bad_options_are_one_line_errors(args, message, model_dir, text_file, capsys):
    assert main(["chunk", str(text_file), "-m", str(model_dir), "-q", *args]) != 0
    assert message in error_line(capsys)


def test_missing_inputs_are_named(model_dir, text_file, tmp_path, capsys):
    assert main(["chunk", str(tmp_path / "nope.txt"), "-m", str(model_dir), "-q"]) != 0
    assert "nope.txt" in error_line(capsys)
    assert main(["chunk", str(text_file), "-m", str(tmp_path / "no_model"), "-q"]) != 0
    assert "no_model" in error_line(capsys)
    assert main(["chunk", "-m", str(model_dir), "-q"]) != 0
    assert "--domain" in error_line(capsys)


def test_failed_run_leaves_existing_output_untouched(model_dir, tmp_path, capsys):
    good = tmp_path / "good.fa"
    good.write_text(">a\nACGTACGTAC\n")
    bad = tmp_path / "bad.fa.gz"
    bad.write_bytes(gzip.compress(b">b\n" + b"ACGT" * 5000)[:-30])  # truncated gzip: fails while reading
    out = tmp_path / "out.bed"
    out.write_text("previous result\n")
    assert main(["chunk", str(good), str(bad), "-m", str(model_dir), "--output", str(out), "-q"]) != 0
    assert "bad.fa.gz" in error_line(capsys)
    assert out.read_text() == "previous result\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.fa.gz", "good.fa", "out.bed"]


def test_json_summary_limit_and_windows(model_dir, tmp_path, capsys):
    fasta = tmp_path / "two.fa"
    fasta.write_text(">r1\n" + "ACGTTGCA" * 150 + "\n>r2\n" + "GGCCAATT" * 100 + "\n")
    out = tmp_path / "o.tsv"
    assert main(["chunk", str(fasta), "-m", str(model_dir), "--output", str(out), "--json", "-q",
                 "--limit", "1000", "--window", "400", "--overlap", "100"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["domain"] == "dna" and summary["format"] == "tsv" and summary["per"] == "byte"
    assert summary["documents"] == 1 and summary["bytes"] == 1000 and summary["rows"] == 1000
    windows = summary["windows"]
    # windows [0, 400), [300, 700), [600, 1000): two seams
    assert windows["forward_windows"] == 3 and windows["windowed_documents"] == 1 and windows["seams"] == 2
    assert 0.0 <= windows["seam_agreement"]["0"] <= 1.0 and 0 <= windows["exact_seams"]["0"] <= 2
    stage = summary["per_stage"][0]
    assert stage["elements"] == 1000 and stage["compression"] == pytest.approx(stage["chunks"] / 1000)
    header, rows = tsv_rows(out)
    assert len(rows) == 1000 and rows[-1]["position"] == 999


def test_json_summary_goes_to_stderr_when_the_output_is_stdout(model_dir, text_file, capsys):
    assert main(["chunk", str(text_file), "-m", str(model_dir), "-f", "bed", "--json", "-q"]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("in.txt\t0\t")
    assert json.loads(captured.err)["format"] == "bed"


def test_run_directory_gives_domain_and_reader_options(tmp_path, capsys):
    """A run dir's run.json (written by hnet train) decides how input is read unless overridden."""
    run = tmp_path / "run"
    save_model(tiny_model(1, seed=5), run / "checkpoints" / "step_000010")
    (run / "checkpoints" / "LATEST").write_text("step_000010\n")
    (run / "run.json").write_text(json.dumps({"domain": "dna", "domain_options": {"softmask": "keep", "n_split": 100}}))
    fasta = tmp_path / "soft.txt"  # not a FASTA name: only run.json says it is DNA
    fasta.write_text(">r\nACGTacgtNNNNACGT\n")
    assert main(["chunk", str(fasta), "-m", str(run), "-f", "tsv", "--json", "-q", "--output",
                 str(tmp_path / "a.tsv")]) == 0
    assert json.loads(capsys.readouterr().out)["domain"] == "dna"
    _, rows = tsv_rows(tmp_path / "a.tsv")
    assert bytes(r["byte"] for r in rows) == b"ACGTacgtNNNNACGT"  # soft-masking kept, N run kept
    assert {r["record"] for r in rows} == {"r"}
    assert main(["chunk", str(fasta), "-m", str(run / "checkpoints" / "step_000010"), "-D", "softmask=fold",
                 "-f", "tsv", "-q", "--output", str(tmp_path / "b.tsv")]) == 0
    _, rows = tsv_rows(tmp_path / "b.tsv")
    assert bytes(r["byte"] for r in rows) == b"ACGTACGTNNNNACGT"

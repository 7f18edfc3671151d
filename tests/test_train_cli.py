"""`hnet train` end to end on micro models: run directory, summaries, refusals and one-line errors."""

import gzip
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import hnet_cli
from hnet_cli.cli import main
from hnet_cli.train.metrics import read_metrics
from train_helpers import micro_recipe

PLUGIN_SOURCE = Path(__file__).parent / "plugins" / "hnet-lines-domain"


def run(args, capsys):
    rc = main(args)
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def one_line_error(rc, err):
    lines = [l for l in err.strip().splitlines() if l.startswith("hnet: error:")]
    return rc != 0 and len(lines) == 1 and "Traceback" not in err


@pytest.fixture
def micro(tmp_path):
    return micro_recipe(tmp_path)


def test_train_writes_the_run_directory(tmp_path, micro, capsys):
    out = tmp_path / "run"
    rc, stdout, err = run(["train", "--domain", "dna", "--recipe", micro, "--out", str(out), "--json"], capsys)
    assert rc == 0, err
    summary = json.loads(stdout)
    assert summary["steps"] == 12 and summary["unit"] == "base" and summary["targets"] == [3.0]
    assert summary["best_val_bits_per_unit"] == pytest.approx(summary["best_val_bpb"])  # DNA: one byte per base
    for name in ("config.json", "recipe.json", "run.json", "metrics.jsonl", "checkpoints/LATEST", "checkpoints/BEST"):
        assert (out / name).is_file(), name
    recipe = json.loads((out / "recipe.json").read_text())
    assert recipe["train"]["steps"] == 12 and recipe["train"]["ratio_loss_weight"] == 0.03  # resolved: defaults filled
    info = json.loads((out / "run.json").read_text())
    assert info["domain"] == "dna" and info["split"]["mode"] == "tail" and info["compression_targets"] == [3.0]
    train_steps = [r["step"] for r in read_metrics(out / "metrics.jsonl") if r["kind"] == "train"]
    assert train_steps == list(range(1, 13))
    val = [r for r in read_metrics(out / "metrics.jsonl") if r["kind"] == "val"]
    assert [r["step"] for r in val] == [4, 8, 12] and all("val_bits_per_base" in r for r in val)
    checkpoints = sorted(p.name for p in (out / "checkpoints").iterdir() if p.name.startswith("step_"))
    assert len(checkpoints) <= 3 and "step_000012" in checkpoints  # keep_checkpoints=2, plus the best
    model = hnet_cli.load(out)  # the run directory loads as a model
    assert model.config.d_model == [16, 32]


def test_existing_run_is_never_overwritten_without_resume_or_force(tmp_path, micro, capsys):
    out = tmp_path / "run"
    assert run(["train", "--domain", "dna", "--recipe", micro, "--out", str(out), "-q", "--steps", "2"], capsys)[0] == 0
    before = (out / "checkpoints" / "step_000002" / "model.safetensors").read_bytes()
    rc, _, err = run(["train", "--domain", "dna", "--recipe", micro, "--out", str(out), "-q"], capsys)
    assert one_line_error(rc, err) and "--resume" in err and "--force" in err
    assert (out / "checkpoints" / "step_000002" / "model.safetensors").read_bytes() == before
    rc, _, err = run(["train", "--domain", "dna", "--recipe", micro, "--out", str(out), "-q", "--steps", "3", "--force"],
                     capsys)
    assert rc == 0, err
    assert not (out / "checkpoints" / "step_000002").exists() and (out / "checkpoints" / "step_000003").is_dir()


def test_force_does_not_clear_a_directory_that_is_not_a_run(tmp_path, micro, capsys):
    out = tmp_path / "important"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    rc, _, err = run(["train", "--domain", "dna", "--recipe", micro, "--out", str(out), "--force", "-q"], capsys)
    assert one_line_error(rc, err) and "not a run directory" in err
    assert (out / "notes.txt").read_text() == "keep me"


def _bad_inputs(tmp_path):
    empty = tmp_path / "empty.fa"
    empty.write_bytes(b"")
    empty_dir = tmp_path / "nothing"
    empty_dir.mkdir()
    text = tmp_path / "notes.txt"
    text.write_text("Dear diary, today I trained a model.\n" * 20)
    png = tmp_path / "image.fa"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    return {
        "missing path": (["--domain", "dna", str(tmp_path / "missing.fa")], "no such file or directory"),
        "empty file": (["--domain", "dna", str(empty)], "no dna documents found"),
        "empty directory": (["--domain", "dna", str(empty_dir)], "empty directory"),
        "wrong domain": (["--domain", "dna", str(text)], "not FASTA/FASTQ"),
        "binary file": (["--domain", "dna", str(png)], "PNG"),
        "unwritable output": (["--domain", "dna", "--out", str(blocker / "run")], "cannot create the run directory"),
        "unknown recipe field": (["--domain", "dna", "--set", "train.learning_rate=1"], "unknown field (known: train.batch_size"),
        "unknown domain": (["--domain", "protein"], "unknown domain 'protein'"),
        "unknown domain option": (["--domain", "dna", "-D", "softmsk=keep"], "unknown option 'softmsk'"),
        "bad arch": (["--domain", "dna", "--arch", "rnn"], "choose one of hnet, transformer, mamba"),
    }


BAD_CASES = ["missing path", "empty file", "empty directory", "wrong domain", "binary file", "unwritable output",
             "unknown recipe field", "unknown domain", "unknown domain option", "bad arch"]


@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_input_is_a_one_line_error(case, tmp_path, micro, capsys):
    args, message = _bad_inputs(tmp_path)[case]
    if "--out" not in args:
        args = args + ["--out", str(tmp_path / "run")]
    rc, _, err = run(["train", *args, "--recipe", micro, "-q"], capsys)
    assert one_line_error(rc, err), err
    assert message in err
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_resume_refuses_other_settings(tmp_path, micro, capsys):
    rc, _, err = run(["train", "--resume", str(tmp_path), "--set", "train.lr=1"], capsys)
    assert one_line_error(rc, err) and "--set" in err
    rc, _, err = run(["train", "--resume", str(tmp_path / "nope")], capsys)
    assert one_line_error(rc, err) and "no such run directory" in err


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, micro, capsys, monkeypatch):
    import torch

    import hnet_cli.train.objective as loop

    real = loop.forward_stats
    calls = {"n": 0}

    def poisoned(model, batch, targets, *pool):
        ce, ratios, b, p = real(model, batch, targets, *pool)
        calls["n"] += 1 if model.training else 0
        if model.training and calls["n"] >= 6:
            ce = ce * torch.tensor(float("nan"))
        return ce, ratios, b, p

    monkeypatch.setattr(loop, "forward_stats", poisoned)
    out = tmp_path / "run"
    rc, _, err = run(["train", "--domain", "dna", "--recipe", micro, "--out", str(out), "-q"], capsys)
    assert one_line_error(rc, err)
    assert "step 6: loss became nan" in err and "step_000004" in err
    assert (out / "checkpoints" / "LATEST").read_text().strip() == "step_000004"
    hnet_cli.load(out / "checkpoints" / "step_000004")
    assert max(r["step"] for r in read_metrics(out / "metrics.jsonl")) == 5


def test_isotropic_baseline_trains_with_the_same_loop(tmp_path, micro, capsys):
    out = tmp_path / "iso"
    rc, stdout, err = run(["train", "--domain", "dna", "--recipe", micro, "--arch", "mamba", "--out", str(out),
                           "--steps", "4", "--json"], capsys)
    assert rc == 0, err
    summary = json.loads(stdout)
    assert summary["compression"] == [] and summary["targets"] == []
    config = json.loads((out / "config.json").read_text())
    assert len(config["arch_layout"]) == 1 and config["arch_layout"][0].startswith("m")
    assert json.loads((out / "run.json").read_text())["arch"] == "mamba"


def test_fasta_files_and_options(tmp_path, micro, capsys):
    genome = tmp_path / "g.fa.gz"
    import random

    rng = random.Random(0)
    records = "".join(f">chr{i}\n" + "".join(rng.choice("acgtACGT") for _ in range(3000)) + "\n" for i in range(3))
    with gzip.open(genome, "wt") as f:
        f.write(records)
    out = tmp_path / "run"
    rc, stdout, err = run(["train", "--domain", "dna", str(genome), "-D", "softmask=keep", "--recipe", micro,
                           "--out", str(out), "--steps", "3", "--json"], capsys)
    assert rc == 0, err
    info = json.loads((out / "run.json").read_text())
    assert info["paths"] == [str(genome)] and info["domain_options"]["softmask"] == "keep"


def test_plot_writes_a_png(tmp_path, micro, capsys):
    pytest.importorskip("matplotlib")
    out = tmp_path / "run"
    assert run(["train", "--domain", "dna", "--recipe", micro, "--out", str(out), "-q", "--steps", "4"], capsys)[0] == 0
    rc, stdout, err = run(["plot", str(out)], capsys)
    assert rc == 0, err
    png = Path(stdout.strip())
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plugin_domain_trains(tmp_path):
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps", "--no-build-isolation",
                    "--target", str(site), str(shutil.copytree(PLUGIN_SOURCE, tmp_path / "src"))],
                   check=True, capture_output=True, env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    env = {**os.environ, "PYTHONPATH": str(site), "OMP_NUM_THREADS": "1"}
    micro = micro_recipe(tmp_path, seq_len=16, batch_size=1, steps=3, eval_every=3)
    out = tmp_path / "lines-run"
    proc = subprocess.run([sys.executable, "-m", "hnet_cli", "train", "--domain", "lines", "--recipe", micro,
                           "--out", str(out), "--json", "-q"], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["domain"] == "lines" and summary["targets"] == [4.0] and summary["steps"] == 3


def test_stdin_is_kept_for_later_epochs_and_resume(tmp_path):
    import random

    rng = random.Random(1)
    fasta = ">r1\n" + "".join(rng.choice("ACGT") for _ in range(4000)) + "\n"
    micro = micro_recipe(tmp_path, steps=4, eval_every=2, checkpoint_every=2)
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "hnet_cli", "train", "--domain", "dna", "-", "--recipe", micro,
                           "--out", str(out), "--json", "-q"], input=fasta.encode(), capture_output=True, env=env)
    assert proc.returncode == 0, proc.stderr.decode()
    assert (out / "stdin").read_text() == fasta
    assert json.loads((out / "run.json").read_text())["paths"] == [str(out / "stdin")]
    longer = subprocess.run([sys.executable, "-m", "hnet_cli", "train", "--resume", str(out), "--steps", "6", "-q"],
                            capture_output=True, env=env)
    assert longer.returncode == 0, longer.stderr.decode()
    empty = subprocess.run([sys.executable, "-m", "hnet_cli", "train", "--domain", "dna", "-", "--recipe", micro,
                            "--out", str(tmp_path / "empty"), "-q"], input=b"", capture_output=True, env=env)
    assert empty.returncode != 0 and b"standard input is empty" in empty.stderr


def test_time_budget_sizes_the_run(tmp_path, capsys):
    micro = micro_recipe(tmp_path, steps=None, max_time=3, eval_every=1000, checkpoint_every=1000)
    rc, stdout, err = run(["train", "--domain", "dna", "--recipe", micro, "--out", str(tmp_path / "run"), "--json"],
                          capsys)
    assert rc == 0, err
    summary = json.loads(stdout)
    # The length was fixed after the first steps from their speed, and the run went to its end.
    assert 10 < summary["total_steps"] < 10_000 and summary["steps"] == summary["total_steps"]
    state = json.loads((tmp_path / "run" / "checkpoints" / f"step_{summary['steps']:06d}" / "state.json").read_text())
    assert state["total_steps"] == summary["total_steps"]


def test_bad_stdin_is_named_as_stdin(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "hnet_cli", "train", "--domain", "dna", "-", "--out", str(tmp_path / "run")],
        input=b"just some text\n", capture_output=True,
    )
    err = proc.stderr.decode().strip().splitlines()
    assert proc.returncode != 0
    assert err[-1].startswith("hnet: error: -:1:") and "FASTA" in err[-1]
    assert "Traceback" not in proc.stderr.decode()

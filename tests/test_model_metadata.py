"""Checkpoints describe themselves: a folder taken out of its run reads, chunks and writes its domain's data."""

import json
import shutil

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

import hnet_cli
from hnet_cli import __version__
from hnet_cli.cli import main
from hnet_cli.model.checkpoint import checkpoint_metadata, load, save_model

from model_helpers import tiny_model
from train_helpers import micro_recipe


@pytest.fixture(scope="module")
def dna_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("run")
    genome = tmp / "genome.fa"
    genome.write_text(">chr1\n" + "ACGTTGCAAGGCTTAACCGGTTAACG" * 60 + "\n")
    run = tmp / "dna"
    assert main(["train", "--domain", "dna", str(genome), "-D", "softmask=keep", "--recipe", micro_recipe(tmp),
                 "--steps", "4", "--out", str(run), "-q"]) == 0
    saved = tmp / "saved"  # a checkpoint folder copied out of its run: no run.json next to it
    shutil.copytree(run / "checkpoints" / (run / "checkpoints" / "BEST").read_text().strip(), saved)
    return run, saved


def test_checkpoint_says_what_it_is(dna_run):
    _, saved = dna_run
    block = json.loads((saved / "config.json").read_text())["hnet"]
    assert block["domain"] == "dna" and block["unit"] == "base"
    assert block["domain_options"]["softmask"] == "keep"
    assert (block["bos"], block["eos"]) == (254, 255)
    assert block["recipe"] == "micro" and block["seq_len"] == 64 and block["compression_targets"]
    assert block["recipe_config"]["train"]["seq_len"] == 64
    assert block["hnet_version"] == __version__
    with safe_open(str(saved / "model.safetensors"), "pt") as f:
        assert json.loads(f.metadata()["hnet"]) == block
    assert hnet_cli.load(saved).metadata == block


def test_saved_folder_chunks_fasta_as_dna_without_flags(dna_run, tmp_path, capsys, monkeypatch):
    _, saved = dna_run
    import io
    import sys

    # stdin has no file name to guess from: only the checkpoint says DNA.
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b">read1\nACGTacgtACGT\n")))
    out = tmp_path / "c.tsv"
    assert main(["chunk", "-", "-m", str(saved), "-f", "tsv", "--json", "-q", "-o", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["domain"] == "dna"
    rows = out.read_text().splitlines()[1:]
    header = out.read_text().splitlines()[0].split("\t")
    record = header.index("record")
    assert {r.split("\t")[record] for r in rows} == {"read1"}
    assert len(rows) == 12  # the FASTA header line is not data; soft-masking kept (softmask=keep)


def test_saved_folder_generates_fasta_without_flags(dna_run, capsys):
    _, saved = dna_run
    assert main(["generate", str(saved), "-p", "ACGT", "--max-bytes", "30", "--seed", "1", "-q"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(">") and out.splitlines()[1].startswith("ACGT")


def test_save_model_keeps_the_description(dna_run, tmp_path):
    run, _ = dna_run
    model = hnet_cli.load(run)
    save_model(model, tmp_path / "copy", metadata={"note": "fine-tuned"})
    block = checkpoint_metadata(tmp_path / "copy")
    assert block["domain"] == "dna" and block["note"] == "fine-tuned" and block["hnet_version"] == __version__


def _old_checkpoint(folder, header: dict):
    """A checkpoint as written before checkpoints described themselves."""
    model = tiny_model(stages=1, seed=2)
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(model.config.to_dict()))
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(folder / "model.safetensors"), metadata=header)
    return model


def test_old_checkpoints_still_load(tmp_path):
    model = _old_checkpoint(tmp_path / "plain", {"format": "hnet", "step": "10"})
    loaded = load(tmp_path / "plain")
    assert loaded.metadata == {}
    assert torch.equal(loaded.lm_head.weight, model.lm_head.weight)
    _old_checkpoint(tmp_path / "with_domain", {"format": "hnet", "domain": "dna"})
    assert load(tmp_path / "with_domain").metadata == {"domain": "dna"}
    # An old run: the record next to the checkpoints says it.
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    _old_checkpoint(run / "checkpoints" / "step_000004", {"format": "hnet"})
    (run / "checkpoints" / "LATEST").write_text("step_000004\n")
    (run / "run.json").write_text(json.dumps({"domain": "text", "domain_options": {"field": "body"}, "paths": ["/x"]}))
    assert load(run).metadata == {"domain": "text", "domain_options": {"field": "body"}}


def test_official_checkpoint_has_no_description(official_dir):
    model = load(official_dir / "tiny_1stage.pt", config=official_dir / "tiny_1stage.json")
    assert model.metadata == {}

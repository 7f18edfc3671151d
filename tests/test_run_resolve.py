"""`hnet_cli.run`: one answer to "which model, domain, reader options and context" for every job."""

import json

import pytest

from hnet_cli.errors import CheckpointError
from hnet_cli.model import save_model
from hnet_cli.run import RunDir, resolve
from hnet_cli.run.resolve import DEFAULT, FILE_NAMES, GIVEN, METADATA, RUN_RECORD
from model_helpers import tiny_model


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "dna"
    save_model(tiny_model(1, seed=3), run / "checkpoints" / "step_000010")
    (run / "checkpoints" / "LATEST").write_text("step_000010\n")
    (run / "run.json").write_text(json.dumps(
        {"domain": "dna", "domain_options": {"softmask": "keep", "n_split": 7, "rc_prob": "not a number"}}))
    (run / "recipe.json").write_text(json.dumps({"train": {"seq_len": 48}}))
    return run


def test_run_records_give_domain_options_and_context(run_dir):
    for path in (run_dir, run_dir / "checkpoints" / "step_000010"):
        found = resolve(path)
        assert (found.domain.name, found.domain_from, found.run.path) == ("dna", RUN_RECORD, run_dir)
        assert found.options["softmask"] == "keep" and found.options["n_split"] == 7
        assert found.options["rc_prob"] == 0.0  # a value this version does not accept keeps the default
        assert (found.context, found.context_from) == (48, run_dir / "recipe.json")
        assert found.checkpoint == run_dir / "checkpoints" / "step_000010" and found.model is None


def test_given_options_win_and_are_typed(run_dir):
    found = resolve(run_dir, options={"softmask": "fold", "max_length": "1_000"})
    assert found.options["softmask"] == "fold" and found.options["max_length"] == 1000
    assert found.options["n_split"] == 7 and found.given_options == {"softmask", "max_length"}
    # another domain than the trained one: no inherited options
    other = resolve(run_dir, "text")
    assert other.domain_from == GIVEN and other.domain.name == "text"
    assert other.options == other.domain.resolve_options({})


def test_weights_without_records(tmp_path):
    ckpt = save_model(tiny_model(1), tmp_path / "ckpt")
    assert resolve(ckpt).domain_from == DEFAULT and resolve(ckpt).domain.name == "text"
    assert resolve(ckpt).context is None
    found = resolve(ckpt, paths=["a.fa.gz", "b.fastq"])
    assert (found.domain.name, found.domain_from) == ("dna", FILE_NAMES)
    assert resolve(ckpt, paths=["a.fa", "notes.txt"]).domain.name == "text"
    assert resolve(ckpt, paths=["a.fa", "-"]).domain.name == "text"
    tagged = save_model(tiny_model(1), tmp_path / "tagged", extra_metadata={"domain": "code"})
    assert (resolve(tagged).domain.name, resolve(tagged).domain_from) == ("code", METADATA)


def test_load_once_and_errors(tmp_path, run_dir):
    found = resolve(run_dir)
    model = found.load("cpu")
    assert found.load("cpu") is model and not model.training
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        resolve(tmp_path / "nope")
    empty = tmp_path / "empty_run"
    (empty / "checkpoints").mkdir(parents=True)
    with pytest.raises(CheckpointError, match="no complete checkpoint"):
        resolve(empty)


def test_run_dir_lifecycle(tmp_path):
    run = RunDir(tmp_path / "r")
    run.create(force=False)
    run.write("run.json", {"domain": "dna"})
    assert run.looks_like_run() and run.record() == {"domain": "dna"}
    assert RunDir.find(run.path) is not None and RunDir.find(tmp_path / "elsewhere") is None
    with pytest.raises(Exception, match="--resume"):
        run.check_new(force=False)
    run.create(force=True)
    assert not run.info_path.exists()
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "keep.txt").write_text("x")
    with pytest.raises(Exception, match="not a run directory"):
        RunDir(tmp_path / "other").create(force=True)

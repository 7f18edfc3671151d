"""`hnet compare` end to end on micro models: the table, matched FLOPs, the same bytes for every arm, resuming."""

import hashlib
import json

import pytest

from hnet_cli.cli import main
from hnet_cli.compare import CompareJob, compare
from hnet_cli.data.loader import TrainLoader
from compare_helpers import held_out_fasta, micro_compare_recipe


def run(args, capsys):
    rc = main(args)
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def one_line_error(rc, err, text):
    lines = [line for line in err.strip().splitlines() if line.startswith("hnet: error:")]
    return rc != 0 and len(lines) == 1 and text in lines[0] and "Traceback" not in err


@pytest.fixture
def batches_seen(monkeypatch):
    """Every training run's batches, as one digest per step, in the order the runs start."""
    runs = []
    original = TrainLoader.__iter__

    def spying(self):
        digests = []
        runs.append(digests)
        for item in original(self):
            h = hashlib.sha256()
            for batch in item.micro_batches:
                h.update(batch.input_ids.numpy().tobytes())
            digests.append(h.hexdigest())
            yield item

    monkeypatch.setattr(TrainLoader, "__iter__", spying)
    return runs


@pytest.mark.slow
def test_compare_trains_every_arm_alike_and_resumes(tmp_path, batches_seen):
    recipe = micro_compare_recipe(tmp_path)
    held = held_out_fasta(tmp_path)
    job = CompareJob(arms="hnet,transformer,mamba", recipe=recipe, domain="dna", held_out=[held], out=tmp_path / "cmp",
                     device="cpu")
    report = compare(job)

    assert [a.name for a in report.arms] == ["hnet", "transformer", "mamba"]
    assert [a.status for a in report.arms] == ["new"] * 3
    # Matched forward FLOPs per byte (at compression 1/N for the H-Net).
    for arm in report.arms:
        assert abs(arm.flops_ratio - 1) <= 0.05, (arm.name, arm.flops_ratio)
    assert not report.warnings
    # Every arm saw the same bytes: the same number, and the same rows in the same order.
    assert {a.bytes_seen for a in report.arms} == {8 * 2 * 128}
    assert {a.steps for a in report.arms} == {8}
    assert len({a.data_signature for a in report.arms}) == 1
    assert len(batches_seen) == 3 and len(batches_seen[0]) >= 8
    first = [run[:8] for run in batches_seen]
    assert first[0] == first[1] == first[2]
    assert len(set(first[0])) == 8  # the digests tell batches apart
    # Scored on the held-out file with the code of hnet eval; parameters differ, compute does not.
    for arm in report.arms:
        assert 0 < arm.held_out_bits_per_unit < 9 and arm.held_out_bpb == pytest.approx(arm.held_out_bits_per_unit)
        assert arm.parameters > 0 and arm.train_seconds > 0 and [p.step for p in arm.curve] == [4, 8]
    assert len(report.arms[0].held_out_compression) == 1 and report.arms[1].held_out_compression == []
    assert report.eval["bytes"] == 3000
    saved = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    assert [a["name"] for a in saved["arms"]] == ["hnet", "transformer", "mamba"]
    assert (tmp_path / "cmp" / "compare.png").is_file()
    for name in ("hnet", "transformer", "mamba"):
        assert (tmp_path / "cmp" / name / "checkpoints" / "LATEST").is_file()
    scores = {a.name: a.held_out_bits_per_unit for a in report.arms}
    val = report.arms[0].val_bits_per_unit

    # Interrupted after step 4: the H-Net arm continues exactly; the finished arms are kept.
    latest = tmp_path / "cmp" / "hnet" / "checkpoints" / "LATEST"
    latest.write_text("step_000004\n")
    again = compare(job)
    assert [a.status for a in again.arms] == ["resume", "done", "done"]
    assert again.arms[0].val_bits_per_unit == pytest.approx(val, abs=1e-6)
    assert again.arms[0].held_out_bits_per_unit == pytest.approx(scores["hnet"], abs=1e-6)  # rescored: new weights
    assert again.arms[1].held_out_bits_per_unit == scores["transformer"]
    assert len(batches_seen) == 4 and batches_seen[3][:4] == batches_seen[0][4:8]  # the resumed arm's next rows


@pytest.mark.slow
def test_compare_command_prints_the_table_and_json(tmp_path, capsys):
    recipe = micro_compare_recipe(tmp_path, steps=4)
    held = held_out_fasta(tmp_path)
    args = ["compare", "--domain", "dna", "--recipe", recipe, "--archs", "hnet,mamba", "--held-out", held,
            "-o", str(tmp_path / "cmp"), "--device", "cpu", "--quiet"]
    rc, out, err = run(args, capsys)
    assert rc == 0, err
    rows = [line for line in out.splitlines() if line.startswith("│")]
    names = [r.split("│")[1].strip() for r in rows]
    assert names[:2] == ["hnet", "mamba"] and names[2:] == ["yardstick"]
    assert "held-out bits/base, best first:" in out and "yardstick: order-" in out
    rc, out, err = run(args + ["--json"], capsys)
    assert rc == 0, err
    data = json.loads(out)
    assert [a["status"] for a in data["arms"]] == ["done", "done"] and data["scored_on"] == "held-out"
    assert [s["name"] for s in data["summaries"]] == ["hnet", "mamba"]
    assert data["yardstick"]["bits_per_unit"] > 0 and data["yardstick"]["unit"] == "base"


@pytest.mark.parametrize("extra, text", [
    (["--archs", "hnet,hnet"], "listed twice"),
    (["--archs", "hnet,nonesuch"], "unknown recipe 'nonesuch'"),
    (["--seeds", "0,x"], "--seeds"),
    (["--seeds", "1,1"], "listed twice"),
    (["--held-out", "-"], "stdin"),
    (["--held-out", "missing.fa"], "missing.fa: no such file"),
    (["--steps", "0"], "--steps must be positive"),
    (["--set", "train.max_time=60"], "max_time"),
])
def test_compare_refuses_bad_requests_in_one_line_before_training(tmp_path, capsys, extra, text):
    recipe = micro_compare_recipe(tmp_path)
    rc, out, err = run(["compare", "--domain", "dna", "--recipe", recipe, "-o", str(tmp_path / "cmp")] + extra, capsys)
    assert one_line_error(rc, err, text), err
    assert not list((tmp_path / "cmp").glob("*/checkpoints"))


def test_compare_help_shows_an_example(capsys):
    rc, out, _ = run(["compare", "--help"], capsys)
    assert rc == 0 and "hnet compare --domain dna" in out and "--held-out" in out


@pytest.mark.slow
def test_an_arm_out_of_memory_does_not_stop_the_others(tmp_path, capsys, monkeypatch):
    """Hours of comparison are not lost to one arm that does not fit: it is marked, the others train,
    the table is printed, and the command ends with one line naming the arm and a non-zero exit."""
    import torch

    import hnet_cli.compare.api as api

    real = api.train_arm

    def train_arm(arm, *args, **kwargs):
        if arm.name == "hnet":
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 8.00 GiB. GPU 0 has a total "
                                         "capacity of 79.10 GiB of which 1.20 GiB is free.")
        return real(arm, *args, **kwargs)

    monkeypatch.setattr(api, "train_arm", train_arm)
    recipe = micro_compare_recipe(tmp_path, steps=2)
    args = ["compare", "--domain", "dna", "--recipe", recipe, "--archs", "hnet,mamba", "--held-out",
            held_out_fasta(tmp_path), "-o", str(tmp_path / "cmp"), "--device", "cpu", "--quiet"]
    rc, out, err = run(args, capsys)
    assert one_line_error(rc, err, "1 arm(s) did not finish: hnet (seed 0)"), err
    names = [line.split("│")[1].strip() for line in out.splitlines() if line.startswith("│")]
    assert names[:2] == ["hnet (out of memory)", "mamba"]
    saved = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    hnet, mamba = saved["arms"]
    assert hnet["status"] == "out of memory" and "8.00 GiB asked for" in hnet["message"]
    assert mamba["status"] != "out of memory" and mamba["held_out_bits_per_unit"] > 0

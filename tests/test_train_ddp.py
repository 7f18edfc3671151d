"""Acceptance 3: two processes (torchrun, gloo on CPU) train like one process with the same global batch."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from hnet_cli.train.metrics import read_metrics
from train_helpers import micro_recipe

pytestmark = pytest.mark.slow

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
STEPS = 10
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "hnet_cli"]
SINGLE = [sys.executable, "-m", "hnet_cli"]


def train(launcher, recipe, out, *extra):
    proc = subprocess.run(launcher + ["train", "--domain", "dna", "--recipe", recipe, "--out", str(out),
                                      "--device", "cpu", "--json", "-q", *extra],
                          capture_output=True, text=True, env=ENV, timeout=900)
    if proc.returncode != 0:  # the ranks' own messages come first; torchrun's summary last
        cause = [line for line in proc.stderr.splitlines()
                 if any(w in line for w in ("Error", "error:", "terminate", "Abort", "what()"))]
        raise AssertionError("\n".join(cause[:20]) + "\n...\n" + proc.stderr[-1500:])
    return proc


def curve(run_dir, kind):
    return {r["step"]: r for r in read_metrics(run_dir / "metrics.jsonl") if r["kind"] == kind}


def test_two_processes_match_one(tmp_path):
    recipe = micro_recipe(tmp_path, steps=STEPS, eval_every=5, checkpoint_every=5)
    torchrun, single = TORCHRUN, SINGLE
    two = train(torchrun, recipe, tmp_path / "two")
    summary = json.loads(two.stdout)  # one summary: only process 0 reports
    assert summary["world_size"] == 2 and summary["bytes_seen"] == STEPS * 4 * 64
    assert json.loads((tmp_path / "two" / "run.json").read_text())["world_size"] == 2

    # One process with two micro-batches per step: the same objective, so the same updates.
    train(single, recipe, tmp_path / "accum", "--set", "train.grad_accum=2")
    # One process with one micro-batch of 4 rows: the same data, but the ratio loss (nonlinear in a
    # batch's boundary fraction) is taken over 4 rows instead of 2 + 2 (train.ratio_stats=unit), so
    # the curves agree closely.
    train(single, recipe, tmp_path / "wide", "--set", "train.batch_size=4")

    # train.ratio_stats=global pools F and G of the two processes' micro-batches: exactly the wide run.
    train(torchrun, recipe, tmp_path / "global", "--set", "train.ratio_stats=global")

    d, a, w, g = (curve(tmp_path / name, "train") for name in ("two", "accum", "wide", "global"))
    assert sorted(d) == sorted(a) == sorted(w) == sorted(g) == list(range(1, STEPS + 1))
    for step in d:
        assert d[step]["loss"] == pytest.approx(a[step]["loss"], rel=1e-6)
        assert d[step]["compression"] == a[step]["compression"]
        assert d[step]["loss"] == pytest.approx(w[step]["loss"], rel=1e-2)
        assert g[step]["loss"] == pytest.approx(w[step]["loss"], rel=1e-6)
        assert g[step]["ratio_loss"] == pytest.approx(w[step]["ratio_loss"], rel=1e-6)
        assert g[step]["compression"] == pytest.approx(w[step]["compression"], rel=1e-6)
    assert max(abs(d[s]["ratio_loss"][0] - w[s]["ratio_loss"][0]) for s in d) > 1e-5  # unit and global differ
    # Weights: the same objective computed on micro-batches of 4 rows vs 2 + 2 (other matmul shapes, other
    # rounding) ends 1.2e-6 apart after 10 Adam steps; the unit objective ends 1e-2 away.
    assert_same_weights(final_weights(tmp_path / "wide"), final_weights(tmp_path / "global"), tol=1e-5)
    assert max((a_ - b_).abs().max() for a_, b_ in zip(final_weights(tmp_path / "wide").values(),
                                                      final_weights(tmp_path / "two").values())) > 1e-3
    dv, av = curve(tmp_path / "two", "val"), curve(tmp_path / "accum", "val")
    assert sorted(dv) == sorted(av) == [5, 10]
    for step in dv:
        assert dv[step]["val_bpb"] == pytest.approx(av[step]["val_bpb"], rel=1e-6)


def weights(run_dir):
    import hnet_cli

    return hnet_cli.load(run_dir).state_dict()


def final_weights(run_dir):
    return weights(run_dir / "checkpoints" / f"step_{STEPS:06d}")


def assert_same_weights(a, b, tol=1e-6):
    assert a.keys() == b.keys()
    for name, value in a.items():
        assert (b[name] - value).abs().max() <= tol, name


def resume(launcher, run_dir, quiet=True):
    proc = subprocess.run(launcher + ["train", "--resume", str(run_dir), "--steps", str(STEPS), "--device", "cpu",
                                      *(["-q"] if quiet else [])], capture_output=True, text=True, env=ENV, timeout=900)
    if proc.returncode != 0:  # the ranks' own messages come first; torchrun's summary last
        cause = [line for line in proc.stderr.splitlines()
                 if any(w in line for w in ("Error", "error:", "terminate", "Abort", "what()"))]
        raise AssertionError("\n".join(cause[:20]) + "\n...\n" + proc.stderr[-1500:])
    return proc



@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory):
    """An uninterrupted 2-process DDP run (constant schedule: a half run lengthened on resume sees the same rates)."""
    tmp_path = tmp_path_factory.mktemp("ddp")
    recipe = micro_recipe(tmp_path, steps=STEPS, eval_every=5, checkpoint_every=5, schedule="constant")
    half = micro_recipe(tmp_path, name="half", steps=STEPS // 2, eval_every=5, checkpoint_every=5, schedule="constant")
    train(TORCHRUN, recipe, tmp_path / "ddp")
    return tmp_path, recipe, half


def test_resume_on_another_number_of_processes(ddp_run):
    """2 processes for half the run, then 1 process (grad_accum 2), and the reverse: the uninterrupted run's
    batches in the same order (per-step losses) and its weights."""
    tmp_path, _, half = ddp_run
    whole, ref = final_weights(tmp_path / "ddp"), curve(tmp_path / "ddp", "train")

    train(TORCHRUN, half, tmp_path / "two_then_one")
    one = resume(SINGLE, tmp_path / "two_then_one", quiet=False)
    assert "train.grad_accum 1 -> 2 keeps 4 rows per step" in one.stderr
    train(SINGLE, half, tmp_path / "one_then_two", "--set", "train.grad_accum=2")
    resume(TORCHRUN, tmp_path / "one_then_two")

    for name in ("two_then_one", "one_then_two"):
        run_dir = tmp_path / name
        assert_same_weights(whole, final_weights(run_dir))
        c = curve(run_dir, "train")
        assert sorted(c) == list(range(1, STEPS + 1))
        for step in c:
            assert c[step]["loss"] == pytest.approx(ref[step]["loss"], rel=1e-6), (name, step)
            assert c[step]["compression"] == pytest.approx(ref[step]["compression"], rel=1e-6), (name, step)
    # The resumed session records its own layout: a third session on 2 processes goes back to grad_accum 1.
    info = json.loads((tmp_path / "two_then_one" / "run.json").read_text())
    recipe = json.loads((tmp_path / "two_then_one" / "recipe.json").read_text())
    assert info["world_size"] == 1 and recipe["train"]["grad_accum"] == 2


def test_resume_that_cannot_keep_the_batch_says_so(tmp_path):
    """3 rows per step cannot be split over 2 processes of 1-row micro-batches: one clear line."""
    recipe = micro_recipe(tmp_path, steps=2, batch_size=1, grad_accum=3, eval_every=2, checkpoint_every=2)
    train(SINGLE, recipe, tmp_path / "run")
    proc = subprocess.run(TORCHRUN + ["train", "--resume", str(tmp_path / "run"), "--steps", "4", "--device", "cpu",
                                      "-q"], capture_output=True, text=True, env=ENV, timeout=900)
    assert proc.returncode != 0
    # Each process says it in one line (torchrun then reports the failed processes in its own words).
    lines = [line for line in proc.stderr.splitlines() if "cannot resume" in line]
    assert lines and all(line.startswith("hnet: error: ") for line in lines), proc.stderr[-2000:]
    assert "cannot resume 3 rows per step on 2 processes of train.batch_size=1 rows (3 is not a multiple of 2)" in lines[0]


def test_fsdp_trains_like_ddp_and_resumes_exactly(ddp_run):
    """train.parallel=fsdp shards the model over 2 processes: same curve as DDP, full checkpoints, exact resume
    (on 2 processes, on 1 from the sharded run's checkpoint, and on 2 from a 1-process run's)."""
    tmp_path, recipe, half = ddp_run
    torchrun = TORCHRUN
    fsdp = ["--set", "train.parallel=fsdp"]
    train(torchrun, recipe, tmp_path / "fsdp", *fsdp)
    d, f = curve(tmp_path / "ddp", "train"), curve(tmp_path / "fsdp", "train")
    assert sorted(d) == sorted(f) == list(range(1, STEPS + 1))
    for step in d:
        assert f[step]["loss"] == pytest.approx(d[step]["loss"], rel=1e-5)
    dv, fv = curve(tmp_path / "ddp", "val"), curve(tmp_path / "fsdp", "val")
    for step in dv:
        assert fv[step]["val_bpb"] == pytest.approx(dv[step]["val_bpb"], rel=1e-5)

    # The checkpoint holds the whole model (it loads in one process) and continues exactly,
    # on 2 processes, and on 1 (the optimizer state saved by name is loaded by position).
    # A run of the same recipe started on 1 process (not sharded: its optimizer state is saved by
    # position) resumes sharded on 2.
    train(torchrun, half, tmp_path / "split", *fsdp)
    shutil.copytree(tmp_path / "split", tmp_path / "split_one")
    resume(torchrun, tmp_path / "split")
    resume(SINGLE, tmp_path / "split_one")
    train(SINGLE, half, tmp_path / "one_then_fsdp", *fsdp, "--set", "train.grad_accum=2")
    resume(torchrun, tmp_path / "one_then_fsdp")
    whole = final_weights(tmp_path / "fsdp")
    assert_same_weights(whole, final_weights(tmp_path / "split"))
    assert_same_weights(whole, final_weights(tmp_path / "split_one"))
    # Its first half summed gradients in one process, not over two shards: rounding apart by ~2e-6
    # (an optimizer state lost on the way would put the weights apart by ~lr = 3e-3).
    assert_same_weights(whole, final_weights(tmp_path / "one_then_fsdp"), tol=1e-5)

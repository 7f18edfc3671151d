"""Acceptance 2: a run killed with SIGKILL and resumed ends with the weights of an uninterrupted run."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from safetensors.torch import load_file

from hnet_cli.train.metrics import read_metrics
from train_helpers import latest_step, micro_recipe

pytestmark = pytest.mark.slow

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
STEPS = 60


def hnet(*args, **kw):
    return subprocess.run([sys.executable, "-m", "hnet_cli", *args], capture_output=True, text=True, env=ENV, **kw)


def test_sigkill_then_resume_is_exact(tmp_path):
    recipe = micro_recipe(tmp_path, steps=STEPS, checkpoint_every=5, eval_every=10, keep_checkpoints=2,
                          domain_options={"rc_prob": 0.5})
    ref, cut = tmp_path / "ref", tmp_path / "cut"
    done = hnet("train", "--domain", "dna", "--recipe", recipe, "--out", str(ref), "-q")
    assert done.returncode == 0, done.stderr

    proc = subprocess.Popen([sys.executable, "-m", "hnet_cli", "train", "--domain", "dna", "--recipe", recipe,
                             "--out", str(cut), "-q"], env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 600
    while latest_step(cut) < 15 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    killed_at = latest_step(cut)
    assert 15 <= killed_at < STEPS

    resumed = hnet("train", "--resume", str(cut), "--json", "-q")
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["steps"] == STEPS

    final = f"checkpoints/step_{STEPS:06d}/model.safetensors"
    a, b = load_file(str(ref / final)), load_file(str(cut / final))
    assert a.keys() == b.keys()
    assert max((a[k] - b[k]).abs().max().item() for k in a) <= 1e-6

    # Every step once, in order; the same validation steps and values as the uninterrupted run.
    records = read_metrics(cut / "metrics.jsonl")
    assert [r["step"] for r in records if r["kind"] == "train"] == list(range(1, STEPS + 1))
    ref_val = [(r["step"], r["val_bpb"]) for r in read_metrics(ref / "metrics.jsonl") if r["kind"] == "val"]
    cut_val = [(r["step"], r["val_bpb"]) for r in records if r["kind"] == "val"]
    assert [s for s, _ in cut_val] == [s for s, _ in ref_val]
    assert all(abs(x - y) <= 1e-6 for (_, x), (_, y) in zip(cut_val, ref_val))
    # A resumed, finished run resumes to nothing and says so.
    again = hnet("train", "--resume", str(cut), "--json", "-q")
    assert again.returncode == 0 and json.loads(again.stdout)["steps"] == STEPS


def test_resume_can_lengthen_a_run(tmp_path):
    recipe = micro_recipe(tmp_path, steps=6, schedule="constant", checkpoint_every=3, eval_every=3)
    run_dir = tmp_path / "run"
    assert hnet("train", "--domain", "dna", "--recipe", recipe, "--out", str(run_dir), "-q").returncode == 0
    longer = hnet("train", "--resume", str(run_dir), "--steps", "9", "--json", "-q")
    assert longer.returncode == 0, longer.stderr
    assert json.loads(longer.stdout)["steps"] == 9
    assert [r["step"] for r in read_metrics(run_dir / "metrics.jsonl") if r["kind"] == "train"] == list(range(1, 10))
    shorter = hnet("train", "--resume", str(run_dir), "--steps", "4")
    assert shorter.returncode != 0 and "already at step 9" in shorter.stderr

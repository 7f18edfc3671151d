"""Warnings a new user needs: a run too short for its warmup, and routing far from its target at the end."""

import json

from hnet_cli.cli import main
from hnet_cli.train.health import CompressionWatch, short_run_warnings

from train_helpers import micro_recipe


def test_short_run_warning():
    (message,) = short_run_warnings(30, 100, "wsd")
    assert "30 steps" in message and "100 warmup" in message and "--steps above 100" in message
    assert short_run_warnings(101, 100, "wsd") == [] and short_run_warnings(5, 0, "constant") == []


def test_grace_and_patience_scale_with_the_run():
    long = CompressionWatch.for_run([8.0], 10_000, grace=300, patience=200)
    assert (long.grace, long.patience) == (300, 200)
    short = CompressionWatch.for_run([8.0], 200, grace=300, patience=200)
    assert (short.grace, short.patience) == (40, 20)
    # A 200-step run whose routing sits at 93 bytes per chunk against 8 is told during the run.
    warnings = [w for step in range(1, 201) for w in short.update(step, [1 / 93])]
    assert len(warnings) == 1 and "collapsed" in warnings[0]


def test_final_check_names_a_stage_far_from_its_target():
    watch = CompressionWatch.for_run([8.0, 2.0], 50)
    (message,) = watch.final([1 / 93, 1 / 2.1])
    assert "stage 0 at 93 positions per chunk against a target of 8" in message
    assert watch.final([1 / 93, 1 / 2.1]) == []  # said once


def test_train_reports_both(tmp_path, capsys):
    run = tmp_path / "run"
    recipe = micro_recipe(tmp_path, warmup=20, ratio_loss_weight=0.0)
    assert main(["train", "--domain", "dna", "--recipe", recipe, "--steps", "6", "-o", str(run), "--json"]) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert any("no more than the recipe's 20 warmup steps" in w for w in result["warnings"])
    assert "warmup steps" in captured.err
    logged = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert any(r["kind"] == "warning" and "warmup" in r["message"] for r in logged)

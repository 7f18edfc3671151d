"""With the `tensorboard` extra installed, a run's curves are in RUN/tensorboard/, the same as metrics.jsonl."""

import json

import pytest

from hnet_cli.cli import main

from train_helpers import micro_recipe

pytest.importorskip("tensorboard")


def test_events_file_holds_the_metrics(tmp_path, capsys):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = tmp_path / "run"
    assert main(["train", "--domain", "dna", "--recipe", micro_recipe(tmp_path, log_every=1), "--steps", "6",
                 "-o", str(run), "-q"]) == 0
    events = list((run / "tensorboard").glob("events.out.tfevents.*"))
    assert events, "no events file"
    accumulator = EventAccumulator(str(run / "tensorboard"))
    accumulator.Reload()
    tags = set(accumulator.Tags()["scalars"])
    assert {"train/loss", "train/bpb", "train/lr", "train/compression_0", "val/val_bpb"} <= tags
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    train = {r["step"]: r for r in records if r["kind"] == "train"}
    loss = {e.step: e.value for e in accumulator.Scalars("train/loss")}
    assert sorted(loss) == sorted(train) == list(range(1, 7))
    for step, value in loss.items():
        assert value == pytest.approx(train[step]["loss"], rel=1e-6)  # stored as float32
    val = [r for r in records if r["kind"] == "val"]
    assert [e.step for e in accumulator.Scalars("val/val_bpb")] == [r["step"] for r in val]

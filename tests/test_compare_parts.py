"""The pieces of `hnet compare`: arms, shared settings, run status, records, the table, the plot fallback."""

import json

import pytest

from hnet_cli.compare.api import ArmResult, CompareReport, _plot, _run_dir
from hnet_cli.compare.arms import (
    DATA_FIELDS, SHARED_FIELDS, build_arms, data_signature, parse_arm_names, reference_flops,
)
from hnet_cli.compare.records import CurvePoint, validation_curve
from hnet_cli.compare.report import summary_lines, table
from hnet_cli.compare.runner import DONE, NEW, RESTART, RESUME, _first_difference, arm_status, check_same_arm
from hnet_cli.data.registry import get_domain
from hnet_cli.errors import ConfigError, HnetError
from hnet_cli.recipes import load_recipe
from compare_helpers import micro_compare_recipe


@pytest.fixture
def dna():
    return get_domain("dna")


def test_arm_names_parse_in_order_and_refuse_repeats():
    assert parse_arm_names("hnet, transformer,mamba") == ["hnet", "transformer", "mamba"]
    assert parse_arm_names(["mamba", "dna-tiny"]) == ["mamba", "dna-tiny"]
    with pytest.raises(ConfigError, match="listed twice"):
        parse_arm_names("hnet,hnet")
    with pytest.raises(ConfigError, match="comma-separated"):
        parse_arm_names("hnet,,mamba")


def test_baseline_arms_match_the_reference_in_flops_and_share_its_training(tmp_path, dna):
    reference = load_recipe(micro_compare_recipe(tmp_path))
    arms = build_arms(["hnet", "transformer", "mamba"], reference, dna, seed=7)
    assert [a.kind for a in arms] == ["hnet", "transformer", "mamba"]
    assert [a.arch for a in arms] == ["hnet", "transformer", "mamba"]
    ref = reference_flops(arms)
    assert ref == arms[0].flops_per_byte
    for arm in arms:
        assert abs(arm.flops_per_byte / ref - 1) < 0.05, arm.name
        assert arm.seed == 7 and arm.recipe.train.seed == 7
        for name in SHARED_FIELDS:
            if name != "seed":
                assert arm.recipe.train.get_flat(name) == reference.train.get_flat(name), (arm.name, name)
    assert arms[0].targets == [3.0] and arms[1].targets == [] and arms[1].recipe.model.num_stages == 0
    assert reference.train.seed == 0  # the caller's recipe is not changed


def test_a_recipe_arm_keeps_its_model_and_rates_but_takes_the_shared_fields(tmp_path, dna):
    reference = load_recipe(micro_compare_recipe(tmp_path))
    other = micro_compare_recipe(tmp_path, name="other", lr=0.01, seq_len=64, steps=99, warmup=9, seed=5)
    arm = build_arms(["hnet", other], reference, dna, seed=0)[1]
    assert arm.kind == "recipe" and arm.name == "other" and arm.arch == "hnet"  # shown by its stem
    ts = arm.recipe.train
    assert ts.optim.lr == 0.01  # its own
    assert (ts.data.seq_len, ts.schedule.steps, ts.schedule.warmup, ts.seed) == (128, 8, 2, 0)  # the reference's


def test_a_time_limited_recipe_cannot_be_compared(tmp_path, dna):
    reference = load_recipe(micro_compare_recipe(tmp_path, max_time=60))
    with pytest.raises(ConfigError, match="max_time"):
        build_arms(["hnet"], reference, dna, seed=0)


def test_run_directories_are_named_by_arm_and_by_seed_when_seeds_are_given(tmp_path, dna):
    reference = load_recipe(micro_compare_recipe(tmp_path))
    hnet, recipe_arm = build_arms(["hnet", str(tmp_path / "micro.json")], reference, dna, seed=3)
    assert _run_dir("OUT", hnet, False).as_posix() == "OUT/hnet"
    assert _run_dir("OUT", hnet, True).as_posix() == "OUT/hnet-seed3"
    assert _run_dir("OUT", recipe_arm, False).as_posix() == "OUT/micro"
    (tmp_path / "sub").mkdir()
    twin = micro_compare_recipe(tmp_path / "sub")  # another micro.json: the same directory name
    with pytest.raises(ConfigError, match="share a run directory"):
        build_arms([str(tmp_path / "micro.json"), twin], reference, dna, seed=0)


def test_the_data_signature_follows_the_fields_that_choose_the_rows():
    recipe = {"train": {name: 1 for name in DATA_FIELDS} | {"lr": 0.1}}
    info = {"domain": "dna", "paths": ["/a.fa"], "domain_options": {"rc_prob": 0.5}, "world_size": 1}
    same = data_signature(recipe, info)
    assert data_signature({"train": dict(recipe["train"], lr=0.5)}, info) == same  # the learning rate reads no data
    assert data_signature({"train": dict(recipe["train"], seed=2)}, info) != same
    assert data_signature({"train": dict(recipe["train"], seq_len=2)}, info) != same
    assert data_signature(recipe, dict(info, paths=["/b.fa"])) != same


def test_validation_curve_takes_bytes_from_steps_and_time_from_the_training_records():
    records = [
        {"kind": "train", "step": 2, "time": 1.0}, {"kind": "train", "step": 4, "time": 2.5},
        {"kind": "val", "step": 4, "val_bpb": 2.0, "val_bits_per_base": 2.0},
        {"kind": "train", "step": 6, "time": 4.0},
        {"kind": "val", "step": 7, "val_bpb": 1.9, "val_bits_per_base": 1.9},  # step 7 not logged: time of step 6
    ]
    curve = validation_curve(records, "base", step_bytes=100)
    assert curve == [CurvePoint(4, 400, 2.5, 2.0, 2.0), CurvePoint(7, 700, 4.0, 1.9, 1.9)]


def _fake_run(path, step, total, recipe=None, info=None):
    (path / "checkpoints" / f"step_{step:06d}").mkdir(parents=True)
    (path / "checkpoints" / f"step_{step:06d}" / "model.safetensors").write_bytes(b"")
    (path / "checkpoints" / f"step_{step:06d}" / "state.json").write_text(json.dumps({"step": step, "total_steps": total}))
    (path / "checkpoints" / "LATEST").write_text(f"step_{step:06d}\n")
    (path / "recipe.json").write_text(json.dumps(recipe or {}))
    (path / "run.json").write_text(json.dumps(info or {}))


def test_arm_status_from_the_run_directory(tmp_path):
    assert arm_status(tmp_path / "missing") == NEW
    (tmp_path / "empty").mkdir()
    assert arm_status(tmp_path / "empty") == NEW
    cut = tmp_path / "cut"
    cut.mkdir()
    (cut / "recipe.json").write_text("{}")
    assert arm_status(cut) == RESTART  # a run with no checkpoint yet
    _fake_run(tmp_path / "half", 4, 8)
    assert arm_status(tmp_path / "half") == RESUME
    _fake_run(tmp_path / "full", 8, 8)
    assert arm_status(tmp_path / "full") == DONE
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("x")
    with pytest.raises(HnetError, match="not a run directory"):
        arm_status(tmp_path / "notes")


def test_an_arm_trained_with_other_settings_is_not_reused(tmp_path, dna):
    reference = load_recipe(micro_compare_recipe(tmp_path))
    arm = build_arms(["hnet"], reference, dna, seed=0)[0]
    saved = arm.recipe.to_dict()
    _fake_run(tmp_path / "same", 8, 8, saved, {"domain": "dna", "paths": [], "domain_options": {"rc_prob": 0.0}})
    check_same_arm(tmp_path / "same", arm, "dna", [], {"rc_prob": 0.0})
    other = json.loads(json.dumps(saved))
    other["train"]["lr"] = 0.5
    _fake_run(tmp_path / "other", 8, 8, other, {"domain": "dna", "paths": []})
    with pytest.raises(ConfigError, match=r"train\.lr \(0\.5 there, 0\.003 here\)"):
        check_same_arm(tmp_path / "other", arm, "dna", [], {})
    with pytest.raises(ConfigError, match="domain option rc_prob"):
        check_same_arm(tmp_path / "same", arm, "dna", [], {"rc_prob": 0.5})
    with pytest.raises(ConfigError, match="training files"):
        check_same_arm(tmp_path / "same", arm, "dna", [str(tmp_path / "genome.fa")], {})


def test_first_difference_walks_nested_values():
    assert _first_difference({"a": [1, 2.0]}, {"a": [1, 2]}) is None  # 2.0 == 2
    assert _first_difference({"a": {"b": 1}}, {"a": {"b": 2}}) == "a.b (1 there, 2 here)"
    assert _first_difference({"a": [1]}, {"a": [1, 2]}) == "a ([1] there, [1, 2] here)"


def _arm(name, seed, held, **kw):
    values = dict(name=name, seed=seed, kind=name, run_dir=f"OUT/{name}", status="new", parameters=1000,
                  flops_per_byte=100.0, flops_ratio=1.0, steps=8, bytes_seen=2048, train_seconds=3.0,
                  data_signature="abc", val_bits_per_unit=held + 0.01, val_bpb=held + 0.01, train_compression=[],
                  held_out_bits_per_unit=held, held_out_bpb=held)
    values.update(kw)
    return ArmResult(**values)


def _report(arms, seeds=(0,)):
    return CompareReport(domain="dna", unit="base", recipe="micro", paths=[], held_out=["h.fa"], out="OUT",
                         seeds=list(seeds), arms=arms)


def test_the_table_has_one_row_per_arm_and_the_summary_ranks_by_mean():
    from rich.console import Console

    report = _report([_arm("hnet", 0, 1.90, held_out_compression=[0.334]), _arm("mamba", 0, 1.95),
                      _arm("hnet", 1, 1.92, held_out_compression=[0.33]), _arm("mamba", 1, 1.93)], seeds=(0, 1))
    console = Console(width=200, record=True)
    console.print(table(report))
    text = console.export_text()
    rows = [line for line in text.splitlines() if line.startswith("│")]
    assert len(rows) == 4 and "0.334" in rows[0] and "2,048" in rows[0]
    ranking = summary_lines(report)[0]
    assert ranking.startswith("held-out bits/base, best first: hnet 1.9100 (1.9000-1.9200 over 2 seeds) < mamba 1.9400")
    summaries = {s.name: s for s in report.summaries()}
    assert summaries["hnet"].seeds == [0, 1] and summaries["mamba"].mean == pytest.approx(1.94)


def test_the_yardstick_is_a_row_of_the_table_and_each_arm_is_read_against_it():
    from rich.console import Console

    report = _report([_arm("hnet", 0, 1.90), _arm("mamba", 0, 1.95)])
    report.yardstick = {"model": "order-6 Markov chain", "bits_per_unit": 1.92, "bpb": 1.92,
                        "fitted_on": "the training part of a.fa"}
    console = Console(width=200, record=True)
    console.print(table(report))
    rows = [line for line in console.export_text().splitlines() if line.startswith("│")]
    assert len(rows) == 3 and rows[2].split("│")[1].strip() == "yardstick" and "1.9200" in rows[2]
    line = next(x for x in summary_lines(report) if x.startswith("yardstick:"))
    assert "order-6 Markov chain" in line and "1.9200 bits/base" in line and "hnet -0.0200" in line and "mamba +0.0300" in line
    assert report.as_dict()["yardstick"]["bits_per_unit"] == 1.92


def test_unmatched_or_unequal_arms_are_flagged():
    from hnet_cli.compare.api import _check_fairness

    report = _report([_arm("hnet", 0, 1.9), _arm("transformer", 0, 2.0, flops_ratio=1.08),
                      _arm("mamba", 0, 1.95, bytes_seen=1024)])
    warnings = _check_fairness(report)
    assert any("transformer" in w and "+8.0%" in w for w in warnings)
    assert any("did not read the same data" in w for w in warnings)
    assert not _check_fairness(_report([_arm("hnet", 0, 1.9), _arm("mamba", 0, 1.95)]))


def test_without_matplotlib_the_plot_is_a_clear_note(tmp_path, monkeypatch):
    import hnet_cli.compare.plot as compare_plot

    def missing():
        raise HnetError("plotting needs matplotlib: pip install 'hnet-cli[plot]'")

    monkeypatch.setattr(compare_plot, "pyplot", missing)
    report = _report([_arm("hnet", 0, 1.9)])
    _plot(report, tmp_path / "c.png")
    assert report.plot is None and "pip install 'hnet-cli[plot]'" in report.plot_note
    assert not (tmp_path / "c.png").exists()
    assert any("no plot" in line for line in summary_lines(report))


def test_the_plot_draws_every_arm(tmp_path):
    pytest.importorskip("matplotlib")
    arms = [_arm("hnet", 0, 1.9, curve=[CurvePoint(4, 400, 1.0, 2.0, 2.0), CurvePoint(8, 800, 2.0, 1.9, 1.9)]),
            _arm("mamba", 0, 1.95, curve=[CurvePoint(4, 400, 0.5, 2.1, 2.1)])]
    report = _report(arms)
    _plot(report, tmp_path / "c.png")
    assert report.plot == str(tmp_path / "c.png")
    assert (tmp_path / "c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

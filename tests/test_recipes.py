"""Recipes: every bundled one builds, inheritance and overrides work, typos are one-line errors."""

import json
from pathlib import Path

import pytest

from hnet_cli.errors import ConfigError
from hnet_cli.model import HNetLM
from hnet_cli.model.flops import forward_flops_per_byte
from hnet_cli.recipes import available_recipes, load_recipe
from hnet_cli.train.baseline import matched_baseline

OFFICIAL = Path(__file__).parent / "fixtures" / "official"
REQUIRED = ["tiny", "tiny-2stage", "small", "hnet-1stage-L", "hnet-1stage-XL", "hnet-2stage-L", "hnet-2stage-XL",
            "transformer-tiny", "mamba-tiny", "dna-tiny", "code-tiny", "text-tiny", "zh-tiny", "dna-small",
            "dna-small-mamba-main", "dna-tiny-paper"]


@pytest.mark.parametrize("name", REQUIRED)
def test_bundled_recipe_builds(name):
    recipe = load_recipe(name)
    model = HNetLM(recipe.model, device="meta")
    assert recipe.description
    if recipe.train.optim.lr_multipliers is not None:
        assert len(recipe.train.optim.lr_multipliers) == model.num_stages + 1


def test_every_bundled_recipe_is_listed():
    assert set(REQUIRED) <= set(available_recipes())


@pytest.mark.parametrize("name,config", [("hnet-1stage-L", "1stage_L"), ("hnet-1stage-XL", "1stage_XL"),
                                         ("hnet-2stage-L", "2stage_L"), ("hnet-2stage-XL", "2stage_XL")])
def test_paper_recipes_use_the_released_configs(name, config):
    released = json.loads((OFFICIAL / f"config_hnet_{config}.json").read_text())
    assert load_recipe(name).model.to_dict() == released


def test_domain_recipes_inherit_from_tiny():
    tiny, dna = load_recipe("tiny"), load_recipe("dna-tiny")
    assert dna.model == tiny.model
    assert dna.train.data.domain_options == {"rc_prob": 0.5}
    assert dna.train.optim.lr_multipliers == tiny.train.optim.lr_multipliers  # inherited, not restated


def test_overrides_any_field():
    r = load_recipe("tiny", ["train.lr=1e-3", "model.d_model=[32,64]", "train.schedule=cosine",
                             "model.ssm_cfg.d_state=8", "train.domain_options.rc_prob=0.25"])
    assert r.train.optim.lr == 1e-3 and r.model.d_model == [32, 64] and r.train.schedule.kind == "cosine"
    assert r.model.ssm_cfg["d_state"] == 8 and r.model.ssm_cfg["expand"] == 2
    assert r.train.data.domain_options == {"rc_prob": 0.25}


@pytest.mark.parametrize("override,message", [
    ("train.lrr=1e-3", "unknown field; did you mean 'train.lr'"),
    ("model.d_modle=[1]", "did you mean 'model.d_model'"),
    ("model.ssm_cfg.dstate=4", "did you mean 'model.ssm_cfg.d_state'"),
    ("lr=1", "fields are model.NAME or train.NAME"),
    ("train.lr", "expected FIELD=VALUE"),
    ("train.schedule=linear", "choose one of wsd, cosine, constant"),
    ("train.seq_len=0", "seq_len must be a positive integer"),
    ("train.lr_multipliers=[1,2,3]", "lr_multipliers has 3 entries"),
    ("model.arch_layout=[\"m2\",[\"X2\"],\"m2\"]", "cannot parse layer string"),
])
def test_bad_overrides_are_one_line_errors(override, message):
    with pytest.raises(ConfigError) as err:
        load_recipe("tiny", [override])
    assert message in str(err.value) and "\n" not in str(err.value)


def test_unknown_recipe_suggests_a_name():
    with pytest.raises(ConfigError, match="did you mean 'tiny'"):
        load_recipe("tinny")


def test_recipe_file_with_unknown_field(tmp_path):
    path = tmp_path / "mine.json"
    path.write_text(json.dumps({"base": "tiny", "train": {"stepz": 3}}))
    with pytest.raises(ConfigError, match="unknown field 'train.stepz'"):
        load_recipe(str(path))
    path.write_text(json.dumps({"base": "tiny", "train": {"steps": 3}}))
    assert load_recipe(str(path)).train.schedule.steps == 3


def test_resolved_recipe_round_trips():
    from hnet_cli.recipes import Recipe

    r = load_recipe("dna-tiny", ["train.steps=7"])
    again = Recipe.from_dict(json.loads(r.to_json()))
    assert again.to_dict() == r.to_dict()


@pytest.mark.parametrize("arch", ["transformer", "mamba"])
def test_baseline_recipes_match_tiny_in_flops(arch):
    tiny, base = load_recipe("tiny"), load_recipe(f"{arch}-tiny")
    n = 3.0
    hnet = forward_flops_per_byte(tiny.model, tiny.train.data.seq_len, [1 / n]).per_byte
    iso = forward_flops_per_byte(base.model, base.train.data.seq_len).per_byte
    assert base.model.num_stages == 0
    assert abs(iso - hnet) / hnet < 0.15


@pytest.mark.parametrize("name, layout", [("dna-small", ["M3T1", ["T15"], "M4"]),
                                          ("dna-small-mamba-main", ["M3T1", ["M15"], "M4"]),
                                          ("dna-tiny-paper", ["M1T1", ["T6"], "M2"])])
def test_dna_comparison_recipes_follow_the_paper_and_their_baselines_match(name, layout):
    from hnet_cli.data.registry import get_domain
    from hnet_cli.model.flops import count_parameters
    from hnet_cli.train.baseline import baseline_recipe

    recipe = load_recipe(name)
    assert recipe.model.arch_layout == layout  # the paper's DNA H-Nets: M3T1 | T15 or M15 | M4
    ts = recipe.train
    assert ts.objective.compression_targets == [3] and ts.objective.ratio_loss_weight == 0.03
    assert ts.data.domain_options == {"rc_prob": 0.5}
    assert ts.optim.lr_multipliers[0] > ts.optim.lr_multipliers[1]  # the outer stage learns faster
    get_domain("dna").resolve_options(ts.data.domain_options)
    if name != "dna-tiny-paper":
        params = count_parameters(HNetLM(recipe.model, device="meta"))
        assert 60e6 < params < 80e6  # the paper's: 64M (T15), 66M (M15)
    hnet = forward_flops_per_byte(recipe.model, ts.data.seq_len, [1 / 3]).per_byte
    for arch in ("transformer", "mamba"):
        base = baseline_recipe(recipe, arch, [3.0])
        iso = forward_flops_per_byte(base.model, base.train.data.seq_len).per_byte
        HNetLM(base.model, device="meta")
        assert base.model.num_stages == 0 and abs(iso / hnet - 1) < 0.05, arch
        assert (base.train.schedule.steps, base.train.data.seq_len, base.train.seed) == (ts.schedule.steps, ts.data.seq_len, ts.seed)


def test_matched_baseline_picks_the_closest_depth():
    cfg = load_recipe("hnet-1stage-L").model
    iso, report = matched_baseline(cfg, "transformer", 8192, [6.0])
    target = report["hnet_flops_per_byte"]
    depth = len(iso.stages[0].main)
    # Independent check: one layer more or less is further from the target.
    from hnet_cli.train.baseline import isotropic_config

    def flops(d):
        return forward_flops_per_byte(isotropic_config("transformer", iso.d_model[0], d, cfg), 8192).per_byte

    assert abs(flops(depth) - target) <= abs(flops(depth - 1) - target)
    assert abs(flops(depth) - target) <= abs(flops(depth + 1) - target)
    assert abs(report["relative_difference"]) < 0.1


@pytest.mark.parametrize("field,value", [("train.compile", "maybe"), ("train.chunk_budget_margin", -1)])
def test_gpu_speed_settings_are_validated(field, value):
    from hnet_cli.errors import ConfigError
    from hnet_cli.recipes import load_recipe

    with pytest.raises(ConfigError, match=field.split(".")[1]):
        load_recipe("tiny", [f"{field}={value}"])

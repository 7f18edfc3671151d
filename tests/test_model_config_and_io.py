"""Config validation and checkpoint reading/writing."""

import json

import pytest
import torch

import hnet_cli
from hnet_cli.errors import CheckpointError, ConfigError
from hnet_cli.model import HNetConfig, HNetLM, save_model
from hnet_cli.model.checkpoint import load

from model_helpers import random_bytes, tiny_config, tiny_model

GOOD = {
    "arch_layout": ["m2", ["T2"], "m2"], "d_model": [64, 128], "d_intermediate": [0, 256],
    "ssm_cfg": {"d_state": 16}, "attn_cfg": {"num_heads": [4, 4], "rotary_emb_dim": [16, 16], "window_size": [-1, -1]},
}


def bad(**changes):
    cfg = json.loads(json.dumps(GOOD))
    cfg.update(changes)
    return cfg


@pytest.mark.parametrize(
    "cfg,message",
    [
        (bad(arch_layout=["m2", "T2", "m2"]), "nested list"),
        (bad(arch_layout=["m2", ["T2"]]), "list of 3"),
        (bad(arch_layout=["m2", [["T2"]], "m2"]), "layer string"),
        (bad(arch_layout=["m2", ["X2"], "m2"]), "cannot parse layer string 'X2'"),
        (bad(arch_layout=["m2", ["T2q"], "m2"]), "cannot parse"),
        (bad(attn_cfg={"num_heads": [4, 3], "rotary_emb_dim": [16, 16], "window_size": [-1, -1]}), "does not divide"),
        (bad(attn_cfg={"num_heads": [4, 4], "rotary_emb_dim": [16, 33], "window_size": [-1, -1]}), "rotary_emb_dim"),
        (bad(d_model=[64]), "d_model has 1 entries"),
        (bad(d_model=[128, 64]), "narrower"),
        (bad(d_intermediate=[0, 0]), "d_intermediate"),
        (bad(ssm_cfg={"d_state": 0}), "ssm_cfg.d_state"),
        ({"d_model": [64]}, "missing required field"),
    ],
)
def test_bad_configs_are_rejected_with_a_clear_message(cfg, message):
    with pytest.raises(ConfigError, match=message):
        HNetConfig.from_dict(cfg)


def test_released_configs_load_unchanged(official_dir):
    for path in sorted(official_dir.glob("config_*.json")):
        data = json.loads(path.read_text())
        cfg = HNetConfig.from_json(path)
        assert cfg.to_dict() == data
    assert HNetConfig.from_json(official_dir / "config_hnet_2stage_XL.json").num_stages == 2


def test_swiglu_width_rounds_up_to_128(official_dir):
    cfg = HNetConfig.from_json(official_dir / "tiny_2stage.json")
    assert cfg.mlp_width(1) == 256 and cfg.mlp_width(2) == 256


def test_config_file_errors_name_the_file(tmp_path):
    f = tmp_path / "c.json"
    f.write_text("{not json")
    with pytest.raises(ConfigError, match="c.json:1: invalid JSON"):
        HNetConfig.from_json(f)
    with pytest.raises(ConfigError, match="not found"):
        HNetConfig.from_json(tmp_path / "missing.json")


def test_save_and_load_round_trip(tmp_path):
    model = tiny_model(2, seed=3)
    save_model(model, tmp_path / "ck")
    assert sorted(p.name for p in (tmp_path / "ck").iterdir()) == ["config.json", "model.safetensors"]
    again = hnet_cli.load(tmp_path / "ck")
    ids = random_bytes(40)[None]
    with torch.no_grad():
        assert torch.equal(model(ids).logits, again(ids).logits)


def test_run_directory_resolves_best_then_latest(tmp_path):
    run = tmp_path / "run"
    a, b = tiny_model(1, seed=1), tiny_model(1, seed=2)
    save_model(a, run / "checkpoints" / "step_10")
    save_model(b, run / "checkpoints" / "step_20")
    (run / "checkpoints" / "LATEST").write_text("step_20")
    ids = random_bytes(20)[None]
    with torch.no_grad():
        assert torch.equal(hnet_cli.load(run)(ids).logits, b(ids).logits)
        (run / "checkpoints" / "BEST").write_text("step_10")
        assert torch.equal(hnet_cli.load(run)(ids).logits, a(ids).logits)


def test_tied_embeddings_round_trip(tmp_path):
    cfg = tiny_model(1).config.to_dict()
    cfg["tie_embeddings"] = True
    model = HNetLM(HNetConfig.from_dict(cfg))
    assert model.lm_head.weight is model.embeddings.weight
    save_model(model, tmp_path)
    again = load(tmp_path)
    assert again.lm_head.weight is again.embeddings.weight
    assert torch.equal(again.embeddings.weight, model.embeddings.weight)


def test_loading_never_unpickles_code(tmp_path):
    """A .pt holding a pickled object (not plain tensors) is refused, not executed."""

    class Evil:
        def __reduce__(self):
            return (exec, ("import pathlib; pathlib.Path('PWNED').write_text('x')",))

    path = tmp_path / "evil.pt"
    torch.save({"state_dict": Evil()}, path)
    (tmp_path / "config.json").write_text(json.dumps(tiny_model(1).config.to_dict()))
    with pytest.raises(CheckpointError):
        load(path)
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize("content,problem", [(b"", "cannot read"), (b"garbage" * 10, "cannot read")])
def test_corrupt_checkpoints_give_one_line_errors(tmp_path, content, problem):
    (tmp_path / "config.json").write_text(json.dumps(tiny_model(1).config.to_dict()))
    (tmp_path / "model.safetensors").write_bytes(content)
    with pytest.raises(CheckpointError, match=problem) as info:
        load(tmp_path)
    assert "\n" not in str(info.value)


def test_official_pt_without_config_asks_for_one(tmp_path, official_dir):
    import shutil

    shutil.copy(official_dir / "tiny_1stage.pt", tmp_path / "weights.pt")
    with pytest.raises(ConfigError, match="--config"):
        load(tmp_path / "weights.pt")


def test_missing_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load(tmp_path / "nope")


def test_a_file_that_is_not_a_checkpoint(tmp_path):
    f = tmp_path / "notes.txt"
    f.write_text("hello")
    with pytest.raises(CheckpointError, match="not a checkpoint"):
        load(f)


def test_loading_a_model_on_the_cpu_does_not_start_the_compiler(tmp_path):
    """Building the skeleton to load into runs no initialisers, and allocating it reads only shapes:
    initialising meta tensors imports torch._dynamo (about a second of every CPU command's start-up),
    `empty_like` of them torch.fx's symbolic shapes (a third of a second)."""
    import subprocess
    import sys

    save_model(tiny_model(2, seed=1), tmp_path / "ck")
    code = ("import sys, hnet_cli\n"
            f"m = hnet_cli.load({str(tmp_path / 'ck')!r})\n"
            "print(sum(p.numel() for p in m.parameters()), 'torch._dynamo' in sys.modules, "
            "'torch.fx.experimental.symbolic_shapes' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == [str(sum(p.numel() for p in tiny_model(2, seed=1).parameters())), "False", "False"]


def test_skeleton_has_the_shapes_and_leaves_initialisers_as_they_were():
    from hnet_cli.model.skeleton import skeleton

    init_fns = {name: getattr(torch.nn.init, name) for name in ("normal_", "uniform_", "kaiming_uniform_")}
    built = skeleton(HNetLM, tiny_config(2))
    reference = HNetLM(tiny_config(2))
    assert {n: p.shape for n, p in built.named_parameters()} == {n: p.shape for n, p in reference.named_parameters()}
    assert all(p.is_meta for p in built.parameters())
    assert all(getattr(torch.nn.init, name) is fn for name, fn in init_fns.items())


def test_another_thread_still_initialises_while_a_skeleton_is_built():
    import threading

    from hnet_cli.model.skeleton import no_initial_values

    normal = torch.nn.init.normal_
    values = {}

    def other_thread():
        values["t"] = torch.nn.init.normal_(torch.zeros(1000), std=1.0)

    with no_initial_values():
        assert torch.equal(torch.nn.init.normal_(torch.zeros(3)), torch.zeros(3))  # skipped here
        worker = threading.Thread(target=other_thread)
        worker.start()
        worker.join()
    assert values["t"].std() > 0.5  # initialised there
    assert torch.nn.init.normal_ is normal

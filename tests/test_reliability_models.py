"""Models, checkpoints and runs: refused before work when they cannot be right.

Rows of issue #14: F3 (a model too big for the machine), F4 and S4 (`hnet info` arguments),
S6 (NaN weights), F8 (a metrics line missing fields), D1 (two trainings in one directory), and
the extras: `hnet info broken.json`, the `--set train.bogus` error, raw pickles.
See docs/RELIABILITY.md.
"""

import json
import pickle
import subprocess

import pytest
import torch

from hnet_cli.cli import main
from hnet_cli.errors import CheckpointError, ConfigError, HnetError
from hnet_cli.model import save_model
from hnet_cli.model.checkpoint import load
from hnet_cli.model.memory import check_fits
from hnet_cli.model.config import HNetConfig
from hnet_cli.run.rundir import RunLock
from model_helpers import tiny_config, tiny_model
from reliability_helpers import hnet_process, one_line_error, run_hnet
from train_helpers import micro_recipe


def _error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("hnet: error: "), err
    return err[0]


def _huge_config() -> dict:
    data = tiny_config(1).to_dict()
    data["d_model"] = [64, 10_000_000]
    data["attn_cfg"]["num_heads"] = [2, 2]
    return data


def test_a_model_that_cannot_fit_is_refused_before_allocating(tmp_path, capsys):
    """F3: `--set model.d_model=[64,10000000]` in train; such a config in eval and chunk."""
    cfg = HNetConfig.from_dict(_huge_config())
    with pytest.raises(ConfigError, match="more than this machine's .* of memory"):
        check_fits(cfg, "cpu")
    check_fits(tiny_config(1), "cpu")  # a small model passes
    recipe = micro_recipe(tmp_path)
    assert main(["train", "--domain", "text", "--recipe", recipe, "--set", "model.d_model=[64,10000000]",
                 "--out", str(tmp_path / "run"), "-q"]) == 1
    assert "the weights, gradients and optimizer state alone need" in _error(capsys)
    assert not (tmp_path / "run").exists()
    # A checkpoint whose config is too big (weights never read: the check comes first).
    config = tmp_path / "huge.json"
    config.write_text(json.dumps(_huge_config()))
    weights = tmp_path / "huge.pt"
    torch.save({"x": torch.zeros(1)}, weights)
    text = tmp_path / "t.txt"
    text.write_text("some text\n")
    assert main(["eval", str(weights), "--config", str(config), str(text), "-q"]) == 1
    assert "weights alone need" in _error(capsys)
    assert main(["chunk", str(text), "-m", str(weights), "--config", str(config), "-q"]) == 1
    assert "weights alone need" in _error(capsys)


def test_info_describes_a_model_too_big_and_says_so(tmp_path, capsys):
    """F3: `hnet info` of such a config describes it (no allocation) and warns that it cannot load here."""
    config = tmp_path / "huge.json"
    config.write_text(json.dumps(_huge_config()))
    assert main(["info", str(config), "--json"]) == 0
    captured = capsys.readouterr()
    memory = json.loads(captured.out)["memory"]
    assert memory["fits_here"] is False and memory["weights_bytes"] > 1e15
    assert "cannot be loaded here" in captured.err


@pytest.mark.parametrize("args, message", [
    (["--compression", "abc"], "expected numbers separated by commas"),  # F4
    (["--compression", "-1,5"], "must be in (0, 1]"),  # S4
    (["--compression", "0.2,0.3"], "this model has 1 stage"),
    (["--compression", "nan"], "must be in (0, 1]"),
    (["--seq-len", "-5"], "--seq-len must be at least 1"),  # S4
])
def test_info_arguments(args, message, tmp_path, capsys):
    model = save_model(tiny_model(1), tmp_path / "m")
    assert main(["info", str(model), *args]) == 1
    assert message in _error(capsys)


def test_info_of_broken_json_says_invalid_json(tmp_path, capsys):
    """Extra: `hnet info broken.json` said "not a checkpoint"."""
    broken = tmp_path / "broken.json"
    broken.write_text('{"arch_layout": ["m1"], ')
    assert main(["info", str(broken)]) == 1
    assert "broken.json:1: invalid JSON" in _error(capsys)


def test_nan_weights_are_refused(tmp_path, capsys):
    """S6: a checkpoint with NaN tensors: eval would print bpb=nan and exit 0."""
    model = tiny_model(1)
    with torch.no_grad():
        next(model.parameters()).view(-1)[0] = float("nan")
    path = save_model(model, tmp_path / "nan")
    with pytest.raises(CheckpointError, match="holds NaN or infinite values"):
        load(path)
    text = tmp_path / "t.txt"
    text.write_text("some text\n")
    assert main(["eval", str(path), str(text), "-q"]) == 1
    assert "NaN or infinite" in _error(capsys)


def test_raw_pickles_are_refused_without_torch_advice(tmp_path, capsys):
    """Extra: loading a raw pickle printed torch's warning and its advice to use weights_only=False."""

    class Evil:
        def __reduce__(self):
            return (print, ("EXECUTED",))

    config = tmp_path / "config.json"
    config.write_text(json.dumps(tiny_config(1).to_dict()))
    for name, obj in (("raw.pt", {"a": {"b": 1}}), ("evil.pt", Evil())):
        with open(tmp_path / name, "wb") as f:
            pickle.dump(obj, f, protocol=4)
        # eval reads the weights (info reads only the config).
        done = run_hnet(["eval", str(tmp_path / name), "--config", str(config), str(config), "-q"])
        assert done.returncode == 1 and b"EXECUTED" not in done.stdout
        line = one_line_error(done.stderr)
        assert "not a file of tensors" in line and "weights_only" not in line


def test_set_errors_carry_the_prefix(tmp_path, capsys):
    """Extra: the `--set train.bogus` error is one line with the `hnet: error:` prefix."""
    assert main(["train", "--domain", "text", "--set", "train.bogus=1", "--out", str(tmp_path / "r"), "-q"]) == 1
    assert "--set train.bogus: unknown field" in _error(capsys)
    assert main(["train", "--domain", "text", "--set", "train.bogus", "--out", str(tmp_path / "r"), "-q"]) == 1
    assert "expected FIELD=VALUE" in _error(capsys)


def test_plot_survives_records_missing_fields(tmp_path, capsys):
    """F8: `{"kind":"train","step":21}` appended to metrics.jsonl; other partial records too."""
    pytest.importorskip("matplotlib")
    run = tmp_path / "run"
    run.mkdir()
    lines = [{"kind": "train", "step": s, "loss": 3.0 - s / 10, "ce": 2.0, "bpb": 2.5, "compression": [0.3]}
             for s in range(1, 21)]
    lines += [{"kind": "train", "step": 21}, {"kind": "val", "step": 20}, {"kind": "train"},
              {"kind": "train", "step": 22, "compression": "nan", "loss": "nan"}, [1, 2], "text"]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines) + "[" * 5000 + "\n")
    (run / "run.json").write_text('["not", "a", "dict"]')
    assert main(["plot", str(run), "-o", str(tmp_path / "c.png")]) == 0
    assert (tmp_path / "c.png").read_bytes().startswith(b"\x89PNG")


def test_run_lock_refuses_a_second_holder(tmp_path):
    """D1, in one process: the lock is exclusive, released on exit, and a failed start leaves nothing."""
    run = tmp_path / "run"
    with RunLock(run):
        with pytest.raises(HnetError, match="another training is using this run directory"):
            RunLock(run).acquire()
    with RunLock(run):  # released
        pass
    fresh = tmp_path / "fresh"
    with pytest.raises(RuntimeError):
        with RunLock(fresh):
            raise RuntimeError("failed before writing anything")
    assert not fresh.exists()


@pytest.mark.slow
def test_two_trainings_in_one_directory(tmp_path):
    """D1: A trains; B --force into the same --out and C --resume of it are refused while A runs."""
    data = tmp_path / "d.txt"
    data.write_text("The quick brown fox jumps over the lazy dog. " * 400)
    recipe = micro_recipe(tmp_path, steps=100000, checkpoint_every=2)
    run = tmp_path / "run"
    a = hnet_process(["train", "--domain", "text", str(data), "--recipe", recipe, "--out", str(run), "-q"],
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        import time

        deadline = time.monotonic() + 240
        while not (run / "checkpoints" / "LATEST").exists() and a.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert a.poll() is None, a.stderr.read()
        for args in (["train", "--domain", "text", str(data), "--recipe", recipe, "--out", str(run), "--force", "-q"],
                     ["train", "--resume", str(run), "-q"]):
            done = run_hnet(args)
            assert done.returncode == 1
            assert "another training is using this run directory (process" in one_line_error(done.stderr)
        assert a.poll() is None  # A was not disturbed
    finally:
        a.kill()
        a.wait()
    # A killed with SIGKILL leaves no stale lock: the run resumes.
    done = run_hnet(["train", "--resume", str(run), "--steps", str(_latest_step(run) + 2), "-q"])
    assert done.returncode == 0, done.stderr


def _latest_step(run) -> int:
    name = (run / "checkpoints" / "LATEST").read_text().strip()
    return int(name.split("_")[1])


CUDA_OOM = ("CUDA out of memory. Tried to allocate 8.00 GiB. GPU 0 has a total capacity of 139.80 GiB of which "
            "3.05 GiB is free. Process 535 has 41.22 GiB memory in use. If reserved but unallocated memory is large "
            "try setting PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True to avoid fragmentation.")


def test_running_out_of_memory_is_one_line_that_names_the_knob(tmp_path, capsys, monkeypatch):
    """No traceback for an exhausted GPU or host: what was asked for, what was free, what to lower."""
    from hnet_cli.model.hnet import HNetLM

    model_dir = save_model(tiny_model(1, seed=5), tmp_path / "m")
    text = tmp_path / "in.txt"
    text.write_text("some words to score and to train on\n" * 50)

    def cuda_oom(self, *args, **kwargs):
        raise torch.OutOfMemoryError(CUDA_OOM)

    monkeypatch.setattr(HNetLM, "forward", cuda_oom)
    assert main(["eval", str(model_dir), str(text), "-q"]) == 1
    assert _error(capsys) == ("hnet: error: out of GPU memory (8.00 GiB asked for, 3.05 GiB of 139.80 GiB free): "
                              "try a smaller --batch-size or --context")

    def host_oom(self, *args, **kwargs):
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: can't allocate memory: "
                           "you tried to allocate 2147483648 bytes. Error code 12 (Cannot allocate memory)")

    monkeypatch.setattr(HNetLM, "forward", host_oom)
    run = tmp_path / "run"
    assert main(["train", "--domain", "text", str(text), "--recipe", micro_recipe(tmp_path), "-o", str(run), "-q"]) == 1
    line = _error(capsys)
    assert line.startswith("hnet: error: out of memory (2.00 GiB asked for): try a smaller train.batch_size"), line
    RunLock(run).acquire().release()  # the lock went with the failure: the run can be started again


def test_other_runtime_errors_are_not_taken_for_memory():
    from hnet_cli.errors import out_of_memory_message

    assert out_of_memory_message(RuntimeError("shape mismatch")) is None
    assert out_of_memory_message(ValueError(CUDA_OOM[:10])) is None
    assert out_of_memory_message(MemoryError(), "generate") == "out of memory: try a smaller --batch-size"

"""Fine-tuning: --init-from starts from exactly the source weights; --freeze keeps parts bit-identical;
a killed fine-tune resumes exactly; a run's own recipe.json is a recipe."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import hnet_cli
from hnet_cli.cli import main
from hnet_cli.errors import ConfigError
from hnet_cli.model import HNetLM
from hnet_cli.recipes import load_recipe
from hnet_cli.train.finetune import freeze, freeze_prefixes
from hnet_cli.train.metrics import read_metrics
from model_helpers import tiny_model
from train_helpers import latest_step, micro_recipe

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
LAMBDA = Path(__file__).resolve().parents[1] / "domains" / "data" / "lambda_phage.fa.gz"


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A micro run trained on the bundled lambda genome: the model fine-tunes start from."""
    root = tmp_path_factory.mktemp("source")
    recipe = micro_recipe(root, steps=8, eval_every=4, checkpoint_every=4)
    assert main(["train", "--domain", "dna", "--recipe", recipe, "-o", str(root / "run"), "-q"]) == 0
    return root / "run"


def final_weights(run: Path) -> dict:
    latest = (run / "checkpoints" / "LATEST").read_text().strip()
    return load_file(str(run / "checkpoints" / latest / "model.safetensors"))


def test_freeze_parts_name_the_right_parameters():
    model = tiny_model(2)
    names = [n for n, _ in model.named_parameters()]
    enc = freeze_prefixes("encoder", 2)
    assert enc == ["backbone.encoder.", "backbone.main_network.encoder."]
    assert freeze_prefixes("main", 2) == ["backbone.main_network.main_network.main_network."]
    assert freeze_prefixes("routing.1, embeddings", 2) == ["backbone.main_network.routing_module.", "embeddings."]
    assert any(n.startswith("backbone.main_network.main_network.main_network.") for n in names)
    frozen = freeze(model, "encoder.0,main")
    assert frozen and all(not p.requires_grad for n, p in model.named_parameters() if n in frozen)
    assert all(p.requires_grad for n, p in model.named_parameters() if n not in frozen)
    for bad in ("encoder.2", "head", "embeddings.0", "main.x"):
        with pytest.raises(ConfigError):
            freeze_prefixes(bad, 2)
    from hnet_cli.model import HNetConfig

    isotropic = HNetLM(HNetConfig.from_dict({
        "arch_layout": ["m1"], "d_model": [16], "d_intermediate": [0], "vocab_size": 256,
        "ssm_cfg": {"chunk_size": 8, "d_conv": 4, "d_state": 8, "expand": 2, "headdim": 8},
        "attn_cfg": {"num_heads": [2], "rotary_emb_dim": [4], "window_size": [-1]}}))
    with pytest.raises(ConfigError, match="every parameter"):
        freeze(isotropic, "embeddings,lm_head,main")
    with pytest.raises(ConfigError, match="isotropic"):
        freeze(isotropic, "encoder")


def test_init_from_starts_from_exactly_the_source_weights(source, tmp_path):
    """Acceptance 5: the fine-tune's step-1 loss is the source model's loss on that first batch."""
    from hnet_cli.train import TrainJob
    from hnet_cli.train import distributed as dist_util
    from hnet_cli.train.objective import forward_stats, global_targets
    from hnet_cli.train.trainer import Trainer
    from hnet_cli.progress import NullReporter

    recipe = micro_recipe(tmp_path, name="ft", steps=1, eval_every=1, checkpoint_every=1)
    source_model = hnet_cli.load(str(source))
    dist, device = dist_util.setup("cpu")

    def job(out):
        r = load_recipe(recipe)
        r.model = source_model.config
        return TrainJob(recipe=r, domain="dna", paths=[str(LAMBDA)], out=str(tmp_path / out), device="cpu",
                        init_from=str(source))

    peek = Trainer(job("peek"), NullReporter(), dist, device)
    state = peek.model.state_dict()
    assert all(torch.equal(state[k], v) for k, v in source_model.state_dict().items())
    first = next(iter(peek.loader))
    peek.close()
    with torch.no_grad():
        ce_sum = sum(float(forward_stats(source_model, b, peek.targets)[0]) for b in first.micro_batches)
    expected_ce = ce_sum / global_targets(first.micro_batches, 1, device)

    assert main(["train", "--init-from", str(source), "--domain", "dna", str(LAMBDA), "--recipe", recipe,
                 "-o", str(tmp_path / "ft"), "-q"]) == 0
    step1 = next(r for r in read_metrics(tmp_path / "ft" / "metrics.jsonl") if r["kind"] == "train")
    assert step1["step"] == 1 and step1["ce"] == pytest.approx(expected_ce, rel=1e-6)
    info = json.loads((tmp_path / "ft" / "run.json").read_text())
    assert info["init_from"]["path"] == str(source.resolve()) and "checkpoints" in info["init_from"]["checkpoint"]


def test_freeze_keeps_frozen_tensors_bit_identical(source, tmp_path, capsys):
    """Acceptance 5: after training, every frozen tensor equals the source's bit for bit; the rest moved."""
    recipe = micro_recipe(tmp_path, steps=6, eval_every=3, checkpoint_every=3)
    out = tmp_path / "frozen"
    assert main(["train", "--init-from", str(source), str(LAMBDA), "--recipe", recipe, "-o", str(out),
                 "--freeze", "encoder,routing,embeddings", "-q"]) == 0
    before, after = final_weights(source), final_weights(out)
    frozen = [k for k in before if k.startswith(("backbone.encoder.", "backbone.routing_module.", "embeddings."))]
    assert frozen and all(torch.equal(before[k], after[k]) for k in frozen)
    moved = [k for k in before if k not in frozen and not torch.equal(before[k], after[k])]
    assert len(moved) > 10
    info = json.loads((out / "run.json").read_text())
    assert info["freeze"] == ["encoder", "routing", "embeddings"] and info["domain"] == "dna"  # from the source run


def test_a_runs_recipe_json_is_a_recipe(source, tmp_path, capsys):
    out = tmp_path / "again"
    assert main(["train", "--recipe", str(source / "recipe.json"), "--domain", "dna", "--steps", "2",
                 "-o", str(out), "-q"]) == 0
    assert json.loads((out / "recipe.json").read_text())["model"] == json.loads((source / "recipe.json").read_text())["model"]


def test_finetune_errors_are_one_line(source, tmp_path, capsys):
    cases = [
        (["--init-from", str(tmp_path / "nothing")], "not found"),
        (["--init-from", str(source), "--freeze", "everything"], "--freeze"),
        (["--init-from", str(source), "--set", "model.d_model=[8,8]"], "architecture"),
        (["--config", "x.json"], "--init-from"),
        (["--resume", str(source), "--init-from", str(source)], "--init-from"),
    ]
    for args, message in cases:
        assert main(["train", *args, "-o", str(tmp_path / "bad"), "-q"]) == 1
        assert message in capsys.readouterr().err


@pytest.mark.slow
def test_sigkill_then_resume_of_a_finetune_is_exact(source, tmp_path):
    """Acceptance 5: a fine-tune killed with SIGKILL and resumed ends with the uninterrupted run's weights."""
    steps = 30
    recipe = micro_recipe(tmp_path, steps=steps, checkpoint_every=5, eval_every=10, keep_checkpoints=2)
    args = ["train", "--init-from", str(source), str(LAMBDA), "--recipe", recipe, "--freeze", "routing,decoder.0", "-q"]
    ref, cut = tmp_path / "ref", tmp_path / "cut"
    done = subprocess.run([sys.executable, "-m", "hnet_cli", *args, "-o", str(ref)], env=ENV, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr
    proc = subprocess.Popen([sys.executable, "-m", "hnet_cli", *args, "-o", str(cut)], env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 600
    while latest_step(cut) < 10 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    assert 10 <= latest_step(cut) < steps
    resumed = subprocess.run([sys.executable, "-m", "hnet_cli", "train", "--resume", str(cut), "--json", "-q"],
                             env=ENV, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    a, b = final_weights(ref), final_weights(cut)
    assert a.keys() == b.keys() and max((a[k] - b[k]).abs().max().item() for k in a) <= 1e-6
    src = final_weights(source)
    routing = [k for k in src if ".routing_module." in k or k.startswith("backbone.decoder.")]
    assert routing and all(torch.equal(src[k], b[k]) for k in routing)  # frozen again after the resume
    assert json.loads((cut / "run.json").read_text())["init_from"]["path"] == str(source.resolve())

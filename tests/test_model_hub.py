"""Hugging Face Hub ids and folders: a Hub cache built by hand, loaded offline; sharded safetensors; model cards.

The cache follows huggingface_hub's documented layout
(HF_HOME/hub/models--ORG--NAME/{refs/main, snapshots/COMMIT/...}), so these
tests need no network: HF_HUB_OFFLINE=1 makes huggingface_hub answer from it.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from hnet_cli.errors import CheckpointError
from hnet_cli.model.checkpoint import load, locate, save_model
from hnet_cli.model.hub import parse_hub_id
from hnet_cli.model.weights import INDEX_NAME, WEIGHTS_NAME

from conftest import OFFICIAL
from model_helpers import tiny_model

pytest.importorskip("huggingface_hub")

REPO = Path(__file__).resolve().parent.parent
COMMIT = "0123456789abcdef0123456789abcdef01234567"
OLD_COMMIT = "fedcba9876543210fedcba9876543210fedcba98"


def hub_repo(hf_home: Path, repo_id: str, files: dict[str, Path], commit: str = COMMIT, ref: str = "main") -> Path:
    """Put `files` (name in the repo -> local file) into a Hub cache snapshot; returns the snapshot folder."""
    root = hf_home / "hub" / f"models--{repo_id.replace('/', '--')}"
    snapshot = root / "snapshots" / commit
    snapshot.mkdir(parents=True, exist_ok=True)
    for name, source in files.items():
        shutil.copyfile(source, snapshot / name)
    (root / "refs").mkdir(exist_ok=True)
    (root / "refs" / ref).write_text(commit)
    return snapshot


def offline_env(hf_home: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update(HF_HOME=str(hf_home), HF_HUB_OFFLINE="1", PYTHONPATH=str(REPO / "tests"), OMP_NUM_THREADS="1")
    return env


def rel_err(a, b):
    a, b = a.double(), b.double()
    return ((a - b).norm() / b.norm()).item()


@pytest.fixture(scope="module")
def hub_cache(tmp_path_factory):
    """A Hub cache with the official tiny 1-stage model (.pt + config) and a sharded safetensors model."""
    hf_home = tmp_path_factory.mktemp("hf_home")
    hub_repo(hf_home, "goomba-test/hnet_tiny_1stage", {
        "hnet_tiny_1stage.pt": OFFICIAL / "tiny_1stage.pt",
        "config.json": OFFICIAL / "tiny_1stage.json",
    })
    model = tiny_model(stages=2, seed=3)
    saved = tmp_path_factory.mktemp("sharded")
    save_model(model, saved, metadata={"domain": "dna"}, max_shard_size=20_000, model_card=True)
    snapshot = hub_repo(hf_home, "team/hnet-sharded", {p.name: p for p in saved.iterdir()})
    # An older revision, reachable by its commit id: the 1-stage model in our own format.
    official = load(OFFICIAL / "tiny_1stage.pt", config=OFFICIAL / "tiny_1stage.json")
    old = tmp_path_factory.mktemp("old")
    save_model(official, old)
    hub_repo(hf_home, "team/hnet-sharded", {p.name: p for p in old.iterdir()}, commit=OLD_COMMIT, ref="v0")
    torch.save(model.state_dict(), hf_home / "expected_sharded.pt")
    return hf_home, snapshot


def run_offline(hf_home: Path, code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=offline_env(hf_home),
                          cwd=REPO, timeout=300)


def test_parse_hub_id(tmp_path, monkeypatch):
    assert parse_hub_id("cartesia-ai/hnet_2stage_XL") == ("cartesia-ai/hnet_2stage_XL", None)
    assert parse_hub_id("org/name@v1.0") == ("org/name", "v1.0")
    assert parse_hub_id("org/name@" + COMMIT) == ("org/name", COMMIT)
    for local in ["runs/dna/checkpoints/step_000010", "model.pt", "x/y.safetensors", "../a", "./a/b", "name"]:
        assert parse_hub_id(local) is None, local
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs" / "dna").mkdir(parents=True)
    assert parse_hub_id("runs/dna") is None  # a local folder wins


def test_hub_ids_load_offline_from_the_cache(hub_cache):
    hf_home, _ = hub_cache
    code = f"""
import torch, hnet_cli
ref = torch.load({str(OFFICIAL / 'tiny_1stage.pt')!r}, weights_only=True)
m = hnet_cli.load("goomba-test/hnet_tiny_1stage")            # official .pt + config.json in a Hub repo
with torch.no_grad():
    out = m(ref["input_ids"], mask=ref["mask"])
mask = ref["mask"]
a, b = out.logits[mask].double(), ref["logits"][mask].double()
print("official", ((a - b).norm() / b.norm()).item(), torch.equal(out.stages[0].boundary_mask, ref["boundary_mask_s0"]))

s = hnet_cli.load("team/hnet-sharded")                       # sharded safetensors, index, model card
want = torch.load({str(hf_home / 'expected_sharded.pt')!r}, weights_only=True)
print("sharded", all(torch.equal(s.state_dict()[k], v) for k, v in want.items()), s.metadata.get("domain"))

o = hnet_cli.load("team/hnet-sharded@v0")                    # a tag
p = hnet_cli.load("team/hnet-sharded@{OLD_COMMIT}")          # a commit
print("revisions", o.config.num_stages, p.config.num_stages, s.config.num_stages)
"""
    proc = run_offline(hf_home, code)
    assert proc.returncode == 0, proc.stderr
    lines = dict(line.split(" ", 1) for line in proc.stdout.strip().splitlines())
    err, same_boundaries = lines["official"].split()
    assert float(err) <= 1e-5 and same_boundaries == "True"
    assert lines["sharded"] == "True dna"
    assert lines["revisions"] == "1 1 2"


def test_missing_hub_model_offline_is_one_clear_line(hub_cache):
    hf_home, _ = hub_cache
    proc = subprocess.run([sys.executable, "-m", "hnet_cli", "info", "nobody/nothing"], capture_output=True,
                          text=True, env=offline_env(hf_home), cwd=REPO, timeout=300)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1 and "nobody/nothing" in proc.stderr and "cache" in proc.stderr


def test_commands_take_hub_ids(hub_cache, tmp_path):
    hf_home, _ = hub_cache
    fasta = tmp_path / "x.fa"
    fasta.write_text(">r1\nACGTACGTTTGACCA\n")
    env = offline_env(hf_home)
    info = subprocess.run([sys.executable, "-m", "hnet_cli", "info", "team/hnet-sharded", "--json"],
                          capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
    assert info.returncode == 0, info.stderr
    assert json.loads(info.stdout)["num_stages"] == 2
    # The sharded model says it is a DNA model: FASTA is read as DNA without --domain.
    ev = subprocess.run([sys.executable, "-m", "hnet_cli", "eval", "team/hnet-sharded", str(fasta), "--json", "-q"],
                        capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
    assert ev.returncode == 0, ev.stderr
    assert json.loads(ev.stdout)["domain"] == "dna"


def test_sharded_save_roundtrip_and_layout(tmp_path):
    model = tiny_model(stages=1, seed=1)
    save_model(model, tmp_path, max_shard_size="20kB")
    index = json.loads((tmp_path / INDEX_NAME).read_text())
    shards = sorted(set(index["weight_map"].values()))
    assert len(shards) >= 2 and all((tmp_path / s).is_file() for s in shards)
    assert shards[0] == f"model-00001-of-{len(shards):05d}.safetensors"
    assert set(index["weight_map"]) == set(model.state_dict())
    assert not (tmp_path / WEIGHTS_NAME).exists()
    loaded = load(tmp_path)
    for k, v in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v), k
    # Saving unsharded into the same folder replaces the shards: one model per folder.
    save_model(model, tmp_path)
    assert (tmp_path / WEIGHTS_NAME).is_file() and not (tmp_path / INDEX_NAME).exists()
    assert not list(tmp_path.glob("model-*-of-*.safetensors"))
    assert torch.equal(load(tmp_path).lm_head.weight, model.lm_head.weight)


def test_a_shard_missing_is_named(tmp_path):
    save_model(tiny_model(stages=1), tmp_path, max_shard_size="20kB")
    victim = sorted(tmp_path.glob("model-*.safetensors"))[-1]
    victim.unlink()
    with pytest.raises(CheckpointError, match=victim.name):
        load(tmp_path)


def test_model_card(tmp_path):
    save_model(tiny_model(stages=1), tmp_path, metadata={"domain": "dna", "recipe": "dna-tiny"}, model_card=True)
    card = (tmp_path / "README.md").read_text()
    assert card.startswith("---\n") and "library_name: hnet" in card and "- dna" in card
    assert "recipe: dna-tiny" in card and 'hnet_cli.load("ORG/NAME")' in card


def test_folder_with_several_pt_files_is_refused(tmp_path):
    for name in ("a.pt", "b.pt"):
        shutil.copyfile(OFFICIAL / "tiny_1stage.pt", tmp_path / name)
    with pytest.raises(CheckpointError, match="2 weights files"):
        locate(tmp_path)

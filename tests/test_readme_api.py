"""The README's Python API section is true: its code blocks run as they stand.

The files they name are laid out in a scratch folder with small stand-ins of
the same names: `runs/dna` is a tiny DNA model, `hnet_1stage_L.pt` and its
config are the official tiny 1-stage fixture, `config_hnet_2stage_L.json` is
the released config, `genome.fa` a few kilobases, and `org/name@v1.0` a Hub
model in a Hugging Face cache read offline.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hnet_cli.model.checkpoint import save_model

from conftest import OFFICIAL
from model_helpers import tiny_model

pytest.importorskip("huggingface_hub")

ROOT = Path(__file__).resolve().parent.parent


def api_blocks() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Python API\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def test_the_section_has_the_blocks():
    blocks = api_blocks()
    assert len(blocks) >= 3
    assert any("hnet_cli.load(" in b for b in blocks) and any("run_chunk(" in b for b in blocks)


def _scratch(tmp_path: Path) -> Path:
    work = tmp_path / "work"
    work.mkdir()
    save_model(tiny_model(stages=1, seed=7), work / "runs" / "dna", metadata={"domain": "dna"})
    shutil.copyfile(OFFICIAL / "tiny_1stage.pt", work / "hnet_1stage_L.pt")
    shutil.copyfile(OFFICIAL / "tiny_1stage.json", work / "config_hnet_1stage_L.json")
    shutil.copyfile(OFFICIAL / "config_hnet_2stage_L.json", work / "config_hnet_2stage_L.json")
    (work / "genome.fa").write_text(">chr1\n" + "ACGTTGCAAGGCTTAACCGGTTAACGGATTACA" * 40 + "\n")
    snapshot = tmp_path / "hf" / "hub" / "models--org--name" / "snapshots" / ("a" * 40)
    save_model(tiny_model(stages=1, seed=8), snapshot, metadata={"domain": "dna"})
    (snapshot.parent.parent / "refs").mkdir()
    (snapshot.parent.parent / "refs" / "v1.0").write_text("a" * 40)
    return work


def test_readme_python_api_runs(tmp_path):
    work = _scratch(tmp_path)
    script = work / "readme_api.py"
    script.write_text("\n".join(api_blocks()))
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update(HF_HOME=str(tmp_path / "hf"), HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, str(script)], cwd=work, env=env, capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (work / "chunks.bed").read_text().startswith("chr1\t0\t")
    assert (work / "for_the_hub" / "README.md").is_file() and (work / "my_checkpoint" / "model.safetensors").is_file()

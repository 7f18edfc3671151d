"""A source checkout runs without installing: `PYTHONPATH=. python -m hnet_cli domains` lists every domain.

The test's own environment has hnet installed (editable), so it runs Python
with a copy of site-packages' view that leaves out hnet's install: no
entry points, no editable finder, only the checkout on PYTHONPATH.
"""

import json
import os
import site
import subprocess
import sys
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parent.parent
OURS = ("hnet_cli", "hnet-cli", "hnet_domains", "hnet_recipes", "__editable__")


def _site_without_hnet(tmp_path) -> Path:
    view = tmp_path / "site"
    view.mkdir()
    for directory in site.getsitepackages():
        for entry in Path(directory).iterdir():
            if not entry.name.startswith(OURS) and not (view / entry.name).exists():
                (view / entry.name).symlink_to(entry)
    return view


def _run(tmp_path, *args):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = os.pathsep.join([".", str(_site_without_hnet(tmp_path))])
    # -S: no site processing, so nothing installed by pip for hnet is seen.
    return subprocess.run([sys.executable, "-S", "-m", "hnet_cli", *args], cwd=CHECKOUT, env=env,
                          capture_output=True, text=True, timeout=300)


def test_domains_from_a_source_checkout(tmp_path):
    proc = _run(tmp_path, "domains", "--json")
    assert proc.returncode == 0, proc.stderr
    listing = json.loads(proc.stdout)
    assert sorted(d["name"] for d in listing["domains"]) == ["chinese", "code", "dna", "text"]
    assert listing["errors"] == {}


def test_the_environment_really_lacks_the_install(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(_site_without_hnet(tmp_path))
    proc = subprocess.run([sys.executable, "-S", "-c", "import hnet_domains"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "No module named 'hnet_domains'" in proc.stderr


def test_recipes_from_a_source_checkout(tmp_path):
    proc = _run(tmp_path, "train", "--list-recipes")
    assert proc.returncode == 0, proc.stderr
    assert "dna-tiny" in proc.stdout

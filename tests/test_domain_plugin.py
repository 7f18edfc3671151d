"""A domain from a separate package is discovered through the "hnet.domains" entry points."""

import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hnet_cli.data import registry
from hnet_cli.data.domain import Domain
from hnet_cli.errors import ConfigError

PLUGIN_SOURCE = Path(__file__).parent / "plugins" / "hnet-lines-domain"


def _install_by_hand(source: Path, site: Path) -> None:
    """What pip would lay down, written from the plugin's own pyproject.toml.

    Used only where pip cannot build the package (no setuptools in the
    environment): the entry point still comes from the plugin's metadata.
    """
    import tomllib

    project = tomllib.loads((source / "pyproject.toml").read_text())["project"]
    shutil.copytree(source / "hnet_lines_domain", site / "hnet_lines_domain")
    dist = site / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n")
    lines = []
    for group, entries in project["entry-points"].items():
        lines.append(f"[{group}]")
        lines.extend(f"{name} = {target}" for name, target in entries.items())
    (dist / "entry_points.txt").write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory):
    """The plugin pip-installed (offline, from a copy of its source) into a temporary directory."""
    work = tmp_path_factory.mktemp("plugin")
    source = work / "src"
    shutil.copytree(PLUGIN_SOURCE, source)
    site = work / "site"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps", "--no-build-isolation",
         "--target", str(site), str(source)],
        capture_output=True,
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )
    if proc.returncode != 0:
        shutil.rmtree(site, ignore_errors=True)
        site.mkdir()
        _install_by_hand(source, site)
    assert (site / "hnet_lines_domain-0.1.0.dist-info" / "entry_points.txt").is_file()
    return site


@pytest.fixture
def with_plugin(plugin_site, monkeypatch):
    monkeypatch.syspath_prepend(str(plugin_site))
    registry.refresh()
    yield
    sys.modules.pop("hnet_lines_domain", None)
    registry.refresh()


def test_cli_lists_plugin(plugin_site):
    env = {**os.environ, "PYTHONPATH": str(plugin_site)}
    proc = subprocess.run([sys.executable, "-m", "hnet_cli", "domains", "--json"], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    listed = {d["name"]: d for d in json.loads(proc.stdout)["domains"]}
    assert {"dna", "code", "text", "chinese", "lines"} <= set(listed)
    assert listed["lines"]["aliases"] == ["ln"]
    assert listed["lines"]["compression_targets"] == {"1": [4.0]}

    table = subprocess.run([sys.executable, "-m", "hnet_cli", "domains"], capture_output=True, text=True, env=env)
    assert table.returncode == 0 and "lines" in table.stdout


def test_cli_checks_plugin_input(plugin_site):
    env = {**os.environ, "PYTHONPATH": str(plugin_site)}
    proc = subprocess.run([sys.executable, "-m", "hnet_cli", "domains", "ln", "--check", "--json", "-q"],
                          capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    # proverbs.txt: 3 proverbs and one blank line.
    assert report["domain"] == "lines" and report["documents"] == 3
    assert report["skipped"] == {"short line": 1}


def test_plugin_is_a_complete_domain(with_plugin):
    domain = registry.get_domain("lines")
    assert isinstance(domain, Domain)
    assert registry.get_domain("LN") is domain
    docs = list(domain.read())  # bundled data
    assert [d.data for d in docs] == [b"A stitch in time saves nine.", b"Many hands make light work.", b"Still waters run deep."]
    options = domain.parse_options(["min_chars=25"])
    assert options == {"strip": True, "min_chars": 25}
    stream = domain.read([], **options)
    assert [d.name for d in stream] == ["line 1", "line 2"]
    assert stream.stats.skipped["short line"] == 2
    assert domain.targets_for(1) == [4.0]
    assert domain.count_units("天地".encode()) == 2
    doc = docs[0]
    assert domain.augment(doc, random.Random(0)) is doc
    with pytest.raises(ConfigError, match="valid options: min_chars, strip"):
        domain.parse_options(["colour=red"])


def test_broken_plugin_does_not_break_the_others(tmp_path, monkeypatch):
    dist = tmp_path / "hnet_broken_domain-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: hnet-broken-domain\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[hnet.domains]\nbroken = hnet_no_such_module:domain\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry.refresh()
    try:
        assert "dna" in registry.available_domains()
        assert "broken" in registry.plugin_errors()
        with pytest.raises(ConfigError, match="broken.*not usable.*hnet_no_such_module"):
            registry.get_domain("broken")
    finally:
        monkeypatch.undo()
        registry.refresh()

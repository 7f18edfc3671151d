"""The distribution ships every package and the bundled data."""

import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent


def test_every_python_package_is_listed_in_pyproject():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    listed = set(meta["tool"]["setuptools"]["packages"])
    dirs = meta["tool"]["setuptools"]["package-dir"]
    found = set()
    for name, rel in dirs.items():
        base = ROOT / rel
        for init in base.rglob("__init__.py"):
            if "__pycache__" in init.parts:
                continue
            sub = init.parent.relative_to(base).parts
            found.add(".".join((name, *sub)))
    assert found - listed == set(), f"packages missing from pyproject.toml: {sorted(found - listed)}"

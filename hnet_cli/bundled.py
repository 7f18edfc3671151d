"""The bundled plugin packages, hnet_domains and hnet_recipes, in a source checkout that was not installed.

Installing maps the checkout's domains/ and recipes/ folders to the packages
hnet_domains and hnet_recipes (pyproject.toml, package-dir). Run straight
from a checkout (`PYTHONPATH=. python -m hnet_cli ...`) those names do not
exist; `ensure_bundled_packages` then makes them refer to the folders next to
hnet_cli/, and `checkout_entry_points` reads the plugins that pyproject.toml
registers (no install, no entry-point metadata). An installed copy always wins.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

PACKAGES = {"hnet_domains": "domains", "hnet_recipes": "recipes"}
CHECKOUT = Path(__file__).resolve().parent.parent


def ensure_bundled_packages() -> None:
    for name, folder in PACKAGES.items():
        if name in sys.modules or importlib.util.find_spec(name) is not None:
            continue
        init = CHECKOUT / folder / "__init__.py"
        if not init.is_file():  # an installed hnet_cli without its plugins: nothing to map
            continue
        spec = importlib.util.spec_from_file_location(name, init, submodule_search_locations=[str(init.parent)])
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            raise


def checkout_entry_points(group: str) -> dict[str, str]:
    """Entry-point name -> "module:attribute" of `group` as the checkout's pyproject.toml declares it.

    Empty for an installed copy (its entry points are in its metadata instead).
    """
    pyproject = CHECKOUT / "pyproject.toml"
    if not pyproject.is_file():
        return {}
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10: the same parser, as a package (a dependency there)
        import tomli as tomllib
    with pyproject.open("rb") as f:
        project = tomllib.load(f).get("project", {})
    return dict(project.get("entry-points", {}).get(group, {}))

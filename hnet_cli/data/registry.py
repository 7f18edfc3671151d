"""Which domains exist: the plugins registered in the entry-point group "hnet.domains".

A package adds a domain by declaring, in its pyproject.toml,

    [project.entry-points."hnet.domains"]
    protein = "my_package.protein:domain"

where `domain` is an instance of a `hnet_cli.data.domain.Domain` subclass.
The bundled dna, code, text and chinese domains are registered the same way.
A plugin that fails to import, or that is not a Domain, does not take the
others down: it is left out of `available_domains()` and reported by
`plugin_errors()`; asking for it by name raises ConfigError with the reason.
"""

from __future__ import annotations

import functools
import os
import sys
from importlib.metadata import entry_points
from typing import Sequence

from hnet_cli.data.domain import Domain
from hnet_cli.data.readers.sources import STDIN, sniff
from hnet_cli.errors import ConfigError, HnetError

GROUP = "hnet.domains"
# The domain that reads any file when neither the user, a run nor a file name says otherwise.
DEFAULT_DOMAIN = "text"


class _CheckoutEntryPoint:
    """An entry point of a source checkout's pyproject.toml, as much of importlib.metadata.EntryPoint as `_load` uses."""

    def __init__(self, name: str, value: str):
        self.name, self.value = name, value

    def load(self):
        import importlib

        module, attr = self.value.split(":")
        return getattr(importlib.import_module(module), attr)


@functools.lru_cache(maxsize=1)
def _load() -> tuple[dict[str, Domain], dict[str, str]]:
    from hnet_cli.bundled import checkout_entry_points, ensure_bundled_packages

    ensure_bundled_packages()  # a source checkout run without installing
    domains: dict[str, Domain] = {}
    errors: dict[str, str] = {}
    found = list(entry_points(group=GROUP))
    registered = {ep.name for ep in found}
    # Run from a source checkout without installing, the bundled domains have no entry-point
    # metadata: pyproject.toml, which registers them, is read instead.
    found += [_CheckoutEntryPoint(n, v) for n, v in checkout_entry_points(GROUP).items() if n not in registered]
    for ep in sorted(found, key=lambda e: e.name):
        try:
            domain = ep.load()
        except Exception as exc:  # a broken third-party plugin must not break the others
            errors[ep.name] = f"{ep.value} failed to load: {type(exc).__name__}: {exc}"
            continue
        if not isinstance(domain, Domain):
            errors[ep.name] = f"{ep.value} is a {type(domain).__name__}, not a hnet_cli.data.domain.Domain"
            continue
        if not domain.name:
            errors[ep.name] = f"{ep.value} has no name"
            continue
        if domain.name in domains:
            errors[ep.name] = f"{ep.value}: the name {domain.name!r} is already taken by another plugin"
            continue
        domains[domain.name] = domain
    return domains, errors


def refresh() -> None:
    """Forget the loaded plugins (after installing one in a running process)."""
    _load.cache_clear()


def available_domains() -> dict[str, Domain]:
    """Name -> Domain for every plugin that loaded, sorted by name."""
    return dict(_load()[0])


def plugin_errors() -> dict[str, str]:
    """Entry-point name -> why that plugin is not available."""
    return dict(_load()[1])


def get_domain(name: str) -> Domain:
    """The domain called `name` or with `name` among its aliases; ConfigError if none."""
    domains, errors = _load()
    key = name.strip().lower()
    if key in domains:
        return domains[key]
    for domain in domains.values():
        if key in (alias.lower() for alias in domain.aliases):
            return domain
    if key in errors:
        raise ConfigError(f"domain {name!r} is not usable: {errors[key]}")
    listing = ", ".join(
        d.name + (f" ({', '.join(d.aliases)})" if d.aliases else "") for d in domains.values()
    )
    raise ConfigError(f"unknown domain {name!r}; available: {listing or 'none'}")


def default_domain() -> Domain:
    """The domain used when nothing names one (DEFAULT_DOMAIN)."""
    return get_domain(DEFAULT_DOMAIN)


def recognising_domain(paths: Sequence[str]) -> Domain | None:
    """The first domain (by name) that recognises every input by its name or its first bytes; else None.

    Content counts too, so FASTA named reads.txt or piped through stdin (peeked,
    not consumed) is not taken for text. Directories are recognised by no domain.
    """
    if not paths:
        return None
    heads: dict[str, bytes] = {}
    for domain in available_domains().values():
        if all(_recognises(domain, path, heads) for path in paths):
            return domain
    return None


def _recognises(domain: Domain, path: str, heads: dict[str, bytes]) -> bool:
    if path != STDIN:
        if os.path.isdir(path):
            return False
        if domain.recognizes_file(os.path.basename(path)):
            return True
    if path not in heads:
        heads[path] = _head(path)
    return bool(heads[path]) and domain.recognizes_content(heads[path])


def _head(path: str, n: int = 1 << 16) -> bytes:
    """The first bytes of a file (decompressed), or what stdin holds ready without consuming it."""
    if path == STDIN:
        peek = getattr(getattr(sys.stdin, "buffer", None), "peek", None)
        return peek(n)[:n] if peek is not None else b""
    if not os.path.isfile(path):
        return b""
    try:
        return sniff(path, n)
    except HnetError:
        return b""  # reported when the file is read
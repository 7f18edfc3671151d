"""Which part of hnet_cli may import which: the layer map, checked on the source.

Every module's imports are read with `ast` (module-level, inside functions and
under TYPE_CHECKING alike: a lazy import is still a dependency). A module may
import from its own layer's packages and from layers below it, never from a
layer above; the import graph has no cycle, between modules or between the
packages of one layer. docs/ARCHITECTURE.md describes the same map in words.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "hnet_cli"

# Bottom to top. A name is a top-level module or subpackage of hnet_cli; "" is the package
# root (hnet_cli/__init__.py: the public names, re-exported lazily from the layers below).
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("foundation", ("errors", "version", "jsonio", "outputs", "runtime", "progress", "bundled")),
    ("ops", ("ops",)),
    ("model", ("model",)),
    ("data", ("data",)),
    ("config", ("settings", "recipes")),
    ("run", ("run",)),
    ("jobs", ("train", "eval", "generate", "chunk")),
    ("jobs built on jobs", ("score", "embed", "compare", "bench")),
    ("commands", ("commands",)),
    ("cli", ("cli", "__main__", "")),
]
LAYER_OF = {name: rank for rank, (_, names) in enumerate(LAYERS) for name in names}

# A function fits on a screen. Typer command functions count from the first line of their
# body (their signature is the command's option list).
MAX_FUNCTION_LINES = 80


def _module_name(path: Path) -> str:
    parts = ["hnet_cli", *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imported(module: str, path: Path, node: ast.AST) -> list[str]:
    """The hnet_cli modules one import statement names (`from hnet_cli import ops` names hnet_cli.ops)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    if node.level:  # relative: from the module's own package upwards
        package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
        base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
    else:
        base = node.module or ""
    return [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            for target in _imported(module, path, node):
                if target.split(".")[0] == "hnet_cli" and target != module:
                    graph[module].add(target)
    return graph


def _part(module: str) -> str:
    """hnet_cli.eval.api -> "eval"; hnet_cli -> "" (the root)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


GRAPH = _graph()


def test_every_part_of_the_package_has_a_layer():
    unplaced = sorted({_part(m) for m in MODULES} - set(LAYER_OF))
    assert not unplaced, f"add these to LAYERS in {Path(__file__).name}: {unplaced}"


def test_no_module_imports_from_a_layer_above_it():
    upward = []
    for module, targets in sorted(GRAPH.items()):
        for target in sorted(targets):
            here, there = LAYER_OF.get(_part(module)), LAYER_OF.get(_part(target))
            if here is not None and there is not None and there > here:
                upward.append(f"{module} ({LAYERS[here][0]}) imports {target} ({LAYERS[there][0]})")
    assert not upward, "imports from a layer above:\n" + "\n".join(upward)


def test_no_import_cycle_between_modules():
    cycles = _cycles(GRAPH)
    assert not cycles, "modules that import each other: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_no_import_cycle_between_packages_of_one_layer():
    packages: dict[str, set[str]] = defaultdict(set)
    for module, targets in GRAPH.items():
        for target in targets:
            if _part(module) != _part(target):
                packages[_part(module)].add(_part(target))
    cycles = _cycles(packages)
    assert not cycles, "packages that import each other: " + "; ".join(" <-> ".join(c) for c in cycles)


def _is_typer_command(path: Path, node: ast.FunctionDef) -> bool:
    return path.parent.name == "commands" and node.name.endswith("_command")


def test_functions_fit_on_a_screen():
    long = {}
    for path in MODULES.values():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                first = node.body[0].lineno if _is_typer_command(path, node) else node.lineno
                lines = node.end_lineno - first + 1
                if lines > MAX_FUNCTION_LINES:
                    long[f"{path.relative_to(PACKAGE.parent).as_posix()}:{node.name}"] = lines
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines: {long}"


@pytest.mark.parametrize("source, expected", [
    ("from hnet_cli import ops", "hnet_cli.ops"),
    ("from hnet_cli.model.config import HNetConfig", "hnet_cli.model.config"),
    ("from . import windows", "hnet_cli.eval.windows"),
    ("from ..data import domain", "hnet_cli.data.domain"),
    ("import hnet_cli.errors", "hnet_cli.errors"),
])
def test_the_checker_resolves_imports(source, expected):
    """The checks above can fail: absolute, relative and package-attribute imports are all seen."""
    node = ast.parse(source).body[0]
    assert _imported("hnet_cli.eval.api", MODULES["hnet_cli.eval.api"], node) == [expected]


def test_the_checker_finds_upward_imports_and_cycles():
    graph = {"hnet_cli.model.a": {"hnet_cli.train.b"}, "hnet_cli.train.b": {"hnet_cli.model.a"}}
    assert _cycles(graph) == [["hnet_cli.model.a", "hnet_cli.train.b"]]
    assert LAYER_OF[_part("hnet_cli.train.b")] > LAYER_OF[_part("hnet_cli.model.a")]


def _domain_words() -> set[str]:
    from hnet_cli.data.registry import available_domains

    words = set()
    for domain in available_domains().values():
        words |= {domain.name, domain.unit, *domain.aliases}
    return words


DOMAIN_WORDS = _domain_words()


def _names_a_domain(node: ast.AST) -> bool:
    """`x.name == "dna"`, `domain.unit != "base"`, `get_domain("dna")`: deciding by a domain's name."""
    if isinstance(node, ast.Compare):
        sides = [node.left, *node.comparators]
        return (any(isinstance(s, ast.Attribute) and s.attr in ("name", "unit") for s in sides)
                and any(isinstance(s, ast.Constant) and s.value in DOMAIN_WORDS for s in sides))
    if isinstance(node, ast.Call):
        func = node.func
        called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        return called == "get_domain" and any(isinstance(a, ast.Constant) for a in node.args)
    return False


def test_the_core_asks_the_domain_instead_of_naming_it():
    """Whether units form a sequence, which options keep records whole: the Domain interface answers."""
    found = []
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if _names_a_domain(node):
                found.append(f"{path.relative_to(PACKAGE.parent).as_posix()}:{node.lineno}")
    assert not found, f"decides by a domain's name (add to the Domain interface instead): {found}"


def test_the_domain_check_can_fail():
    assert _names_a_domain(ast.parse('domain.name == "dna"').body[0].value)
    assert _names_a_domain(ast.parse('getattr(d, "x").unit != "base"').body[0].value)
    assert _names_a_domain(ast.parse('registry.get_domain("dna")').body[0].value)
    assert not _names_a_domain(ast.parse('get_domain(name)').body[0].value)
    assert not _names_a_domain(ast.parse('impl.name == "reference"').body[0].value)

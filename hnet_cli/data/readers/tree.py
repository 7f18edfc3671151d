"""Files of a source tree, in a fixed order, honouring .gitignore.

`walk_tree` yields (path, path relative to the root) for every file a user
would call part of the project: sorted, with version-control and bytecode
directories left out, `.gitignore` files (nested ones included) applied
through pathspec's git-compatible matcher, then the user's include/exclude
globs and language filter. Everything left out is counted in
`ReadStats.excluded` by reason.
"""

from __future__ import annotations

import os
from typing import Iterator, Sequence

import pathspec

from hnet_cli.data.readers.sources import sorted_entries
from hnet_cli.data.readers.stats import ReadStats
from hnet_cli.errors import ConfigError

# Never source: version-control metadata and bytecode caches.
ALWAYS_SKIPPED_DIRS = frozenset({".git", ".hg", ".svn", "__pycache__"})

# Language name -> file name suffixes (or exact names, for those without a dot).
LANGUAGES: dict[str, tuple[str, ...]] = {
    "python": (".py", ".pyi"),
    "c": (".c", ".h"),
    "cpp": (".cc", ".cpp", ".cxx", ".hh", ".hpp", ".hxx", ".h"),
    "cuda": (".cu", ".cuh"),
    "rust": (".rs",),
    "go": (".go",),
    "java": (".java",),
    "kotlin": (".kt", ".kts"),
    "scala": (".scala",),
    "javascript": (".js", ".mjs", ".cjs", ".jsx"),
    "typescript": (".ts", ".tsx"),
    "shell": (".sh", ".bash", ".zsh"),
    "ruby": (".rb",),
    "perl": (".pl", ".pm"),
    "php": (".php",),
    "csharp": (".cs",),
    "swift": (".swift",),
    "r": (".r",),
    "julia": (".jl",),
    "lua": (".lua",),
    "haskell": (".hs",),
    "ocaml": (".ml", ".mli"),
    "sql": (".sql",),
    "html": (".html", ".htm"),
    "css": (".css",),
    "markdown": (".md",),
    "rst": (".rst",),
    "json": (".json",),
    "yaml": (".yaml", ".yml"),
    "toml": (".toml",),
    "make": ("Makefile", "makefile", "GNUmakefile", ".mk"),
    "cmake": ("CMakeLists.txt", ".cmake"),
    "docker": ("Dockerfile",),
}


def language_of(name: str) -> str | None:
    """The language of a file name by its suffix (first match in LANGUAGES), or None."""
    lower = name.lower()
    for language, suffixes in LANGUAGES.items():
        for suffix in suffixes:
            if suffix.startswith(".") and lower.endswith(suffix):
                return language
            if not suffix.startswith(".") and name == suffix:
                return language
    return None


def suffixes_for(languages: Sequence[str]) -> tuple[str, ...]:
    """Language names ("python") or suffixes ("py", ".pyx") -> the suffixes to keep."""
    wanted: list[str] = []
    for item in languages:
        item = item.strip()
        if not item:
            continue
        if item.lower() in LANGUAGES:
            wanted.extend(LANGUAGES[item.lower()])
        elif item.startswith(".") or item.isalnum():
            wanted.append(item if item.startswith(".") else "." + item)
        else:
            raise ConfigError(
                f"unknown language {item!r}; use a file suffix like 'py' or one of: {', '.join(sorted(LANGUAGES))}"
            )
    return tuple(wanted)


def _matches_suffix(name: str, suffixes: tuple[str, ...]) -> bool:
    lower = name.lower()
    return any(lower.endswith(s.lower()) if s.startswith(".") else name == s for s in suffixes)


class _GitIgnores:
    """The .gitignore files of the directories above a path, applied like git: the deepest match decides."""

    def __init__(self):
        self._specs: list[tuple[str, pathspec.GitIgnoreSpec]] = []  # (directory relative to root, spec)

    def push(self, root: str, rel_dir: str) -> bool:
        """Entering a directory: add its .gitignore, if any (True if one was added)."""
        path = os.path.join(root, rel_dir, ".gitignore")
        if not os.path.isfile(path):
            return False
        with open(path, encoding="utf-8", errors="replace") as handle:
            self._specs.append((rel_dir, pathspec.GitIgnoreSpec.from_lines(handle.read().splitlines())))
        return True

    def pop(self) -> None:
        """Leaving the directory whose .gitignore was pushed last."""
        self._specs.pop()

    def ignored(self, rel_path: str, is_dir: bool) -> bool:
        verdict = False
        for base, spec in self._specs:
            inside = rel_path[len(base) + 1 :] if base else rel_path
            result = spec.check_file(inside + "/" if is_dir else inside)
            if result.include is not None:
                verdict = result.include
        return verdict


def walk_tree(
    root: str,
    stats: ReadStats,
    *,
    gitignore: bool = True,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    languages: Sequence[str] = (),
) -> Iterator[tuple[str, str]]:
    """(path, path relative to root, with '/') for each kept file under `root`.

    Files come in the sorted order of their relative paths, so a run over the
    same tree always sees the same sequence. Symlinked directories are not
    followed (no loops).
    """
    # GitIgnoreSpec gives include/exclude patterns the .gitignore syntax users know.
    include_spec = pathspec.GitIgnoreSpec.from_lines(include) if include else None
    exclude_spec = pathspec.GitIgnoreSpec.from_lines(exclude) if exclude else None
    suffixes = suffixes_for(languages) if languages else ()
    ignores = _GitIgnores()

    def visit(directory: str, rel_dir: str) -> Iterator[tuple[str, str]]:
        pushed = gitignore and ignores.push(root, rel_dir)
        try:
            yield from visit_entries(directory, rel_dir)
        finally:
            if pushed:
                ignores.pop()

    def visit_entries(directory: str, rel_dir: str) -> Iterator[tuple[str, str]]:
        for name, is_dir in sorted_entries(directory, stats) or ():
            path = os.path.join(directory, name)
            rel = f"{rel_dir}/{name}" if rel_dir else name
            if is_dir:
                if name in ALWAYS_SKIPPED_DIRS:
                    stats.exclude("VCS or bytecode directory", path)
                elif gitignore and ignores.ignored(rel, is_dir=True):
                    stats.exclude(".gitignore", path)
                elif exclude_spec is not None and exclude_spec.match_file(rel + "/"):
                    stats.exclude("exclude pattern", path)
                else:
                    yield from visit(path, rel)
            elif gitignore and ignores.ignored(rel, is_dir=False):
                stats.exclude(".gitignore", path)
            elif exclude_spec is not None and exclude_spec.match_file(rel):
                stats.exclude("exclude pattern", path)
            elif include_spec is not None and not include_spec.match_file(rel):
                stats.exclude("not matched by include patterns", path)
            elif suffixes and not _matches_suffix(name, suffixes):
                stats.exclude("language filter", path)
            elif not os.path.isfile(path):
                stats.exclude("not a regular file", path)
            elif stats.first_visit(path):
                yield path, rel

    yield from visit(root, "")

"""One meaning per short flag, across every `hnet` command.

`SHORT_FLAGS` is the table every command follows (tests/test_cli_flags.py
walks all commands and fails when an option uses a short flag that is not in
the table, or uses it for another long option). A command need not offer every
short flag; where it offers one, it means the table's long option.

Spellings that changed meaning keep working for one release: `DEPRECATED`
lists them per command, and `HnetCommand` rewrites them to their long option
before parsing, with a warning on stderr.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from typing import Callable

from typer.core import TyperCommand

# short flag -> the long option it stands for, in every command that has it.
SHORT_FLAGS: dict[str, str] = {
    "-h": "--help",
    "-b": "--batch-size",
    "-c": "--context",
    "-d": "--domain",
    "-D": "--domain-opt",  # KEY=VALUE reader option of the domain (was -o)
    "-f": "--format",  # output format
    "-m": "--model",
    "-n": "--num-samples",
    "-o": "--output",  # the file or folder a command writes
    "-p": "--prompt",
    "-q": "--quiet",
    "-r": "--recipe",
    "-s": "--stage",
    "-t": "--temperature",
    "-w": "--window",
}

# A domain option is always KEY=VALUE with KEY a name; an output path never
# starts like that in practice, which tells the two meanings of -o apart.
_KEY_VALUE = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*=")


def _looks_like_domain_option(value: str) -> bool:
    return bool(_KEY_VALUE.match(value))


@dataclass(frozen=True)
class Deprecated:
    """`short` used to mean `long` in this command; `applies(value)` says whether this use is the old one."""

    short: str
    long: str
    applies: Callable[[str], bool] = lambda value: True


# command -> the short spellings of the previous release that now mean something
# else (or nothing) there. Remove after one release.
DEPRECATED: dict[str, tuple[Deprecated, ...]] = {
    "train": (Deprecated("-o", "--domain-opt", _looks_like_domain_option),),
    "eval": (Deprecated("-o", "--domain-opt"),),
    "chunk": (Deprecated("-o", "--domain-opt", _looks_like_domain_option), Deprecated("-n", "--limit")),
    "domains": (Deprecated("-o", "--domain-opt"),),
    "generate": (Deprecated("-m", "--max-bytes"), Deprecated("-f", "--prompt-file"), Deprecated("-s", "--seed")),
}


def _value_options(command) -> set[str]:
    """Every spelling of the command's options that take a value (the next word is their value)."""
    names: set[str] = set()
    for param in command.params:
        if param.param_type_name == "option" and not getattr(param, "is_flag", False) and not getattr(param, "count", False):
            names.update(param.opts)
            names.update(param.secondary_opts)
    return names


def rewrite_deprecated(command_name: str, args: list[str], value_options: set[str],
                       warn: Callable[[str], None]) -> list[str]:
    """`args` with this command's deprecated short spellings replaced by their long option.

    Words that are the value of another option (`--prompt -m`) and everything
    after `--` are left alone.
    """
    table = {d.short: d for d in DEPRECATED.get(command_name, ())}
    if not table:
        return list(args)
    out: list[str] = []
    i = 0
    while i < len(args):
        word = args[i]
        if word == "--":
            out.extend(args[i:])
            break
        short, glued = word[:2], word[2:]
        entry = table.get(short) if word.startswith("-") and not word.startswith("--") else None
        if entry is not None:
            value = glued if glued else (args[i + 1] if i + 1 < len(args) else None)
            if value is not None and entry.applies(value):
                new = SHORT_FLAGS.get(short)
                now = f"; {short} now means {new}" if new else ""
                warn(f"hnet {command_name}: {short} for {entry.long} is deprecated and will be removed in the next "
                     f"release; write {entry.long}{now}")
                out.append(f"{entry.long}={value}")
                i += 1 if glued else 2
                continue
        out.append(word)
        if word in value_options:  # its value follows: never a flag
            if i + 1 < len(args):
                out.append(args[i + 1])
            i += 2
            continue
        i += 1
    return out


def _warn(message: str) -> None:
    print(f"hnet: warning: {message}", file=sys.stderr)


class HnetCommand(TyperCommand):
    """A Typer command that accepts last release's short spellings (see DEPRECATED) with a warning."""

    def parse_args(self, ctx, args: list[str]) -> list[str]:
        args = rewrite_deprecated(self.name or "", args, _value_options(self), _warn)
        return super().parse_args(ctx, args)

"""The Domain base class: what every domain plugin provides.

A domain (dna, code, text, chinese, or one from a third-party package) knows
how to turn its users' files into Documents and what an H-Net for it should
look like. Plugins are modules that expose `domain = SomeDomain()` and are
registered in the entry-point group "hnet.domains" (see registry.py).

    domain = get_domain("dna")
    options = domain.parse_options(["softmask=keep", "rc_prob=0.5"])  # --domain-opt
    stream = domain.read(["genome.fa.gz"], **options)    # [] -> the bundled sample
    for doc in stream:                                   # Documents, streamed
        doc = domain.augment(doc, rng, **options)        # training only
    stream.stats                                         # ReadStats: counts and skips

Reading is lazy: `read` checks that the paths exist (a typo fails at once) and
returns a DocumentStream; files are opened as it is consumed, and a bad file
raises InputError (file, line, record) at that point. Whatever a reader leaves
out (binary files, duplicates, invalid text under errors=skip, ...) is counted
in the stream's ReadStats (see readers/stats.py). A read that yields no
Document at all raises InputError with that summary, since there is nothing
to train on.

Subclasses set the class attributes and implement `read_file` (one input file
or stdin); `read_directory` walks a directory in sorted order through
`accepts_file` and `read_file` unless overridden (the code domain walks source
trees its own way). The jobs above ask a domain, never name one: whether its
units form a sequence, which options keep records whole, which bound a piece.
"""

from __future__ import annotations

import functools
import os
import pathlib
import random
from dataclasses import dataclass
from typing import Any, Collection, Iterator, Mapping, Sequence

from hnet_cli.data.documents import Document
from hnet_cli.data.readers.decoding import count_utf8_chars
from hnet_cli.data.readers.sources import STDIN, Source, describe_binary, expand_paths, sniff, walk_files
from hnet_cli.data.readers.stats import DocumentStream, ReadStats
from hnet_cli.errors import ConfigError, InputError

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class DomainOption:
    """One reader option, set from the command line as `--domain-opt key=value`.

    type: bool, int, float, str, or list (a comma-separated list of strings,
    held as a tuple). `choices` limits a str; minimum/maximum bound a number.
    """

    type: type
    default: Any
    help: str
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None

    def parse(self, key: str, text: str) -> Any:
        """The typed value of `text`; ConfigError naming the option if it does not fit."""
        text = text.strip()
        if self.type is bool:
            if text.lower() in _TRUE:
                return True
            if text.lower() in _FALSE:
                return False
            raise ConfigError(f"domain option {key}={text!r}: expected true or false")
        if self.type in (int, float):
            try:
                value = self.type(text.replace("_", ""))
            except ValueError:
                raise ConfigError(f"domain option {key}={text!r}: expected {'an integer' if self.type is int else 'a number'}") from None
            return self.check(key, value)
        if self.type is list:
            return self.check(key, tuple(item.strip() for item in text.split(",") if item.strip()))
        return self.check(key, text)

    def check(self, key: str, value: Any) -> Any:
        """Validate an already-typed value (from Python callers); returns it normalised."""
        if self.type is list:
            if isinstance(value, str):
                value = tuple(item.strip() for item in value.split(",") if item.strip())
            if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
                raise ConfigError(f"domain option {key}: expected a list of strings")
            return tuple(value)
        if self.type is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, self.type) or (self.type is not bool and isinstance(value, bool)):
            raise ConfigError(f"domain option {key}={value!r}: expected {self.type.__name__}")
        if self.choices and value not in self.choices:
            raise ConfigError(f"domain option {key}={value!r}: choose one of {', '.join(self.choices)}")
        if self.minimum is not None and value < self.minimum:
            raise ConfigError(f"domain option {key}={value!r}: must be at least {self.minimum:g}")
        if self.maximum is not None and value > self.maximum:
            raise ConfigError(f"domain option {key}={value!r}: must be at most {self.maximum:g}")
        return value

    def describe(self) -> dict:
        info = {"type": self.type.__name__, "default": list(self.default) if self.type is list else self.default, "help": self.help}
        if self.choices:
            info["choices"] = list(self.choices)
        return info


def option_pairs(pairs: Sequence[str]) -> dict[str, str]:
    """["key=value", ...] (repeated --domain-opt) -> {key: value}; a later pair wins."""
    given: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"domain option {pair!r}: expected key=value")
        given[key] = value
    return given


class Domain:
    """Base class of domain plugins. See the module docstring for the reading contract.

    name:                 "dna", "code", "text", "chinese", ...
    aliases:              other names `--domain` accepts, e.g. ("zh",)
    summary:              one line for `hnet domains`
    unit:                 what bits are also reported per: "base", "char", ...
    default_recipe:       recipe name in recipes/, e.g. "dna-tiny"
    compression_targets:  number of H-Net stages -> target N per stage (outer first)
    targets_measured:     False while the targets are provisional (not yet from a sweep)
    options:              reader options, name -> DomainOption
    default_data:         one line describing default_paths()
    sequence:             the units are symbols of a sequence (bases): samples are written as
                          FASTA, Documents are genome intervals (BED), chunks are shown as letters
    double_stranded:      each Document has a reverse complement (`reverse_strand`)
    size_options:         the reader options that cut a long record into pieces of bounded
                          size (meta["continues"]); a user who sets one wants those pieces kept
    """

    name: str = ""
    aliases: tuple[str, ...] = ()
    summary: str = ""
    unit: str = "char"
    default_recipe: str = ""
    compression_targets: dict[int, list[float]] = {}
    targets_measured: bool = False
    options: dict[str, DomainOption] = {}
    default_data: str = ""
    sequence: bool = False
    double_stranded: bool = False
    size_options: tuple[str, ...] = ()
    excluded_as: str = "file type"  # what a directory walk counts a file accepts_file turned down as

    # ---- what the domain provides -------------------------------------------------

    def default_paths(self) -> list[pathlib.Path]:
        """The bundled sample data `hnet train --domain NAME` uses when given no files."""
        return []

    def read_file(self, path: str, stats: ReadStats, options: dict) -> Iterator[Document]:
        """Documents of one file (or stdin when path is "-"). Subclasses implement this."""
        raise NotImplementedError(f"domain {self.name!r} does not implement read_file")

    def accepts_file(self, name: str, options: Mapping[str, Any]) -> bool:
        """Whether a file met while walking a directory is this domain's input (options: as `read_file` gets)."""
        return True

    def recognizes_file(self, name: str) -> bool:
        """Whether a file name alone says the file is this domain's (e.g. genome.fa.gz for dna).

        Used to pick a domain when neither the user nor a run names one; False by default.
        """
        return False

    def recognizes_content(self, head: bytes) -> bool:
        """Whether a file's first bytes say it is this domain's (e.g. a FASTA header and bases for dna).

        Used like recognizes_file, for files whose names say nothing and for stdin; False by default.
        """
        return False

    def read_directory(self, root: str, stats: ReadStats, options: dict) -> Iterator[Document]:
        """Documents of every accepted file under `root`, in sorted order (hidden ones left out)."""
        accept = functools.partial(self.accepts_file, options=options)
        for path in walk_files(root, stats, accept, self.excluded_as):
            yield from self.read_file(path, stats, options)

    def count_units(self, data: bytes) -> int:
        """Units (characters, by default: UTF-8 data) in these bytes, for bits-per-unit."""
        return count_utf8_chars(data)

    def whole_record_options(self, options: Mapping[str, Any], given: Collection[str]) -> dict:
        """Reader options for jobs that report per record (chunk, score, embed): what they need so
        that a Document covers its whole record. `given`: the names of the options the user set,
        which are kept as they are."""
        return dict(options)

    def reverse_strand(self, data: bytes) -> bytes:
        """The other strand of a double-stranded Document's data."""
        raise ConfigError(f"domain {self.name!r} has no second strand")

    def augment(self, doc: Document, rng: random.Random, **options) -> Document:
        """Training-time augmentation; pass the same options as to `read`. Identity by default."""
        return doc

    def check_input(self, path: str | os.PathLike) -> None:
        """Raise InputError if `path` is clearly not this domain's data (e.g. a PNG).

        Looks only at the first bytes; stdin and directories pass.
        """
        path = os.fspath(path)
        if path == STDIN or os.path.isdir(path):
            return
        if not os.path.exists(path):
            raise InputError(path, "no such file or directory")
        what = describe_binary(sniff(path))
        if what is not None:
            raise InputError(path, f"{what}, not {self.name} input")

    # ---- reading --------------------------------------------------------------------

    def read(
        self,
        paths: Sequence[str | os.PathLike] | str | os.PathLike = (),
        *,
        stats: ReadStats | None = None,
        **options,
    ) -> DocumentStream:
        """Stream the Documents of files, directories, globs or "-" (stdin).

        No paths -> the bundled default data. `options` are this domain's
        reader options (typed, as from `parse_options`; defaults fill the rest).
        """
        resolved = self.resolve_options(options)
        if isinstance(paths, (str, os.PathLike)):
            paths = [paths]
        if not paths:
            paths = [str(p) for p in self.default_paths()]
            if not paths:
                raise InputError(f"--domain {self.name}", "this domain has no bundled data; give input files")
        sources = expand_paths(paths)
        stats = ReadStats() if stats is None else stats
        return DocumentStream(self._documents(sources, stats, resolved), stats)

    def _documents(self, sources: list[Source], stats: ReadStats, options: dict) -> Iterator[Document]:
        before = stats.documents
        for source in sources:
            if source.is_dir:
                yield from self.read_directory(source.path, stats, options)
            elif stats.first_visit(source.path):
                yield from self.read_file(source.path, stats, options)
        if stats.documents == before:
            names = ", ".join(s.path for s in sources[:3]) + (", ..." if len(sources) > 3 else "")
            raise InputError(names, f"no {self.name} documents found ({stats.summary()})")

    # ---- options --------------------------------------------------------------------

    def parse_options(self, pairs: Sequence[str]) -> dict:
        """["key=value", ...] (from --domain-opt) -> all options, typed, defaults filled in.

        Unknown keys and ill-typed values raise ConfigError naming the key.
        """
        return self.resolve_options(self.given_options(option_pairs(pairs)))

    def given_options(self, given: Mapping[str, Any]) -> dict:
        """Only the options a caller set, typed: strings (as typed on the command line) are parsed,
        other values checked. Unknown keys and ill-typed values raise ConfigError naming the key."""
        typed: dict[str, Any] = {}
        for key, value in given.items():
            option = self._option(key)
            typed[key] = option.parse(key, value) if isinstance(value, str) else option.check(key, value)
        return typed

    def resolve_options(self, given: Mapping[str, Any]) -> dict:
        """Typed options from Python callers -> all options, validated, defaults filled in."""
        resolved = {key: option.default for key, option in self.options.items()}
        for key, value in given.items():
            option = self._option(key)
            resolved[key] = option.check(key, value)
        return resolved

    def _option(self, key: str) -> DomainOption:
        if key not in self.options:
            valid = ", ".join(sorted(self.options)) or "none"
            raise ConfigError(f"unknown option {key!r} for domain {self.name!r} (valid options: {valid})")
        return self.options[key]

    # ---- description -------------------------------------------------------------------

    def targets_for(self, stages: int) -> list[float]:
        """The target compression N per stage for an H-Net with `stages` stages."""
        if stages not in self.compression_targets:
            known = ", ".join(str(s) for s in sorted(self.compression_targets)) or "none"
            raise ConfigError(f"domain {self.name!r} has no compression targets for {stages} stages (has: {known})")
        return list(self.compression_targets[stages])

    def describe(self) -> dict:
        """Everything `hnet domains --json` shows about this domain."""
        return {
            "name": self.name,
            "aliases": list(self.aliases),
            "summary": self.summary,
            "unit": self.unit,
            "default_recipe": self.default_recipe,
            "compression_targets": {str(k): list(v) for k, v in sorted(self.compression_targets.items())},
            "targets_measured": self.targets_measured,
            "default_data": self.default_data,
            "default_paths": [str(p) for p in self.default_paths()],
            "sequence": self.sequence,
            "double_stranded": self.double_stranded,
            "size_options": list(self.size_options),
            "options": {key: option.describe() for key, option in self.options.items()},
        }


def scan(domain: Domain, paths: Sequence[str | os.PathLike] = (), options: Mapping[str, Any] | None = None,
         reporter=None) -> tuple[ReadStats, int]:
    """Read inputs to the end without keeping them: (ReadStats, number of units).

    What `hnet domains NAME --check FILES` reports: a dry run of what training
    would read. `reporter` (hnet_cli.progress) gets one advance per Document.
    """
    units = 0
    stream = domain.read(paths, **dict(options or {}))
    if reporter is not None:
        reporter.start(f"reading {domain.name} input", unit="docs")
    try:
        for doc in stream:
            units += domain.count_units(doc.data)
            if reporter is not None:
                reporter.advance(1, bytes=stream.stats.bytes)
    finally:
        stream.close()
        if reporter is not None:
            reporter.finish()
    return stream.stats, units

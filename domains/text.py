"""The text domain: general multilingual text from .txt, .jsonl and .parquet (and gzip/xz).

Document boundaries are the corpus's: a text file (or, with split=paragraph
or split=line, each paragraph or line), a JSON Lines row (the `field`), a
Parquet row (the `column`, streamed by row group through pyarrow). Invalid
input follows the explicit `errors` policy (error / replace / skip, counted);
Unicode normalisation is optional and off by default.
"""

from __future__ import annotations

import codecs
import os
import pathlib
from typing import Iterator

from hnet_cli.data.documents import Document
from hnet_cli.data.domain import Domain, DomainOption
from hnet_cli.data.readers.decoding import ERROR_POLICIES, NORMALIZATIONS
from hnet_cli.data.readers.fasta import sniff_sequence_format
from hnet_cli.data.readers.sources import (
    SNIFF_BYTES,
    STDIN,
    describe_binary,
    open_input,
    read_errors,
    sniff,
    strip_compression_suffix,
)
from hnet_cli.data.readers.stats import ReadStats
from hnet_cli.data.readers.text import MISSING_POLICIES, SPLIT_MODES, iter_jsonl, iter_parquet, iter_text
from hnet_cli.errors import ConfigError, InputError

from hnet_domains.targets import COMPRESSION_TARGETS, MEASURED

DATA = pathlib.Path(__file__).parent / "data"

JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")
PARQUET_SUFFIXES = (".parquet", ".pq")


def text_options(encoding_default: str, encoding_help: str, normalizations=NORMALIZATIONS) -> dict[str, DomainOption]:
    """The reader options shared by the text-like domains."""
    return {
        "format": DomainOption(str, "auto", "input format; auto goes by suffix (.jsonl/.ndjson/.json, "
                               ".parquet, anything else is plain text)", choices=("auto", "text", "jsonl", "parquet")),
        "field": DomainOption(str, "text", "JSON Lines: the field holding the text (a.b for nested objects)"),
        "column": DomainOption(str, "text", "Parquet: the column holding the text"),
        "on_missing": DomainOption(str, "error", "JSON Lines: a row without the field is an error, or skipped "
                                   "(counted)", choices=MISSING_POLICIES),
        "split": DomainOption(str, "file", "plain text: one Document per file, per paragraph (blank-line "
                              "separated) or per line", choices=SPLIT_MODES),
        "errors": DomainOption(str, "error", "invalid input bytes: stop with an error, replace with U+FFFD "
                               "(counted), or skip the document (counted)", choices=ERROR_POLICIES),
        "normalize": DomainOption(str, "none", "Unicode normalisation of the text", choices=normalizations),
        "encoding": DomainOption(str, encoding_default, encoding_help),
        "max_bytes": DomainOption(int, 8 << 20, "plain text: longest Document in bytes; a longer file "
                                  "continues in the next Document (cut at a line end)", minimum=1024),
        "extensions": DomainOption(list, ("txt", "text", "md", "rst", "jsonl", "ndjson", "json", "parquet"),
                                   "directories: read files with these suffixes (compressed ones too)"),
    }


def _wide_encoding(name: str) -> bool:
    try:
        return codecs.lookup(name).name.startswith(("utf-16", "utf-32"))
    except LookupError:  # "auto"
        return False


class TextDomain(Domain):
    name = "text"
    aliases = ("txt", "en", "multilingual")
    summary = "any-language text: .txt, .jsonl, .parquet"
    unit = "char"
    default_recipe = "text-tiny"
    compression_targets = COMPRESSION_TARGETS["text"]
    targets_measured = MEASURED
    default_data = "Austen, Persuasion (467 KB)"
    options = text_options("utf-8", "source encoding (any Python codec name); the model sees UTF-8")
    size_options = ("max_bytes",)
    excluded_as = "file suffix"

    def default_paths(self) -> list[pathlib.Path]:
        return [DATA / "persuasion.txt.gz"]

    def resolve_options(self, given) -> dict:
        resolved = super().resolve_options(given)
        if resolved["encoding"].lower() != "auto":
            try:
                codecs.lookup(resolved["encoding"])
            except LookupError:
                raise ConfigError(f"domain option encoding={resolved['encoding']!r}: unknown encoding") from None
        return resolved

    def accepts_file(self, name: str, options) -> bool:
        base = strip_compression_suffix(name).lower()
        return any(base.endswith("." + s.lower().lstrip(".")) for s in options["extensions"])

    def check_input(self, path) -> None:
        path = os.fspath(path)
        if path == STDIN or os.path.isdir(path):
            return
        if not os.path.exists(path):
            raise InputError(path, "no such file or directory")
        head = sniff(path)
        what = describe_binary(head)
        if what is not None and not (what == "a Parquet file" or head.startswith(b"PAR1") or what.startswith("UTF-16")):
            # (UTF-16 is left to the reader, which knows whether the encoding was declared.)
            raise InputError(path, f"{what}, not {self.name} input")

    @staticmethod
    def _format(path: str, head: bytes, option: str) -> str:
        if option != "auto":
            return option
        if head.startswith(b"PAR1"):
            return "parquet"
        base = strip_compression_suffix(path).lower()
        if base.endswith(PARQUET_SUFFIXES):
            return "parquet"
        if base.endswith(JSONL_SUFFIXES):
            return "jsonl"
        if path == STDIN and head.lstrip()[:1] == b"{":
            return "jsonl"
        return "text"

    def source_encoding(self, head: bytes, options: dict) -> str:
        """The encoding to decode a file with (the chinese domain detects it)."""
        return options["encoding"]

    def read_file(self, path: str, stats: ReadStats, options: dict) -> Iterator[Document]:
        stats.files += 1
        name = "-" if path == STDIN else os.path.basename(path)
        if path != STDIN and os.path.getsize(path) == 0:
            stats.skip("empty file", path)
            return
        with open_input(path) as stream:
            with read_errors(path):
                head = stream.peek(SNIFF_BYTES) if hasattr(stream, "peek") else b""
            fmt = self._format(path, head, options["format"])
            if fmt == "parquet":
                if path == STDIN:
                    raise InputError(path, "Parquet needs a file it can seek in; stdin is not supported")
                if head[:4] != b"PAR1" and head[:2] == b"\x1f\x8b":
                    raise InputError(path, "a compressed Parquet file; Parquet compresses internally, decompress it first")
            else:
                binary = describe_binary(head)
                # UTF-16/32 text is full of NUL bytes: declared, it is text.
                if binary is not None and not _wide_encoding(options["encoding"]):
                    raise InputError(path, f"{binary}, not text")
                sequences = sniff_sequence_format(head) if options["format"] == "auto" else None
                if sequences is not None:
                    # Read as text, a genome gives scores of header bytes and coordinates off by them.
                    raise InputError(path, f"looks like {sequences} (DNA), not {self.name}: read it with "
                                     "--domain dna, or with -o format=text to read it as text anyway")
            if fmt != "parquet" and not head:
                stats.skip("empty file", path)
                return
            encoding = "utf-8" if fmt == "parquet" else self.source_encoding(head, options)
            stats.encodings[encoding] += 1
            common = dict(errors=options["errors"], normalize=options["normalize"])
            if fmt == "parquet":
                yield from iter_parquet(path, name, stats, column=options["column"], **common)
            elif fmt == "jsonl":
                yield from iter_jsonl(stream, path, name, stats, field=options["field"],
                                      on_missing=options["on_missing"], encoding=encoding, **common)
            else:
                yield from iter_text(stream, path, name, stats, split=options["split"],
                                     max_bytes=options["max_bytes"], encoding=encoding, **common)


domain = TextDomain()

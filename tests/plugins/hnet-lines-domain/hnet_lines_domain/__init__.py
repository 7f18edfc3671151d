"""An hnet domain plugin: each non-empty line of a UTF-8 text file is one Document."""

from __future__ import annotations

import pathlib

from hnet_cli.data.documents import Document
from hnet_cli.data.domain import Domain, DomainOption
from hnet_cli.data.readers.sources import open_input, read_errors


class LinesDomain(Domain):
    name = "lines"
    aliases = ("ln",)
    summary = "one document per line of text"
    unit = "char"
    default_recipe = "text-tiny"
    compression_targets = {1: [4.0]}
    default_data = "a few proverbs"
    options = {
        "strip": DomainOption(bool, True, "strip whitespace around each line"),
        "min_chars": DomainOption(int, 1, "skip shorter lines (counted)", minimum=0),
    }

    def default_paths(self):
        return [pathlib.Path(__file__).parent / "proverbs.txt"]

    def read_file(self, path, stats, options):
        stats.files += 1
        with open_input(path) as stream, read_errors(path):
            for number, raw in enumerate(stream, start=1):
                line = raw.strip() if options["strip"] else raw.rstrip(b"\n")
                if len(line) < max(options["min_chars"], 1):
                    stats.skip("short line", f"{path}:{number}")
                    continue
                yield stats.yielded(Document(line, path, f"line {number}", {"line": number}))


domain = LinesDomain()

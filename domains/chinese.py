"""The chinese domain (alias zh): the text readers plus what Chinese corpora need.

- Common layouts: JSON Lines / Parquet dumps with a text field or column,
  and plain files (one Document per file, paragraph or line).
- GB18030/GBK input, detected (`encoding=auto`, the default) or declared
  (`encoding=gbk`, `gb18030`, `big5`, ...), converted to UTF-8. Detection
  rule: see hnet_cli.data.readers.decoding.detect_cjk_encoding; Big5 must be
  declared.
- Full-width punctuation (，。！？：“”) is kept as is: normalisation is off by
  default and NFKC, which would fold it to ASCII, is not offered.
- Its own compression targets: a character is 3 UTF-8 bytes and carries
  about a word's information (see hnet_domains.targets).
"""

from __future__ import annotations

import pathlib

from hnet_cli.data.readers.decoding import detect_cjk_encoding

from hnet_domains.targets import COMPRESSION_TARGETS, MEASURED
from hnet_domains.text import DATA, TextDomain, text_options


class ChineseDomain(TextDomain):
    name = "chinese"
    aliases = ("zh", "zh-cn", "cjk")
    summary = "Chinese text; GB18030/GBK detected"
    unit = "char"
    default_recipe = "zh-tiny"
    compression_targets = COMPRESSION_TARGETS["chinese"]
    targets_measured = MEASURED
    default_data = "408 Tang and Song poems (110 KB)"
    options = text_options(
        "auto",
        "source encoding: auto (UTF-8 or GB18030/GBK, detected per file), or declare one: "
        "utf-8, gb18030, gbk, gb2312, big5, ...",
        normalizations=("none", "NFC"),
    )

    def default_paths(self) -> list[pathlib.Path]:
        return [DATA / "classical_poems.jsonl.gz"]

    def source_encoding(self, head: bytes, options: dict) -> str:
        declared = options["encoding"]
        if declared.lower() != "auto":
            return declared
        return detect_cjk_encoding(head)


domain = ChineseDomain()

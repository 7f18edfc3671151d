"""Shared reader parts for domain plugins (ours and third-party ones).

- sources:  paths/globs/directories/stdin -> Sources; transparent gzip/bgzip/xz/bzip2
- stats:    ReadStats (counts and skips) and DocumentStream
- decoding: bytes -> UTF-8 with an explicit invalid-input policy; GB18030 detection
- fasta:    streaming FASTA, FASTQ via biopython, records -> Documents with coordinates
- text:     plain text, JSON Lines, Parquet (via pyarrow)
- tree:     source trees with .gitignore (via pathspec), include/exclude, languages
"""

from hnet_cli.data.readers.sources import STDIN, Source, expand_paths, open_input, read_errors, sniff
from hnet_cli.data.readers.stats import DocumentStream, ReadStats

__all__ = ["STDIN", "Source", "expand_paths", "open_input", "read_errors", "sniff", "DocumentStream", "ReadStats"]

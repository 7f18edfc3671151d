"""A reference genome with random access by record and coordinate, for variant scoring.

Indexed access goes through pysam's FastaFile (htslib faidx: plain or bgzip
FASTA; the .fai index, and .gzi for bgzip, is built next to the file when
missing). A FASTA that faidx cannot index (plain gzip, xz, stdin, or a folder
where the index cannot be written) is read once with hnet's own FASTA reader
and held in memory (one byte per base: about 5 MB for a bacterium, 3 GB for a
human genome; bgzip it for large genomes: `zcat ref.fa.gz | bgzip > ref.fa.bgz`).

Bases come back upper-cased (soft-masking folded, as the dna reader does by
default), as bytes.
"""

from __future__ import annotations

import contextlib
import os

from hnet_cli.errors import ConfigError, InputError


def require_pysam():
    try:
        import pysam
    except ImportError:
        raise ConfigError("--variants needs pysam, an optional extra: pip install 'hnet-cli[vcf]'") from None
    return pysam


@contextlib.contextmanager
def quiet_htslib():
    """htslib prints its own warnings (missing indexes, header sanity) on stderr; ours say it better."""
    pysam = require_pysam()
    before = pysam.set_verbosity(0)
    try:
        yield
    finally:
        pysam.set_verbosity(before)


class ReferenceGenome:
    def __init__(self, path: str):
        self.path = os.fspath(path)
        self._fasta = None
        self._records: dict[str, bytes] = {}
        self.indexed = False
        if self.path != "-" and not os.path.exists(self.path):
            raise InputError(self.path, "reference FASTA not found")
        pysam = require_pysam()
        if self.path != "-":
            try:
                with quiet_htslib():
                    self._fasta = pysam.FastaFile(self.path)
                self.indexed = True
            except (OSError, ValueError):
                self._fasta = None
        if self._fasta is None:
            self._load()
        self.lengths = (dict(zip(self._fasta.references, self._fasta.lengths)) if self._fasta is not None
                        else {name: len(seq) for name, seq in self._records.items()})

    def _load(self) -> None:
        from hnet_cli.data.readers.fasta import iter_fasta
        from hnet_cli.data.readers.sources import open_input, read_errors

        parts: dict[str, list[bytes]] = {}
        with open_input(self.path) as stream, read_errors(self.path):
            name = None
            for _record, header, bases in iter_fasta(stream, self.path, fold_case=True):
                if not bases:
                    name = header.split(None, 1)[0]
                    if name in parts:
                        raise InputError(self.path, f"record {name!r} appears twice in the reference")
                    parts[name] = []
                    continue
                parts[name].append(bases)
        if not parts:
            raise InputError(self.path, "no FASTA records in the reference")
        self._records = {name: b"".join(chunks) for name, chunks in parts.items()}

    def __contains__(self, contig: str) -> bool:
        return contig in self.lengths

    def fetch(self, contig: str, start: int, end: int) -> bytes:
        """Bases [start, end) of `contig` (clipped to the record), upper-case."""
        start, end = max(0, start), min(end, self.lengths[contig])
        if end <= start:
            return b""
        if self._fasta is not None:
            return self._fasta.fetch(contig, start, end).upper().encode("ascii")
        return self._records[contig][start:end]

    def close(self) -> None:
        if self._fasta is not None:
            self._fasta.close()

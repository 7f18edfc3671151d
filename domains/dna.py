"""The dna domain: FASTA and FASTQ, plain or gzip/bgzip/xz, many records per file.

Each record becomes one or more Documents of bases, with
meta = {"record": id, "offset": 0-based coordinate of data[0], "continues": bool}
so that tools can write BED. A record is split (never shortened inside a
Document) at runs of at least `n_split` N bases, and into pieces of at most
`max_length` bases; the pipeline separates Documents, so records are never
joined here. FASTQ gives the sequence only (the quality string is checked
for length, then dropped).
"""

from __future__ import annotations

import os
import pathlib
import random
from typing import Iterator

from hnet_cli.data.documents import Document
from hnet_cli.data.domain import Domain, DomainOption
from hnet_cli.data.readers.fasta import (
    SequenceDocuments, iter_fasta, iter_fastq, reverse_complement, short_record, sniff_sequence_format,
)
from hnet_cli.data.readers.sources import STDIN, open_input, read_errors, sniff, strip_compression_suffix
from hnet_cli.data.readers.stats import ReadStats
from hnet_cli.errors import InputError

from hnet_domains.targets import COMPRESSION_TARGETS, MEASURED

DATA = pathlib.Path(__file__).parent / "data"

FASTA_SUFFIXES = (".fa", ".fasta", ".fna", ".ffn", ".frn", ".fas", ".seq")
FASTQ_SUFFIXES = (".fq", ".fastq")

class DnaDomain(Domain):
    name = "dna"
    aliases = ("genome", "fasta")
    summary = "FASTA/FASTQ genomes and reads; coordinates kept"
    unit = "base"
    default_recipe = "dna-tiny"
    compression_targets = COMPRESSION_TARGETS["dna"]
    targets_measured = MEASURED
    default_data = "phage lambda genome (48.5 kb)"
    sequence = True
    double_stranded = True
    size_options = ("max_length",)
    options = {
        "format": DomainOption(str, "auto", "input format; auto recognises FASTA ('>') and FASTQ ('@')",
                               choices=("auto", "fasta", "fastq")),
        "softmask": DomainOption(str, "fold", "soft-masked (lowercase) bases: fold to uppercase or keep",
                                 choices=("fold", "keep")),
        "n_split": DomainOption(int, 100, "split a record at runs of at least this many N (the run is "
                                "left out; coordinates stay exact); 0 keeps all N", minimum=0),
        "max_length": DomainOption(int, 1 << 20, "longest Document in bases; longer stretches continue "
                                   "in the next Document", minimum=1),
        "min_length": DomainOption(int, 1, "skip Documents shorter than this many bases (counted)", minimum=1),
        "rc_prob": DomainOption(float, 0.0, "training: probability of reverse-complementing a Document",
                                minimum=0.0, maximum=1.0),
    }

    def default_paths(self) -> list[pathlib.Path]:
        return [DATA / "lambda_phage.fa.gz"]

    def accepts_file(self, name: str, options) -> bool:
        return self.recognizes_file(name)

    def recognizes_file(self, name: str) -> bool:
        return strip_compression_suffix(name).lower().endswith(FASTA_SUFFIXES + FASTQ_SUFFIXES)

    def whole_record_options(self, options, given) -> dict:
        options = dict(options)
        if "n_split" not in given:
            options["n_split"] = 0  # keep N runs: intervals and per-record rows then cover whole records
        return options

    def reverse_strand(self, data: bytes) -> bytes:
        return reverse_complement(data)

    def recognizes_content(self, head: bytes) -> bool:
        return sniff_sequence_format(head) is not None

    def count_units(self, data: bytes) -> int:
        return len(data)  # one byte per base

    def augment(self, doc: Document, rng: random.Random, **options) -> Document:
        rc_prob = self.resolve_options(options)["rc_prob"]
        if rc_prob <= 0.0 or rng.random() >= rc_prob:
            return doc
        meta = dict(doc.meta, strand="-")
        return Document(reverse_complement(doc.data), doc.source, doc.name, meta)

    def check_input(self, path) -> None:
        super().check_input(path)
        path = os.fspath(path)
        if path == STDIN or os.path.isdir(path):
            return
        head = sniff(path, 4096).lstrip()
        if head and head[:1] not in (b">", b"@"):
            raise InputError(path, "not FASTA/FASTQ: the first line does not start with '>' or '@'", line=1)

    def read_file(self, path: str, stats: ReadStats, options: dict) -> Iterator[Document]:
        stats.files += 1
        with open_input(path) as stream:
            with read_errors(path):
                head = stream.peek(1)[:1] if hasattr(stream, "peek") else b""
            fmt = options["format"]
            if fmt == "auto":
                name = strip_compression_suffix(path).lower()
                if head == b"@" or (not head and name.endswith(FASTQ_SUFFIXES)):
                    fmt = "fastq"
                else:
                    fmt = "fasta"
            if not head:
                stats.skip("empty file", path)
                return
            fold = options["softmask"] == "fold"
            if fmt == "fastq":
                pieces = iter_fastq(stream, path)
            else:  # the FASTA parser folds case in the same pass that drops newlines
                pieces = iter_fasta(stream, path, fold_case=fold)
            builder: SequenceDocuments | None = None
            current = 0
            with read_errors(path):
                if fmt == "fastq":  # one piece per record: short reads take the fast path
                    for _record, header, bases in pieces:
                        doc = short_record(path, header, bases, stats, fold_case=fold, n_split=options["n_split"],
                                           max_length=options["max_length"], min_length=options["min_length"])
                        if doc is False:
                            builder = self._builder(path, header, stats, options, input_folded=False)
                            yield from builder.add(bases)
                            yield from builder.finish()
                        elif doc is not None:
                            yield doc
                    return
                for record, header, bases in pieces:
                    if record != current:
                        if builder is not None:
                            yield from builder.finish()
                        builder = self._builder(path, header, stats, options, input_folded=fmt == "fasta" and fold)
                        current = record
                    yield from builder.add(bases)
                if builder is not None:
                    yield from builder.finish()

    @staticmethod
    def _builder(path: str, header: str, stats: ReadStats, options: dict, input_folded: bool) -> SequenceDocuments:
        return SequenceDocuments(
            path,
            header,
            stats,
            fold_case=options["softmask"] == "fold",
            n_split=options["n_split"],
            max_length=options["max_length"],
            min_length=options["min_length"],
            input_folded=input_folded,
        )


domain = DnaDomain()

"""Chunks as BED6 intervals, one line per chunk, for genome browsers and bedtools.

    chrom  start  end  name  score  strand
    record id (FASTA header up to the first space), 0-based half-open record
    coordinates (Document.meta["offset"] added), chunk index within the record
    and stage, round(mean confidence * 1000) (c_t = max(p_t, 1 - p_t) is in
    [0.5, 1], so scores fall in 500..1000), and "." (the model reads the
    forward strand).

Within a stage the intervals of a record are sorted, contiguous and cover
every base the reader gave (records in input order; `sort -k1,1 -k2,2n` for
lexicographic order). `hnet chunk` keeps runs of N in DNA by default so this
is the whole record; with `--domain-opt n_split=K` the long N runs are left
out and so are absent from the BED.

Several stages in one file: each stage is one track, preceded by its
`track` line (IGV and the UCSC browser read multi-track BED files). bedtools
expects one set of intervals, so give it one stage (`--stage 0`).
"""

from __future__ import annotations

import re
from typing import IO

from hnet_cli.chunk.pieces import Piece
from hnet_cli.chunk.tables import BLOCK_ROWS, ChunkNumbering, copy_spool, text_spool

_WHITESPACE = re.compile(r"\s+")


def bed_chrom(record: str) -> str:
    """BED fields are tab/space separated: a name with whitespace keeps only its parts joined by '_'."""
    return _WHITESPACE.sub("_", record.strip()) or "."


def bed_score(mean_confidence: float) -> int:
    return max(0, min(1000, int(round(mean_confidence * 1000))))


def track_line(stage: int, model_name: str) -> str:
    name = f"hnet_stage{stage}"
    desc = f"hnet chunk stage {stage} ({model_name})".replace('"', "'")
    return f'track name="{name}" description="{desc}" useScore=1 visibility=squish\n'


class BedWriter:
    """Streams stage lines as windows close chunks; later stages are spooled, then appended."""

    def __init__(self, stream: IO, stages: list[int], track: bool = False, model_name: str = "model"):
        self.stream = stream
        self.stages = stages
        # A file with several stages needs track lines to keep them apart.
        self.track = track or len(stages) > 1
        self.model_name = model_name
        self.numbering = ChunkNumbering()
        self.rows = 0
        # Later stages wait in spooled temp files (memory first, disk past 16 MB).
        self._spools = {s: text_spool() for s in stages[1:]}

    def begin(self) -> None:
        if self.track and self.stages:
            self.stream.write(track_line(self.stages[0], self.model_name))

    def add(self, piece: Piece) -> None:
        """The chunks a window closed, written now (later stages to their spools)."""
        doc = piece.doc
        chrom = bed_chrom(doc.record)
        off = doc.offset
        for s in self.stages:
            table = piece.chunks[s].table
            first = self.numbering.take(doc.record, s, len(table))
            target = self.stream if s == self.stages[0] else self._spools[s]
            for lo in range(0, len(table), BLOCK_ROWS):  # bounded blocks
                hi = min(len(table), lo + BLOCK_ROWS)
                lines = [
                    f"{chrom}\t{off + a}\t{off + b}\t{first + lo + i}\t{bed_score(c)}\t.\n"
                    for i, (a, b, c) in enumerate(zip(table.start[lo:hi].tolist(), table.end[lo:hi].tolist(),
                                                      table.mean_confidence[lo:hi].tolist()))
                ]
                target.write("".join(lines))
                self.rows += len(lines)

    def end(self) -> None:
        for s in self.stages[1:]:
            self.stream.write(track_line(s, self.model_name))
            copy_spool(self._spools.pop(s), self.stream)

    def abort(self) -> None:
        for spool in self._spools.values():
            spool.close()
        self._spools.clear()

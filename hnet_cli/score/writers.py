"""What `hnet score` writes: one row per record (TSV or JSON Lines), or bedGraph tracks.

Per record (`-f tsv`, `-f json`), one row per document in reading order:

    record  start  end  bytes  units  log_likelihood  bits  bits_per_byte  bits_per_unit  source

  record/start/end  the FASTA record and 0-based half-open coordinates of the scored
                    bases (the document name and 0..n for other domains)
  log_likelihood    ln p(bytes | BOS), natural log (<= 0)
  bits              -log2 of the same; bits_per_unit divides by the domain's units
                    (bases for DNA, characters for text)

bedGraph (`-f bedgraph`): `chrom start end value`, 0-based half-open, one track
per quantity, each after its `track type=bedGraph` line:

  surprisal          one interval per base: -log2 p(base | what came before), bits
  boundary_prob_s    stage s's p_t (routing probability that a chunk starts there):
                     per base at stage 0; at stage s >= 1 one interval per stage-s
                     position (a stage-(s-1) chunk), from where it starts to where
                     the next one starts. The chunk BOS opens, which covers the bases
                     before the first stage-(s-1) boundary, has p = 1 (p_0 = 1).

Every track covers every scored base exactly once, records in input order and
intervals sorted within a record. Values are written with 7 significant digits.
Later tracks wait in spooled temporary files (memory first, disk past 16 MB).
"""

from __future__ import annotations

import json
import math
import tempfile
from typing import IO

import torch

from hnet_cli.chunk.bed import bed_chrom
from hnet_cli.score.positions import PositionScores

RECORD_COLUMNS = ["record", "start", "end", "bytes", "units", "log_likelihood", "bits", "bits_per_byte",
                  "bits_per_unit", "source"]
BLOCK = 1 << 16  # lines formatted per block: records can be chromosomes


def record_row(scores: PositionScores) -> dict:
    return {"record": scores.record, "start": scores.offset, "end": scores.offset + scores.length,
            "bytes": scores.length, "units": scores.units, "log_likelihood": scores.log_likelihood,
            "bits": scores.bits, "bits_per_byte": scores.bits_per_byte, "bits_per_unit": scores.bits_per_unit,
            "source": scores.document.source}


def _tsv_field(value) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else repr(value)
    return str(value).replace("\t", " ").replace("\n", " ")


class RecordWriter:
    """One row per record: TSV with a `#`-prefixed header, or JSON Lines."""

    def __init__(self, stream: IO, fmt: str):
        self.stream, self.fmt, self.rows = stream, fmt, 0

    def begin(self) -> None:
        if self.fmt == "tsv":
            self.stream.write("#" + "\t".join(RECORD_COLUMNS) + "\n")

    def add(self, scores: PositionScores) -> None:
        row = record_row(scores)
        if self.fmt == "tsv":
            self.stream.write("\t".join(_tsv_field(row[c]) for c in RECORD_COLUMNS) + "\n")
        else:
            clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in row.items()}
            self.stream.write(json.dumps(clean) + "\n")
        self.rows += 1

    def end(self) -> None:
        pass


def track_line(name: str, description: str) -> str:
    return f'track type=bedGraph name="{name}" description="{description}"\n'


def element_intervals(prob: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(start, end, value) of a stage's positions over a document's bytes.

    prob (n,): p at each byte that is a stage position, NaN elsewhere. Every byte
    falls in exactly one interval; bytes before the first position belong to the
    chunk BOS opened (value 1, the model's p_0).
    """
    n = prob.numel()
    starts = (~torch.isnan(prob)).nonzero(as_tuple=True)[0]
    values = prob[starts]
    if n and (len(starts) == 0 or int(starts[0]) != 0):
        starts = torch.cat([torch.zeros(1, dtype=starts.dtype), starts])
        values = torch.cat([torch.ones(1, dtype=values.dtype), values])
    ends = torch.cat([starts[1:], torch.tensor([n], dtype=starts.dtype)]) if n else starts
    return starts, ends, values


class BedGraphWriter:
    """bedGraph tracks (see the module docstring) streamed as records arrive."""

    def __init__(self, stream: IO, tracks: list[str], stages: list[int], model_name: str = "model",
                 track_lines: bool = True):
        self.stream = stream
        self.names = [("surprisal", None)] if "surprisal" in tracks else []
        self.names += [(f"boundary_prob_{s}", s) for s in stages] if "boundary_prob" in tracks else []
        self.model_name = model_name
        self.track_lines = track_lines or len(self.names) > 1
        self.rows = 0
        self._spools = {name: tempfile.SpooledTemporaryFile(max_size=16 << 20, mode="w+", encoding="utf-8")
                        for name, _ in self.names[1:]}

    def _track_line(self, name: str, stage: int | None) -> str:
        what = "surprisal, bits per base" if stage is None else f"boundary probability, stage {stage}"
        return track_line(f"hnet_{name}", f"hnet score {what} ({self.model_name})".replace('"', "'"))

    def begin(self) -> None:
        if self.track_lines and self.names:
            self.stream.write(self._track_line(*self.names[0]))

    def add(self, scores: PositionScores) -> None:
        chrom = bed_chrom(scores.record)
        offset = scores.offset
        for k, (name, stage) in enumerate(self.names):
            target = self.stream if k == 0 else self._spools[name]
            if stage is None:
                values = scores.surprisal
                starts = torch.arange(values.numel())
                ends = starts + 1
            else:
                starts, ends, values = element_intervals(scores.boundary_prob[stage])
            for lo in range(0, len(starts), BLOCK):
                hi = min(len(starts), lo + BLOCK)
                target.write("".join(
                    f"{chrom}\t{offset + a}\t{offset + b}\t{v:.7g}\n"
                    for a, b, v in zip(starts[lo:hi].tolist(), ends[lo:hi].tolist(), values[lo:hi].tolist())))
                self.rows += hi - lo

    def end(self) -> None:
        for name, stage in self.names[1:]:
            spool = self._spools.pop(name)
            self.stream.write(self._track_line(name, stage))
            spool.seek(0)
            while block := spool.read(1 << 20):
                self.stream.write(block)
            spool.close()

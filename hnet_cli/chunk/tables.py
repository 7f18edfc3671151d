"""Segmentations as tables: one row per byte or per chunk, written as TSV, JSON Lines or Parquet.

Per byte (`--per byte`), for each shown stage s:
    doc, record, position, byte, p{s}, boundary{s}, chunk{s}
  position  record coordinate (Document.meta["offset"] + index in the document; 0-based)
  p{s}      the model's p_t of the stage-s element that begins at this byte
            (every byte at stage 0; empty/null where no stage-s element begins)
  boundary{s}  this byte begins a stage-s chunk (b_t, and always at a document's first byte)
  chunk{s}  index of the stage-s chunk holding this byte, counted per record

Per chunk (`--per chunk`):
    doc, record, stage, chunk, start, end, length, boundary_prob, mean_confidence, elements, text
  start/end  0-based half-open record coordinates
  boundary_prob    p at the chunk's first element
  mean_confidence  mean of c_t = max(p_t, 1 - p_t) over the chunk's elements
  elements   number of stage-s elements (bytes at stage 0, stage-(s-1) chunks after)
  text       TSV: escaped so it holds no tab or newline (backslash, \\t, \\n, \\r,
             \\xNN); JSON/Parquet: UTF-8 text with invalid bytes as \\xNN; Parquet
             also has `bytes` (binary, exact).

Numbers are the model's float32 values: TSV writes 9 significant digits
(which read back as the same float32), JSON the exact value, Parquet float32.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import IO, Iterator

import torch

from hnet_cli.chunk.display import display_text, escape_bytes
from hnet_cli.chunk.segmentation import Segmentation


class ChunkNumbering:
    """Chunk indices per (record, stage), continuing across Documents of the same record."""

    def __init__(self):
        self._next: dict[tuple[str, int], int] = defaultdict(int)

    def take(self, record: str, stage: int, count: int) -> int:
        first = self._next[(record, stage)]
        self._next[(record, stage)] = first + count
        return first


# Rows are built and written in blocks, so a long record never becomes one huge Python list.
BLOCK_ROWS = 1 << 16


def byte_blocks(seg: Segmentation, stages: list[int], numbering: ChunkNumbering,
                block: int = BLOCK_ROWS) -> Iterator[dict[str, list]]:
    """The per-byte columns of one document, `block` rows at a time."""
    n = seg.length
    per_stage = []
    for s in stages:
        starts = seg.chunk_starts(s)
        flags = torch.zeros(n, dtype=torch.bool)
        flags[starts] = True
        first = numbering.take(seg.record, s, len(starts))
        per_stage.append((s, seg.element_prob_per_byte(s), flags, seg.chunk_ids(s) + first))
    for lo in range(0, n, block):
        hi = min(n, lo + block)
        cols: dict[str, list] = {
            "doc": [seg.index] * (hi - lo),
            "record": [seg.record] * (hi - lo),
            "position": list(range(seg.offset + lo, seg.offset + hi)),
            "byte": list(seg.data[lo:hi]),
        }
        for s, p, flags, ids in per_stage:
            cols[f"p{s}"] = [None if v != v else v for v in p[lo:hi].tolist()]  # NaN: no element begins here
            cols[f"boundary{s}"] = flags[lo:hi].tolist()
            cols[f"chunk{s}"] = ids[lo:hi].tolist()
        yield cols


def chunk_blocks(seg: Segmentation, stages: list[int], numbering: ChunkNumbering, text: str = "tsv",
                 block: int = BLOCK_ROWS) -> Iterator[dict[str, list]]:
    """The per-chunk columns of one document (stage by stage), `block` rows at a time.

    text: "tsv" (escaped), "json" (readable) or "parquet" (readable + exact bytes column).
    """
    data = seg.data
    for s in stages:
        table = seg.chunk_table(s)
        k = len(table)
        first = numbering.take(seg.record, s, k)
        for lo in range(0, k, block):
            hi = min(k, lo + block)
            starts, ends = table.start[lo:hi].tolist(), table.end[lo:hi].tolist()
            pieces = [data[a:b] for a, b in zip(starts, ends)]
            cols = {
                "doc": [seg.index] * (hi - lo),
                "record": [seg.record] * (hi - lo),
                "stage": [s] * (hi - lo),
                "chunk": list(range(first + lo, first + hi)),
                "start": [seg.offset + a for a in starts],
                "end": [seg.offset + b for b in ends],
                "length": [b - a for a, b in zip(starts, ends)],
                "boundary_prob": table.boundary_prob[lo:hi].tolist(),
                "mean_confidence": table.mean_confidence[lo:hi].tolist(),
                "elements": table.elements[lo:hi].tolist(),
                "text": [escape_bytes(p) if text == "tsv" else display_text(p) for p in pieces],
            }
            if text == "parquet":
                cols["bytes"] = pieces
            yield cols


def byte_column_names(stages: list[int]) -> list[str]:
    names = ["doc", "record", "position", "byte"]
    for s in stages:
        names += [f"p{s}", f"boundary{s}", f"chunk{s}"]
    return names


CHUNK_COLUMN_NAMES = ["doc", "record", "stage", "chunk", "start", "end", "length",
                      "boundary_prob", "mean_confidence", "elements", "text"]


def _tsv_cell(value) -> str:
    if value is None:
        return ""
    if value is True:
        return "1"
    if value is False:
        return "0"
    if isinstance(value, str):
        return value.replace("\t", " ").replace("\n", " ")  # record names: never break the row
    # 9 significant digits identify a float32 exactly, in about half the width of repr()
    return format(value, ".9g") if isinstance(value, float) else str(value)


class TableWriter:
    """Writes rows of every Segmentation it is given; `per` is "byte" or "chunk"."""

    def __init__(self, stream: IO, per: str, stages: list[int]):
        self.stream = stream
        self.per = per
        self.stages = stages
        self.numbering = ChunkNumbering()
        self.rows = 0

    def blocks(self, seg: Segmentation, text: str) -> Iterator[dict[str, list]]:
        if self.per == "byte":
            return byte_blocks(seg, self.stages, self.numbering)
        return chunk_blocks(seg, self.stages, self.numbering, text)

    def names(self) -> list[str]:
        return byte_column_names(self.stages) if self.per == "byte" else list(CHUNK_COLUMN_NAMES)

    def begin(self) -> None:
        pass

    def add(self, seg: Segmentation) -> None:
        raise NotImplementedError

    def end(self) -> None:
        pass

    def abort(self) -> None:
        """The job failed: release what the writer holds (the output itself is discarded)."""
        pass


class TsvWriter(TableWriter):
    def begin(self):
        self.stream.write("\t".join(self.names()) + "\n")

    def add(self, seg):
        names = self.names()
        for cols in self.blocks(seg, "tsv"):
            lines = ["\t".join(_tsv_cell(v) for v in row) for row in zip(*(cols[c] for c in names))]
            if lines:
                self.stream.write("\n".join(lines) + "\n")
            self.rows += len(lines)


class JsonLinesWriter(TableWriter):
    """One JSON object per line (JSON Lines): streams, and `jq -s` makes it one array."""

    def add(self, seg):
        names = self.names()
        for cols in self.blocks(seg, "json"):
            lines = [json.dumps(dict(zip(names, row)), ensure_ascii=False) for row in zip(*(cols[c] for c in names))]
            if lines:
                self.stream.write("\n".join(lines) + "\n")
            self.rows += len(lines)


class ParquetWriter(TableWriter):
    """Row groups of at most BLOCK_ROWS rows, through pyarrow."""

    def schema(self):
        import pyarrow as pa

        if self.per == "byte":
            fields = [("doc", pa.int64()), ("record", pa.string()), ("position", pa.int64()), ("byte", pa.uint8())]
            for s in self.stages:
                fields += [(f"p{s}", pa.float32()), (f"boundary{s}", pa.bool_()), (f"chunk{s}", pa.int64())]
        else:
            fields = [("doc", pa.int64()), ("record", pa.string()), ("stage", pa.int16()), ("chunk", pa.int64()),
                      ("start", pa.int64()), ("end", pa.int64()), ("length", pa.int64()),
                      ("boundary_prob", pa.float32()), ("mean_confidence", pa.float32()), ("elements", pa.int64()),
                      ("text", pa.string()), ("bytes", pa.binary())]
        return pa.schema(fields)

    def begin(self):
        import pyarrow.parquet as pq

        self._schema = self.schema()
        self._writer = pq.ParquetWriter(self.stream, self._schema)

    def add(self, seg):
        import pyarrow as pa

        for cols in self.blocks(seg, "parquet"):
            table = pa.table({f.name: pa.array(cols[f.name], type=f.type) for f in self._schema}, schema=self._schema)
            self._writer.write_table(table)
            self.rows += table.num_rows

    def end(self):
        self._writer.close()

    def abort(self):
        # Closed here, while its stream is still open: left to its __del__, pyarrow would
        # write the footer into a closed file and print "Exception ignored".
        writer, self._writer = getattr(self, "_writer", None), None
        if writer is not None:
            try:
                writer.close()
            except Exception:
                pass


TABLE_WRITERS = {"tsv": TsvWriter, "json": JsonLinesWriter, "parquet": ParquetWriter}

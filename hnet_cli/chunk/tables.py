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
import tempfile
from collections import defaultdict
from typing import IO, Iterator

import torch

from hnet_cli.chunk.display import display_text, escape_bytes
from hnet_cli.chunk.pieces import Piece


class ChunkNumbering:
    """Chunk indices per (record, stage), continuing across Documents of the same record."""

    def __init__(self):
        self._next: dict[tuple[str, int], int] = defaultdict(int)

    def take(self, record: str, stage: int, count: int) -> int:
        first = self._next[(record, stage)]
        self._next[(record, stage)] = first + count
        return first


# Rows are built and written in blocks of BLOCK_ROWS counted from each document's start (per stage for
# chunk rows), whatever the windows: a long record never becomes one huge Python list, and Parquet's row
# groups do not depend on where windows fall.
BLOCK_ROWS = 1 << 16


def byte_columns(piece: Piece, stages: list[int], numbering: ChunkNumbering) -> dict[str, list]:
    """The per-byte columns of one window's kept range."""
    doc, n, lo = piece.doc, len(piece.data), piece.start
    cols: dict[str, list] = {
        "doc": [doc.index] * n,
        "record": [doc.record] * n,
        "position": list(range(doc.offset + lo, doc.offset + lo + n)),
        "byte": list(piece.data),
    }
    for s in stages:
        st = piece.stages[s]
        at = st.element_start - lo
        p = torch.full((n,), float("nan"), dtype=torch.float32)
        p[at] = st.boundary_prob.to(torch.float32)
        flags = torch.zeros(n, dtype=torch.bool)
        flags[at[st.starts_chunk]] = True
        first = numbering.take(doc.record, s, int(flags.sum()))
        ids = torch.cumsum(flags.to(torch.int64), 0) + (first - 1)  # bytes before the first start: the chunk before
        cols[f"p{s}"] = [None if v != v else v for v in p.tolist()]  # NaN: no element begins here
        cols[f"boundary{s}"] = flags.tolist()
        cols[f"chunk{s}"] = ids.tolist()
    return cols


def chunk_columns(piece: Piece, stage: int, numbering: ChunkNumbering, text: str = "tsv") -> dict[str, list]:
    """The per-chunk columns of the stage-s chunks a window closed.

    text: "tsv" (escaped), "json" (readable) or "parquet" (readable + exact bytes column).
    """
    doc, closed = piece.doc, piece.chunks[stage]
    table, k = closed.table, len(closed)
    first = numbering.take(doc.record, stage, k)
    starts, ends = table.start.tolist(), table.end.tolist()
    base = starts[0] if k else 0
    pieces = [closed.data[a - base : b - base] for a, b in zip(starts, ends)]
    cols = {
        "doc": [doc.index] * k,
        "record": [doc.record] * k,
        "stage": [stage] * k,
        "chunk": list(range(first, first + k)),
        "start": [doc.offset + a for a in starts],
        "end": [doc.offset + b for b in ends],
        "length": [b - a for a, b in zip(starts, ends)],
        "boundary_prob": table.boundary_prob.tolist(),
        "mean_confidence": table.mean_confidence.tolist(),
        "elements": table.elements.tolist(),
        "text": [escape_bytes(p) if text == "tsv" else display_text(p) for p in pieces],
    }
    if text == "parquet":
        cols["bytes"] = pieces
    return cols


class Blocks:
    """Rows gathered into blocks of `size` rows: columns in, whole blocks out, the rest on `flush`."""

    def __init__(self, size: int = BLOCK_ROWS):
        self.size = size
        self._cols: dict[str, list] | None = None
        self._rows = 0

    def add(self, cols: dict[str, list]) -> Iterator[dict[str, list]]:
        n = len(next(iter(cols.values()))) if cols else 0
        at = 0
        while at < n:
            take = min(n - at, self.size - self._rows)
            part = {c: v[at : at + take] for c, v in cols.items()} if (at, take) != (0, n) else cols
            if self._cols is None:
                self._cols = {c: list(v) for c, v in part.items()}
            else:
                for c, v in part.items():
                    self._cols[c].extend(v)
            self._rows += take
            at += take
            if self._rows == self.size:
                yield self.flush()

    def flush(self) -> dict[str, list] | None:
        cols, self._cols, self._rows = self._cols, None, 0
        return cols


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
    """Writes rows as windows decide them; `per` is "byte" or "chunk".

    Chunk rows are grouped by document, then stage: the first shown stage's rows
    go out as its chunks close, the others wait in a spool until their document ends.
    """

    text = "tsv"  # how the chunk text column is spelled (see chunk_columns)

    def __init__(self, stream: IO, per: str, stages: list[int]):
        self.stream = stream
        self.per = per
        self.stages = stages
        self.numbering = ChunkNumbering()
        self.rows = 0
        self._blocks = {s: Blocks() for s in stages}  # per byte: only stages[0]'s is used
        self._spools: dict[int, object] = {}

    def names(self) -> list[str]:
        return byte_column_names(self.stages) if self.per == "byte" else list(CHUNK_COLUMN_NAMES)

    def begin(self) -> None:
        pass

    def add(self, piece: Piece) -> None:
        if self.per == "byte":
            blocks = self._blocks[self.stages[0]]
            for cols in blocks.add(byte_columns(piece, self.stages, self.numbering)):
                self._write(cols, self.stream)
            if piece.last:
                self._write(blocks.flush(), self.stream)
            return
        for s in self.stages:
            target = self.stream if s == self.stages[0] else self._spool(s)
            for cols in self._blocks[s].add(chunk_columns(piece, s, self.numbering, self.text)):
                self._write(cols, target)
            if piece.last:
                self._write(self._blocks[s].flush(), target)
        if piece.last:
            for s in self.stages[1:]:
                self._replay(self._spools.pop(s))

    def end(self) -> None:
        pass

    def abort(self) -> None:
        """The job failed: release what the writer holds (the output itself is discarded)."""
        for spool in self._spools.values():
            spool.close()
        self._spools.clear()

    # -- one format ---------------------------------------------------------------------
    def _write(self, cols: dict[str, list] | None, target) -> None:
        """One block of rows to the output or a spool."""
        raise NotImplementedError

    def _spool(self, stage: int):
        if stage not in self._spools:
            self._spools[stage] = text_spool()
        return self._spools[stage]

    def _replay(self, spool) -> None:
        copy_spool(spool, self.stream)


def text_spool():
    """Text waiting to be appended: in memory first, on disk past 16 MB."""
    return tempfile.SpooledTemporaryFile(max_size=16 << 20, mode="w+", encoding="utf-8")


def copy_spool(spool, stream) -> None:
    spool.seek(0)
    while True:
        block = spool.read(1 << 20)
        if not block:
            break
        stream.write(block)
    spool.close()


class TsvWriter(TableWriter):
    def begin(self):
        self.stream.write("\t".join(self.names()) + "\n")

    def _write(self, cols, target):
        if not cols:
            return
        names = self.names()
        lines = ["\t".join(_tsv_cell(v) for v in row) for row in zip(*(cols[c] for c in names))]
        if lines:
            target.write("\n".join(lines) + "\n")
        self.rows += len(lines)


class JsonLinesWriter(TableWriter):
    """One JSON object per line (JSON Lines): streams, and `jq -s` makes it one array."""

    text = "json"

    def _write(self, cols, target):
        if not cols:
            return
        names = self.names()
        lines = [json.dumps(dict(zip(names, row)), ensure_ascii=False) for row in zip(*(cols[c] for c in names))]
        if lines:
            target.write("\n".join(lines) + "\n")
        self.rows += len(lines)


class ParquetWriter(TableWriter):
    """Row groups of at most BLOCK_ROWS rows, through pyarrow; later stages' chunk rows wait as Arrow IPC."""

    text = "parquet"

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

    def _write(self, cols, target):
        import pyarrow as pa

        if not cols:
            return
        table = pa.table({f.name: pa.array(cols[f.name], type=f.type) for f in self._schema}, schema=self._schema)
        (self._writer if target is self.stream else target).write_table(table)
        self.rows += table.num_rows

    def _spool(self, stage: int):
        if stage not in self._spools:
            self._spools[stage] = _ArrowSpool(self._schema)
        return self._spools[stage]

    def _replay(self, spool) -> None:
        for table in spool.tables():
            self._writer.write_table(table)  # one block, one row group, as if written directly
        spool.close()

    def end(self):
        self._writer.close()

    def abort(self):
        super().abort()
        # Closed here, while its stream is still open: left to its __del__, pyarrow would
        # write the footer into a closed file and print "Exception ignored".
        writer, self._writer = getattr(self, "_writer", None), None
        if writer is not None:
            try:
                writer.close()
            except Exception:
                pass


class _ArrowSpool:
    """Blocks of rows waiting on disk as an Arrow IPC stream (each block stays one record batch)."""

    def __init__(self, schema):
        import pyarrow as pa

        self._file = tempfile.TemporaryFile()
        self._sink = pa.ipc.new_stream(self._file, schema)

    def write_table(self, table) -> None:
        self._sink.write_table(table)

    def tables(self):
        import pyarrow as pa

        self._sink.close()
        self._file.seek(0)
        for batch in pa.ipc.open_stream(self._file):
            yield pa.Table.from_batches([batch])

    def close(self) -> None:
        self._file.close()


TABLE_WRITERS = {"tsv": TsvWriter, "json": JsonLinesWriter, "parquet": ParquetWriter}

"""Embedding rows to files: Parquet, NumPy .npy / .npz, safetensors, with bounded memory.

Every format holds the same table, one row per item (byte, chunk or document):

    record  start  end  embedding
    the FASTA record (or document name), 0-based half-open record coordinates,
    the vector (float32, d values)

- Parquet: columns `record` (string), `start`, `end` (int64), `embedding`
  (fixed-size list of d float32). Streamed: one row group per 64 Ki rows.
- .npz: arrays `embedding` (N, d) float32, `start`, `end` (N,) int64,
  `record_index` (N,) int32 into `records` (R,) (unicode; np.load reads it
  without pickle).
- .npy: the (N, d) float32 matrix alone (use .npz or Parquet for coordinates).
- safetensors: tensors `embedding`, `start`, `end`, `record_index`; the record
  names are the JSON list `records` in the header's `__metadata__`.

The row count of .npy/.npz/safetensors sits in a header before the data, so
their columns are spooled to temporary files first (in the output's folder, or
$TMPDIR for stdout) and the file is assembled at the end; memory stays at one
block of rows whatever the number of rows.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import tempfile
import zipfile
from pathlib import Path
from typing import IO

import numpy as np  # installed with biopython, a core dependency

from hnet_cli.embed.stream import EmbeddingRows

FORMATS = ("parquet", "npy", "npz", "safetensors")
SUFFIX_FORMATS = {".parquet": "parquet", ".pq": "parquet", ".npy": "npy", ".npz": "npz", ".safetensors": "safetensors"}
ROW_GROUP = 1 << 16
_COPY = 1 << 22


class ParquetEmbeddingWriter:
    """Rows into a Parquet file, a row group at a time."""

    def __init__(self, stream: IO[bytes], dim: int):
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.pa, self.dim, self.rows = pa, dim, 0
        self.schema = pa.schema([("record", pa.string()), ("start", pa.int64()), ("end", pa.int64()),
                                 ("embedding", pa.list_(pa.float32(), dim))])
        self.writer = pq.ParquetWriter(stream, self.schema)
        self._blocks: list[EmbeddingRows] = []
        self._pending = 0

    def add(self, rows: EmbeddingRows) -> None:
        self._blocks.append(rows)
        self._pending += len(rows)
        if self._pending >= ROW_GROUP:
            self._flush()

    def _flush(self) -> None:
        if not self._blocks:
            return
        pa = self.pa
        records = [b.record for b in self._blocks for _ in range(len(b))]
        start = np.concatenate([b.start.numpy() for b in self._blocks])
        end = np.concatenate([b.end.numpy() for b in self._blocks])
        flat = np.concatenate([b.vectors.numpy().reshape(-1) for b in self._blocks]).astype(np.float32, copy=False)
        vectors = pa.FixedSizeListArray.from_arrays(pa.array(flat, pa.float32()), self.dim)
        table = pa.Table.from_arrays([pa.array(records, pa.string()), pa.array(start), pa.array(end), vectors],
                                     schema=self.schema)
        self.writer.write_table(table)
        self.rows += len(records)
        self._blocks, self._pending = [], 0

    def end(self) -> None:
        self._flush()
        self.writer.close()


class SpooledEmbeddingWriter:
    """Columns spooled to temporary files, assembled into .npy, .npz or safetensors at the end."""

    COLUMNS = (("embedding", np.float32), ("start", np.int64), ("end", np.int64), ("record_index", np.int32))

    def __init__(self, stream: IO[bytes], fmt: str, dim: int, spool_dir: str | None = None):
        self.stream, self.fmt, self.dim, self.rows = stream, fmt, dim, 0
        self.records: list[str] = []
        self._record_ids: dict[str, int] = {}
        wanted = self.COLUMNS[:1] if fmt == "npy" else self.COLUMNS
        self._spools = {name: tempfile.TemporaryFile(dir=spool_dir) for name, _ in wanted}

    def add(self, rows: EmbeddingRows) -> None:
        k = len(rows)
        if rows.record not in self._record_ids:
            self._record_ids[rows.record] = len(self.records)
            self.records.append(rows.record)
        columns = {"embedding": rows.vectors.numpy().astype(np.float32, copy=False),
                   "start": rows.start.numpy().astype(np.int64, copy=False),
                   "end": rows.end.numpy().astype(np.int64, copy=False),
                   "record_index": np.full(k, self._record_ids[rows.record], dtype=np.int32)}
        for name, spool in self._spools.items():
            spool.write(np.ascontiguousarray(columns[name]).astype(np.dtype(columns[name].dtype).newbyteorder("<"),
                                                                    copy=False).tobytes())
        self.rows += k

    def _shape(self, name: str) -> tuple[int, ...]:
        return (self.rows, self.dim) if name == "embedding" else (self.rows,)

    def _copy(self, name: str, out: IO[bytes]) -> None:
        spool = self._spools[name]
        spool.seek(0)
        shutil.copyfileobj(spool, out, _COPY)

    def end(self) -> None:
        try:
            if self.fmt == "npy":
                self._npy("embedding", self.stream)
            elif self.fmt == "npz":
                self._npz()
            else:
                self._safetensors()
        finally:
            for spool in self._spools.values():
                spool.close()

    def _npy(self, name: str, out: IO[bytes]) -> None:
        dtype = dict(self.COLUMNS)[name]
        np.lib.format.write_array_header_1_0(
            out, {"descr": np.dtype(dtype).newbyteorder("<").str, "fortran_order": False, "shape": self._shape(name)})
        self._copy(name, out)

    def _npz(self) -> None:
        # zipfile streams entries (data descriptors), so stdout works too; ZIP64 for large arrays.
        with zipfile.ZipFile(self.stream, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
            for name, _ in self.COLUMNS:
                with archive.open(f"{name}.npy", "w", force_zip64=True) as entry:
                    self._npy(name, entry)
            with archive.open("records.npy", "w", force_zip64=True) as entry:
                np.lib.format.write_array(entry, np.array(self.records, dtype=str), allow_pickle=False)

    def _safetensors(self) -> None:
        # Written by hand: the safetensors library saves tensors held in memory only, and
        # its format (8-byte little-endian header size, JSON header, raw little-endian
        # data) lets the columns stream from their spools.
        kinds = {np.float32: ("F32", 4), np.int64: ("I64", 8), np.int32: ("I32", 4)}
        header, offset = {}, 0
        for name, dtype in self.COLUMNS:
            code, size = kinds[dtype]
            shape = list(self._shape(name))
            nbytes = size * int(np.prod(shape)) if shape else 0
            header[name] = {"dtype": code, "shape": shape, "data_offsets": [offset, offset + nbytes]}
            offset += nbytes
        header["__metadata__"] = {"records": json.dumps(self.records), "format": "hnet embeddings"}
        text = json.dumps(header, separators=(",", ":")).encode()
        text += b" " * (-len(text) % 8)  # keep the data 8-byte aligned
        self.stream.write(struct.pack("<Q", len(text)) + text)
        for name, _ in self.COLUMNS:
            self._copy(name, self.stream)


def resolve_format(fmt: str, output: str) -> str:
    from hnet_cli.errors import ConfigError

    if fmt == "auto":
        suffix = Path(output.lower()).suffix
        if suffix in SUFFIX_FORMATS:
            return SUFFIX_FORMATS[suffix]
        if output == "-":
            raise ConfigError("give --format (parquet, npy, npz, safetensors) when writing to stdout")
        raise ConfigError(f"{output}: cannot tell the format from the suffix; use .parquet, .npy, .npz or "
                          f".safetensors, or give --format")
    if fmt not in FORMATS:
        raise ConfigError(f"unknown --format {fmt!r}; choose one of {', '.join(FORMATS)}")
    return fmt


def open_writer(fmt: str, stream: IO[bytes], dim: int, output: str):
    if fmt == "parquet":
        return ParquetEmbeddingWriter(stream, dim)
    spool_dir = None if output == "-" else (os.path.dirname(os.path.abspath(output)) or None)
    return SpooledEmbeddingWriter(stream, fmt, dim, spool_dir)

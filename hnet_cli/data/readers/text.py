"""Text documents from plain files, JSON Lines and Parquet.

Document boundaries are the corpus's own: a plain file is one Document (or
one per paragraph or line, with `split`), a JSONL line or a Parquet row is one
Document. Documents longer than `max_bytes` are cut at line ends into pieces
that carry meta["continues"] = True, so memory stays bounded for any file.
Each reader counts what it skips in the ReadStats it is given (empty
documents, null values, rows without the field when `on_missing="skip"`).
"""

from __future__ import annotations

import re
import unicodedata
from typing import BinaryIO, Iterator

from hnet_cli import jsonio
from hnet_cli.data.documents import Document
from hnet_cli.data.readers.decoding import apply_policy_to_escaped, decode_to_utf8, is_utf8, transcode_to_utf8
from hnet_cli.data.readers.sources import STDIN, read_errors
from hnet_cli.data.readers.stats import ReadStats
from hnet_cli.errors import InputError

SPLIT_MODES = ("file", "paragraph", "line")
MISSING_POLICIES = ("error", "skip")

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _utf8_boundary(piece: bytes) -> int:
    """Length of `piece` without a UTF-8 character cut off at its end."""
    end = len(piece)
    back = 0
    while back < 4 and end - back - 1 >= 0 and 0x80 <= piece[end - back - 1] < 0xC0:
        back += 1
    if end - back - 1 >= 0 and piece[end - back - 1] >= 0xC0:
        lead = piece[end - back - 1]
        need = 2 if lead < 0xE0 else 3 if lead < 0xF0 else 4
        if back + 1 < need:
            return end - back - 1
    return end


def _lines(stream: BinaryIO, limit: int) -> Iterator[bytes]:
    """Lines of at most `limit` bytes of UTF-8 (a longer line comes in parts, cut between characters)."""
    carry = b""
    while True:
        line = stream.readline(limit - len(carry))  # with the carried bytes, at most `limit`
        if not line:
            if carry:
                yield carry
            return
        if carry:
            line, carry = carry + line, b""
        if not line.endswith(b"\n") and len(line) >= limit:
            cut = _utf8_boundary(line)
            line, carry = line[:cut], line[cut:]
        if line:
            yield line


def iter_text(
    stream: BinaryIO,
    path: str,
    name: str,
    stats: ReadStats,
    *,
    split: str = "file",
    max_bytes: int = 8 << 20,
    encoding: str = "utf-8",
    errors: str = "error",
    normalize: str = "none",
) -> Iterator[Document]:
    """Documents of a plain text file: the whole file, or each paragraph / line."""
    escaped = not is_utf8(encoding)
    if escaped:  # lines are split and cut in UTF-8, never inside a character of the source encoding
        stream = transcode_to_utf8(stream, encoding)
    parts: list[bytes] = []
    size = 0
    first_line = 1
    line_no = 0
    pieces = 0

    def emit(continues: bool) -> Iterator[Document]:
        nonlocal parts, size, pieces
        raw = b"".join(parts)
        parts, size = [], 0
        if split == "line":
            raw = raw.rstrip(b"\r\n")
        label = name if split == "file" and pieces == 0 and not continues else f"{name}:{first_line}"
        pieces += 1
        if not raw.strip():
            stats.skip("empty document", f"{path}:{first_line}")
            return
        data = decode_to_utf8(
            raw,
            path=path,
            stats=stats,
            where=f"{path}:{first_line}",
            encoding=encoding,
            errors=errors,
            normalize=normalize,
            first_line=first_line,
            strip_bom=first_line == 1,
            escaped=escaped,
        )
        if data is not None:
            meta = {"line": first_line}
            if continues:
                meta["continues"] = True
            yield stats.yielded(Document(data, path, label, meta))

    with read_errors(path, lambda: line_no + 1):
        for line in _lines(stream, max_bytes):
            if split != "file" and not line.strip():
                line_no += line.endswith(b"\n")
                if parts:
                    yield from emit(False)
                first_line = line_no + 1
                continue
            if parts and size + len(line) > max_bytes:
                yield from emit(split == "file")
                first_line = line_no + 1
            if not parts:
                first_line = line_no + 1
            parts.append(line)
            size += len(line)
            line_no += line.endswith(b"\n")
            if split == "line" and line.endswith(b"\n"):
                yield from emit(False)
        if parts or (split == "file" and pieces == 0):
            yield from emit(False)


def _finish_text(text: str, path: str, line: int, errors: str, normalize: str, stats: ReadStats) -> bytes | None:
    """A decoded string -> UTF-8 for the model (normalised; lone surrogates per policy)."""
    if normalize != "none" and not unicodedata.is_normalized(normalize, text):
        text = unicodedata.normalize(normalize, text)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        # JSON can spell a lone surrogate ("\ud800"), which is not encodable text.
        if errors == "error":
            raise InputError(
                path, "a lone surrogate escape in a JSON string; choose --domain-opt errors=replace or errors=skip", line=line
            ) from None
        if errors == "skip":
            stats.skip("invalid UTF-8", f"{path}:{line}")
            return None
        text, n = _LONE_SURROGATE.subn("\ufffd", text)
        stats.replaced += n
        return text.encode("utf-8")


def _lookup(obj: dict, field: str):
    """obj["a"]["b"] for field "a.b" (a field literally named "a.b" wins)."""
    if field in obj:
        return obj[field]
    value = obj
    for key in field.split("."):
        if not isinstance(value, dict) or key not in value:
            raise KeyError(field)
        value = value[key]
    return value


def iter_jsonl(
    stream: BinaryIO,
    path: str,
    name: str,
    stats: ReadStats,
    *,
    field: str = "text",
    on_missing: str = "error",
    encoding: str = "utf-8",
    errors: str = "error",
    normalize: str = "none",
) -> Iterator[Document]:
    """One Document per JSON Lines row: the string in `field` (dotted for nested objects)."""
    line_no = 0
    escaped = not is_utf8(encoding)
    if escaped:  # lines are split in UTF-8 (a UTF-16 newline is two bytes)
        stream = transcode_to_utf8(stream, encoding)
    with read_errors(path, lambda: line_no):
        for raw in stream:
            line_no += 1
            if not raw.strip():
                continue
            if escaped:
                line = apply_policy_to_escaped(raw.decode("utf-8", "surrogatepass"), path=path, stats=stats,
                                               where=f"{path}:{line_no}", encoding=encoding, errors=errors,
                                               first_line=line_no)
                if line is None:
                    continue
            else:
                try:
                    line = raw.decode(encoding)
                except UnicodeDecodeError as exc:
                    if errors == "error":
                        raise InputError(
                            path,
                            f"invalid {encoding} at byte {exc.start} of the line; choose a policy with "
                            "--domain-opt errors=replace or errors=skip",
                            line=line_no,
                        ) from None
                    if errors == "skip":
                        stats.skip(f"invalid {encoding}", f"{path}:{line_no}")
                        continue
                    line = raw.decode(encoding, "replace")
                    stats.replaced += line.count("\ufffd") - (raw.count("\ufffd".encode()) if is_utf8(encoding) else 0)
            try:
                row = jsonio.loads(line)
            except jsonio.JSONDecodeError as exc:
                raise InputError(path, f"invalid JSON: {exc.msg} (column {exc.colno})", line=line_no) from None
            if not isinstance(row, dict):
                raise InputError(path, f"a JSON {type(row).__name__}, not an object with a {field!r} field", line=line_no)
            try:
                value = _lookup(row, field)
            except KeyError:
                value = None
                missing = f"no field {field!r} in this row (fields: {', '.join(list(row)[:8]) or 'none'})"
            else:
                missing = f"field {field!r} is null" if value is None else None
            if value is None:
                if on_missing == "error":
                    raise InputError(path, f"{missing}; choose the field with --domain-opt field=NAME "
                                     "or skip such rows with --domain-opt on_missing=skip", line=line_no)
                stats.skip(f"missing field {field!r}", f"{path}:{line_no}")
                continue
            if not isinstance(value, str):
                raise InputError(path, f"field {field!r} holds a JSON {type(value).__name__}, not a string", line=line_no)
            if not value.strip():
                stats.skip("empty document", f"{path}:{line_no}")
                continue
            data = _finish_text(value, path, line_no, errors, normalize, stats)
            if data is not None:
                yield stats.yielded(Document(data, path, f"{name}:{line_no}", {"line": line_no}))


def iter_parquet(
    path: str,
    name: str,
    stats: ReadStats,
    *,
    column: str = "text",
    errors: str = "error",
    normalize: str = "none",
    batch_rows: int = 1024,
) -> Iterator[Document]:
    """One Document per row of a text column, streamed a batch of rows at a time through pyarrow."""
    import pyarrow as pa  # imported here: keeps `hnet --help` fast
    import pyarrow.parquet as pq

    if path == STDIN:
        raise InputError(path, "Parquet needs a file it can seek in; stdin is not supported (save it to a file)")
    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise InputError(path, f"not a readable Parquet file: {exc}") from None
    schema = parquet.schema_arrow
    if column not in schema.names:
        raise InputError(
            path,
            f"no column {column!r} (columns: {', '.join(schema.names[:12]) or 'none'}); "
            "choose one with --domain-opt column=NAME",
        )
    kind = schema.field(column).type
    text_column = pa.types.is_string(kind) or pa.types.is_large_string(kind)
    if not text_column and not (pa.types.is_binary(kind) or pa.types.is_large_binary(kind)):
        raise InputError(path, f"column {column!r} holds {kind}, not text")
    if parquet.metadata.num_rows == 0:
        stats.skip("empty file", path)
        return
    row = 0
    try:
        for batch in parquet.iter_batches(batch_size=batch_rows, columns=[column]):
            for value in batch.column(0).to_pylist():
                row += 1
                where = f"{path} (row {row})"
                if value is None:
                    stats.skip("null value", where)
                    continue
                if text_column:
                    data = _finish_text(value, path, row, errors, normalize, stats) if value.strip() else b""
                else:
                    data = decode_to_utf8(
                        value, path=path, stats=stats, where=where, errors=errors, normalize=normalize
                    )
                if data is None:
                    continue
                if not data.strip():
                    stats.skip("empty document", where)
                    continue
                yield stats.yielded(Document(data, path, f"{name}:row{row}", {"row": row}))
    except pa.ArrowException as exc:
        raise InputError(path, f"cannot read Parquet data: {exc}", record=f"row {row + 1}") from None

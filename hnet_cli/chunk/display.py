"""Bytes as something a person can look at: characters, with unprintable bytes made safe.

The model works on bytes, so a chunk boundary can fall inside a multi-byte
UTF-8 character. The views (terminal, HTML) show whole characters: a
character is drawn in the chunk that holds its first byte, and a boundary
inside it is marked, not drawn. Exact bytes are in the tables and BED.

`escape_bytes` is the lossless, tab-safe spelling used in TSV cells.
"""

from __future__ import annotations

from dataclasses import dataclass

NONPRINTABLE = "·"  # shown for control bytes, invalid UTF-8 and invisible characters
NEWLINE = "↵"
TAB = "→"


@dataclass
class Units:
    """A document split into display units (a character, or one byte that is not one).

    start: byte offset of each unit; text: what to draw; safe: False where the
    unit stands for bytes that are not printable text (drawn as NONPRINTABLE).
    newline: True for units that end a line.
    """

    start: list[int]
    text: list[str]
    safe: list[bool]
    newline: list[bool]

    def __len__(self) -> int:
        return len(self.start)


def _utf8_len(ch: str) -> int:
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:  # surrogateescape: one undecodable byte
        return 1
    return 1 if code < 0x80 else 2 if code < 0x800 else 3 if code < 0x10000 else 4


def display_units(data: bytes) -> Units:
    # decode with surrogateescape keeps a one-to-one map from characters back to bytes
    text = data.decode("utf-8", "surrogateescape")
    starts, texts, safe, newline = [], [], [], []
    pos = 0
    for ch in text:
        starts.append(pos)
        pos += _utf8_len(ch)
        if ch == "\n":
            texts.append(NEWLINE)
            safe.append(True)
            newline.append(True)
            continue
        newline.append(False)
        if ch == "\t":
            texts.append(TAB)
            safe.append(True)
        elif ch == " " or ch.isprintable():
            texts.append(ch)
            safe.append(True)
        else:
            texts.append(NONPRINTABLE)
            safe.append(False)
    return Units(starts, texts, safe, newline)


_TSV_ESCAPES = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"}


def escape_bytes(data: bytes) -> str:
    """Printable text as is; backslash, tab, CR, LF, other controls and invalid UTF-8 as escapes.

    Reversible (backslash itself is escaped), and never contains a tab or a newline.
    """
    out = []
    for ch in data.decode("utf-8", "surrogateescape"):
        code = ord(ch)
        if ch in _TSV_ESCAPES:
            out.append(_TSV_ESCAPES[ch])
        elif 0xDC80 <= code <= 0xDCFF:
            out.append(f"\\x{code - 0xDC00:02x}")
        elif ch == " " or ch.isprintable():
            out.append(ch)
        else:
            out.append("".join(f"\\x{b:02x}" for b in ch.encode("utf-8")))
    return "".join(out)


def display_text(data: bytes) -> str:
    """Readable text for JSON/Parquet: UTF-8 where valid, invalid bytes as \\xNN."""
    return data.decode("utf-8", "backslashreplace")

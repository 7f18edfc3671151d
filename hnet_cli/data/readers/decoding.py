"""Bytes of some text encoding -> the UTF-8 bytes a model trains on.

The policy for invalid input is explicit (`errors`):
  "error"   stop with an InputError naming file, line and byte (the default
            for text: a corpus with broken bytes is usually a wrong encoding);
  "replace" put U+FFFD in place of each invalid sequence, counted in
            `ReadStats.replaced`;
  "skip"    leave the whole document out, counted in `ReadStats.skipped`
            under "invalid <encoding>".
Optional Unicode normalisation (NFC, NFKC, ...) runs after decoding.

`detect_cjk_encoding` tells UTF-8 from GB18030/GBK for Chinese corpora (see
its docstring for the rule).
"""

from __future__ import annotations

import codecs
import io
import re
import unicodedata

from hnet_cli.data.readers.stats import ReadStats
from hnet_cli.errors import InputError

ERROR_POLICIES = ("error", "replace", "skip")
NORMALIZATIONS = ("none", "NFC", "NFKC", "NFD", "NFKD")

_REPLACEMENT_UTF8 = "\ufffd".encode()
# UTF-8 continuation bytes 0b10xxxxxx: every other byte starts a character.
_CONTINUATION_BYTES = bytes(range(0x80, 0xC0))


# Bytes a source decoder could not read, carried through as surrogateescape's lone
# surrogates U+DC80..U+DCFF (written with surrogatepass: never valid UTF-8).
_ESCAPED = re.compile("[\udc80-\udcff]")


class _Transcoder(io.RawIOBase):
    """A binary stream of text in some encoding, read as UTF-8 (bad bytes escaped, see above)."""

    def __init__(self, raw, encoding: str, block: int = 1 << 16):
        self._raw = raw
        self._decoder = codecs.getincrementaldecoder(encoding)("surrogateescape")
        self._block = block
        self._pending = b""
        self._eof = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._pending and not self._eof:
            chunk = self._raw.read(self._block)
            self._eof = not chunk
            self._pending = self._decoder.decode(chunk, final=self._eof).encode("utf-8", "surrogatepass")
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n


def transcode_to_utf8(stream, encoding: str):
    """`stream` (bytes in `encoding`) as a buffered stream of UTF-8 bytes.

    Readers split lines and cut long ones in UTF-8, where a newline byte is a
    newline and character boundaries are known; splitting GB18030 or UTF-16
    bytes directly cuts inside characters (UTF-16's "\n" is two bytes, and
    0x0A occurs inside other characters). Bytes the source encoding cannot
    decode are kept, escaped, for `decode_to_utf8(escaped=True)` to apply the
    errors policy to the document that holds them.
    """
    return io.BufferedReader(_Transcoder(stream, encoding), buffer_size=1 << 16)


def apply_policy_to_escaped(
    text: str, *, path: str, stats: ReadStats, where: str, encoding: str, errors: str, first_line: int
) -> str | None:
    """Text from a transcoded stream: the errors policy for the source bytes it could not decode."""
    bad = _ESCAPED.search(text)
    if bad is None:
        return text
    if errors == "error":
        line = first_line + text.count("\n", 0, bad.start())
        raw = bytes(ord(c) - 0xDC00 for c in text[bad.start() : bad.start() + 4] if "\udc80" <= c <= "\udcff")
        raise InputError(
            path,
            f"invalid {encoding} ({raw!r} ...); choose a policy with --domain-opt errors=replace "
            "or errors=skip, or declare the encoding",
            line=line,
        )
    if errors == "skip":
        stats.skip(f"invalid {encoding}", where)
        return None
    text, n = _ESCAPED.subn("\ufffd", text)  # one U+FFFD per byte that could not be read
    stats.replaced += n
    return text


def is_utf8(encoding: str) -> bool:
    return encoding.lower().replace("-", "_") in {"utf_8", "utf8"}


def count_utf8_chars(data: bytes) -> int:
    """Characters in UTF-8 bytes: the bytes that are not continuation bytes."""
    return len(data.translate(None, _CONTINUATION_BYTES))


def decode_to_utf8(
    data: bytes,
    *,
    path: str,
    stats: ReadStats,
    where: str,
    encoding: str = "utf-8",
    errors: str = "error",
    normalize: str = "none",
    first_line: int = 1,
    strip_bom: bool = False,
    escaped: bool = False,
) -> bytes | None:
    """Decode one document and return it as UTF-8, or None if the policy skips it.

    path/first_line locate the document for error messages (its first line's
    number in the file); `where` names it in the skip examples. escaped: the
    data comes from `transcode_to_utf8` (UTF-8 already; `encoding` names the
    source for messages).
    """
    if escaped:
        text = apply_policy_to_escaped(data.decode("utf-8", "surrogatepass"), path=path, stats=stats, where=where,
                                       encoding=encoding, errors=errors, first_line=first_line)
        if text is None:
            return None
        if strip_bom and text.startswith("\ufeff"):
            text = text[1:]
        if normalize != "none" and not unicodedata.is_normalized(normalize, text):
            text = unicodedata.normalize(normalize, text)
        return text.encode("utf-8")
    utf8 = is_utf8(encoding)
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        if errors == "error":
            line = first_line + data.count(b"\n", 0, exc.start)
            bad = data[exc.start : exc.start + 4]
            raise InputError(
                path,
                f"invalid {encoding} ({bad!r} ...); choose a policy with --domain-opt errors=replace "
                "or errors=skip, or declare the encoding",
                line=line,
            ) from None
        if errors == "skip":
            stats.skip(f"invalid {encoding}", where)
            return None
        text = data.decode(encoding, "replace")
        genuine = data.count(_REPLACEMENT_UTF8) if utf8 else 0
        stats.replaced += text.count("\ufffd") - genuine
    else:
        if utf8 and normalize == "none" and not (strip_bom and data.startswith(codecs.BOM_UTF8)):
            return data  # already what the model sees: no need to re-encode
    if strip_bom and text.startswith("\ufeff"):
        text = text[1:]
    if normalize != "none" and not unicodedata.is_normalized(normalize, text):
        text = unicodedata.normalize(normalize, text)
    return text.encode("utf-8")


def _cjk_fraction(text: str) -> float:
    """Share of the non-ASCII characters that are CJK ideographs or CJK punctuation."""
    non_ascii = [c for c in text if ord(c) > 0x7F]
    if not non_ascii:
        return 0.0
    cjk = sum(
        1
        for c in non_ascii
        if "\u4e00" <= c <= "\u9fff"  # CJK Unified Ideographs
        or "\u3400" <= c <= "\u4dbf"  # Extension A
        or "\u3000" <= c <= "\u303f"  # CJK symbols and punctuation
        or "\uff00" <= c <= "\uffef"  # full-width forms
    )
    return cjk / len(non_ascii)


def detect_cjk_encoding(head: bytes) -> str:
    """"utf-8" or "gb18030" for the first bytes of a Chinese text file.

    The rule: valid UTF-8 is UTF-8. If fewer than 1 in 10 of the non-ASCII
    characters are invalid it is still UTF-8 with some corrupt bytes (left to
    the `errors` policy). Otherwise, if the bytes decode as GB18030 (a
    superset of GBK and GB2312) and at least half of the non-ASCII
    characters come out as CJK ideographs or punctuation, it is GB18030.
    Anything else is treated as UTF-8, so the errors policy reports it.
    Big5 cannot be told from GBK this way and must be declared.
    """
    try:
        codecs.getincrementaldecoder("utf-8")("strict").decode(head, final=False)
        return "utf-8"
    except UnicodeDecodeError:
        pass
    as_utf8 = head.decode("utf-8", "replace")
    invalid = as_utf8.count("\ufffd")
    non_ascii = sum(1 for c in as_utf8 if ord(c) > 0x7F)
    if invalid * 10 < non_ascii:
        return "utf-8"
    try:
        as_gb = codecs.getincrementaldecoder("gb18030")("strict").decode(head, final=False)
    except UnicodeDecodeError:
        return "utf-8"
    return "gb18030" if _cjk_fraction(as_gb) >= 0.5 else "utf-8"

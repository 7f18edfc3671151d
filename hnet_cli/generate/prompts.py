"""Where prompts come from, and what makes one invalid.

- one prompt given directly (the `--prompt` text, or all of stdin);
- a prompt file (or `-` for stdin), read by content:
  JSON Lines (a `.jsonl`/`.ndjson` name, or a field named with `field`): one
  object per line, the prompt in `field` (default "prompt", else "text");
  FASTA (sequence domains, content starting with '>'): one prompt per record,
  named by the record id; otherwise plain lines: one prompt per non-blank line.
  gzip/xz/bzip2 files are read transparently.

Prompts are bytes. Text domains need them to be valid UTF-8 (an error names
the file, line and byte offset otherwise); sequence domains (DNA) drop ASCII
whitespace so a pasted, wrapped sequence works. No prompt may contain the
BOS/EOS bytes 254/255: the model reads them as document boundaries.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

from hnet_cli import jsonio
from hnet_cli.data.readers.fasta import iter_fasta
from hnet_cli.data.readers.sources import STDIN, open_input, read_errors
from hnet_cli.errors import InputError
from hnet_cli.model.hnet import BOS, EOS

JSONL_SUFFIXES = (".jsonl", ".ndjson", ".jsonl.gz", ".ndjson.gz")
DEFAULT_FIELDS = ("prompt", "text")
_WHITESPACE = b" \t\r\n\v\f"


@dataclass(frozen=True)
class Prompt:
    """One prompt: its bytes (BOS is added by the generator), a name for output headers, its position."""

    data: bytes
    name: str
    index: int
    source: str = "--prompt"
    line: int | None = None


def prompt_from_argument(text: str, index: int = 0) -> Prompt:
    """The `--prompt` text as bytes: os.fsencode gives back exactly the bytes the shell passed."""
    return Prompt(os.fsencode(text), "1", index, "--prompt")


def prompt_from_stdin(stream=None) -> Prompt:
    """All of stdin is one prompt; one final newline (as `echo` adds) is dropped."""
    stream = stream or sys.stdin.buffer
    with read_errors(STDIN):
        data = stream.read()
    if data.endswith(b"\r\n"):
        data = data[:-2]
    elif data.endswith(b"\n"):
        data = data[:-1]
    return Prompt(data, "1", 0, "stdin")


def read_prompt_file(path: str, field: str | None = None, sequences: bool = False) -> list[Prompt]:
    """The prompts of a file (or stdin for "-"); InputError if it holds none."""
    shown = "stdin" if path == STDIN else path
    if path != STDIN and not os.path.exists(path):
        raise InputError(path, "prompt file not found")
    with open_input(path) as stream, read_errors(path):
        data = stream.read()
    name = os.path.basename(path).lower()
    if field is not None or name.endswith(JSONL_SUFFIXES):
        prompts = _jsonl_prompts(data, shown, field)
    elif sequences and data.lstrip().startswith(b">"):
        prompts = _fasta_prompts(data, shown)
    else:
        prompts = _line_prompts(data, shown)
    if not prompts:
        what = "is empty" if not data else "has only blank lines" if not data.strip() else "holds no prompts"
        raise InputError(shown, f"prompt file {what}")
    return prompts


def _line_prompts(data: bytes, source: str) -> list[Prompt]:
    prompts = []
    for number, line in enumerate(data.split(b"\n"), start=1):
        line = line.rstrip(b"\r")
        if line.strip():
            prompts.append(Prompt(line, str(number), len(prompts), source, number))
    return prompts


def _jsonl_prompts(data: bytes, source: str, field: str | None) -> list[Prompt]:
    fields = (field,) if field is not None else DEFAULT_FIELDS
    prompts = []
    for number, line in enumerate(data.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            obj = jsonio.loads(line)
        except (jsonio.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InputError(source, f"not valid JSON ({exc.__class__.__name__}: {exc})".split("\n")[0], line=number) from None
        if not isinstance(obj, dict):
            raise InputError(source, "expected a JSON object per line", line=number)
        key = next((k for k in fields if k in obj), None)
        if key is None:
            raise InputError(source, f"no field {' or '.join(repr(k) for k in fields)} (use --prompt-field)", line=number)
        if not isinstance(obj[key], str):
            raise InputError(source, f"field {key!r} is a {type(obj[key]).__name__}, not a string", line=number)
        name = str(obj["id"]) if "id" in obj else str(number)
        # surrogatepass: a JSON "\udcff" escape cannot smuggle bytes in unnoticed; it fails UTF-8 checks later.
        prompts.append(Prompt(obj[key].encode("utf-8", "surrogatepass"), name, len(prompts), source, number))
    return prompts


def _fasta_prompts(data: bytes, source: str) -> list[Prompt]:
    """One prompt per FASTA record, read by the dna domain's FASTA parser (errors name the line)."""
    import io

    records: dict[int, tuple[str, bytearray]] = {}
    for number, header, bases in iter_fasta(io.BytesIO(data), source):
        if number not in records:
            records[number] = (header.split()[0], bytearray())
        records[number][1].extend(bases)
    return [Prompt(bytes(bases), name, i, source) for i, (name, bases) in enumerate(records.values())]


def check_prompt(prompt: Prompt, text: bool) -> Prompt:
    """Validate one prompt for a text (UTF-8) or sequence domain; returns it cleaned.

    Sequence prompts lose their ASCII whitespace. InputError names the source,
    line and byte offset of a problem.
    """
    data = prompt.data
    if not text:
        data = data.translate(None, _WHITESPACE)
    for special, what in ((BOS, "BOS"), (EOS, "EOS")):
        at = data.find(bytes((special,)))
        if at >= 0:
            raise InputError(prompt.source, f"prompt contains byte 0x{special:X} ({what}) at offset {at}; "
                             "it marks document boundaries and cannot be part of a prompt", line=prompt.line)
    if text:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(prompt.source, f"prompt is not valid UTF-8 (byte 0x{data[exc.start]:02X} at offset "
                             f"{exc.start}); text models take UTF-8 prompts", line=prompt.line) from None
    if data is prompt.data:
        return prompt
    return Prompt(data, prompt.name, prompt.index, prompt.source, prompt.line)

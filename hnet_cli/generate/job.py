"""`hnet generate` as one library call: prompts + model + sampling -> formatted output on a stream.

What depends on the domain:
- sequence domains (`Domain.sequence`, e.g. dna) write FASTA by default, restrict
  sampling to FASTA letters in FASTA output, and strip whitespace from prompts;
- every other domain is text: prompts must be valid UTF-8, output is text.
The domain comes from `hnet_cli.run.resolve`: `--domain`, else what `hnet
train` recorded (RUN/run.json, or "domain" in the safetensors metadata), else text.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from typing import Sequence

import torch

from hnet_cli.generate.engine import GenerationStats, generate_stream
from hnet_cli.generate.prompts import (
    Prompt,
    check_prompt,
    prompt_from_argument,
    prompt_from_stdin,
    read_prompt_file,
)
from hnet_cli.generate.sampling import SamplingParams
from hnet_cli.generate.writers import FASTA_LETTERS, make_writer

FORMATS = ("auto", "text", "fasta", "jsonl")
def is_sequence_domain(domain) -> bool:
    return bool(domain.sequence)


def collect_prompts(
    prompt: str | None,
    prompt_file: str | None,
    field: str | None = None,
    sequences: bool = False,
    stdin=None,
) -> list[Prompt]:
    """Prompts from --prompt (text, or "-" for all of stdin), --prompt-file, or stdin.

    With neither: stdin when it is not a terminal, else one empty prompt
    (generation from BOS alone), validated for the domain kind.
    """
    from hnet_cli.errors import ConfigError

    if prompt is not None and prompt_file is not None:
        raise ConfigError("give --prompt or --prompt-file, not both")
    stdin = stdin if stdin is not None else sys.stdin
    if prompt_file is not None:
        prompts = read_prompt_file(prompt_file, field=field, sequences=sequences)
    elif prompt == "-":
        prompts = [prompt_from_stdin(stdin.buffer)]
    elif prompt is not None:
        prompts = [prompt_from_argument(prompt)]
    elif stdin is not None and not _isatty(stdin):
        prompts = [prompt_from_stdin(stdin.buffer)]
    else:
        prompts = [Prompt(b"", "1", 0, "--prompt")]
    return [check_prompt(p, text=not sequences) for p in prompts]


def _isatty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError, OSError):
        return False


def resolve_format(format: str, sequences: bool) -> str:
    from hnet_cli.errors import ConfigError

    if format not in FORMATS:
        raise ConfigError(f"unknown --format {format!r}; use one of {', '.join(FORMATS)}")
    if format == "auto":
        return "fasta" if sequences else "text"
    return format


def fasta_params(params: SamplingParams) -> SamplingParams:
    """FASTA output samples only FASTA letters (intersected with any --alphabet)."""
    from hnet_cli.errors import ConfigError

    letters = set(FASTA_LETTERS)
    alphabet = letters if params.alphabet is None else letters & set(params.alphabet)
    if not alphabet:
        raise ConfigError("--alphabet has no letter that can appear in a FASTA sequence")
    return replace(params, alphabet=bytes(sorted(alphabet)))


def write_samples(
    stream,
    model,
    prompts: Sequence[Prompt],
    params: SamplingParams,
    format: str = "text",
    num_samples: int = 1,
    batch_size: int = 16,
    echo: bool = True,
    width: int = 60,
    dtype: torch.dtype = torch.float32,
) -> GenerationStats:
    """Generate and write every sample to the binary `stream` as it is produced; return the stats."""
    if format == "fasta":
        params = fasta_params(params)
    stats = GenerationStats()
    headers = format == "text" and len(prompts) * num_samples > 1
    writer = make_writer(format, stream, echo=echo, headers=headers, width=width)
    for event in generate_stream(model, prompts, params, num_samples=num_samples, batch_size=batch_size,
                                 record_boundaries=format == "jsonl", dtype=dtype, stats=stats):
        writer.handle(event)
    writer.close()
    return stats

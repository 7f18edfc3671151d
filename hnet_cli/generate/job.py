"""`hnet generate` as one library call: prompts + model + sampling -> formatted output on a stream.

    from hnet_cli.generate.job import GenerateRequest, run_generate
    result = run_generate(GenerateRequest(model="runs/dna", prompt="ACGT", num_samples=4, output="out.fa"))
    result.stats.bytes_per_second, result.seed

`write_samples` is the same on an open stream with a loaded model.

What depends on the domain:
- sequence domains (`Domain.sequence`, e.g. dna) write FASTA by default, restrict
  sampling to FASTA letters in FASTA output, and strip whitespace from prompts;
- every other domain is text: prompts must be valid UTF-8, output is text.
The domain comes from `hnet_cli.run.resolve`: `--domain`, else what `hnet
train` recorded (RUN/run.json, or "domain" in the safetensors metadata), else text.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Sequence

import torch

from hnet_cli import ops
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


@dataclass
class GenerateRequest:
    """Everything `hnet generate` takes; the defaults are the command's."""

    model: str
    prompt: str | None = None  # "-": all of stdin
    prompt_file: str | None = None
    prompt_field: str | None = None
    num_samples: int = 1
    max_bytes: int = 256
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    seed: int | None = None  # None: a random seed (reported in the result)
    stop: list[str] = field(default_factory=list)
    alphabet: str | None = None
    ignore_eos: bool = False
    domain: str | None = None
    format: str = "auto"
    echo: bool = True
    wrap: int = 60
    output: str = "-"
    batch_size: int = 16
    config: str | Path | None = None
    device: str = "auto"
    dtype: str = "auto"
    threads: int = 0  # 0: one thread on CPU (fastest for per-byte steps)
    compile: bool | None = None  # GPUs: compile the per-byte step (None: for long generations)


@dataclass
class GenerateResult:
    stats: GenerationStats
    seed: int
    device: str  # "cpu", "cuda"


def run_generate(request: GenerateRequest) -> GenerateResult:
    """Check the request, load the model, generate and write every sample to request.output."""
    import secrets

    from hnet_cli.outputs import open_output
    from hnet_cli.run import resolve
    from hnet_cli.runtime import pick_device, pick_dtype

    _check_request(request)  # cheap checks first: a typo should not wait for a model to load
    seed = secrets.randbits(31) if request.seed is None else request.seed
    params = SamplingParams(temperature=request.temperature, top_k=request.top_k, top_p=request.top_p,
                            max_bytes=request.max_bytes, stop=tuple(request.stop), alphabet=request.alphabet,
                            ignore_eos=request.ignore_eos, seed=seed)
    found = resolve(request.model, request.domain, config=request.config)
    sequences = found.domain.sequence
    out_format = resolve_format(request.format, sequences)
    prompts = collect_prompts(request.prompt, request.prompt_file, field=request.prompt_field, sequences=sequences)
    device = pick_device(request.device)
    if request.threads or device.type == "cpu":
        # A generation step is hundreds of small ops: extra threads cost more in
        # synchronisation than they save (and far more on a busy machine; bench/RESULTS.md).
        torch.set_num_threads(request.threads or 1)
    dtype = pick_dtype(request.dtype, device)
    model = found.load(device)
    # compile=False: no compiled code at all (the prefill of long prompts included)
    with open_output(request.output, "wb") as stream, ops.compilation(request.compile is not False):
        stats = write_samples(stream, model, prompts, params, format=out_format, num_samples=request.num_samples,
                              batch_size=request.batch_size, echo=request.echo, width=request.wrap, dtype=dtype,
                              compile_step=request.compile)
    return GenerateResult(stats, seed, device.type)


def _check_request(request: GenerateRequest) -> None:
    from hnet_cli.errors import CheckpointError, ConfigError
    from hnet_cli.model.hub import is_hub_id
    from hnet_cli.outputs import check_output

    if not Path(request.model).exists() and not is_hub_id(request.model):
        raise CheckpointError(f"{request.model}: checkpoint not found")
    for name, value, least in (("--num-samples", request.num_samples, 1), ("--batch-size", request.batch_size, 1)):
        if value < least:
            raise ConfigError(f"{name} must be at least {least}, got {value}")
    for name, value in (("--wrap", request.wrap), ("--threads", request.threads)):
        if value < 0:
            raise ConfigError(f"{name} must be >= 0, got {value}")
    check_output(request.output)  # a bad destination fails before the model loads


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
    compile_step: bool | None = None,
) -> GenerationStats:
    """Generate and write every sample to the binary `stream` as it is produced; return the stats."""
    if format == "fasta":
        params = fasta_params(params)
    stats = GenerationStats()
    headers = format == "text" and len(prompts) * num_samples > 1
    writer = make_writer(format, stream, echo=echo, headers=headers, width=width)
    for event in generate_stream(model, prompts, params, num_samples=num_samples, batch_size=batch_size,
                                 record_boundaries=format == "jsonl", dtype=dtype, stats=stats,
                                 compile_step=compile_step):
        writer.handle(event)
    writer.close()
    return stats

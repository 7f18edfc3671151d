"""Choosing the next byte: temperature, top-k, top-p, an allowed alphabet, per-sample seeds.

Every sample has its own random stream, seeded from (seed, prompt bytes,
sample number) by `sample_seed`. A sample therefore comes out the same whether
it is generated alone or in a batch with others, and whatever else is in the
prompt file; the same prompt with the same seed and sample number gives the
same bytes.

Sampling is inverse-CDF: each row draws one uniform u per step from its own
stream and takes the first byte whose cumulative probability exceeds
u * total. That needs one number per row per step (drawn in blocks, so a step
costs no generator calls) and no shared generator across rows.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import torch

from hnet_cli.errors import ConfigError
from hnet_cli.model.hnet import BOS, EOS

VOCAB = 256

# Uniforms drawn per row at a time; a step reads one column.
UNIFORM_BLOCK = 256


@dataclass(frozen=True)
class SamplingParams:
    """How to sample. Validated on construction (ConfigError with a one-line reason).

    temperature: 0 = greedy (argmax); > 0 divides the logits.
    top_k:       keep the k most likely bytes (0 = all).
    top_p:       nucleus: keep the smallest set of bytes whose probability reaches top_p, in (0, 1].
    max_bytes:   most bytes generated per sample (EOS not counted).
    stop:        byte strings that end a sample; the stop string itself is not part of the output.
    alphabet:    if set, only these bytes may be sampled (EOS stays allowed unless ignore_eos).
    ignore_eos:  never sample EOS (255); samples then end only at max_bytes or a stop string.
    seed:        base seed of every sample's random stream (see `sample_seed`).
    """

    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    max_bytes: int = 256
    stop: tuple[bytes, ...] = ()
    alphabet: bytes | None = None
    ignore_eos: bool = False
    seed: int = 0

    def __post_init__(self):
        if not isinstance(self.temperature, (int, float)) or math.isnan(self.temperature) or self.temperature < 0:
            raise ConfigError(f"--temperature must be >= 0 (0 = greedy), got {self.temperature}")
        if math.isinf(self.temperature):
            raise ConfigError("--temperature must be finite")
        if self.top_k < 0:
            raise ConfigError(f"--top-k must be >= 0 (0 = no limit), got {self.top_k}")
        if not (0.0 < self.top_p <= 1.0):  # also rejects NaN
            raise ConfigError(f"--top-p must be in (0, 1], got {self.top_p}")
        if self.max_bytes < 1:
            raise ConfigError(f"--max-bytes must be at least 1, got {self.max_bytes}")
        stops = tuple(s.encode("utf-8") if isinstance(s, str) else bytes(s) for s in self.stop)
        if any(len(s) == 0 for s in stops):
            raise ConfigError("--stop must not be empty")
        object.__setattr__(self, "stop", stops)
        if self.alphabet is not None:
            alphabet = self.alphabet.encode("utf-8") if isinstance(self.alphabet, str) else bytes(self.alphabet)
            alphabet = bytes(sorted(set(alphabet) - {BOS, EOS}))
            if not alphabet:
                raise ConfigError("--alphabet must name at least one byte other than BOS/EOS")
            object.__setattr__(self, "alphabet", alphabet)

    @property
    def greedy(self) -> bool:
        return self.temperature == 0


def allowed_bias(params: SamplingParams, device=None) -> torch.Tensor:
    """(256,) float: 0 for bytes that may be sampled, -inf for the others.

    BOS never appears inside a document, so it is never sampled.
    """
    allowed = torch.ones(VOCAB, dtype=torch.bool)
    if params.alphabet is not None:
        allowed[:] = False
        allowed[list(params.alphabet)] = True
        allowed[EOS] = True
    allowed[BOS] = False
    if params.ignore_eos:
        allowed[EOS] = False
    bias = torch.zeros(VOCAB)
    bias[~allowed] = float("-inf")
    return bias.to(device)


def sample_seed(seed: int, prompt: bytes, sample_index: int) -> int:
    """The seed of one sample's random stream: a hash of (seed, sample number, prompt bytes).

    sha256 rather than Python's hash(): stable across runs, processes and platforms.
    """
    digest = hashlib.sha256(f"hnet-generate:{seed}:{sample_index}:".encode() + prompt).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


class RowUniforms:
    """One uniform stream per row, read in lockstep: `next()` gives u (b,) for the current step.

    Rows can be dropped (`select`) when their samples end; the remaining rows
    keep reading their own streams, so a row's numbers never depend on the others.
    """

    def __init__(self, seeds: list[int], device=None, block: int = UNIFORM_BLOCK):
        self.generators = [torch.Generator().manual_seed(s) for s in seeds]
        self.device = device
        self.block = block
        self._buffer = None
        self._column = block

    def _refill(self) -> None:
        rows = [torch.rand(self.block, generator=g, dtype=torch.float64) for g in self.generators]
        self._buffer = torch.stack(rows).to(self.device) if rows else torch.zeros(0, self.block, dtype=torch.float64)
        self._column = 0

    def next(self) -> torch.Tensor:
        if self._column >= self.block:
            self._refill()
        u = self._buffer[:, self._column]
        self._column += 1
        return u

    def select(self, rows: list[int]) -> None:
        """Keep only these rows (indices into the current rows), in this order."""
        self.generators = [self.generators[i] for i in rows]
        if self._buffer is not None:
            self._buffer = self._buffer[torch.as_tensor(rows, dtype=torch.long, device=self._buffer.device)]


def next_bytes(logits: torch.Tensor, params: SamplingParams, bias: torch.Tensor, u: torch.Tensor | None) -> torch.Tensor:
    """logits (b, 256) -> the next byte of every row, (b,) long.

    Order of filters: alphabet, temperature, top-k, top-p (as most samplers do).
    `u` (b,) uniforms in [0, 1), unused when greedy.
    """
    logits = logits.float() + bias
    if params.greedy:
        return logits.argmax(-1)
    logits = logits / params.temperature
    if 0 < params.top_k < VOCAB:
        kth = logits.topk(params.top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = torch.softmax(logits, dim=-1)
    if params.top_p < 1.0:
        sorted_probs, order = probs.sort(dim=-1, descending=True, stable=True)
        # Drop a byte once the bytes before it already reach top_p (the first always stays).
        before = sorted_probs.cumsum(-1) - sorted_probs
        sorted_probs = sorted_probs.masked_fill(before >= params.top_p, 0.0)
        probs = torch.zeros_like(probs).scatter_(-1, order, sorted_probs)
    # Inverse CDF in float64. Searching the first 255 cumulative sums keeps the
    # answer in 0..255: a target past them all is byte 255.
    cdf = probs.double().cumsum(-1)
    target = u[:, None] * cdf[:, -1:]
    return torch.searchsorted(cdf[:, :-1].contiguous(), target, right=True)[:, 0]

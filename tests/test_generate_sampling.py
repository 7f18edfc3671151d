"""Sampling filters, per-sample seeds and stop strings, each against a plain-Python reference."""

import math
import random

import pytest
import torch

from hnet_cli.errors import ConfigError
from hnet_cli.generate.sampling import RowUniforms, SamplingParams, allowed_bias, next_bytes, sample_seed
from hnet_cli.generate.stopping import StopMatcher

BOS, EOS = 254, 255


def reference_distribution(logits, temperature, top_k=0, top_p=1.0, allowed=None):
    """The filtered next-byte distribution, computed with Python floats: {byte: probability}."""
    allowed = set(range(256)) - {BOS} if allowed is None else set(allowed)
    scaled = {b: logits[b] / temperature for b in allowed}
    ranked = sorted(scaled, key=lambda b: -scaled[b])
    if top_k:
        cutoff = scaled[ranked[min(top_k, len(ranked)) - 1]]
        ranked = [b for b in ranked if scaled[b] >= cutoff]
    top = max(scaled[b] for b in ranked)
    weights = {b: math.exp(scaled[b] - top) for b in ranked}
    total = sum(weights.values())
    probs = {b: w / total for b, w in weights.items()}
    if top_p < 1.0:
        kept, mass = {}, 0.0
        for b in sorted(probs, key=lambda b: -probs[b]):
            if mass >= top_p:
                break
            kept[b] = probs[b]
            mass += probs[b]
        probs = kept
    total = sum(probs.values())
    return {b: p / total for b, p in probs.items()}


def reference_inverse_cdf(dist, u):
    """First byte (in byte order) whose cumulative probability exceeds u."""
    acc = 0.0
    last = None
    for b in range(256):
        if b in dist:
            acc += dist[b]
            last = b
            if acc > u:
                return b
    return last


@pytest.mark.parametrize("temperature,top_k,top_p", [(1.0, 0, 1.0), (0.7, 0, 1.0), (1.3, 20, 1.0), (1.0, 0, 0.8),
                                                     (0.9, 40, 0.9), (2.0, 5, 0.5)])
def test_next_bytes_matches_inverse_cdf_of_reference_distribution(temperature, top_k, top_p):
    gen = torch.Generator().manual_seed(1)
    logits = torch.randn(6, 256, generator=gen) * 3
    u = torch.rand(6, generator=gen, dtype=torch.float64)
    params = SamplingParams(temperature=temperature, top_k=top_k, top_p=top_p)
    got = next_bytes(logits, params, allowed_bias(params), u).tolist()
    for row in range(6):
        dist = reference_distribution(logits[row].tolist(), temperature, top_k, top_p)
        # Away from a cumulative-sum edge the float32/float64 difference cannot matter.
        assert got[row] == reference_inverse_cdf(dist, u[row].item())
        assert got[row] in dist


def test_sampling_frequencies_follow_the_filtered_distribution():
    gen = torch.Generator().manual_seed(3)
    logits = torch.randn(256, generator=gen) * 2
    params = SamplingParams(temperature=0.8, top_k=12, top_p=0.9)
    n = 20000
    u = torch.rand(n, generator=gen, dtype=torch.float64)
    got = next_bytes(logits.expand(n, 256), params, allowed_bias(params), u)
    counts = torch.bincount(got, minlength=256)
    dist = reference_distribution(logits.tolist(), 0.8, 12, 0.9)
    assert set(torch.nonzero(counts)[:, 0].tolist()) <= set(dist)
    for b, p in dist.items():
        sigma = math.sqrt(n * p * (1 - p))
        assert abs(counts[b].item() - n * p) < 5 * sigma + 1


def test_greedy_is_argmax_without_bos():
    logits = torch.zeros(3, 256)
    logits[0, 65] = 5.0
    logits[1, BOS] = 9.0  # BOS is never sampled, even when the model prefers it
    logits[1, 66] = 1.0
    logits[2, EOS] = 3.0
    params = SamplingParams(temperature=0)
    assert next_bytes(logits, params, allowed_bias(params), None).tolist() == [65, 66, EOS]


def test_alphabet_and_ignore_eos_restrict_sampling():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(4000, 256, generator=gen)
    logits[:, EOS] += 4.0
    u = torch.rand(4000, generator=gen, dtype=torch.float64)
    params = SamplingParams(alphabet="ACGTN")
    got = set(next_bytes(logits, params, allowed_bias(params), u).tolist())
    assert got == set(b"ACGTN") | {EOS}
    params = SamplingParams(alphabet=b"ACGTN", ignore_eos=True)
    got = set(next_bytes(logits, params, allowed_bias(params), u).tolist())
    assert got == set(b"ACGTN")


@pytest.mark.parametrize("kwargs,needle", [
    (dict(temperature=-0.5), "--temperature"),
    (dict(temperature=float("nan")), "--temperature"),
    (dict(top_p=0.0), "--top-p"),
    (dict(top_p=1.5), "--top-p"),
    (dict(top_p=float("nan")), "--top-p"),
    (dict(top_k=-1), "--top-k"),
    (dict(max_bytes=0), "--max-bytes"),
    (dict(stop=("",)), "--stop"),
    (dict(alphabet=bytes([BOS, EOS])), "--alphabet"),
])
def test_invalid_parameters_are_one_line_config_errors(kwargs, needle):
    with pytest.raises(ConfigError) as info:
        SamplingParams(**kwargs)
    assert needle in str(info.value) and "\n" not in str(info.value)


def test_sample_seed_depends_on_seed_prompt_and_sample_number_only():
    base = sample_seed(5, b"hello", 0)
    assert base == sample_seed(5, b"hello", 0)
    assert len({base, sample_seed(6, b"hello", 0), sample_seed(5, b"hellO", 0), sample_seed(5, b"hello", 1)}) == 4
    assert 0 <= base < 2**63


def test_row_uniforms_do_not_depend_on_the_other_rows():
    together = RowUniforms([11, 22, 33], block=4)
    draws = [together.next() for _ in range(3)]
    together.select([2, 0])  # row 1 ends: the others keep their own streams
    draws += [together.next() for _ in range(6)]  # crosses a block refill
    alone = RowUniforms([33], block=4)
    expected = [alone.next().item() for _ in range(9)]
    assert [d[-1].item() for d in draws[:3]] + [d[0].item() for d in draws[3:]] == expected


# ---------------------------------------------------------------- stop strings

def reference_stop(data: bytes, stops):
    """(output, stop) from the whole byte string: cut at the earliest end of a stop string (longest on a tie)."""
    for end in range(1, len(data) + 1):
        hits = [s for s in stops if data[:end].endswith(s)]
        if hits:
            stop = max(hits, key=len)
            return data[: end - len(stop)], stop
    return data, None


def run_matcher(data: bytes, stops):
    matcher = StopMatcher(tuple(stops))
    out = bytearray()
    for byte in data:
        safe, stop = matcher.feed(byte)
        out += safe
        if stop is not None:
            return bytes(out), stop
    return bytes(out + matcher.flush()), None


def test_stop_matcher_agrees_with_reference_on_random_strings():
    rng = random.Random(0)
    for _ in range(2000):
        data = bytes(rng.choice(b"abc\n") for _ in range(rng.randint(0, 20)))
        stops = [bytes(rng.choice(b"abc\n") for _ in range(rng.randint(1, 4))) for _ in range(rng.randint(1, 3))]
        assert run_matcher(data, stops) == reference_stop(data, stops), (data, stops)


def test_stop_matcher_never_outputs_part_of_a_stop_string():
    matcher = StopMatcher((b"\n\n", b"END"))
    shown = bytearray()
    for byte in b"x\nyEN":
        safe, stop = matcher.feed(byte)
        shown += safe
        assert stop is None
    assert bytes(shown) == b"x\ny"  # "EN" is held back: it may become END
    safe, stop = matcher.feed(ord("D"))
    assert (safe, stop) == (b"", b"END")


def test_stop_strings_may_be_multibyte_utf8():
    assert run_matcher("你好。再见".encode(), ["。".encode()]) == ("你好".encode(), "。".encode())

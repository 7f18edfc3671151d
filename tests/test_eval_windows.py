"""Sliding evaluation windows: every byte scored exactly once, with the documented left context."""

import pytest
import torch

from hnet_cli.errors import ConfigError
from hnet_cli.eval.windows import default_stride, plan_windows, window_tokens

CASES = [(n, c, s) for n in (1, 2, 7, 63, 64, 65, 200, 1000) for c, s in ((64, 32), (64, 1), (64, 63), (16, 5), (2, 1))]


@pytest.mark.parametrize("n,context,stride", CASES)
def test_every_byte_is_scored_once_with_the_promised_context(n, context, stride):
    windows = plan_windows(n, context, stride)
    scored = []
    for w in windows:
        assert 0 <= w.start < w.score_from <= w.end <= n + 1
        if n + 1 > context:
            assert w.length == context  # long documents: only full windows
        for k in range(w.score_from, w.end):  # target token k = byte k - 1
            scored.append(k)
            left = k - w.start  # tokens before the target inside the window
            assert left >= min(k, context - stride), (w, k)
    assert scored == list(range(1, n + 1))


def test_short_document_is_one_window_from_bos():
    assert [(w.start, w.end, w.score_from) for w in plan_windows(10, 64, 32)] == [(0, 11, 1)]


def test_long_document_window_positions():
    # L = 101 tokens, C = 40, S = 25: starts 0, 25, 50, then the last is moved back to 61.
    windows = plan_windows(100, 40, 25)
    assert [(w.start, w.end, w.score_from) for w in windows] == [(0, 40, 1), (25, 65, 40), (50, 90, 65), (61, 101, 90)]


def test_window_tokens_are_bos_then_the_bytes():
    data = bytes(range(50, 150))
    first, second = plan_windows(len(data), 40, 25)[:2]
    assert window_tokens(data, first).tolist() == [254] + list(data[:39])
    assert window_tokens(data, second).tolist() == list(data[24:64])  # tokens 25..64 = bytes 24..63
    assert window_tokens(data, second).dtype == torch.long


def test_empty_document_has_no_windows():
    assert plan_windows(0, 64, 32) == []


@pytest.mark.parametrize("context,stride", [(64, 0), (64, 64), (64, 100), (1, 1)])
def test_bad_window_arguments(context, stride):
    with pytest.raises(ConfigError):
        plan_windows(10, context, stride)


def test_default_stride_is_half_the_context():
    assert default_stride(8192) == 4096

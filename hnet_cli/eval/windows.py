"""Sliding evaluation windows over one document.

A document of n bytes is scored as the model sees it in training: the token
sequence is t = [BOS, b_0, ..., b_{n-1}] (L = n + 1 tokens) and the targets are
the n document bytes t_1..t_n (BOS is never a target). Target t_k is predicted
by the logits at position k - 1.

A document that fits the context C (L <= C) is one window. A longer one is cut
into windows of exactly C tokens starting at 0, S, 2S, ... (S = stride); the
last window is moved back to end at the document's end, so no window is
shorter than C. Each window scores only the targets no earlier window scored,
so every byte is predicted exactly once, and

    every byte b_j is predicted from at least min(j + 1, C - S) tokens of
    left context (j + 1 = BOS and all earlier bytes, inside the first window).

Windows after the first start in the middle of the document, without BOS: the
model sees the preceding C - S or more bytes, as it would inside a longer
training sequence. The forward cost is about L/S windows of C tokens, i.e.
C/S times the cost of one pass over the document.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from hnet_cli.errors import ConfigError
from hnet_cli.model.hnet import BOS


@dataclass(frozen=True)
class Window:
    """Tokens [start, end) of [BOS] + document; scores targets score_from .. end-1."""

    start: int
    end: int
    score_from: int

    @property
    def length(self) -> int:
        return self.end - self.start

    @property
    def scored(self) -> int:
        """How many targets (document bytes) this window scores."""
        return self.end - self.score_from


def default_stride(context: int) -> int:
    """Half the context: every byte keeps at least C/2 bytes of left context, at 2x the cost."""
    return max(1, context // 2)


def check_window_args(context: int, stride: int) -> None:
    if context < 2:
        raise ConfigError(f"--context {context}: must be at least 2 (BOS and one byte)")
    if not 1 <= stride < context:
        raise ConfigError(f"--stride {stride}: must be between 1 and context - 1 = {context - 1}")


def plan_windows(n_bytes: int, context: int, stride: int) -> list[Window]:
    """The windows scoring a document of n_bytes bytes (see the module docstring)."""
    check_window_args(context, stride)
    total = n_bytes + 1  # L: BOS + bytes
    if n_bytes <= 0:
        return []
    if total <= context:
        return [Window(0, total, 1)]
    windows = []
    start, next_target = 0, 1
    while True:
        end = min(start + context, total)
        windows.append(Window(start, end, next_target))
        if end == total:
            return windows
        next_target = end
        # S < C keeps start < next_target (progress), and start + C > next_target (new targets).
        start = min(start + stride, total - context)


def window_tokens(data: bytes, window: Window) -> torch.Tensor:
    """Token ids (window.length,) of [BOS] + data[...] covered by the window."""
    if window.start == 0:
        body = data[: window.end - 1]
        ids = torch.empty(len(body) + 1, dtype=torch.long)
        ids[0] = BOS
        ids[1:] = torch.frombuffer(bytearray(body), dtype=torch.uint8).long() if body else ids[1:]
        return ids
    body = data[window.start - 1 : window.end - 1]
    return torch.frombuffer(bytearray(body), dtype=torch.uint8).long()

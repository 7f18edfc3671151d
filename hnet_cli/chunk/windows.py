"""Long documents in overlapping windows, stitched into one segmentation.

A document of n bytes is read in windows of W bytes (BOS + W positions per
forward pass) that start every W - V bytes, V being the overlap:

    window k covers bytes [a_k, min(a_k + W, n)),  a_k = k (W - V)

and each byte's result is taken from exactly one window: window k owns
[a_k + V/2, a_{k+1} + V/2) (window 0 from 0, the last one to n). So every
result comes from a window that has read at least V/2 bytes before it, and
where windows fall never decides which window's result is used for a byte
except through that much context. A document of at most W bytes is one
window: exactly the single pass.

When is it exact? Stage 0's decision at byte t depends on the stage-0 encoder
output at t - 1 and t. With only sliding-window attention (window w_i, layer
i) in that encoder, that is bytes t - 1 - sum(w_i) .. t: windows give exactly
the single pass when V/2 > 1 + sum(w_i). An inner stage s adds its own
encoder's reach, counted in stage-s elements (so in bytes it depends on the
chunk lengths seen). Mamba-2 layers carry state from the document start, so
models that have them (all released H-Nets) are exact only for documents
that fit in one window; elsewhere the result is approximate, and the
agreement between overlapping windows is measured at every seam (see
`WindowAgreement`) so it can be reported.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from hnet_cli.chunk.segmentation import StageSegmentation, WindowAgreement
from hnet_cli.errors import ConfigError


@dataclass(frozen=True)
class Window:
    start: int  # a_k: first document byte the window reads
    end: int  # one past the last byte it reads
    keep_start: int  # first byte whose result this window gives
    keep_end: int  # one past the last


@dataclass
class RawStage:
    """One stage's outputs for one window, in window positions (0 = the window's BOS)."""

    position: torch.Tensor  # (m,) int64 stage-0 position where each element begins
    boundary_prob: torch.Tensor  # (m,) float32
    boundary: torch.Tensor  # (m,) bool


def check_window(window: int, overlap: int) -> None:
    if window < 1:
        raise ConfigError(f"--window must be at least 1 byte (got {window})")
    if overlap < 0 or overlap >= window:
        raise ConfigError(f"--overlap must be between 0 and window - 1 = {window - 1} (got {overlap})")


def plan_windows(n: int, window: int, overlap: int) -> list[Window]:
    """The windows for a document of n bytes (one window when n <= window; none when n == 0)."""
    check_window(window, overlap)
    if n == 0:
        return []
    if n <= window:
        return [Window(0, n, 0, n)]
    stride = window - overlap
    starts = [0]
    while starts[-1] + window < n:
        starts.append(starts[-1] + stride)
    keep = [0] + [a + overlap // 2 for a in starts[1:]] + [n]
    return [Window(a, min(a + window, n), keep[k], keep[k + 1]) for k, a in enumerate(starts)]


def to_document(raw: RawStage, win: Window) -> StageSegmentation:
    """Window positions -> document bytes: position t reads byte a + t - 1 (t = 0 is BOS).

    In the first window the BOS element (t = 0) is kept, at byte 0, only when it
    covers document bytes, i.e. when no element begins at t = 1; in later
    windows it falls before the window's kept range and is dropped there.
    """
    start = raw.position + (win.start - 1)
    keep = torch.ones_like(raw.boundary)
    if win.start == 0 and len(start):
        if len(start) > 1 and int(start[1]) == 0:
            keep[0] = False  # byte 0 is its own element: BOS covers no document byte
        start = start.clamp_min(0)
    keep &= (start >= win.keep_start) & (start < win.keep_end)
    return StageSegmentation(start[keep], raw.boundary_prob[keep], raw.boundary[keep])


class WindowPlanner:
    """`plan_windows` for a document whose bytes arrive in pieces, its length n unknown until it ends.

    Window k (starting at a_k) is the last one exactly when n <= a_k + W, so it is
    known not to be the last as soon as more than a_k + W bytes have arrived. Only
    the bytes from the next window's start on are kept (at most W plus a piece).
    """

    def __init__(self, window: int, overlap: int):
        check_window(window, overlap)
        self.window, self.overlap, self.stride = window, overlap, window - overlap
        self._buf = bytearray()
        self._buf_start = 0  # document byte of _buf[0]
        self._next = 0  # a_k of the next window
        self.count = 0  # windows planned so far

    @property
    def length(self) -> int:
        """Bytes fed so far."""
        return self._buf_start + len(self._buf)

    def feed(self, data: bytes) -> list[tuple[Window, bytes]]:
        """The windows these bytes complete (never the last one), with their bytes."""
        self._buf += data
        out = []
        while self.length > self._next + self.window:
            out.append(self._take(self._next + self.window, self._next + self.stride + self.overlap // 2))
            self._next += self.stride
            del self._buf[: self._next - self._buf_start]
            self._buf_start = self._next
        return out

    def finish(self) -> list[tuple[Window, bytes]]:
        """The last window (none for an empty document)."""
        n = self.length
        return [self._take(n, n)] if n else []

    def _take(self, end: int, keep_end: int) -> tuple[Window, bytes]:
        a = self._next
        win = Window(a, end, 0 if self.count == 0 else a + self.overlap // 2, keep_end)
        self.count += 1
        return win, bytes(self._buf[a - self._buf_start : end - self._buf_start])


def stitch(windows: list[Window], raw: list[list[RawStage]], num_stages: int) -> list[StageSegmentation]:
    """Each window's kept range, concatenated, per stage."""
    stages = []
    for s in range(num_stages):
        stages.append(concat_stages([to_document(raw[k][s], win) for k, win in enumerate(windows)]))
    return stages


def concat_stages(parts: list[StageSegmentation]) -> StageSegmentation:
    """Consecutive ranges of one stage as one."""
    return StageSegmentation(
        torch.cat([p.element_start for p in parts]),
        torch.cat([p.boundary_prob for p in parts]),
        torch.cat([p.boundary for p in parts]),
    )


def _starts_in(raw: RawStage, win: Window, lo: int, hi: int) -> set[int]:
    """Document bytes in [lo, hi) where this window's stage-s chunks begin."""
    start = raw.position + (win.start - 1)
    chosen = raw.boundary & (start >= lo) & (start < hi)
    return set(start[chosen].tolist())


class SeamMeter:
    """Agreement of consecutive windows, measured seam by seam as the windows arrive (see WindowAgreement)."""

    def __init__(self, num_stages: int):
        self.num_stages = num_stages
        self.seams = 0
        self._scores: list[list[float]] = [[] for _ in range(num_stages)]
        self._exact = [0] * num_stages
        self._previous: tuple[Window, list[RawStage]] | None = None

    def add(self, win: Window, raw: list[RawStage]) -> None:
        """The next window of the document; compared on the second half of its overlap with the one before."""
        if self._previous is not None:
            self.seams += 1
            before_win, before_raw = self._previous
            lo, hi = win.keep_start, before_win.end
            if lo < hi:  # else no overlap: nothing to compare
                for s in range(self.num_stages):
                    before = _starts_in(before_raw[s], before_win, lo, hi)
                    after = _starts_in(raw[s], win, lo, hi)
                    union = before | after
                    self._scores[s].append(len(before & after) / len(union) if union else 1.0)
                    self._exact[s] += before == after
        self._previous = (win, raw)

    def result(self) -> WindowAgreement:
        return WindowAgreement(seams=self.seams,
                               agreement=[sum(x) / len(x) if x else None for x in self._scores],
                               exact_seams=list(self._exact))


def measure_agreement(windows: list[Window], raw: list[list[RawStage]], num_stages: int) -> WindowAgreement:
    """Compare consecutive windows on the second half of each overlap (see WindowAgreement)."""
    meter = SeamMeter(num_stages)
    for win, r in zip(windows, raw):
        meter.add(win, r)
    return meter.result()

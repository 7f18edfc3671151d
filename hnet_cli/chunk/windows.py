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


def stitch(windows: list[Window], raw: list[list[RawStage]], num_stages: int) -> list[StageSegmentation]:
    """Each window's kept range, concatenated, per stage."""
    stages = []
    for s in range(num_stages):
        parts = [to_document(raw[k][s], win) for k, win in enumerate(windows)]
        stages.append(StageSegmentation(
            torch.cat([p.element_start for p in parts]),
            torch.cat([p.boundary_prob for p in parts]),
            torch.cat([p.boundary for p in parts]),
        ))
    return stages


def _starts_in(raw: RawStage, win: Window, lo: int, hi: int) -> set[int]:
    """Document bytes in [lo, hi) where this window's stage-s chunks begin."""
    start = raw.position + (win.start - 1)
    chosen = raw.boundary & (start >= lo) & (start < hi)
    return set(start[chosen].tolist())


def measure_agreement(windows: list[Window], raw: list[list[RawStage]], num_stages: int) -> WindowAgreement:
    """Compare consecutive windows on the second half of each overlap (see WindowAgreement)."""
    result = WindowAgreement(seams=len(windows) - 1, agreement=[None] * num_stages, exact_seams=[0] * num_stages)
    for s in range(num_stages):
        scores = []
        exact = 0
        for k in range(len(windows) - 1):
            lo, hi = windows[k + 1].keep_start, windows[k].end
            if lo >= hi:  # no overlap: nothing to compare
                continue
            before = _starts_in(raw[k][s], windows[k], lo, hi)
            after = _starts_in(raw[k + 1][s], windows[k + 1], lo, hi)
            union = before | after
            scores.append(len(before & after) / len(union) if union else 1.0)
            exact += before == after
        result.agreement[s] = sum(scores) / len(scores) if scores else None
        result.exact_seams[s] = exact
    return result

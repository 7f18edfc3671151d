"""The terminal view: the text with its chunks in alternating colours, one band per stage.

    offset  text, coloured by the chunks of the first shown stage
      s1    a band under it per further stage: alternating colours, ▏ where a chunk begins

Without colour (a pipe, a file, NO_COLOR) every shown stage gets a band of
'|' marks under the text where its chunks begin. `shade` colours the text by
the boundary probability p instead (white -> red), chunk starts underlined.
DNA is wrapped at a multiple of 10 bases; text at newlines and the width.
Non-printable bytes are drawn as '·', newline as '↵', tab as '→'.
"""

from __future__ import annotations

import math
from typing import IO

import torch

from hnet_cli.chunk.display import Units, display_units
from hnet_cli.chunk.segmentation import Segmentation

TEXT_COLOURS = ("#ffd787", "#87d7ff")  # background of alternate chunks of the first shown stage
BAND_COLOURS = [("#ff8787", "#5fd7af"), ("#d7afff", "#ffff87"), ("#ffaf5f", "#87afff")]  # further stages
MAX_DNA_LINE = 100


def _heat(p: float) -> str:
    """p in [0, 1] -> background from white (no boundary) to red (sure boundary)."""
    g = int(round(255 - 160 * p))
    return f"#ff{g:02x}{g:02x}"


def _join(row, pieces: list[tuple[str, str]]):
    """Append (text, style) pieces to a rich Text, merging neighbours of the same style."""
    run, style = [], None
    for text, st in pieces:
        if st != style and run:
            row.append("".join(run), style=style or None)
            run = []
        run.append(text)
        style = st
    if run:
        row.append("".join(run), style=style or None)
    return row


class _Layout:
    """Per display unit: its chunk at each shown stage and whether a chunk begins in it."""

    def __init__(self, seg: Segmentation, units: Units, stages: list[int]):
        n = seg.length
        starts = torch.tensor(units.start, dtype=torch.int64)
        ends = torch.cat([starts[1:], torch.tensor([n])]) if len(starts) else starts
        self.chunk: dict[int, list[int]] = {}
        self.begins: dict[int, list[bool]] = {}
        for s in stages:
            ids = seg.chunk_ids(s)
            self.chunk[s] = ids[starts].tolist() if len(starts) else []
            flags = torch.zeros(n + 1, dtype=torch.int64)
            flags[seg.chunk_starts(s) + 1] = 1
            cum = torch.cumsum(flags, 0)  # cum[i] = chunk starts before byte i
            self.begins[s] = (cum[ends] - cum[starts] > 0).tolist() if len(starts) else []
        p = seg.element_prob_per_byte(stages[0])
        self.prob = p[starts].tolist() if len(starts) else []


class TerminalWriter:
    def __init__(self, stream: IO, stages: list[int], sequence: bool = False, shade: bool = False,
                 width: int | None = None, color: bool | None = None):
        from rich.console import Console

        self.console = Console(file=stream, width=width, highlight=False, soft_wrap=True,
                               force_terminal=color if color else None, no_color=color is False,
                               color_system="auto" if color is not False else None)
        self.stages = stages
        self.sequence = sequence
        self.shade = shade

    @property
    def coloured(self) -> bool:
        return self.console.color_system is not None

    def begin(self) -> None:
        pass

    def end(self) -> None:
        pass

    def abort(self) -> None:
        pass

    def add(self, seg: Segmentation) -> None:
        from rich.text import Text

        c = self.console
        head = Text(f"{seg.document.name}", style="bold")
        where = f"  {seg.length} bytes"
        if seg.offset:
            where += f" at {seg.record}:{seg.offset}"
        head.append(where + ("  (positions are 0-based offsets)" if self.sequence else ""), style="dim")
        c.print(head)
        units = display_units(seg.data)
        layout = _Layout(seg, units, self.stages)
        label_width = max(len(str(seg.offset + seg.length)), 3)
        for first, last in self._lines(units, c.width - label_width - 1):
            c.print(self._text_row(seg, units, layout, first, last, label_width), crop=False)
            band_stages = self.stages[1:] if self.coloured else self.stages
            for s in band_stages:
                c.print(self._band_row(units, layout, s, first, last, label_width), crop=False)
        c.print(self._footer(seg))

    # -- layout -------------------------------------------------------------------------
    def _lines(self, units: Units, avail: int):
        """(first, last) unit ranges of each printed line."""
        from rich.cells import cell_len

        avail = max(avail, 10)
        if self.sequence:
            avail = min(MAX_DNA_LINE, max(10, avail // 10 * 10))
        first, used = 0, 0
        for i, text in enumerate(units.text):
            w = cell_len(text)
            if used + w > avail and i > first and not units.newline[i]:
                yield first, i
                first, used = i, 0
            used += w
            if units.newline[i]:
                yield first, i + 1
                first, used = i + 1, 0
        if first < len(units):
            yield first, len(units)

    def _text_row(self, seg, units: Units, layout: _Layout, first: int, last: int, label_width: int):
        from rich.text import Text

        row = Text()
        row.append(f"{seg.offset + units.start[first]:>{label_width}} ", style="dim")
        s = self.stages[0]
        pieces: list[tuple[str, str]] = []
        for i in range(first, last):
            style = ""
            if self.coloured:
                if self.shade:
                    p = layout.prob[i]
                    style = "black" if math.isnan(p) else f"black on {_heat(p)}"
                    if layout.begins[s][i]:
                        style += " underline bold"
                else:
                    style = f"black on {TEXT_COLOURS[layout.chunk[s][i] % 2]}"
            if not units.safe[i]:
                style = (style + " italic").strip()
            pieces.append((units.text[i], style))
        return _join(row, pieces)

    def _band_row(self, units: Units, layout: _Layout, s: int, first: int, last: int, label_width: int):
        from rich.cells import cell_len
        from rich.text import Text

        row = Text()
        row.append(f"{'s' + str(s):>{label_width}} ", style="dim")
        pieces: list[tuple[str, str]] = []
        colours = BAND_COLOURS[(s - 1) % len(BAND_COLOURS)] if s > 0 else TEXT_COLOURS
        for i in range(first, last):
            w = max(cell_len(units.text[i]), 1) if units.text[i] else 0
            if w == 0:
                continue
            if self.coloured:
                mark = "▏" if layout.begins[s][i] else " "
                pieces.append((mark + " " * (w - 1), f"black on {colours[layout.chunk[s][i] % 2]}"))
            else:
                pieces.append((("|" if layout.begins[s][i] else " ") + " " * (w - 1), ""))
        return _join(row, pieces)

    def _footer(self, seg: Segmentation):
        from rich.text import Text

        parts = []
        for s in self.stages:
            k = int(seg.stages[s].starts_chunk.sum())
            parts.append(f"stage {s}: {k} chunks, {seg.length / max(k, 1):.2f} bytes/chunk, "
                         f"compression {seg.compression(s):.3f}")
        text = " | ".join(parts)
        if seg.windows > 1 and seg.seams is not None:
            agree = ", ".join(f"s{s} n/a" if seg.seams.agreement[s] is None else f"s{s} {seg.seams.agreement[s]:.1%}"
                              for s in self.stages)
            text += f" | {seg.windows} windows, seam agreement {agree}"
        return Text(text, style="dim")

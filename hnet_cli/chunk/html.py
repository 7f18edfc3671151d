"""The HTML view: one self-contained page (inline CSS and JS, nothing fetched).

Each document is a section whose text is wrapped in one <span> per chunk per
shown stage, nested (a stage s+1 chunk is a run of stage s chunks), with one
short class naming parity and stage (`a0`/`b0`: alternate stage-0 chunks,
`a1`/`b1`: stage 1, ...): the first
shown stage is drawn as alternating background colours, each further stage as
a band of alternating colours under the text. Hovering shows, for every stage
of the chunk under the pointer, its index, byte range, length, boundary
probability p of its first element, mean confidence, its text and its bytes
in hex. Per-chunk numbers (chunk lengths, and p and confidence in
thousandths) and the document's bytes (base64) sit in one JSON block per
section, so the DOM stays lean (one span per chunk, none per byte): about 32
bytes of page per chunk, 1-3 MB for a 100 KB input.

A character is shown in the chunk that holds its first byte; a chunk that
begins and ends inside one multi-byte character is drawn as an empty span
with a small red mark.
"""

from __future__ import annotations

import base64
import html
import json
from typing import IO

from hnet_cli.chunk.display import display_units
from hnet_cli.chunk.segmentation import Segmentation

TEXT_COLOURS = ("#ffd166", "#8ecae6")  # first shown stage: chunk backgrounds
BAND_COLOURS = [("#e63946", "#2a9d8f"), ("#8338ec", "#fb8500"), ("#3a86ff", "#6a994e")]
BAND_STEP_PX = 6  # vertical distance between stage bands

_SCRIPT = r"""
(function () {
  var tip = document.getElementById('tip');
  var docs = new Map();
  function info(sec) {
    var d = docs.get(sec);
    if (!d) {
      d = JSON.parse(sec.querySelector('script.chunks').textContent);
      d.bytes = atob(d.b64);
      d.spans = {};
      docs.set(sec, d);
    }
    return d;
  }
  function index(d, sec, s, el) {
    if (!d.spans[s]) {
      d.spans[s] = Array.prototype.slice.call(sec.querySelectorAll('.seq .a' + s + ', .seq .b' + s));
      var st = d.stages[s], at = 0;
      st.start = st.len.map(function (n) { var a = at; at += n; return a; });
    }
    return d.spans[s].indexOf(el);
  }
  function milli(v) { return (v / 1000).toFixed(3); }
  function hex(d, a, b) {
    var out = [];
    for (var i = a; i < b && i < a + 24; i++) out.push(('0' + d.bytes.charCodeAt(i).toString(16)).slice(-2));
    return out.join(' ') + (b - a > 24 ? ' ...' : '');
  }
  function place(e) {
    var x = Math.min(e.clientX + 14, window.innerWidth - tip.offsetWidth - 4);
    var y = e.clientY + 18;
    if (y + tip.offsetHeight > window.innerHeight) y = e.clientY - tip.offsetHeight - 8;
    tip.style.left = Math.max(0, x) + 'px';
    tip.style.top = Math.max(0, y) + 'px';
  }
  document.addEventListener('mouseover', function (e) {
    var el = e.target, sec = el.closest ? el.closest('section.doc') : null;
    if (!sec || !el.closest('.seq')) { tip.style.display = 'none'; return; }
    var d = info(sec), lines = [];
    for (var n = el; n && n !== sec; n = n.parentElement) {
      var m = /(?:^| )[ab](\d+)(?: |$)/.exec(n.className || '');
      if (!m) continue;
      var s = +m[1], st = d.stages[s], i = index(d, sec, s, n);
      if (i < 0) continue;
      var a = st.start[i], b = a + st.len[i];
      var text = n.textContent;
      if (text.length > 60) text = text.slice(0, 57) + '...';
      lines.push('stage ' + s + '  chunk ' + i + '  bytes ' + (d.offset + a) + '-' + (d.offset + b) +
                 ' (' + (b - a) + ')  p=' + milli(st.p[i]) + '  conf=' + milli(st.c[i]) +
                 '\n  ' + JSON.stringify(text) + '  [' + hex(d, a, b) + ']');
    }
    if (!lines.length) { tip.style.display = 'none'; return; }
    tip.textContent = lines.join('\n');
    tip.style.display = 'block';
    place(e);
  });
  document.addEventListener('mousemove', function (e) { if (tip.style.display === 'block') place(e); });
})();
"""


def _css(stages: list[int], sequence: bool) -> str:
    lowest, bands = stages[0], stages[1:]
    line_extra = BAND_STEP_PX * len(bands) + 4
    rules = [
        "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:1.2em 1.6em;color:#1d1d1d;background:#fff}",
        "h1{font-size:1.25em;margin:0 0 .3em} h2{font-size:1.05em;margin:1.4em 0 .2em}",
        ".meta{color:#555;font-size:.85em;margin:.1em 0 .6em}",
        ".legend span.sw{display:inline-block;width:1.6em;height:.9em;vertical-align:middle;margin:0 .2em 0 .8em}",
        f".seq{{font-family:ui-monospace,'DejaVu Sans Mono',Menlo,Consolas,monospace;font-size:15px;"
        f"white-space:pre-wrap;{'word-break:break-all;' if sequence else 'overflow-wrap:anywhere;'}"
        f"line-height:calc(1.45em + {line_extra}px);color:#000}}",
        f".a{lowest}{{background:{TEXT_COLOURS[0]}}} .b{lowest}{{background:{TEXT_COLOURS[1]}}}",
        ".z::before{content:'\\2758';color:#d00;font-size:70%}",
        ".ctl{color:#777;font-style:italic}",
        "#tip{position:fixed;display:none;z-index:10;pointer-events:none;background:#222;color:#f4f4f4;"
        "padding:6px 9px;border-radius:4px;font:12px ui-monospace,'DejaVu Sans Mono',monospace;white-space:pre;"
        "box-shadow:0 2px 8px rgba(0,0,0,.3)}",
    ]
    for rank, s in enumerate(bands, start=1):
        a, b = BAND_COLOURS[(rank - 1) % len(BAND_COLOURS)]
        rules.append(f".a{s},.b{s}{{padding-bottom:{BAND_STEP_PX * (rank - 1) + 1}px;border-bottom:4px solid {a}}}"
                     f" .b{s}{{border-bottom-color:{b}}}")
    return "\n".join(rules)


def stage_colours(stages: list[int]) -> dict[int, tuple[str, str]]:
    """The two alternating colours of each shown stage (tests look for them in screenshots)."""
    out = {stages[0]: TEXT_COLOURS}
    for rank, s in enumerate(stages[1:], start=1):
        out[s] = BAND_COLOURS[(rank - 1) % len(BAND_COLOURS)]
    return out


def _unit_html(text: str, safe: bool, newline: bool) -> str:
    if newline:
        return text + "\n"
    if not safe:
        return f'<i class="ctl">{text}</i>'
    return html.escape(text, quote=False)


def chunk_spans(seg: Segmentation, stages: list[int]) -> str:
    """The nested spans of one document (inner = first shown stage)."""
    units = display_units(seg.data)
    order = sorted(stages)
    starts = units.start
    ids = {s: (seg.chunk_ids(s)[starts].tolist() if starts else []) for s in order}
    totals = {s: int(seg.stages[s].starts_chunk.sum()) for s in order}
    current = {s: -1 for s in order}
    out: list[str] = []

    def span_open(s: int, j: int, empty: bool = False) -> str:
        cls = f"{'ab'[j % 2]}{s}"
        return f'<span class="{cls} z"></span>' if empty else f"<span class={cls}>"

    for u in range(len(units)):
        changed = [s for s in order if ids[s][u] != current[s]]
        if changed:
            outer = max(changed)
            for s in order:  # close, innermost first
                if s <= outer and current[s] >= 0:
                    out.append("</span>")
            for s in reversed(order):  # open, outermost first
                if s <= outer:
                    out.extend(span_open(s, j, empty=True) for j in range(current[s] + 1, ids[s][u]))
                    out.append(span_open(s, ids[s][u]))
                    current[s] = ids[s][u]
        out.append(_unit_html(units.text[u], units.safe[u], units.newline[u]))
    for s in order:
        if current[s] >= 0:
            out.append("</span>")
    for s in order:  # chunks that begin inside the last character
        out.extend(span_open(s, j, empty=True) for j in range(current[s] + 1, totals[s]))
    return "".join(out)


def _chunk_data(seg: Segmentation, stages: list[int]) -> str:
    data = {"name": seg.document.name, "offset": seg.offset, "length": seg.length,
            "b64": base64.b64encode(seg.data).decode("ascii"), "stages": {}}
    for s in stages:
        table = seg.chunk_table(s)
        data["stages"][s] = {  # lengths and thousandths keep the page small; the tables have exact values
            "len": table.length.tolist(),
            "p": [round(v * 1000) for v in table.boundary_prob.tolist()],
            "c": [round(v * 1000) for v in table.mean_confidence.tolist()],
        }
    # "</" cannot end the script element early once escaped
    return json.dumps(data, separators=(",", ":")).replace("</", "<\\/")


class HtmlWriter:
    def __init__(self, stream: IO, stages: list[int], sequence: bool = False, model_name: str = "model",
                 title: str | None = None):
        self.stream = stream
        self.stages = stages
        self.sequence = sequence
        self.model_name = model_name
        self.title = title or f"hnet chunk: {model_name}"

    def begin(self) -> None:
        w = self.stream.write
        w("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n")
        w(f"<title>{html.escape(self.title)}</title>\n")
        w(f"<style>\n{_css(self.stages, self.sequence)}\n</style></head><body>\n")
        w(f"<h1>{html.escape(self.title)}</h1>\n<p class=\"meta legend\">")
        for s, (a, b) in stage_colours(self.stages).items():
            w(f"stage {s}:<span class=\"sw\" style=\"background:{a}\"></span>"
              f"<span class=\"sw\" style=\"background:{b};margin-left:0\"></span> ")
        w("<br>Hover a chunk for its bytes, stage and probability. Marks: <i class=\"ctl\">·</i> non-printable "
          "byte, ↵ newline, → tab, <span class=\"z\"></span> a chunk that begins inside a character.</p>\n")

    def add(self, seg: Segmentation) -> None:
        w = self.stream.write
        parts = []
        for s in self.stages:
            k = int(seg.stages[s].starts_chunk.sum())
            parts.append(f"stage {s}: {k} chunks, {seg.length / max(k, 1):.2f} bytes/chunk")
        where = f" &middot; {html.escape(seg.record)}:{seg.offset}-{seg.offset + seg.length}" if seg.offset else ""
        w(f"<section class=\"doc\"><h2>{html.escape(seg.document.name)}</h2>\n")
        w(f"<p class=\"meta\">{seg.length} bytes{where} &middot; {' &middot; '.join(parts)}</p>\n")
        w(f"<div class=\"seq\">{chunk_spans(seg, self.stages)}</div>\n")
        w(f"<script type=\"application/json\" class=\"chunks\">{_chunk_data(seg, self.stages)}</script>\n")
        w("</section>\n")

    def end(self) -> None:
        self.stream.write(f"<div id=\"tip\"></div>\n<script>{_SCRIPT}</script>\n</body></html>\n")

    def abort(self) -> None:
        pass

"""The terminal and HTML views of hnet chunk; the HTML page is rendered by headless Chromium."""

import gzip
import io
import re
import shutil
import subprocess
import unicodedata
import zlib
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

import hnet_cli
from hnet_cli.chunk import segment_bytes
from hnet_cli.chunk.html import HtmlWriter, stage_colours
from hnet_cli.chunk.terminal import TerminalWriter
from hnet_cli.cli import main
from hnet_cli.model import save_model
from model_helpers import tiny_model
from test_chunk_reference import reference_segmentation

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ANSI = re.compile(r"\x1b\[[0-9;]*m")
TEXT = "Tab\there, ctrl \x01 and 中文 text.\nSecond line: words words words and more words here.\n"


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("view_models")
    return {s: save_model(tiny_model(s, seed=5), root / f"m{s}") for s in (1, 2)}


def starts_of(model, data, stage):
    return [c[0] for c in reference_segmentation(model, data)[stage]["chunks"]]


# ---------------------------------------------------------------- terminal


def test_terminal_plain_dna_wraps_at_tens_and_marks_every_chunk(models, tmp_path):
    seq = (b"ACGTTGCAAT" * 13)[:127]
    fasta = tmp_path / "s.fa"
    fasta.write_bytes(b">seq1\n" + seq + b"\n")
    out = tmp_path / "view.txt"
    assert main(["chunk", str(fasta), "-m", str(models[2]), "-f", "term", "--width", "60",
                 "--output", str(out), "-q"]) == 0
    lines = out.read_text().splitlines()
    assert lines[0].startswith("seq1")
    body, footer = lines[1:-1], lines[-1]
    assert footer.startswith("stage 0:") and "stage 1:" in footer
    # 60 columns - 3 for the offset - 1 space = 56 -> 50 bases per line; each line: text, s0, s1
    assert len(body) == 3 * 3
    model = hnet_cli.load(models[2])
    for s in (0, 1):
        marks = []
        for k in range(3):
            text, band = body[3 * k], body[3 * k + 1 + s]
            offset = int(text[:3])
            assert offset == 50 * k and band[:4] == f" s{s} "
            marks += [offset + i for i, ch in enumerate(band[4:]) if ch == "|"]
        assert marks == starts_of(model, seq, s)
    assert "".join(body[3 * k][4:] for k in range(3)) == seq.decode()


def test_terminal_shows_unprintable_bytes_safely_and_marks_align(models):
    model = hnet_cli.load(models[1])
    data = TEXT.encode()
    seg = segment_bytes(model, data)
    stream = io.StringIO()
    writer = TerminalWriter(stream, [0], width=200, color=False)
    writer.add(seg)
    lines = stream.getvalue().splitlines()
    assert lines[1].endswith("Tab→here, ctrl · and 中文 text.↵")
    assert lines[3].endswith("Second line: words words words and more words here.↵")
    assert "\x01" not in stream.getvalue() and "\t" not in stream.getvalue()
    # The mark under each character: '|' where a chunk begins in its bytes; wide characters take two cells.
    starts = set(starts_of(model, data, 0))
    expected, pos = [], 0
    for ch in TEXT.split("\n")[0] + "\n":
        n = len(ch.encode())
        cells = 2 if unicodedata.east_asian_width(ch) == "W" else 1
        expected.append(("|" if starts & set(range(pos, pos + n)) else " ") + " " * (cells - 1))
        pos += n
    band = lines[2]
    assert lines[1][:4] == "  0 " and band[:4] == " s0 "
    assert band[4:].rstrip() == "".join(expected).rstrip()


def test_terminal_colour_bands_and_stats_footer(models):
    model = hnet_cli.load(models[2])
    seg = segment_bytes(model, TEXT.encode())
    stream = io.StringIO()
    writer = TerminalWriter(stream, [0, 1], width=120, color=True)
    writer.add(seg)
    out = stream.getvalue()
    assert "\x1b[" in out  # coloured
    plain = ANSI.sub("", out).splitlines()
    assert plain[1].endswith("Tab→here, ctrl · and 中文 text.↵")
    assert plain[2].lstrip().startswith("s1") and "▏" in plain[2]  # one band for the inner stage
    assert plain[2].count("▏") <= len(starts_of(model, TEXT.encode(), 1))


def test_term_format_with_stats(models, tmp_path):
    src = tmp_path / "t.txt"
    src.write_text(TEXT, encoding="utf-8")
    out = tmp_path / "t.view"
    assert main(["chunk", str(src), "-m", str(models[1]), "-f", "term", "--stats", "--output", str(out), "-q"]) == 0
    text = out.read_text()
    assert "chunks per stage" in text and "most frequent chunks" in text and "chunk length (bytes) histogram" in text


# ---------------------------------------------------------------- HTML


class _Spans(HTMLParser):
    """Counts chunk spans per stage inside .seq and collects the text drawn there."""

    def __init__(self):
        super().__init__()
        self.stack, self.spans, self.text, self.external = [], {}, [], []
        self.in_seq = 0
        self.scripts = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in ("link", "img", "iframe") or "src" in attrs or "href" in attrs:
            self.external.append((tag, attrs))
        if tag == "script":
            self.scripts += 1
        classes = (attrs.get("class") or "").split()
        if tag == "div" and "seq" in classes:
            self.in_seq += 1
        if tag == "span" and self.in_seq:
            for c in classes:
                if re.fullmatch(r"[ab]\d+", c):
                    self.spans[int(c[1:])] = self.spans.get(int(c[1:]), 0) + 1
        self.stack.append(tag)

    def handle_endtag(self, tag):
        if tag == "div" and self.in_seq:
            self.in_seq -= 1
        self.stack.pop()

    def handle_data(self, data):
        if self.in_seq:
            self.text.append(data)


def test_html_is_self_contained_with_one_span_per_chunk(models, tmp_path):
    src = tmp_path / "page.txt"
    src.write_text(TEXT, encoding="utf-8")
    out = tmp_path / "page.html"
    assert main(["chunk", str(src), "-m", str(models[2]), "--output", str(out), "-q"]) == 0  # html from suffix
    page = out.read_text(encoding="utf-8")
    assert "http://" not in page and "https://" not in page
    parser = _Spans()
    parser.feed(page)
    assert parser.external == [] and parser.scripts == 2  # the chunk data block and the hover script
    model = hnet_cli.load(models[2])
    data = TEXT.encode()
    assert parser.spans == {0: len(starts_of(model, data, 0)), 1: len(starts_of(model, data, 1))}
    drawn = "".join(parser.text)
    assert drawn == TEXT.replace("\t", "→").replace("\x01", "·").replace("\n", "↵\n")


@pytest.mark.slow
def test_html_stays_lean_for_100_kb(models, tmp_path):
    with gzip.open(ROOT / "domains" / "data" / "persuasion.txt.gz", "rb") as f:
        data = f.read(100_000)
    data = data[: len(data.decode("utf-8", "ignore").encode())]
    model = hnet_cli.load(models[1])
    seg = segment_bytes(model, data)
    stream = io.StringIO()
    writer = HtmlWriter(stream, [0])
    writer.begin()
    writer.add(seg)
    writer.end()
    page = stream.getvalue()
    chunks = len(seg.chunk_starts(0))
    seq_spans = page.count("<span class=a0") + page.count("<span class=b0") + page.count('<span class="a0 z') \
        + page.count('<span class="b0 z')
    assert seq_spans == chunks < len(data) / 1.5  # one span per chunk, not per byte
    assert len(page) < 2.5 * len(data) + 36 * chunks  # the text and its base64, ~32 bytes per chunk
    page_file = tmp_path / "big.html"
    page_file.write_text(page, encoding="utf-8")
    png = tmp_path / "big.png"
    chromium([f"--screenshot={png}", "--window-size=800,600", page_file.as_uri()], tmp_path)
    assert pixels_near(read_png(png)[150:], stage_colours([0])[0][0]) > 2000


# ---------------------------------------------------------------- Chromium


def chromium(args, tmp_path):
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed (Debian package 'chromium'; .ci/run installs it)")
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--hide-scrollbars", f"--user-data-dir={tmp_path / 'chromium-profile'}", *args]
    return subprocess.run(cmd, capture_output=True, timeout=120)


def read_png(path: Path) -> np.ndarray:
    """A minimal PNG decoder (8-bit RGB/RGBA, not interlaced): (h, w, channels) uint8."""
    blob = path.read_bytes()
    assert blob[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, [], None
    while pos < len(blob):
        length = int.from_bytes(blob[pos : pos + 4], "big")
        kind = blob[pos + 4 : pos + 8]
        body = blob[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat.append(body)
    width, height = int.from_bytes(header[:4], "big"), int.from_bytes(header[4:8], "big")
    depth, colour, interlace = header[8], header[9], header[12]
    assert depth == 8 and colour in (2, 6) and interlace == 0
    bpp = 3 if colour == 2 else 4
    raw = np.frombuffer(zlib.decompress(b"".join(idat)), dtype=np.uint8).reshape(height, 1 + width * bpp)
    out = np.zeros((height, width * bpp), dtype=np.int32)
    prev = np.zeros(width * bpp, dtype=np.int32)
    for y in range(height):
        kind, line = raw[y, 0], raw[y, 1:].astype(np.int32)
        if kind == 0:
            cur = line
        elif kind == 2:
            cur = (line + prev) % 256
        elif kind == 1:  # Sub: running sum per channel
            cur = (np.cumsum(line.reshape(width, bpp), axis=0) % 256).reshape(-1)
        else:  # Average or Paeth: depend on the pixel to the left, so go pixel by pixel
            cur = np.zeros_like(line)
            for x in range(0, width * bpp, bpp):
                left = cur[x - bpp : x] if x else np.zeros(bpp, dtype=np.int32)
                up = prev[x : x + bpp]
                if kind == 3:
                    pred = (left + up) // 2
                else:
                    up_left = prev[x - bpp : x] if x else np.zeros(bpp, dtype=np.int32)
                    p = left + up - up_left
                    pa, pb, pc = abs(p - left), abs(p - up), abs(p - up_left)
                    pred = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, up, up_left))
                cur[x : x + bpp] = (line[x : x + bpp] + pred) % 256
        out[y] = cur
        prev = cur
    return out.reshape(height, width, bpp)[..., :3].astype(np.uint8)


def pixels_near(image: np.ndarray, colour: str, tol: int = 6) -> int:
    rgb = np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)])
    return int((np.abs(image.astype(np.int32) - rgb).max(axis=-1) <= tol).sum())


def test_chromium_screenshot_shows_the_chunk_colours(models, tmp_path):
    text = ("The quick brown fox jumps over the lazy dog; " * 12 + "\n") * 4
    src = tmp_path / "fox.txt"
    src.write_text(text)
    page = tmp_path / "fox.html"
    assert main(["chunk", str(src), "-m", str(models[2]), "-f", "html", "--output", str(page), "-q"]) == 0
    png = tmp_path / "fox.png"
    proc = chromium([f"--screenshot={png}", "--window-size=900,700", page.as_uri()], tmp_path)
    assert png.is_file(), proc.stderr.decode(errors="replace")[-2000:]
    image = read_png(png)
    assert image.shape[:2] == (700, 900)
    colours = stage_colours([0, 1])
    for stage, pair in colours.items():
        for colour in pair:
            assert pixels_near(image, colour) > 150, (stage, colour)
    # The colours are on the text, not only in the legend: most of them lie below the header.
    assert pixels_near(image[200:], colours[0][0]) > 1000 and pixels_near(image[200:], colours[1][1]) > 150


def test_chromium_hover_shows_bytes_stage_and_probability(models, tmp_path):
    """A synthetic mouseover on the first chunk: the tooltip names both stages and the numbers."""
    src = tmp_path / "hover.txt"
    src.write_text("Hovering over chunks shows their bytes.\n")
    page = tmp_path / "hover.html"
    assert main(["chunk", str(src), "-m", str(models[2]), "-f", "html", "--output", str(page), "-q"]) == 0
    html = page.read_text(encoding="utf-8")
    probe = ("<script>var el = document.querySelector('.seq .a0');"
             "el.dispatchEvent(new MouseEvent('mouseover', {bubbles: true, clientX: 40, clientY: 120}));</script>")
    page.write_text(html.replace("</body>", probe + "</body>"), encoding="utf-8")
    proc = chromium(["--dump-dom", page.as_uri()], tmp_path)
    dom = proc.stdout.decode("utf-8", errors="replace")
    tip = re.search(r'<div id="tip"[^>]*>(.*?)</div>', dom, re.S)
    assert tip, dom[-2000:]
    model = hnet_cli.load(models[2])
    ref = reference_segmentation(model, src.read_bytes())
    tip_text = tip.group(1)
    for s in (0, 1):
        start, end, p_first, conf, _ = ref[s]["chunks"][0]
        assert f"stage {s}  chunk 0  bytes {start}-{end} ({end - start})" in tip_text
        assert f"p={round(p_first * 1000) / 1000:.3f}  conf={round(conf * 1000) / 1000:.3f}" in tip_text
    first_bytes = src.read_bytes()[: ref[0]["chunks"][0][1]]
    assert " ".join(f"{b:02x}" for b in first_bytes) in tip_text

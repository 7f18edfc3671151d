"""Statistics of a segmentation, summed over documents: what `--stats` shows.

Kept as running totals, fed one window's piece at a time (chunks counted when
they close), so memory does not grow with the input; only the counter of the
most frequent chunks is pruned when it grows too large (at that point the
counts of rare chunks are approximate).

Per stage: chunk count, compression L_{s+1}/L_s (chunks per element of the
stage) and bytes per chunk, a chunk-length histogram (in bytes), and the
most frequent chunks. For DNA also the base composition of all bases and of
the first base of each chunk (where the model cuts), and GC content by chunk
length.
"""

from __future__ import annotations

from collections import Counter

import torch

from hnet_cli.chunk.display import escape_bytes
from hnet_cli.chunk.pieces import Piece

# Chunks longer than this are not counted among the most frequent (they rarely repeat,
# and keeping them would make memory grow with the input).
MAX_COUNTED_CHUNK = 64
# The chunk counter is pruned to its most common entries when it grows past this.
MAX_DISTINCT_CHUNKS = 200_000
BASES = "ACGTN"
_LENGTH_EDGES = [1, 2, 3, 4, 5, 6, 7, 8, 9, 17, 33, 65, 129, 257]


def length_bucket(length: int) -> str:
    for lo, hi in zip(_LENGTH_EDGES, _LENGTH_EDGES[1:]):
        if lo <= length < hi:
            return str(lo) if hi == lo + 1 else f"{lo}-{hi - 1}"
    return f"{_LENGTH_EDGES[-1]}+"


BUCKETS = [length_bucket(e) for e in _LENGTH_EDGES]


class _StageStats:
    def __init__(self):
        self.elements = 0
        self.chunks = 0
        self.bytes = 0
        self.lengths: Counter = Counter()
        self.frequent: Counter = Counter()
        self.first_base: Counter = Counter()
        self.gc_by_bucket: Counter = Counter()  # bucket -> G/C bases in chunks of that length
        self.bases_by_bucket: Counter = Counter()


class ChunkStats:
    def __init__(self, stages: list[int], sequence: bool = False, top: int = 15):
        self.stages = stages
        self.sequence = sequence
        self.top = top
        self.documents = 0
        self.bytes = 0
        self.composition: Counter = Counter()
        self.per_stage = {s: _StageStats() for s in stages}

    def add(self, piece: Piece) -> None:
        """A window's piece of a document: its bytes, and the chunks it closed (running totals only)."""
        self.documents += piece.last
        self.bytes += len(piece.data)
        if self.sequence:
            upper = piece.data.upper()
            for base in BASES:
                self.composition[base] += upper.count(base.encode())
            self.composition["other"] += len(upper) - sum(upper.count(b.encode()) for b in BASES)
        for s in self.stages:
            st = self.per_stage[s]
            closed = piece.chunks[s]
            table = closed.table
            st.elements += len(piece.stages[s])
            st.chunks += len(table)
            st.bytes += len(piece.data)
            if not len(table):
                continue
            lengths = table.length.tolist()
            base = int(table.start[0])
            starts = [a - base for a in table.start.tolist()]  # in closed.data
            data = closed.data
            st.lengths.update(lengths)
            for a, n in zip(starts, lengths):
                if n <= MAX_COUNTED_CHUNK:
                    st.frequent[data[a : a + n]] += 1
            if len(st.frequent) > MAX_DISTINCT_CHUNKS:
                st.frequent = Counter(dict(st.frequent.most_common(MAX_DISTINCT_CHUNKS // 2)))
            if self.sequence:
                upper = data.upper()
                st.first_base.update(chr(upper[a]) if chr(upper[a]) in BASES else "other" for a in starts)
                ids = torch.frombuffer(bytearray(upper), dtype=torch.uint8)
                is_gc = (ids == ord("G")) | (ids == ord("C"))
                gc_cum = torch.cat([torch.zeros(1, dtype=torch.int64), torch.cumsum(is_gc.to(torch.int64), 0)])
                gc = (gc_cum[table.end - base] - gc_cum[table.start - base]).tolist()
                for n, g in zip(lengths, gc):
                    bucket = length_bucket(n)
                    st.gc_by_bucket[bucket] += g
                    st.bases_by_bucket[bucket] += n

    def as_dict(self) -> dict:
        out = {"documents": self.documents, "bytes": self.bytes, "stages": []}
        if self.sequence:
            total = sum(self.composition.values()) or 1
            out["composition"] = {k: self.composition[k] / total for k in [*BASES, "other"]}
        for s in self.stages:
            st = self.per_stage[s]
            ordered = sorted(st.lengths.elements()) if st.chunks <= 1_000_000 else None
            median = ordered[len(ordered) // 2] if ordered else None
            hist = Counter()
            for n, c in st.lengths.items():
                hist[length_bucket(n)] += c
            entry = {
                "stage": s,
                "elements": st.elements,
                "chunks": st.chunks,
                "compression": st.chunks / st.elements if st.elements else 0.0,
                "bytes_per_chunk": st.bytes / st.chunks if st.chunks else 0.0,
                "median_chunk_bytes": median,
                "max_chunk_bytes": max(st.lengths) if st.lengths else 0,
                "length_histogram": {b: hist[b] for b in BUCKETS if hist[b]},
                "most_frequent": [
                    {"text": escape_bytes(chunk), "count": count, "share": count / st.chunks}
                    for chunk, count in st.frequent.most_common(self.top)
                ],
            }
            if self.sequence:
                firsts = sum(st.first_base.values()) or 1
                entry["first_base"] = {k: st.first_base[k] / firsts for k in [*BASES, "other"]}
                entry["gc_by_length"] = {
                    b: st.gc_by_bucket[b] / st.bases_by_bucket[b] for b in BUCKETS if st.bases_by_bucket[b]
                }
            out["stages"].append(entry)
        return out

    def render(self, console) -> None:
        """Rich tables on `console` (the CLI's, or the terminal view's footer)."""
        from rich.table import Table
        from rich.text import Text

        info = self.as_dict()
        say = lambda text: console.print(text, markup=False, highlight=False)  # noqa: E731
        say(f"{info['documents']} documents, {info['bytes']} bytes")
        summary = Table(title="chunks per stage", title_justify="left")
        for col in ("stage", "elements", "chunks", "compression", "bytes/chunk", "median", "max"):
            summary.add_column(col, justify="right")
        for e in info["stages"]:
            summary.add_row(str(e["stage"]), str(e["elements"]), str(e["chunks"]), f"{e['compression']:.3f}",
                            f"{e['bytes_per_chunk']:.2f}", str(e["median_chunk_bytes"]), str(e["max_chunk_bytes"]))
        console.print(summary)
        hist = Table(title="chunk length (bytes) histogram", title_justify="left")
        hist.add_column("length", justify="right")
        for e in info["stages"]:
            hist.add_column(f"stage {e['stage']}", justify="right")
            if self.sequence:
                hist.add_column(f"GC s{e['stage']}", justify="right")
        for b in BUCKETS:
            cells = []
            for e in info["stages"]:
                count = e["length_histogram"].get(b, 0)
                cells.append(f"{count} ({count / e['chunks']:.1%})" if e["chunks"] else "0")
                if self.sequence:
                    gc = e["gc_by_length"].get(b)
                    cells.append("" if gc is None else f"{gc:.1%}")
            if any(e["length_histogram"].get(b) for e in info["stages"]):
                hist.add_row(b, *cells)
        console.print(hist)
        if self.sequence:
            comp = Table(title="base composition: all bases vs first base of each chunk", title_justify="left")
            comp.add_column("base")
            comp.add_column("all", justify="right")
            for e in info["stages"]:
                comp.add_column(f"chunk starts s{e['stage']}", justify="right")
            for k in [*BASES, "other"]:
                comp.add_row(k, f"{info['composition'][k]:.1%}", *(f"{e['first_base'][k]:.1%}" for e in info["stages"]))
            console.print(comp)
        top = Table(title="most frequent chunks", title_justify="left")
        for e in info["stages"]:
            top.add_column(f"stage {e['stage']}")
            top.add_column("count", justify="right")
        rows = max((len(e["most_frequent"]) for e in info["stages"]), default=0)
        for i in range(rows):
            cells = []
            for e in info["stages"]:
                if i < len(e["most_frequent"]):
                    item = e["most_frequent"][i]
                    # spaces made visible: a chunk is often a word plus its space
                    cells += [Text(item["text"].replace(" ", "␣")), f"{item['count']} ({item['share']:.1%})"]
                else:
                    cells += ["", ""]
            top.add_row(*cells)
        console.print(top)

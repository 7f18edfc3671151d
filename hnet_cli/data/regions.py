"""Genome regions: `--region chr:start-end` and `--regions file.bed`, and cutting Documents to them.

Two coordinate conventions meet here, each the one its users expect:

    --region chr1:1001-2000   1-based, inclusive (samtools, IGV, UCSC's position box)
    --regions file.bed        0-based, half-open (BED): the line "chr1 1000 2000" is the same bases

Internally a Region is always 0-based half-open: [start, end). `chr1` alone is
the whole record, `chr1:1001` or `chr1:1001-` runs to its end; thousands
separators are accepted (`chr1:1,001-2,000`). A record name may itself hold
colons (`HLA-A*01:01`): the text after the last colon is taken as the range when
it parses as one, and, as in samtools, braces name such a record unambiguously
(`{HLA-A*01:01}` or `{HLA-A*01:01}:1-100`).

`restrict(documents, regions)` keeps the parts of each Document that lie in a
region. It works on the coordinates the readers attach (meta["record"] and
meta["offset"]: data[i] is base offset + i of the record), so it also works on
the pieces a reader cuts long records into; a region's part in one piece is
marked to continue into the next (meta["continues"]), so jobs that join pieces
(`hnet chunk`) see each region as one stretch. Every part keeps its genome
coordinates: offset = the region start (or the piece start), record unchanged,
so BED, bedGraph and embedding coordinates are genome coordinates.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Iterable, Iterator

from hnet_cli.data.documents import Document
from hnet_cli.errors import ConfigError, InputError

_RANGE = re.compile(r"^(\d[\d,]*)?(?:(-)(\d[\d,]*)?)?$")


@dataclass(frozen=True)
class Region:
    """Bases [start, end) of one record, 0-based half-open; end None = to the record's end."""

    record: str
    start: int = 0
    end: int | None = None
    name: str | None = None  # BED column 4, when given

    def __str__(self) -> str:
        """The 1-based inclusive form samtools prints: chr:start-end."""
        if self.start == 0 and self.end is None:
            return self.record
        return f"{self.record}:{self.start + 1}-{'' if self.end is None else self.end}"

    def overlap(self, lo: int, hi: int) -> tuple[int, int] | None:
        """[a, b) = this region intersected with bases [lo, hi), or None when empty."""
        a = max(self.start, lo)
        b = hi if self.end is None else min(self.end, hi)
        return (a, b) if a < b else None


def _number(text: str) -> int:
    return int(text.replace(",", ""))


def parse_region(text: str) -> Region:
    """`chr`, `chr:start`, `chr:start-` or `chr:start-end`, 1-based inclusive -> a 0-based Region."""
    raw = text.strip()
    if not raw:
        raise ConfigError("--region: empty; expected chr:start-end (1-based, inclusive), e.g. chr1:1001-2000")
    if raw.startswith("{") and "}" in raw:
        record, _, after = raw[1:].partition("}")
        if not after:
            return Region(record)
        if not after.startswith(":"):
            raise ConfigError(f"--region {raw!r}: expected {{name}} or {{name}}:start-end")
        colon, rest = ":", after[1:]
    else:
        record, colon, rest = raw.rpartition(":")
    match = _RANGE.match(rest) if colon else None
    if not colon or not match or not rest:
        return Region(raw)  # a bare record name (possibly holding colons)
    first, dash, last = match.groups()
    if first is None:
        raise ConfigError(f"--region {raw!r}: the range needs a start, as in {record}:1001-2000")
    start = _number(first)
    end = _number(last) if last is not None else None
    if start < 1:
        raise ConfigError(f"--region {raw!r}: positions are 1-based; the first base is 1")
    if end is not None and end < start:
        raise ConfigError(f"--region {raw!r}: end {end} is before start {start}")
    if not dash:  # chr:1001 -> from base 1001 to the end, as samtools reads it
        end = None
    return Region(record, start - 1, end)


def read_bed(path: str) -> list[Region]:
    """The intervals of a BED file (columns chrom, start, end[, name]; 0-based half-open).

    Header lines (`track`, `browser`, `#`) and blank lines are skipped; any other
    line that is not a valid interval is an InputError naming the file and line.
    """
    from hnet_cli.data.readers.sources import open_input, read_errors

    regions = []
    with open_input(path) as stream, read_errors(path):
        for number, raw in enumerate(stream, start=1):
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if not line.strip() or line.startswith(("#", "track", "browser")):
                continue
            fields = line.split("\t") if "\t" in line else line.split()
            if len(fields) < 3:
                raise InputError(path, f"a BED line needs chrom, start and end (got {len(fields)} field"
                                       f"{'s' * (len(fields) != 1)})", line=number)
            try:
                start, end = int(fields[1]), int(fields[2])
            except ValueError:
                raise InputError(path, f"start and end must be integers (got {fields[1]!r}, {fields[2]!r})",
                                 line=number) from None
            if start < 0 or end < start:
                raise InputError(path, f"invalid interval {start}-{end} (0-based half-open: 0 <= start <= end)",
                                 line=number)
            if end > start:  # an empty interval selects nothing
                regions.append(Region(fields[0], start, end, fields[3] if len(fields) > 3 else None))
    if not regions:
        raise InputError(path, "no intervals in this BED file")
    return regions


def gather_regions(region: Iterable[str] | str | None = None, regions_bed: str | None = None) -> list[Region]:
    """--region values (repeatable) and a --regions BED file, in the order given."""
    found: list[Region] = []
    if isinstance(region, str):
        region = [region]
    for text in region or []:
        found.append(parse_region(text))
    if regions_bed:
        found.extend(read_bed(regions_bed))
    return found


@dataclass
class RegionFilter:
    """Cuts Documents to a set of regions and remembers which regions were seen."""

    regions: list[Region]
    parts: int = 0
    bases: int = 0
    _by_record: dict[str, list[Region]] = field(default_factory=dict, repr=False)
    _starts: dict[str, list[int]] = field(default_factory=dict, repr=False)
    _seen: set = field(default_factory=set, repr=False)

    def __post_init__(self):
        for region in self.regions:
            self._by_record.setdefault(region.record, []).append(region)
        for record, items in self._by_record.items():
            items.sort(key=lambda r: (r.start, -1 if r.end is None else r.end))
            self._starts[record] = [r.start for r in items]

    def restrict(self, documents: Iterable[Document]) -> Iterator[Document]:
        """The parts of `documents` inside the regions, each with genome coordinates (see the module doc)."""
        for doc in documents:
            record = str(doc.meta.get("record", doc.name))
            items = self._by_record.get(record)
            if not items:
                continue
            offset = int(doc.meta.get("offset", 0) or 0)
            lo, hi = offset, offset + len(doc.data)
            # Regions are sorted by start: the ones starting at or after hi cannot overlap.
            for region in items[: bisect_right(self._starts[record], hi - 1)]:
                cut = region.overlap(lo, hi)
                if cut is None:
                    continue
                a, b = cut
                self._seen.add(region)
                continues = bool(doc.meta.get("continues")) and b == hi and (region.end is None or region.end > hi)
                meta = dict(doc.meta, record=record, offset=a, continues=continues, region=str(region))
                if region.name:
                    meta["region_name"] = region.name
                self.parts += 1
                self.bases += b - a
                yield Document(doc.data[a - offset : b - offset], doc.source, f"{record}:{a + 1}-{b}", meta)

    def unmatched(self) -> list[Region]:
        """Regions no input record reached (a misspelt record name, another assembly, ...)."""
        return [r for r in self.regions if r not in self._seen]

    def check_matched(self, paths: list[str]) -> None:
        """InputError when nothing at all was selected: almost always a record-name mismatch."""
        if self.parts == 0:
            names = ", ".join(sorted({r.record for r in self.regions})[:5])
            raise InputError(", ".join(paths) or "-", f"no record matches the regions (records asked for: {names})")

    def as_dict(self) -> dict:
        missed = self.unmatched()
        return {"regions": len(self.regions), "parts": self.parts, "bases": self.bases,
                "unmatched": len(missed), "unmatched_examples": [str(r) for r in missed[:5]]}

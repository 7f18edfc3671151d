"""One model over one corpus: bits per byte (and per unit), per file and record, chunk statistics.

Documents stream in; each is cut into windows (windows.py), windows are
sorted by length within groups and gathered into padded batches of at most
batch_size x context tokens (scoring.py; short documents share a batch with
many rows), and each document's result is assembled when its last window
comes back. Memory holds the documents whose windows are in flight, never
the corpus. Every row is computed as if alone, so batching changes speed only.

    bpb           = sum over documents of bits / sum of document bytes  (byte-weighted)
    bits per unit = the same bits / sum of domain.count_units(document)  (bases, characters)
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

import torch

from hnet_cli.data.documents import Document
from hnet_cli.eval.chunk_stats import DocumentChunks, StageStats, bytes_per_innermost_chunk
from hnet_cli.eval.scoring import WindowScore, score_windows
from hnet_cli.eval.windows import plan_windows
from hnet_cli.model.fast import for_inference
from hnet_cli.model.losses import LN2
from hnet_cli.progress import NullReporter

# Windows are sorted by length inside groups of this many batches' worth of
# tokens, so short documents share batches with short documents (less padding).
SORT_GROUP_BATCHES = 16


def token_budget_batches(jobs: list, budget: int) -> Iterator[list]:
    """Batches of length-sorted (ascending) window jobs whose padded size rows x longest
    stays within `budget` tokens: B full-context windows, or many more short ones."""
    batch: list = []
    for job in jobs:
        length = job[2].length  # the longest so far: jobs come sorted by length
        if batch and (len(batch) + 1) * length > budget:
            yield batch
            batch = []
        batch.append(job)
    if batch:
        yield batch


def length_sorted_groups(jobs: Iterator, group_tokens: int) -> Iterator[list]:
    """Consecutive groups of about `group_tokens` tokens, each sorted by window length
    (stably: a document's windows keep their order)."""
    while True:
        group, tokens = [], 0
        for job in jobs:
            group.append(job)
            tokens += job[2].length
            if tokens >= group_tokens:
                break
        if not group:
            return
        group.sort(key=lambda job: job[2].length)
        yield group


@dataclass
class Score:
    """Bits over a set of documents."""

    bits: float = 0.0
    bytes: int = 0
    units: int = 0
    documents: int = 0

    @property
    def bpb(self) -> float:
        return self.bits / self.bytes if self.bytes else float("nan")

    @property
    def bits_per_unit(self) -> float:
        return self.bits / self.units if self.units else float("nan")

    def add(self, other: "Score") -> None:
        self.bits += other.bits
        self.bytes += other.bytes
        self.units += other.units
        self.documents += other.documents

    def as_dict(self) -> dict:
        return {"bpb": self.bpb, "bits_per_unit": self.bits_per_unit, "bits": self.bits,
                "bytes": self.bytes, "units": self.units, "documents": self.documents}


@dataclass
class RecordScore:
    """One document's score (a FASTA record, a source file, a JSONL row, ...)."""

    index: int  # position of the document in reading order
    source: str
    name: str
    score: Score
    original_bytes: int


@dataclass
class PassResult:
    """One model over one version (clean or perturbed) of the corpus."""

    corpus: Score
    original_bytes: int  # bytes of the unperturbed documents (= corpus.bytes when clean)
    stages: list[StageStats]
    files: dict[str, Score] = field(default_factory=dict)
    records: list[RecordScore] = field(default_factory=list)
    seconds: float = 0.0
    windows: int = 0
    forwarded_tokens: int = 0  # tokens run through the model (> bytes when windows overlap)
    empty_documents: int = 0

    @property
    def bpic(self) -> float:
        return bytes_per_innermost_chunk(self.stages, self.corpus.bytes)

    @property
    def bytes_per_second(self) -> float:
        return self.corpus.bytes / self.seconds if self.seconds > 0 else float("nan")

    @property
    def bits_per_original_byte(self) -> float:
        return self.corpus.bits / self.original_bytes if self.original_bytes else float("nan")


def file_of(doc: Document) -> str:
    """The file a document came from: its source, or for a file inside a tree (the code
    domain's Documents carry meta["path"] relative to the tree's root) that file."""
    inner = doc.meta.get("path") if isinstance(doc.meta, dict) else None
    if isinstance(inner, str) and inner and inner != doc.source:
        return os.path.join(doc.source, inner)
    return doc.source


class ScoredDocument:
    """A document whose windows are in flight; their scores are applied in window order.

    Once every window is in: `nats` (sum of -ln p over its bytes), `chunks` (its
    chunking statistics) and, when scored per position, `nll` (n,) float64 (-ln p of
    each byte) and `probs` (per stage, (n,) float32 p^s at each byte, NaN where
    the byte is no stage-s position).
    """

    def __init__(self, index: int, doc: Document, data: bytes, windows, units: int, num_stages: int,
                 per_position: bool = False):
        self.index = index
        self.doc = doc
        self.data = data
        self.windows = windows
        self.units = units
        self.nats = 0.0
        self.chunks = DocumentChunks(num_stages)
        self.nll = torch.zeros(len(data), dtype=torch.float64) if per_position else None
        self.probs = ([torch.full((len(data),), float("nan")) for _ in range(num_stages)]
                      if per_position else None)
        self._waiting: dict[int, WindowScore] = {}
        self._next = 0

    def receive(self, index: int, score: WindowScore) -> bool:
        """Take window `index`'s score; True once every window is in."""
        self._waiting[index] = score
        while self._next in self._waiting:
            score = self._waiting.pop(self._next)
            window = self.windows[self._next]
            self.nats += score.nats
            first_byte = window.score_from - 1  # token k is byte k - 1
            if score.flags:
                self.chunks.add(first_byte, score.flags)
            if self.nll is not None:
                self.nll[first_byte : first_byte + window.scored] = score.nll
                for values, window_values in zip(self.probs, score.probs):
                    values[first_byte : first_byte + window.scored] = window_values
            self._next += 1
        return self._next == len(self.windows)


def scored_documents(
    model,
    documents: Iterable[Document],
    *,
    count_units: Callable[[bytes], int] = len,
    context: int,
    stride: int,
    batch_size: int = 8,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    transform: Callable[[int, bytes], bytes] | None = None,
    per_position: bool = False,
    on_batch: Callable[[int, float], None] | None = None,
    on_empty: Callable[[int, Document], None] | None = None,
) -> Iterator[ScoredDocument]:
    """Every non-empty document of `documents`, scored, as it completes (not in reading order:
    batches are sorted by length). The windowing and batching rules of the module docstring.

    transform(document_index, data) -> data: applied before scoring (perturbations);
    document_index counts all documents in reading order, empty ones included.
    on_batch(scored bytes, nats) after every forward pass; on_empty(index, document) for each empty one.
    """
    if batch_size < 1:
        from hnet_cli.errors import ConfigError

        raise ConfigError(f"--batch-size {batch_size}: must be at least 1")
    device = torch.device(device)
    # One forward pass holds at most batch_size x context tokens (padding included):
    # batch_size full windows, or more rows when documents are shorter than the context.
    budget = batch_size * context
    model = for_inference(model, device, budget)
    num_stages = model.config.num_stages

    def jobs():
        for index, doc in enumerate(documents):
            data = doc.data if transform is None else transform(index, doc.data)
            if not data:
                if on_empty is not None:
                    on_empty(index, doc)
                continue
            windows = plan_windows(len(data), context, stride)
            open_doc = ScoredDocument(index, doc, data, windows, count_units(data), num_stages, per_position)
            for k, window in enumerate(windows):
                yield open_doc, k, window

    for group in length_sorted_groups(jobs(), SORT_GROUP_BATCHES * budget):
        for batch in token_budget_batches(group, budget):
            scores = score_windows(model, [(d.data, w) for d, _, w in batch], device, dtype, per_position)
            done = []
            for (open_doc, k, window), score in zip(batch, scores):
                if open_doc.receive(k, score):
                    done.append(open_doc)
            if on_batch is not None:
                on_batch(sum(w.scored for _, _, w in batch), sum(score.nats for score in scores))
            yield from done


def evaluate_documents(
    model,
    documents: Iterable[Document],
    *,
    count_units: Callable[[bytes], int],
    context: int,
    stride: int,
    batch_size: int = 8,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    transform: Callable[[int, bytes], bytes] | None = None,
    keep_files: bool = False,
    keep_records: bool = False,
    reporter=None,
    total_bytes: int | None = None,
    description: str = "eval",
) -> PassResult:
    """Score every document of `documents` with `model` (see the module docstring).

    transform(document_index, data) -> data: applied before scoring (perturbations);
    document_index counts all documents in reading order, empty ones included.
    """
    reporter = reporter or NullReporter()
    num_stages = model.config.num_stages
    result = PassResult(corpus=Score(), original_bytes=0, stages=[StageStats(s) for s in range(num_stages)])
    first_index: dict[str, int] = {}
    running = {"nats": 0.0, "bytes": 0}  # over windows scored so far, for the progress line

    def on_empty(_index, _doc) -> None:
        result.empty_documents += 1

    def on_batch(scored_bytes: int, nats: float) -> None:
        running["nats"] += nats
        running["bytes"] += scored_bytes
        elapsed = time.perf_counter() - start
        reporter.advance(scored_bytes, bpb=running["nats"] / LN2 / max(running["bytes"], 1),
                         bytes_per_s=running["bytes"] / elapsed if elapsed > 0 else 0.0)

    reporter.start(description, total=total_bytes, unit="bytes")
    start = time.perf_counter()
    for done in scored_documents(model, documents, count_units=count_units, context=context, stride=stride,
                                 batch_size=batch_size, device=device, dtype=dtype, transform=transform,
                                 on_batch=on_batch, on_empty=on_empty):
        n = len(done.data)
        result.windows += len(done.windows)
        result.forwarded_tokens += sum(w.length for w in done.windows)
        score = Score(bits=done.nats / LN2, bytes=n, units=done.units, documents=1)
        result.corpus.add(score)
        result.original_bytes += len(done.doc.data)
        for total, stage in zip(result.stages, done.chunks.finish(n)):
            total.merge(stage)
        if keep_files:
            source = file_of(done.doc)
            result.files.setdefault(source, Score()).add(score)
            first_index[source] = min(first_index.get(source, done.index), done.index)
        if keep_records:
            result.records.append(RecordScore(done.index, done.doc.source, done.doc.name, score, len(done.doc.data)))
    result.seconds = time.perf_counter() - start
    # Documents finish out of order (batches are sorted by length); report in reading order.
    result.records.sort(key=lambda r: r.index)
    result.files = {src: result.files[src] for src in sorted(result.files, key=first_index.__getitem__)}
    reporter.finish()
    return result

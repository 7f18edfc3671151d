"""Scores and chunk statistics against an independent computation (plain forward per document).

Acceptance 1 of `hnet eval`: the reported bpb equals the sum of -log2 p(byte)
from one plain forward over [BOS] + document, divided by the bytes (<= 1e-6),
and batch size 1 and 8 give the same result.
"""

import gzip
import json
import math
from collections import Counter
from pathlib import Path

import pytest
import torch

from hnet_cli.data.documents import Document
from hnet_cli.eval.corpus import evaluate_documents, length_sorted_groups, token_budget_batches
from hnet_cli.eval.windows import Window
from model_helpers import tiny_model

DATA = Path(__file__).parent.parent / "domains" / "data"


def real_documents() -> list[Document]:
    """Short real documents of three kinds: English prose, classical Chinese poems, a phage genome."""
    with gzip.open(DATA / "persuasion.txt.gz", "rt", encoding="utf-8") as f:
        prose = f.read(40_000)
    paragraphs = [p.strip()[:400] for p in prose.split("\n\n") if len(p.strip()) > 40][5:9]
    with gzip.open(DATA / "classical_poems.jsonl.gz", "rt", encoding="utf-8") as f:
        poems = [json.loads(next(f))["text"] for _ in range(3)]
    with gzip.open(DATA / "lambda_phage.fa.gz", "rt") as f:
        genome = "".join(line.strip() for line in f if not line.startswith(">"))
    texts = paragraphs + poems + [genome[1000:1150], genome[20_000:20_007]]
    return [Document(t.encode("utf-8"), f"src{i % 3}", f"doc{i}") for i, t in enumerate(texts)]


def reference(model, data: bytes):
    """(bits, per-stage byte boundary lists) from ONE plain forward over [BOS] + data."""
    ids = torch.tensor([254, *data])[None]
    with torch.no_grad():
        out = model(ids)
    logp = torch.log_softmax(out.logits[0, :-1].double(), dim=-1)
    bits = -logp[torch.arange(len(data)), ids[0, 1:]].sum().item() / math.log(2)
    # Boundaries per stage, as token positions: stage s+1 runs on the stage-s boundaries in order.
    boundaries, tokens = [], list(range(len(data) + 1))
    for stage in out.stages:
        mask = stage.boundary_mask[0, : len(tokens)].tolist()
        tokens = [t for t, b in zip(tokens, mask) if b]
        boundaries.append([t - 1 for t in tokens if t > 0])  # token t is byte t - 1; BOS left out
    return bits, boundaries


def reference_chunk_lengths(boundary_bytes: list[int], n: int) -> Counter:
    """Bytes between consecutive boundaries; the chunk BOS opens starts at byte 0."""
    cuts = [0] + boundary_bytes + [n]
    return Counter(b - a for a, b in zip(cuts, cuts[1:]) if b > a)


@pytest.mark.parametrize("stages", [0, 1, 2])
def test_bpb_equals_independent_forward(stages):
    model = tiny_model(stages, seed=stages)
    docs = real_documents()
    longest = max(len(d.data) for d in docs)
    result = evaluate_documents(model, docs, count_units=lambda b: len(b.decode("utf-8")),
                                context=longest + 1, stride=1, batch_size=4, keep_files=True, keep_records=True)
    bits, stage_bounds = zip(*(reference(model, d.data) for d in docs))
    n_bytes = sum(len(d.data) for d in docs)
    n_chars = sum(len(d.data.decode("utf-8")) for d in docs)
    assert result.corpus.bytes == n_bytes and result.corpus.documents == len(docs)
    assert abs(result.corpus.bpb - sum(bits) / n_bytes) <= 1e-6
    assert abs(result.corpus.bits_per_unit - sum(bits) / n_chars) <= 1e-6
    assert n_chars < n_bytes  # the Chinese poems: 3 bytes per character
    for rec, doc, b in zip(result.records, docs, bits):
        assert (rec.name, rec.score.bytes) == (doc.name, len(doc.data))
        assert abs(rec.score.bpb - b / len(doc.data)) <= 1e-6
    for source in ("src0", "src1", "src2"):
        mine = [i for i, d in enumerate(docs) if d.source == source]
        expected = sum(bits[i] for i in mine) / sum(len(docs[i].data) for i in mine)
        assert abs(result.files[source].bpb - expected) <= 1e-6
    assert len(result.stages) == stages
    for s, st in enumerate(result.stages):
        inputs = n_bytes if s == 0 else sum(len(b[s - 1]) for b in stage_bounds)
        assert st.positions == inputs
        assert st.boundaries == sum(len(b[s]) for b in stage_bounds)
        expected = Counter()
        for doc, b in zip(docs, stage_bounds):
            expected += reference_chunk_lengths(b[s], len(doc.data))
        assert st.chunk_lengths == expected
    if stages:
        assert result.bpic == pytest.approx(n_bytes / sum(len(b[-1]) for b in stage_bounds))
        assert 0 < result.stages[0].compression < 1


@pytest.mark.parametrize("stages", [1, 2])
def test_batch_size_does_not_change_results(stages):
    model = tiny_model(stages, seed=10 + stages)
    docs = [real_documents()[i] for i in (0, 4, 7, 8)]  # prose 400 B, a poem, DNA 150 B, DNA 7 B
    # a context shorter than some documents: long ones are windowed, short ones padded
    runs = [evaluate_documents(model, docs, count_units=len, context=128, stride=64, batch_size=b) for b in (1, 8)]
    one, eight = runs
    assert one.corpus.bytes == eight.corpus.bytes == sum(len(d.data) for d in docs)
    assert abs(one.corpus.bpb - eight.corpus.bpb) <= 1e-6
    assert one.windows == eight.windows > len(docs)
    for a, b in zip(one.stages, eight.stages):
        assert (a.positions, a.boundaries, a.chunk_lengths) == (b.positions, b.boundaries, b.chunk_lengths)


def test_empty_documents_are_left_out_and_counted():
    model = tiny_model(1, seed=3)
    docs = [Document(b"", "a", "empty"), Document(b"hello world", "a", "x")]
    result = evaluate_documents(model, docs, count_units=len, context=64, stride=32)
    assert result.empty_documents == 1 and result.corpus.documents == 1 and result.corpus.bytes == 11


def test_batches_are_bounded_by_tokens_not_rows():
    jobs = [(None, 0, Window(0, n, 1)) for n in (60, 8, 128, 60, 128)]
    (group,) = list(length_sorted_groups(iter(jobs), 10_000))
    assert [j[2].length for j in group] == [8, 60, 60, 128, 128]
    batches = list(token_budget_batches(group, budget=128))  # --batch-size 1, context 128
    assert [[j[2].length for j in b] for b in batches] == [[8, 60], [60], [128], [128]]
    assert all(len(b) * max(j[2].length for j in b) <= 128 for b in batches)
    # groups close once they hold enough tokens; the rest of the stream is not lost
    groups = list(length_sorted_groups(iter(jobs), 100))
    assert [[j[2].length for j in g] for g in groups] == [[8, 60, 128], [60, 128]]

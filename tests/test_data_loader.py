"""Training batches: deterministic, resumable at any step, sharded without overlap, errors surface."""

import random

import pytest
import torch

from hnet_cli.data.documents import Document
from hnet_cli.data.loader import TrainLoader, shuffled, validation_batches
from hnet_cli.data.packing import collate, pack_documents
from hnet_cli.data.split import plan_split
from hnet_cli.errors import InputError


def corpus(n=120, seed=0):
    rng = random.Random(seed)
    return [Document(bytes(rng.randrange(97, 123) for _ in range(rng.randrange(5, 200))), "c.txt", f"d{i}")
            for i in range(n)]


def make_loader(docs, **kw):
    split = plan_split(lambda: iter(docs), 0.1, 10**6)
    args = dict(seq_len=32, batch_size=2, seed=3, shuffle_docs=16, shuffle_rows=8, prefetch=2)
    args.update(kw)
    return TrainLoader(lambda: iter(docs), split, **args), split


def take(loader, n):
    out = []
    for i, step in enumerate(loader):
        out.append([torch.cat([b.input_ids, b.seq_idx], 1) for b in step.micro_batches])
        if i + 1 == n:
            break
    return out


def same(a, b):
    return len(a) == len(b) and all(all(torch.equal(x, y) for x, y in zip(p, q)) for p, q in zip(a, b))


def test_shuffled_is_a_permutation():
    rng = random.Random(0)
    items = list(range(100))
    out = list(shuffled(items, 10, rng))
    assert sorted(out) == items and out != items


def test_same_seed_same_batches_other_seed_other_batches():
    docs = corpus()
    a, _ = make_loader(docs)
    b, _ = make_loader(docs)
    c, _ = make_loader(docs, seed=4)
    first = take(a, 30)  # several epochs
    assert same(first, take(b, 30))
    assert not same(first, take(c, 30))


def test_resume_from_saved_position_continues_exactly():
    docs = corpus()
    full, _ = make_loader(docs)
    reference = take(full, 25)
    part, _ = make_loader(docs)
    take(part, 11)
    state = part.state_dict()
    resumed, _ = make_loader(docs)
    resumed.load_state_dict(state)
    assert same(take(resumed, 14), reference[11:])


def test_processes_share_the_rows_of_one_process_with_accumulation():
    docs = corpus()
    single, _ = make_loader(docs, grad_accum=2)
    rank0, _ = make_loader(docs, rank=0, world_size=2)
    rank1, _ = make_loader(docs, rank=1, world_size=2)
    s, r0, r1 = take(single, 12), take(rank0, 12), take(rank1, 12)
    for step in range(12):
        assert torch.equal(s[step][0], r0[step][0]) and torch.equal(s[step][1], r1[step][0])


def test_each_process_knows_the_targets_of_the_whole_step():
    """Step.n_targets (the objective's denominator, counted from the rows on the host) equals the
    targets of every process's micro-batches counted from their tensors."""
    docs = corpus()
    ranks = [make_loader(docs, rank=r, world_size=2, grad_accum=2)[0] for r in range(2)]
    steps = [list(zip(range(8), loader)) for loader in ranks]
    for (_, a), (_, b) in zip(*steps):
        counted = sum(int(m.target_mask.sum()) for m in a.micro_batches + b.micro_batches)
        assert a.n_targets == b.n_targets == counted
    # padded rows (validation layout) count only their real positions, as collate's target_mask does
    rows = list(pack_documents([b"abcdefghij", b"xy"], 8, carry_context=True, pad_last=True))
    assert rows[-1].length < 8
    assert [r.n_targets for r in rows] == [int(collate([r]).target_mask.sum()) for r in rows]


def test_no_validation_bytes_in_training():
    docs = corpus(300)
    loader, split = make_loader(docs)
    val = {d.data for d in split.validation}
    assert split.mode == "documents" and val
    seen = b"".join(bytes(t[0, :32].tolist()) + bytes(t[1, :32].tolist()) for step in take(loader, 40) for t in step)
    for v in val:
        if len(v) >= 20:
            assert v[:20] not in seen


def test_reader_error_reaches_the_consumer():
    def broken():
        yield Document(b"x" * 400, "a.txt", "a")
        raise InputError("bad.txt", "truncated gzip", line=7)

    split = plan_split(lambda: iter([Document(b"x" * 400, "a.txt", "a")]), 0.1, 100)
    loader = TrainLoader(broken, split, seq_len=8, batch_size=2, prefetch=1)
    with pytest.raises(InputError, match="bad.txt:7: truncated gzip"):
        take(loader, 100)


def test_too_little_data_for_one_step_is_an_input_error():
    docs = [Document(b"abc", "a.txt", "a")]
    loader, _ = make_loader(docs, seq_len=64, batch_size=4)
    with pytest.raises(InputError, match="too small for one step"):
        take(loader, 1)


def test_validation_batches_cover_the_held_out_bytes_once_across_processes():
    docs = corpus(300)
    split = plan_split(lambda: iter(docs), 0.1, 10**6)
    total = sum(len(d.data) for d in split.validation)
    one = sum(b.n_targets for b in validation_batches(split, 32, 4))
    two = sum(b.n_targets for r in range(2) for b in validation_batches(split, 32, 4, rank=r, world_size=2))
    assert one == two == total

"""Packed vs padded layouts, cached stepping vs full forward, any depth."""

import pytest
import torch



from model_helpers import random_bytes, rel_err, tiny_model


def per_sequence(model, seqs):
    return [model(s[None]) for s in seqs]


@pytest.mark.parametrize("stages", [0, 1, 2, 3])
def test_packed_equals_per_sequence(stages):
    model = tiny_model(stages, seed=stages)
    lengths = [1, 13, 40, 1, 27, 2]
    seqs = [random_bytes(n, seed=i + 10 * stages) for i, n in enumerate(lengths)]
    cu = torch.tensor([0] + torch.tensor(lengths).cumsum(0).tolist())
    with torch.no_grad():
        packed = model(torch.cat(seqs), cu_seqlens=cu)
        singles = per_sequence(model, seqs)
    for i, (single, n) in enumerate(zip(singles, lengths)):
        sl = slice(cu[i].item(), cu[i + 1].item())
        assert rel_err(packed.logits[sl], single.logits[0]) <= 1e-5, f"sequence {i}"
        # stage 0 decisions per sequence are the slice of the packed ones
        if stages:
            assert torch.equal(packed.stages[0].boundary_mask[sl], single.stages[0].boundary_mask[0])


@pytest.mark.parametrize("stages", [1, 2])
def test_padded_batch_equals_per_sequence(stages):
    model = tiny_model(stages, seed=5)
    lengths = [1, 17, 33]
    seqs = [random_bytes(n, seed=i) for i, n in enumerate(lengths)]
    L = max(lengths)
    ids = torch.zeros(len(seqs), L, dtype=torch.long)
    mask = torch.zeros(len(seqs), L, dtype=torch.bool)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = s
        mask[i, : len(s)] = True
    with torch.no_grad():
        batch = model(ids, mask=mask)
        singles = per_sequence(model, seqs)
    for i, n in enumerate(lengths):
        assert rel_err(batch.logits[i, :n], singles[i].logits[0]) <= 1e-5
        for s, (bs, ss) in enumerate(zip(batch.stages, singles[i].stages)):
            valid = bs.valid[i]
            assert torch.equal(bs.boundary_mask[i][valid], ss.boundary_mask[0])
            assert not bs.boundary_mask[i][~valid].any(), "padding is never a boundary"


def test_several_documents_per_row_equal_separate_rows():
    """Training layout: documents packed into fixed rows with seq_idx."""
    model = tiny_model(2, seed=3)
    ids = random_bytes(2 * 30, seed=4).view(2, 30)
    seq_idx = torch.tensor([[0] * 10 + [1] * 1 + [2] * 19, [0] * 30])
    with torch.no_grad():
        out = model(ids, seq_idx=seq_idx)
        parts = [model(ids[0, :10][None]), model(ids[0, 10:11][None]), model(ids[0, 11:][None]), model(ids[1][None])]
    got = [out.logits[0, :10], out.logits[0, 10:11], out.logits[0, 11:], out.logits[1]]
    for g, p in zip(got, parts):
        assert rel_err(g, p.logits[0]) <= 1e-5


def test_stage_receiving_a_single_chunk():
    """With a zero query projection p = 0.5 (not a boundary), so only document starts are chunks."""
    model = tiny_model(2, seed=7)
    with torch.no_grad():
        model.backbone.main_network.routing_module.q_proj_layer.weight.zero_()
    lengths = [9, 21, 1]
    seqs = [random_bytes(n, seed=20 + i) for i, n in enumerate(lengths)]
    cu = torch.tensor([0, 9, 30, 31])
    with torch.no_grad():
        packed = model(torch.cat(seqs), cu_seqlens=cu)
        singles = per_sequence(model, seqs)
    inner = packed.stages[1]
    assert int(inner.boundary_mask.sum()) == len(lengths)  # one chunk per document at stage 2's input
    for i in range(len(lengths)):
        sl = slice(cu[i].item(), cu[i + 1].item())
        assert rel_err(packed.logits[sl], singles[i].logits[0]) <= 1e-5


def _step_all(model, ids):
    cache = model.new_cache(ids.shape[0])
    return torch.stack([model.step(ids[:, t], cache).logits for t in range(ids.shape[1])], 1), cache


@pytest.mark.parametrize("stages", [0, 1, 2])
def test_step_equals_full_forward_with_short_window(stages):
    # window 5 is far shorter than the 70-byte sequences, at every stage
    model = tiny_model(stages, seed=11 + stages, window=5)
    ids = random_bytes(3 * 70, seed=stages).view(3, 70)
    with torch.no_grad():
        full = model(ids)
        stepped, _ = _step_all(model, ids)
    assert rel_err(stepped, full.logits) <= 1e-4


@pytest.mark.parametrize("stages", [1, 2])
def test_prefill_then_step_with_rows_of_different_lengths(stages):
    model = tiny_model(stages, seed=21, window=4)
    L, extra = 40, 25
    ids = random_bytes(2 * (L + extra), seed=9).view(2, L + extra)
    prompt_len = [L, 23]
    mask = torch.zeros(2, L, dtype=torch.bool)
    for i, n in enumerate(prompt_len):
        mask[i, :n] = True
    with torch.no_grad():
        cache = model.new_cache(2)
        model(ids[:, :L], mask=mask, cache=cache)
        steps = []
        for j in range(extra):
            # each row continues from its own length
            nxt = torch.stack([ids[i, prompt_len[i] + j] for i in range(2)])
            steps.append(model.step(nxt, cache).logits)
        stepped = torch.stack(steps, 1)
        for i, n in enumerate(prompt_len):
            full = model(ids[i : i + 1, : n + extra]).logits[0, n:]
            assert rel_err(stepped[i], full) <= 1e-4, f"row {i}"


def test_step_reports_boundaries_like_forward():
    model = tiny_model(2, seed=2)
    ids = random_bytes(50, seed=1)[None]
    with torch.no_grad():
        full = model(ids)
        cache = model.new_cache(1)
        flags0, flags1 = [], []
        for t in range(50):
            out = model.step(ids[:, t], cache)
            flags0.append(bool(out.stages[0].boundary_mask[0]))
            if flags0[-1]:
                flags1.append(bool(out.stages[1].boundary_mask[0]))
    assert flags0 == full.stages[0].boundary_mask[0].tolist()
    assert flags1 == full.stages[1].boundary_mask[0].tolist()


def test_bfloat16_forward_runs_and_stays_close():
    model = tiny_model(1, seed=4)
    ids = random_bytes(64, seed=2)[None]
    with torch.no_grad():
        ref = model(ids).logits
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = model(ids).logits
    assert torch.isfinite(low).all()
    assert rel_err(low.float(), ref) < 5e-2

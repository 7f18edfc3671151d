"""Each reference op against a naive float64 loop (acceptance: <= 1e-6 relative).

The naive versions below are written directly from the recurrences, one step at
a time, with no chunking, no masks-as-tensors and no shared code with the ops.
"""

import math

import pytest
import torch
import torch.nn.functional as F

from hnet_cli import ops

TOL = 1e-6


def rel_err(a, b):
    return ((a.double() - b.double()).norm() / b.double().norm().clamp_min(1e-30)).item()


def random_seq_idx(b, l, gen, max_docs=4):
    """Non-decreasing document numbers per row, random cut points (length-1 documents likely)."""
    rows = []
    for _ in range(b):
        cuts = sorted(torch.randint(1, max(l, 2), (torch.randint(0, max_docs, (1,), generator=gen).item(),), generator=gen).tolist())
        row = torch.zeros(l, dtype=torch.long)
        for c in cuts:
            if c < l:
                row[c:] += 1
        rows.append(row)
    return torch.stack(rows)


# ---------------------------------------------------------------- SSD scan
def naive_ssd(x, dt, A, B, C, D, seq_idx, initial_state):
    b, l, h, p = x.shape
    g, n = B.shape[2], B.shape[3]
    y = torch.zeros(b, l, h, p, dtype=torch.float64)
    final = torch.zeros(b, h, p, n, dtype=torch.float64)
    for bi in range(b):
        for hi in range(h):
            gi = hi // (h // g)
            S = initial_state[bi, hi].clone() if initial_state is not None else torch.zeros(p, n, dtype=torch.float64)
            for t in range(l):
                if seq_idx is not None and t > 0 and seq_idx[bi, t] != seq_idx[bi, t - 1]:
                    S = torch.zeros(p, n, dtype=torch.float64)
                decay = math.exp(dt[bi, t, hi].item() * A[hi].item())
                S = decay * S + dt[bi, t, hi] * torch.outer(x[bi, t, hi], B[bi, t, gi])
                y[bi, t, hi] = S @ C[bi, t, gi] + D[hi] * x[bi, t, hi]
            final[bi, hi] = S
    return y, final


@pytest.mark.parametrize(
    "b,l,h,p,g,n,chunk,packed,init",
    [
        (1, 1, 1, 1, 1, 1, 4, False, False),
        (2, 1, 2, 3, 1, 4, 4, False, True),
        (2, 7, 2, 4, 1, 3, 3, False, False),
        (2, 19, 4, 3, 2, 5, 4, True, False),
        (3, 33, 2, 2, 1, 4, 8, True, True),
        (1, 64, 2, 4, 2, 3, 16, True, False),
    ],
)
def test_ssd_scan_matches_naive_loop(b, l, h, p, g, n, chunk, packed, init):
    gen = torch.Generator().manual_seed(b * 1000 + l)
    x = torch.randn(b, l, h, p, generator=gen, dtype=torch.float64)
    dt_raw = torch.randn(b, l, h, generator=gen, dtype=torch.float64)
    dt_bias = torch.randn(h, generator=gen, dtype=torch.float64) * 0.5
    A = -torch.rand(h, generator=gen, dtype=torch.float64) * 2 - 0.1
    B = torch.randn(b, l, g, n, generator=gen, dtype=torch.float64)
    C = torch.randn(b, l, g, n, generator=gen, dtype=torch.float64)
    D = torch.randn(h, generator=gen, dtype=torch.float64)
    seq_idx = random_seq_idx(b, l, gen) if packed else None
    initial = torch.randn(b, h, p, n, generator=gen, dtype=torch.float64) if init else None

    dt = F.softplus(dt_raw + dt_bias)
    want_y, want_state = naive_ssd(x, dt, A, B, C, D, seq_idx, initial)
    got_y, got_state = ops.ssd_scan_ref(
        x, dt_raw, A, B, C, D=D, dt_bias=dt_bias, dt_softplus=True, seq_idx=seq_idx,
        initial_state=initial, return_final_state=True, chunk_size=chunk,
    )
    assert rel_err(got_y, want_y) <= TOL
    assert rel_err(got_state, want_state) <= TOL


def test_ssd_step_matches_naive_loop():
    gen = torch.Generator().manual_seed(3)
    b, l, h, p, g, n = 2, 6, 4, 3, 2, 5
    x = torch.randn(b, l, h, p, generator=gen, dtype=torch.float64)
    dt = torch.rand(b, l, h, generator=gen, dtype=torch.float64)
    A = -torch.rand(h, generator=gen, dtype=torch.float64)
    B = torch.randn(b, l, g, n, generator=gen, dtype=torch.float64)
    C = torch.randn(b, l, g, n, generator=gen, dtype=torch.float64)
    D = torch.randn(h, generator=gen, dtype=torch.float64)
    want, _ = naive_ssd(x, dt, A, B, C, D, None, None)
    state = torch.zeros(b, h, p, n, dtype=torch.float64)
    got = torch.stack([ops.ssd_step(state, x[:, t], dt[:, t], A, B[:, t], C[:, t], D=D) for t in range(l)], 1)
    assert rel_err(got, want) <= TOL


# ---------------------------------------------------------------- causal conv
def naive_conv(x, w, bias, seq_idx):
    b, l, c = x.shape
    k = w.shape[1]
    out = torch.zeros(b, l, c, dtype=torch.float64)
    for bi in range(b):
        for t in range(l):
            acc = bias.clone()
            for j in range(k):
                s = t - j
                if s < 0:
                    continue
                if seq_idx is not None and seq_idx[bi, s] != seq_idx[bi, t]:
                    continue
                acc = acc + w[:, k - 1 - j] * x[bi, s]
            out[bi, t] = acc * torch.sigmoid(acc)
    return out


@pytest.mark.parametrize("b,l,c,k,packed", [(1, 1, 3, 4, False), (2, 5, 4, 4, True), (3, 17, 6, 3, True), (2, 9, 2, 4, False)])
def test_causal_conv_matches_naive_loop(b, l, c, k, packed):
    gen = torch.Generator().manual_seed(l * 7 + c)
    x = torch.randn(b, l, c, generator=gen, dtype=torch.float64)
    w = torch.randn(c, k, generator=gen, dtype=torch.float64)
    bias = torch.randn(c, generator=gen, dtype=torch.float64)
    seq_idx = random_seq_idx(b, l, gen) if packed else None
    got = ops.causal_conv1d_ref(x, w, bias, seq_idx=seq_idx, activation="silu")
    assert rel_err(got, naive_conv(x, w, bias, seq_idx)) <= TOL


def test_causal_conv_step_continues_a_sequence():
    gen = torch.Generator().manual_seed(11)
    b, l, c, k = 2, 9, 5, 4
    x = torch.randn(b, l, c, generator=gen, dtype=torch.float64)
    w = torch.randn(c, k, generator=gen, dtype=torch.float64)
    bias = torch.randn(c, generator=gen, dtype=torch.float64)
    want = naive_conv(x, w, bias, None)
    state = torch.zeros(b, c, k - 1, dtype=torch.float64)
    got = torch.stack([ops.causal_conv1d_step(state, x[:, t], w, bias, activation="silu") for t in range(l)], 1)
    assert rel_err(got, want) <= TOL
    # initial_state = the last k-1 inputs continues the sequence exactly
    split = 5
    tail = x[:, split - (k - 1):split].transpose(1, 2)
    cont = ops.causal_conv1d_ref(x[:, split:], w, bias, initial_state=tail, activation="silu")
    assert rel_err(cont, want[:, split:]) <= TOL


# ---------------------------------------------------------------- attention
def naive_attention(q, k, v, window, seq_idx):
    b, l, h, d = q.shape
    out = torch.zeros_like(q)
    for bi in range(b):
        for hi in range(h):
            for i in range(l):
                keys = [
                    j for j in range(i + 1)
                    if (window < 0 or i - j <= window) and (seq_idx is None or seq_idx[bi, j] == seq_idx[bi, i])
                ]
                scores = torch.stack([q[bi, i, hi] @ k[bi, j, hi] for j in keys]) / math.sqrt(d)
                weights = torch.softmax(scores, 0)
                out[bi, i, hi] = sum(wt * v[bi, j, hi] for wt, j in zip(weights, keys))
    return out


@pytest.mark.parametrize("b,l,h,d,window,packed", [(1, 1, 1, 4, -1, False), (2, 13, 2, 8, -1, True), (2, 17, 3, 4, 4, False), (1, 21, 2, 4, 0, True), (2, 11, 1, 8, 3, True)])
def test_attention_matches_naive_loop(b, l, h, d, window, packed):
    gen = torch.Generator().manual_seed(l + h)
    q, k, v = (torch.randn(b, l, h, d, generator=gen, dtype=torch.float64) for _ in range(3))
    seq_idx = random_seq_idx(b, l, gen) if packed else None
    got = ops.attention_ref(q, k, v, window=window, seq_idx=seq_idx)
    assert rel_err(got, naive_attention(q, k, v, window, seq_idx)) <= TOL


def test_attention_query_blocks_agree(monkeypatch):
    """Blocking the queries (to bound memory) does not change the result."""
    import importlib

    mod = importlib.import_module("hnet_cli.ops.attention_ref")

    gen = torch.Generator().manual_seed(5)
    q, k, v = (torch.randn(2, 40, 2, 4, generator=gen, dtype=torch.float64) for _ in range(3))
    seq_idx = random_seq_idx(2, 40, gen)
    whole = mod.attention_ref(q, k, v, window=6, seq_idx=seq_idx)
    monkeypatch.setattr(mod, "QUERY_BLOCK", 7)
    assert rel_err(mod.attention_ref(q, k, v, window=6, seq_idx=seq_idx), whole) <= 1e-12


# ---------------------------------------------------------------- EMA (dechunk smoothing)
def naive_ema(x, p, seq_idx, initial):
    b, l, d = x.shape
    out = torch.zeros_like(x)
    for bi in range(b):
        z = initial[bi].clone() if initial is not None else torch.zeros(d, dtype=torch.float64)
        for t in range(l):
            if seq_idx is not None and t > 0 and seq_idx[bi, t] != seq_idx[bi, t - 1]:
                z = torch.zeros(d, dtype=torch.float64)
            z = p[bi, t] * x[bi, t] + (1 - p[bi, t]) * z
            out[bi, t] = z
    return out


@pytest.mark.parametrize("b,l,d,packed,init", [(1, 1, 3, False, False), (2, 9, 4, True, False), (3, 70, 5, True, True), (1, 5, 2, False, True)])
def test_ema_scan_matches_naive_loop(b, l, d, packed, init):
    gen = torch.Generator().manual_seed(l * 3 + d)
    x = torch.randn(b, l, d, generator=gen, dtype=torch.float64)
    p = torch.rand(b, l, generator=gen, dtype=torch.float64).clamp(1e-4, 1 - 1e-4)
    seq_idx = random_seq_idx(b, l, gen) if packed else None
    initial = torch.randn(b, d, generator=gen, dtype=torch.float64) if init else None
    got = ops.ema_scan_ref(x, p, seq_idx=seq_idx, initial_state=initial)
    assert rel_err(got, naive_ema(x, p, seq_idx, initial)) <= TOL


# ---------------------------------------------------------------- norms
def test_norms_match_formula():
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(3, 5, 8, generator=gen, dtype=torch.float64)
    z = torch.randn(3, 5, 8, generator=gen, dtype=torch.float64)
    w = torch.randn(8, generator=gen, dtype=torch.float64)
    for t in range(5):
        row = x[0, t]
        want = row / math.sqrt(float((row**2).mean()) + 1e-5) * w
        assert rel_err(ops.rms_norm_ref(x, w)[0, t], want) <= TOL
        g = x[1, t] * z[1, t] * torch.sigmoid(z[1, t])
        want = g / math.sqrt(float((g**2).mean()) + 1e-5) * w
        assert rel_err(ops.gated_rms_norm_ref(x, z, w)[1, t], want) <= TOL


def test_ssd_reference_in_groups_of_chunks_is_the_same(monkeypatch):
    """The intra-chunk matrices are made a group of chunks at a time: any group size, the same result."""
    from hnet_cli.ops import ssd_ref

    gen = torch.Generator().manual_seed(7)
    b, l, h, p, n = 2, 150, 4, 8, 16
    x, B, C = (torch.randn(*s, generator=gen) for s in ((b, l, h, p), (b, l, 1, n), (b, l, 1, n)))
    dt, A = torch.rand(b, l, h, generator=gen) * 0.2, -torch.rand(h, generator=gen)
    seq = torch.tensor([[0] * 70 + [1] * 80, [0] * 150])
    whole = ssd_ref.ssd_scan_ref(x, dt, A, B, C, seq_idx=seq, chunk_size=16)
    monkeypatch.setattr(ssd_ref, "REF_GROUP_ELEMENTS", b * h * 16 * 16 * 3)  # 3 of 10 chunks at a time
    grouped = ssd_ref.ssd_scan_ref(x, dt, A, B, C, seq_idx=seq, chunk_size=16)
    torch.testing.assert_close(grouped, whole, rtol=1e-6, atol=1e-6)

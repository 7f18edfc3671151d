"""Mamba-2 SSD scan, pure PyTorch (the reference every fast path is tested against).

Per head h, with state S (headdim x d_state), the recurrence is

    S_t = exp(dt_t * A_h) * S_{t-1} + dt_t * x_t B_t^T
    y_t = S_t C_t + D_h * x_t

computed here in the chunked ("state space duality") form: inside a chunk of Q
positions the quadratic form y = (L o C B^T) (dt x) with the decay matrix
L[t, s] = exp(sum_{s < r <= t} dt_r A); between chunks a short sequential
recurrence on the chunk-final states. The result does not depend on Q up to
rounding; Q only trades memory (Q^2 per chunk) against the number of chunks.

Packed sequences: `seq_idx` (b, l) gives each position's document number,
non-decreasing along l. No state crosses from one document to the next.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


REF_MAX_CHUNK = 64
# Elements of the (b, chunks, h, Q, Q) intra-chunk matrices made at a time (4 MB in float32).
REF_GROUP_ELEMENTS = 1 << 20


def _per_head(t: torch.Tensor, nheads: int, dim: int) -> torch.Tensor:
    """Groups -> heads along `dim`: head h reads group h // (h / g).

    One group (the released models) stays a size-1 dimension that broadcasts
    over the heads, so nothing is copied.
    """
    g = t.shape[dim]
    if g == 1 or g == nheads:
        return t
    return t.repeat_interleave(nheads // g, dim=dim)


def ssd_scan_ref(
    x: torch.Tensor,
    dt: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: torch.Tensor | None = None,
    dt_bias: torch.Tensor | None = None,
    dt_softplus: bool = False,
    seq_idx: torch.Tensor | None = None,
    initial_state: torch.Tensor | None = None,
    return_final_state: bool = False,
    chunk_size: int = 64,
):
    """
    x:  (b, l, h, p)      inputs per head
    dt: (b, l, h)         step sizes (raw if dt_softplus: softplus(dt + dt_bias))
    A:  (h,)              negative decay rates
    B, C: (b, l, g, n)    input / output projections, g groups shared by h/g heads
    D:  (h,) or None      skip connection
    seq_idx: (b, l) int or None, non-decreasing document numbers
    initial_state: (b, h, p, n) or None, the state before position 0
    Returns y (b, l, h, p) in x's dtype, and the final state (b, h, p, n) if asked.
    Computes in float32 (float64 if x is float64).
    """
    b, l, h, p = x.shape
    n = B.shape[-1]
    out_dtype = x.dtype
    cdtype = torch.float64 if x.dtype == torch.float64 else torch.float32
    A_ = A.to(cdtype)
    # The result does not depend on the chunk size; past ~64 the quadratic intra-chunk
    # work dominates on CPUs, so the reference caps it there.
    Q = max(1, min(chunk_size, REF_MAX_CHUNK, l))
    nchunks = (l + Q - 1) // Q
    x_, dt_, B_, C_, seq = _padded_inputs(x, dt, B, C, dt_bias, dt_softplus, seq_idx, nchunks * Q - l, cdtype)

    # Chunked views, heads before time so the contractions are batched matmuls:
    # x (b, c, h, Q, p), dt and a (b, c, h, Q), B and C (b, c, g, Q, n), seq (b, c, Q)
    g = B.shape[2]
    xc = x_.view(b, nchunks, Q, h, p).permute(0, 1, 3, 2, 4)
    dtc = dt_.view(b, nchunks, Q, h).permute(0, 1, 3, 2)
    Bc = B_.view(b, nchunks, Q, g, n).permute(0, 1, 3, 2, 4)
    Cc = C_.view(b, nchunks, Q, g, n).permute(0, 1, 3, 2, 4)
    sc = seq.view(b, nchunks, Q)

    a_cum = torch.cumsum(dtc * A_[:, None], dim=-1)  # (b, c, h, Q): sum_{r <= t} dt_r A

    xdt = xc * dtc[..., None]  # dt_s x_s  (b, c, h, Q, p)
    y = _intra_chunk(a_cum, sc, xdt, Bc, Cc, h)  # (b, c, h, Q, p)

    # State contributed by each chunk alone at its last position, from the positions of
    # the document that is current there: sum_s exp(a_end - a_s) dt_s x_s B_s^T.
    last_seq = sc[:, :, -1]  # (b, c)
    in_last_doc = (sc == last_seq[:, :, None]).to(cdtype)[:, :, None]  # (b, c, 1, Q)
    to_end = torch.exp(a_cum[..., -1:] - a_cum) * in_last_doc  # (b, c, h, Q)
    chunk_states = (xdt * to_end[..., None]).transpose(-1, -2) @ _per_head(Bc, h, dim=2)  # (b, c, h, p, n)

    # Sequential pass over chunks for the states entering each chunk (small tensors only).
    state = torch.zeros(b, h, p, n, dtype=cdtype, device=x.device) if initial_state is None else initial_state.to(cdtype)
    states_in, seq_in, state = _states_entering_chunks(state, sc, last_seq, torch.exp(a_cum[..., -1]), chunk_states)

    # Their contribution: C_t . (exp(a_cum_t) S_in) for positions continuing that document.
    cont = (sc == seq_in[:, :, None]).to(cdtype)[:, :, None]  # (b, c, 1, Q)
    from_start = torch.exp(a_cum) * cont  # (b, c, h, Q)
    y = y + (_per_head(Cc, h, dim=2) @ states_in.transpose(-1, -2)) * from_start[..., None]

    y = y.permute(0, 1, 3, 2, 4)  # (b, c, Q, h, p)
    y = y.reshape(b, nchunks * Q, h, p)[:, :l]
    if D is not None:
        y = y + x.to(cdtype) * D.to(cdtype)[:, None]
    y = y.to(out_dtype)
    if return_final_state:
        return y, state
    return y


def _padded_inputs(x, dt, B, C, dt_bias, dt_softplus: bool, seq_idx, pad: int, cdtype):
    """x, dt (with its bias and softplus), B, C in the compute dtype, and the document numbers,
    padded with `pad` positions at the end to whole chunks."""
    b = x.shape[0]
    x_, dt_, B_, C_ = x.to(cdtype), dt.to(cdtype), B.to(cdtype), C.to(cdtype)
    if dt_bias is not None:
        dt_ = dt_ + dt_bias.to(cdtype)
    if dt_softplus:
        dt_ = F.softplus(dt_)
    if seq_idx is None:
        seq = torch.zeros(b, x.shape[1], dtype=torch.long, device=x.device)
    else:
        seq = seq_idx.to(torch.long)
    if pad:
        # Padding adds nothing (dt = 0, x = 0) and keeps the last document going.
        x_ = F.pad(x_, (0, 0, 0, 0, 0, pad))
        dt_ = F.pad(dt_, (0, 0, 0, pad))
        B_ = F.pad(B_, (0, 0, 0, 0, 0, pad))
        C_ = F.pad(C_, (0, 0, 0, 0, 0, pad))
        seq = torch.cat([seq, seq[:, -1:].expand(b, pad)], dim=1)
    return x_, dt_, B_, C_, seq


def _intra_chunk(a_cum, sc, xdt, Bc, Cc, h: int) -> torch.Tensor:
    """y = (L o C B^T) (dt x) within each chunk: (b, c, h, Q, p).

    The (t, s) matrices cost Q floats per position and head, several times over;
    made for a group of chunks at a time they stay a few MB instead of growing with
    the sequence (at 16,384 positions, 4 heads and Q = 64 each would be 17 MB, and
    five are alive at once).
    """
    b, nchunks, _, Q, p = xdt.shape
    y = torch.empty(b, nchunks, h, Q, p, dtype=xdt.dtype, device=xdt.device)
    group = max(1, REF_GROUP_ELEMENTS // (b * h * Q * Q))
    for c0 in range(0, nchunks, group):
        part = slice(c0, c0 + group)
        decay = _intra_chunk_decay(a_cum[:, part], sc[:, part])  # L[t, s]  (b, c, h, t, s)
        CB = _per_head(Cc[:, part] @ Bc[:, part].transpose(-1, -2), h, dim=2)  # C_t . B_s  (b, c, h, t, s)
        y[:, part] = (CB * decay) @ xdt[:, part]
    return y


def _intra_chunk_decay(a_cum: torch.Tensor, sc: torch.Tensor) -> torch.Tensor:
    """L[t, s] = exp(a_cum_t - a_cum_s) for s <= t in the same document, else 0: (b, c, h, t, s).

    (For s > t the difference is >= 0 and could overflow; it is clamped, then masked.)
    """
    Q = sc.shape[-1]
    same_doc = sc[:, :, :, None] == sc[:, :, None, :]  # (b, c, t, s)
    causal = torch.ones(Q, Q, dtype=torch.bool, device=sc.device).tril()
    keep = (same_doc & causal)[:, :, None].to(a_cum.dtype)  # (b, c, 1, t, s)
    seg = (a_cum[..., :, None] - a_cum[..., None, :]).clamp(max=0.0)
    return torch.exp(seg) * keep


def _states_entering_chunks(state, sc, last_seq, chunk_decay, chunk_states):
    """The recurrence between chunks: S_in(c+1) = exp(sum of dt A over chunk c) S_in(c) + chunk_states(c),
    restarted (not carried) where chunk c ends in another document than the state belongs to.

    state: (b, h, p, n) before the first chunk; sc: (b, c, Q) document numbers; last_seq: (b, c);
    chunk_decay: (b, c, h); chunk_states: (b, c, h, p, n).
    Returns the states entering each chunk (b, c, h, p, n), their documents (b, c), the final state.
    """
    prev_seq = sc[:, 0, 0]  # the initial state belongs to the first document
    entering, entering_seq = [], []
    for c in range(sc.shape[1]):
        entering.append(state)
        entering_seq.append(prev_seq)
        carried = (last_seq[:, c] == prev_seq).to(state.dtype)[:, None, None, None]
        state = state * (chunk_decay[:, c][:, :, None, None] * carried) + chunk_states[:, c]
        prev_seq = last_seq[:, c]
    return torch.stack(entering, 1), torch.stack(entering_seq, 1), state


def ssd_step_ref(
    state: torch.Tensor,
    x: torch.Tensor,
    dt: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: torch.Tensor | None = None,
    dt_bias: torch.Tensor | None = None,
    dt_softplus: bool = False,
):
    """One step of the recurrence. state (b, h, p, n) is updated in place.

    x (b, h, p), dt (b, h), B, C (b, g, n). Returns y (b, h, p).
    """
    h = x.shape[1]
    cdtype = state.dtype
    dt_ = dt if dt.dtype == cdtype else dt.to(cdtype)
    if dt_bias is not None:
        dt_ = dt_ + dt_bias.to(cdtype)
    if dt_softplus:
        dt_ = F.softplus(dt_)
    B_ = _per_head(B.to(cdtype), h, dim=1)  # (b, h or 1, n)
    C_ = _per_head(C.to(cdtype), h, dim=1)
    dA = torch.exp(dt_ * A.to(cdtype))  # (b, h)
    x_ = x.to(cdtype)
    # S = dA S + dt x B^T ;  y = S C + D x
    state.mul_(dA[:, :, None, None]).add_((x_ * dt_[:, :, None])[..., None] * B_[:, :, None, :])
    y = (state @ C_[..., None])[..., 0]
    if D is not None:
        y = y + x_ * D.to(cdtype)[:, None]
    return y.to(x.dtype)

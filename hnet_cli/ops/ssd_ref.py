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


def _expand_groups(t: torch.Tensor, nheads: int) -> torch.Tensor:
    """(b, l, g, n) -> (b, l, h, n): head h reads group h // (h / g)."""
    g = t.shape[2]
    if g == nheads:
        return t
    return t.repeat_interleave(nheads // g, dim=2)


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
    x_, dt_, A_ = x.to(cdtype), dt.to(cdtype), A.to(cdtype)
    if dt_bias is not None:
        dt_ = dt_ + dt_bias.to(cdtype)
    if dt_softplus:
        dt_ = F.softplus(dt_)
    B_ = _expand_groups(B.to(cdtype), h)
    C_ = _expand_groups(C.to(cdtype), h)

    Q = max(1, min(chunk_size, l))
    nchunks = (l + Q - 1) // Q
    pad = nchunks * Q - l
    if seq_idx is None:
        seq = torch.zeros(b, l, dtype=torch.long, device=x.device)
    else:
        seq = seq_idx.to(torch.long)
    if pad:
        # Padding adds nothing (dt = 0, x = 0) and keeps the last document going.
        x_ = F.pad(x_, (0, 0, 0, 0, 0, pad))
        dt_ = F.pad(dt_, (0, 0, 0, pad))
        B_ = F.pad(B_, (0, 0, 0, 0, 0, pad))
        C_ = F.pad(C_, (0, 0, 0, 0, 0, pad))
        seq = torch.cat([seq, seq[:, -1:].expand(b, pad)], dim=1)

    # Chunked views: (b, c, Q, ...)
    xc = x_.view(b, nchunks, Q, h, p)
    dtc = dt_.view(b, nchunks, Q, h)
    Bc = B_.view(b, nchunks, Q, h, n)
    Cc = C_.view(b, nchunks, Q, h, n)
    sc = seq.view(b, nchunks, Q)

    a = dtc * A_  # (b, c, Q, h)  log-decay of each step
    a_cum = torch.cumsum(a, dim=2)  # sum_{r <= t} a_r within the chunk

    # Intra-chunk decay L[t, s] = exp(a_cum_t - a_cum_s) for s <= t in the same document.
    same_doc = sc[:, :, :, None] == sc[:, :, None, :]  # (b, c, t, s)
    causal = torch.ones(Q, Q, dtype=torch.bool, device=x.device).tril()
    keep = (same_doc & causal)[..., None]  # (b, c, t, s, 1)
    seg = a_cum[:, :, :, None, :] - a_cum[:, :, None, :, :]  # (b, c, t, s, h)
    decay = torch.exp(torch.where(keep, seg, torch.full_like(seg, float("-inf"))))

    xdt = xc * dtc[..., None]  # dt_s x_s
    scores = torch.einsum("bcthn,bcshn->bctsh", Cc, Bc) * decay
    y = torch.einsum("bctsh,bcshp->bcthp", scores, xdt)

    # State contributed by each chunk alone, at its last position, from positions of
    # the document that is current there.
    last_seq = sc[:, :, -1]  # (b, c)
    in_last_doc = (sc == last_seq[:, :, None])[..., None]  # (b, c, Q, 1)
    to_end = torch.exp(a_cum[:, :, -1:, :] - a_cum) * in_last_doc  # (b, c, Q, h)
    chunk_states = torch.einsum("bcsh,bcshp,bcshn->bchpn", to_end, xdt, Bc)

    # Sequential pass over chunks: state entering chunk c, and its contribution to y.
    state = torch.zeros(b, h, p, n, dtype=cdtype, device=x.device)
    if initial_state is not None:
        state = initial_state.to(cdtype).clone()
    prev_seq = sc[:, 0, 0]  # the initial state belongs to the first document
    chunk_decay = torch.exp(a_cum[:, :, -1, :])  # (b, c, h)
    for c in range(nchunks):
        # Positions of chunk c that continue the document the carried state belongs to.
        cont = (sc[:, c] == prev_seq[:, None]).to(cdtype)  # (b, Q)
        from_start = torch.exp(a_cum[:, c]) * cont[..., None]  # (b, Q, h)
        y[:, c] += torch.einsum("bthn,bhpn,bth->bthp", Cc[:, c], state, from_start)
        carried = (last_seq[:, c] == prev_seq).to(cdtype)[:, None, None, None]
        state = state * chunk_decay[:, c][:, :, None, None] * carried + chunk_states[:, c]
        prev_seq = last_seq[:, c]

    y = y.reshape(b, nchunks * Q, h, p)[:, :l]
    if D is not None:
        y = y + x.to(cdtype) * D.to(cdtype)[:, None]
    y = y.to(out_dtype)
    if return_final_state:
        return y, state
    return y


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
    dt_ = dt.to(cdtype)
    if dt_bias is not None:
        dt_ = dt_ + dt_bias.to(cdtype)
    if dt_softplus:
        dt_ = F.softplus(dt_)
    B_ = _expand_groups(B.to(cdtype)[:, None], h)[:, 0]  # (b, h, n)
    C_ = _expand_groups(C.to(cdtype)[:, None], h)[:, 0]
    dA = torch.exp(dt_ * A.to(cdtype))  # (b, h)
    x_ = x.to(cdtype)
    state.mul_(dA[:, :, None, None]).add_(torch.einsum("bh,bhp,bhn->bhpn", dt_, x_, B_))
    y = torch.einsum("bhpn,bhn->bhp", state, C_)
    if D is not None:
        y = y + x_ * D.to(cdtype)[:, None]
    return y.to(x.dtype)

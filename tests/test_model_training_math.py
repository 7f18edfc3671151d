"""Gradients through dynamic chunking, the ratio loss, init, FLOPs and parameter counts."""

import math

import pytest
import torch

import hnet_cli.model.hnet as hnet_module
from hnet_cli.model.flops import count_parameters, forward_flops_per_byte
from hnet_cli.model.hnet import HNetLM
from hnet_cli.model.init import init_weights
from hnet_cli.model.losses import ratio_counts, ratio_loss, ratio_loss_share

from model_helpers import random_bytes, tiny_config, tiny_model


# ------------------------------------------------------------------ finite differences
def _surrogate_ste(anchors):
    """STE(c) = 1 in value; its gradient is d c. As a differentiable function: 1 + c - c_at_base.

    `anchors` holds c at the unperturbed weights, one tensor per call, in call order.
    """
    calls = iter(anchors)

    def ste(c):
        return 1 + c - next(calls)

    return ste


def _loss(model, ids, probe):
    return (model(ids).logits * probe).sum()


@pytest.mark.parametrize("stages", [1, 2])
def test_routing_gradients_match_finite_differences(stages, monkeypatch):
    model = tiny_model(stages, seed=31, dtype=torch.float64, noise=0.2)
    ids = random_bytes(24, seed=3)[None]
    probe = torch.randn(1, 24, 256, generator=torch.Generator().manual_seed(0), dtype=torch.float64)

    # c_t at the base point, for every stage (outer first, in the order the STE is called)
    anchors = []
    real_ste = hnet_module.ste
    monkeypatch.setattr(hnet_module, "ste", lambda c: (anchors.append(c.detach().clone()), real_ste(c))[1])
    with torch.no_grad():
        base = model(ids)
    monkeypatch.setattr(hnet_module, "ste", real_ste)

    # autograd through the real STE
    loss = _loss(model, ids, probe)
    loss.backward()
    routing = model.backbone.routing_module
    params = [routing.q_proj_layer.weight, routing.k_proj_layer.weight]
    if stages == 2:
        inner = model.backbone.main_network.routing_module
        params += [inner.q_proj_layer.weight, inner.k_proj_layer.weight]

    gen = torch.Generator().manual_seed(1)
    eps = 1e-6
    for p in params:
        assert p.grad is not None and p.grad.abs().sum() > 0
        for _ in range(4):
            i, j = (torch.randint(0, n, (1,), generator=gen).item() for n in p.shape)
            values = []
            for sign in (+1, -1):
                with torch.no_grad():
                    p[i, j] += sign * eps
                    monkeypatch.setattr(hnet_module, "ste", _surrogate_ste(anchors))
                    out = model(ids)
                    monkeypatch.setattr(hnet_module, "ste", real_ste)
                    # a flipped boundary would make the difference quotient meaningless
                    for a, b in zip(out.stages, base.stages):
                        assert torch.equal(a.boundary_mask, b.boundary_mask)
                    values.append((out.logits * probe).sum().item())
                    p[i, j] -= sign * eps
            fd = (values[0] - values[1]) / (2 * eps)
            assert abs(fd - p.grad[i, j].item()) <= 1e-6 * max(1.0, abs(fd)), (fd, p.grad[i, j].item())


def test_both_paths_carry_gradient(monkeypatch):
    """The smoothing path alone (STE frozen) and the STE path each move the routing weights."""
    model = tiny_model(1, seed=8, dtype=torch.float64)
    ids = random_bytes(30, seed=5)[None]
    q = model.backbone.routing_module.q_proj_layer.weight

    model.zero_grad()
    model(ids).logits.sum().backward()
    full = q.grad.clone()

    monkeypatch.setattr(hnet_module, "ste", lambda c: torch.ones_like(c))  # no gradient through c_t
    model.zero_grad()
    model(ids).logits.sum().backward()
    smoothing_only = q.grad.clone()
    assert smoothing_only.abs().sum() > 0
    assert (full - smoothing_only).abs().sum() > 0


# ------------------------------------------------------------------ ratio loss
def test_ratio_loss_equals_formula():
    gen = torch.Generator().manual_seed(0)
    p = torch.rand(3, 50, generator=gen)
    b = p > 0.5
    valid = torch.ones(3, 50, dtype=torch.bool)
    valid[2, 30:] = False
    N = 4.0
    n = 130
    F_ = sum(int(b[i, : (50 if i < 2 else 30)].sum()) for i in range(3)) / n
    G = sum(float(p[i, : (50 if i < 2 else 30)].sum()) for i in range(3)) / n
    want = N / (N - 1) * ((N - 1) * F_ * G + (1 - F_) * (1 - G))
    assert abs(ratio_loss(b, p, valid, N).item() - want) < 1e-6


@pytest.mark.parametrize("N", [2.0, 3.0, 4.5, 6.0])
def test_ratio_loss_minimal_at_target(N):
    """Along consistent routing (F = G), the loss is minimal, equal to 1, at F = G = 1/N;
    there its gradient in F and in G vanishes."""
    L = 3600
    values = {}
    for k in range(1, L, 9):
        f = k / L
        b = torch.zeros(1, L, dtype=torch.bool)
        b[0, :k] = True
        p = torch.full((1, L), f)
        values[f] = ratio_loss(b, p, torch.ones(1, L, dtype=torch.bool), N).item()
    best = min(values, key=values.get)
    assert abs(best - 1 / N) <= 9 / L
    assert abs(values[best] - 1.0) < 1e-3
    # stationary in G at F = 1/N (G enters with a gradient)
    k = round(L / N)
    b = torch.zeros(1, L, dtype=torch.bool)
    b[0, :k] = True
    p = torch.full((1, L), k / L, requires_grad=True)
    ratio_loss(b, p, torch.ones(1, L, dtype=torch.bool), N).backward()
    assert p.grad.abs().max() < 1e-6


def test_ratio_loss_shares_add_up_to_the_pooled_loss():
    """train.ratio_stats=global: the parts' shares (their own sum of p, the pool's F and positions, 1/parts
    of the constant) add up to L_ratio of all rows together, in value and in gradient (float64 reference)."""
    gen = torch.Generator().manual_seed(1)
    p = torch.rand(4, 40, generator=gen, dtype=torch.float64).requires_grad_()
    b = p.detach() > 0.6
    valid = torch.ones(4, 40, dtype=torch.bool)
    valid[3, 25:] = False
    N = 3.0
    whole = ratio_loss(b, p, valid, N)
    grad_whole, = torch.autograd.grad(whole, p)
    parts = [ratio_counts(b[r], p[r], valid[r]) for r in (slice(0, 1), slice(1, 4))]
    pool_b, pool_n = sum(c[0] for c in parts), sum(c[2] for c in parts)
    shares = [ratio_loss_share(pool_b, g, pool_n, 0.5, N) for _, g, _ in parts]
    total = sum(shares)
    grad_shares, = torch.autograd.grad(total, p)
    assert abs(total.item() - whole.item()) < 1e-12
    assert (grad_shares - grad_whole).abs().max() < 1e-15
    # and not the mean of the parts' own losses (the "unit" objective), which differs here
    own = sum(ratio_loss(b[r], p[r], valid[r], N) for r in (slice(0, 1), slice(1, 4))) / 2
    assert abs(own.item() - whole.item()) > 1e-4


def test_ratio_loss_rejects_n_not_above_one():
    with pytest.raises(ValueError):
        ratio_loss(torch.ones(1, 3, dtype=torch.bool), torch.ones(1, 3), torch.ones(1, 3, dtype=torch.bool), 1.0)


# ------------------------------------------------------------------ init
def test_init_weights_keeps_identity_routing_and_zero_residual_proj():
    model = HNetLM(tiny_config(2))
    init_weights(model, generator=torch.Generator().manual_seed(0))
    for stage in (model.backbone, model.backbone.main_network):
        eye = torch.eye(stage.d_model)
        assert torch.equal(stage.routing_module.q_proj_layer.weight, eye)
        assert torch.equal(stage.routing_module.k_proj_layer.weight, eye)
        assert torch.equal(stage.residual_proj.weight, torch.zeros_like(stage.residual_proj.weight))
    emb = model.embeddings.weight
    assert 0.8 < emb.std().item() < 1.2
    w = model.backbone.encoder.layers[0].mixer.in_proj.weight
    assert 0.015 < w.std().item() < 0.025
    # out_proj scaled down by sqrt(residual additions in its stack): encoder m1t1 has 2
    out = model.backbone.encoder.layers[0].mixer.out_proj.weight
    assert abs(out.std().item() - 0.02 / math.sqrt(2)) < 0.004


# ------------------------------------------------------------------ parameters and FLOPs
def test_parameter_count_matches_fixture_summary(official_dir):
    import json

    from hnet_cli.model import HNetConfig

    summary = json.loads((official_dir / "generate_summary.json").read_text())
    for name, info in summary["configs"].items():
        model = HNetLM(HNetConfig.from_json(official_dir / f"{name}.json"), device="meta")
        assert count_parameters(model) == info["n_params"]


def test_flops_of_isotropic_transformer_match_textbook_count():
    """For attention+MLP blocks: 2 x (matmul parameters) + 4 d x (mean keys) per token, + lm_head."""
    from hnet_cli.model import HNetConfig

    cfg = HNetConfig.from_dict({
        "arch_layout": ["T3"], "d_model": [64], "d_intermediate": [100],
        "attn_cfg": {"num_heads": [4], "rotary_emb_dim": [16], "window_size": [-1]},
    })
    model = HNetLM(cfg, device="meta")
    linear_params = sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Linear))
    L = 512
    want = 2 * linear_params + 3 * 4 * 64 * (L + 1) / 2
    assert forward_flops_per_byte(cfg, L).per_byte == pytest.approx(want, rel=1e-12)


def test_flops_scale_with_measured_compression():
    cfg = tiny_config(1)
    dense = forward_flops_per_byte(cfg, 256, [1.0])
    sparse = forward_flops_per_byte(cfg, 256, [0.25])
    assert sparse.per_stage[0] == pytest.approx(dense.per_stage[0])
    assert sparse.per_stage[1] < dense.per_stage[1] / 3.5

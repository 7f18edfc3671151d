"""GPU fast paths against the references, on the same random inputs and the same weights.

CPU part (always runs): the FlexAttention mask paths, the SDPA path, the
boundary-respecting compiled conv, the registry's choices, chunk budgets and
the fp32 regions under autocast. CUDA part (skipped without a GPU, with the
reason): mamba_ssm's SSD / EMA / norm kernels, attention and conv on the GPU,
and whole models, fast path on the GPU vs the reference on the CPU:
logits within 1e-3 (fp32, TF32 off) or 3e-2 (bf16 autocast), identical
boundaries wherever no probability lies within 1e-3 of 0.5.
"""

import os
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from hnet_cli import ops
from hnet_cli.model import HNetConfig, HNetLM
from hnet_cli.model.dynamic_chunking import ChunkBudget, chunk
from hnet_cli.model.fast import chunking_stages, compile_step, make_fast, set_chunk_budget
from hnet_cli.model.sequence import SeqInfo
from hnet_cli.ops import fast, fast_attention, fast_conv, fast_mamba, fast_norm, registry

from conftest import OFFICIAL
from model_helpers import random_bytes, rel_err, tiny_model
from test_ops_reference import naive_attention, naive_conv, random_seq_idx

# "TF32 off" must reach Triton kernels too: their fp32 dot products default to TF32.
os.environ.setdefault("TRITON_F32_DEFAULT", "ieee")
HAVE_CUDA = torch.cuda.is_available()
needs_cuda = pytest.mark.skipif(not HAVE_CUDA, reason="needs a CUDA GPU (fast paths apply on CUDA tensors only)")
needs_mamba = pytest.mark.skipif(
    not (HAVE_CUDA and fast_mamba.HAVE_MAMBA_SSD),
    reason="needs a CUDA GPU and mamba_ssm's Triton kernels (pip install mamba-ssm)",
)
FP32_TOL, BF16_TOL, NEAR_TIE = 1e-3, 3e-2, 1e-3
# A boundary probability p = (1 - cos(q, k)) / 2 computed from bf16 projections carries errors of
# ~1e-2 (8-bit mantissas, rounded q and k, a rounded dot product), so bf16 decisions are only
# compared where p is further than this from 0.5.
NEAR_TIE_BF16 = 2e-2


# ============================================================== CPU: attention mask paths
@pytest.mark.parametrize("window,packed", [(-1, True), (6, False), (6, True), (0, True), (40, False)])
def test_flex_masks_match_naive_attention(window, packed):
    gen = torch.Generator().manual_seed(window + 100 * packed)
    b, l, h, d = 2, 37, 2, 16
    q, k, v = (torch.randn(b, l, h, d, generator=gen, dtype=torch.float64) for _ in range(3))
    seq_idx = random_seq_idx(b, l, gen) if packed else None
    got = fast_attention.attention_flex(q.float(), k.float(), v.float(), window=window, seq_idx=seq_idx)
    want = naive_attention(q, k, v, window, seq_idx)
    assert rel_err(got, want) <= 1e-5


def test_flex_documents_do_not_see_each_other():
    """Changing one document's keys/values leaves every other document's output unchanged."""
    gen = torch.Generator().manual_seed(5)
    b, l, h, d = 1, 24, 2, 16
    q, k, v = (torch.randn(b, l, h, d, generator=gen) for _ in range(3))
    seq_idx = torch.tensor([[0] * 10 + [1] * 6 + [2] * 8])
    before = fast_attention.attention_flex(q, k, v, window=-1, seq_idx=seq_idx)
    k2, v2 = k.clone(), v.clone()
    k2[:, 10:16] += 5.0
    v2[:, 10:16] -= 3.0
    after = fast_attention.attention_flex(q, k2, v2, window=-1, seq_idx=seq_idx.clone())
    assert torch.equal(before[:, :10], after[:, :10]) and torch.equal(before[:, 16:], after[:, 16:])
    assert not torch.allclose(before[:, 10:16], after[:, 10:16])


def test_sdpa_path_matches_naive_attention_and_refuses_masks():
    gen = torch.Generator().manual_seed(2)
    q, k, v = (torch.randn(2, 19, 3, 8, generator=gen, dtype=torch.float64) for _ in range(3))
    got = fast_attention.attention_sdpa(q, k, v, window=-1)
    assert rel_err(got, naive_attention(q, k, v, -1, None)) <= 1e-10
    # a window covering the whole row is no window
    assert rel_err(fast_attention.attention_sdpa(q, k, v, window=18), got) <= 1e-12
    with pytest.raises(ValueError):
        fast_attention.attention_sdpa(q, k, v, window=4)
    with pytest.raises(ValueError):
        fast_attention.attention_sdpa(q, k, v, seq_idx=torch.zeros(2, 19, dtype=torch.long))


def test_block_masks_are_shared_within_a_batch_and_never_across_batches():
    cache = fast_attention._BlockMaskCache(size=4)
    seq = torch.tensor([[0, 0, 1, 1, 1, 2, 2, 2]])
    first = cache.get(seq, -1, 1, 8, "cpu")
    assert cache.get(seq, -1, 1, 8, "cpu") is first  # the next layer of the same forward pass
    assert cache.get(seq, 3, 1, 8, "cpu") is not first  # another window
    same_content = seq.clone()
    assert cache.get(same_content, -1, 1, 8, "cpu") is not first  # a new batch's tensor
    seq[0, 3:] = 1  # edited in place: its mask must be rebuilt
    rebuilt = cache.get(seq, -1, 1, 8, "cpu")
    assert rebuilt is not first
    dense = rebuilt.to_dense() if hasattr(rebuilt, "to_dense") else None
    assert dense is None or dense.shape[-1] >= 1


def test_compiled_flex_attention_keeps_room_for_every_shape():
    """Past Dynamo's default 8 entries FlexAttention would run unfused (scores of l x l floats): the
    GPU path raises the limit before compiling, so that one process can train and score several models."""
    import torch._dynamo

    config = torch._dynamo.config
    name = "recompile_limit" if hasattr(config, "recompile_limit") else "cache_size_limit"
    with config.patch(**{name: 8}):  # restored on leaving, whatever the test did
        fast_attention._flex_for.__wrapped__("cuda")  # compiles lazily: nothing runs on this machine
        assert getattr(config, name) >= 64


@needs_cuda
def test_flex_attention_stays_fused_over_many_shapes():
    """Sixteen shapes in both grad modes (more than Dynamo's default limit): the last call still runs the
    fused kernel, whose memory grows with l, not with the l x l scores of the unfused form."""
    gen = torch.Generator().manual_seed(3)
    for i, l in enumerate(range(256, 256 + 16 * 128, 128)):
        q, k, v = (torch.randn(1, l, 2, 64, generator=gen, dtype=torch.bfloat16).cuda() for _ in range(3))
        seq_idx = random_seq_idx(1, l, gen, max_docs=3).cuda()
        for grad in (False, True):
            with torch.set_grad_enabled(grad):
                fast_attention.attention_flex(*(t.requires_grad_(grad) for t in (q, k, v)), seq_idx=seq_idx)
    l = 8192  # unfused: 2 heads x 8192^2 fp32 scores = 512 MiB at least; fused: a few MiB
    q, k, v = (torch.randn(1, l, 2, 64, dtype=torch.bfloat16, device="cuda") for _ in range(3))
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated()
    with torch.no_grad():
        fast_attention.attention_flex(q, k, v, seq_idx=torch.zeros(1, l, dtype=torch.long, device="cuda"))
    torch.cuda.synchronize()
    assert torch.cuda.max_memory_allocated() - before < 256 * 2**20


# ============================================================== CPU: boundary-respecting conv
@pytest.mark.slow
def test_compiled_conv_matches_naive_loop_and_respects_documents():
    """The GPU conv path (the shifted-tap form, compiled) on the CPU: forward and gradients."""
    gen = torch.Generator().manual_seed(9)
    b, l, c, k = 2, 23, 6, 4
    x = torch.randn(b, l, c, generator=gen, dtype=torch.float64)
    w = torch.randn(c, k, generator=gen, dtype=torch.float64)
    bias = torch.randn(c, generator=gen, dtype=torch.float64)
    seq_idx = torch.tensor([[0] * 5 + [1] * 1 + [2] * 17, [0] * 12 + [1] * 11])
    got = fast_conv.causal_conv1d_compiled(x, w, bias, seq_idx=seq_idx, activation="silu")
    assert rel_err(got, naive_conv(x, w, bias, seq_idx)) <= 1e-10
    xg = x.clone().requires_grad_(True)
    fast_conv.causal_conv1d_compiled(xg, w, bias, seq_idx=seq_idx, activation="silu")[:, 5].sum().backward()
    # output position 5 starts document 1 of row 0: nothing before it may receive gradient there
    assert torch.all(xg.grad[0, :5] == 0) and torch.any(xg.grad[0, 5] != 0)
    assert torch.any(xg.grad[1, 2:6] != 0)  # row 1 is one document at position 5: taps 2..5 count


# ============================================================== CPU: choosing implementations
def _fake(shape, dtype=torch.bfloat16, cuda=True):
    """Enough of a tensor for the predicates: where it lives, its dtype and shape."""
    return SimpleNamespace(is_cuda=cuda, dtype=dtype, shape=shape)


def test_registry_picks_the_fast_path_that_applies():
    q = _fake((2, 512, 16, 64))
    pick = lambda **kw: registry.select("attention", q, q, q, **kw).name  # noqa: E731
    expect_plain = "flash_attn" if fast_attention.HAVE_FLASH_ATTN else "sdpa"
    expect_masked = "flash_attn" if fast_attention.HAVE_FLASH_ATTN else "flex"
    assert pick(window=-1, seq_idx=None) == expect_plain
    assert pick(window=511, seq_idx=None) == expect_plain  # covers the row
    assert pick(window=127, seq_idx=None) == expect_masked
    assert pick(window=-1, seq_idx=object()) == expect_masked
    if not fast_attention.HAVE_FLASH_ATTN:
        small_heads = _fake((2, 512, 16, 8))
        assert registry.select("attention", small_heads, small_heads, small_heads, window=7).name == "reference"
    cpu = _fake((2, 512, 16, 64), cuda=False)
    assert registry.select("attention", cpu, cpu, cpu, window=7).name == "reference"
    double = _fake((2, 512, 16, 64), dtype=torch.float64)
    assert registry.select("attention", double, double, double).name == "reference"
    with registry.backend("reference"):
        assert registry.select("attention", q, q, q).name == "reference"


def test_one_off_forwards_pass_over_paths_compiled_per_shape():
    """Under without_compilation, flex and the compiled conv give way to what applies next; a forced backend stays."""
    q = _fake((2, 512, 16, 64))
    x = _fake((2, 512, 96))
    conv_w = _fake((96, 4))
    with registry.without_compilation():
        if not fast_attention.HAVE_FLASH_ATTN:
            assert registry.select("attention", q, q, q, window=127).name == "reference"  # flex passed over
            assert registry.select("attention", q, q, q).name == "sdpa"  # not compiled: still chosen
        want = "causal_conv1d" if fast_conv.HAVE_CAUSAL_CONV1D else "reference"
        assert registry.select("causal_conv1d", x, conv_w).name == want
        with registry.backend("flex"):
            assert registry.select("attention", q, q, q, window=127).name == "flex"
    compiled = {i.name for op in ("attention", "causal_conv1d") for i in registry._REGISTRY[op] if i.compiles}
    assert compiled == {"flex", "compiled"}


def test_generation_prefills_short_prompts_without_compiling(monkeypatch):
    from hnet_cli.generate import Prompt, SamplingParams, engine, generate

    model = tiny_model(1, seed=3)
    seen = []
    forward = type(model).forward

    def spy(self, *args, **kwargs):
        seen.append(bool(registry._NO_COMPILATION))
        return forward(self, *args, **kwargs)

    monkeypatch.setattr(type(model), "forward", spy)
    params = SamplingParams(temperature=0.0, max_bytes=3)
    generate(model, [Prompt(b"ACGT" * 8, "1", 0)], params)
    monkeypatch.setattr(engine, "UNCOMPILED_PREFILL_MAX", 8)
    generate(model, [Prompt(b"ACGT" * 8, "1", 0)], params)
    assert seen == [True, False]


def test_fast_paths_are_listed_and_cpu_tensors_take_the_reference():
    names = ops.implementations()
    assert names["ssd_scan"][0] == "mamba_ssm" and names["attention"][-1] == "reference"
    assert set(fast.available()) == {"mamba_ssm", "triton_norm", "flash_attn", "flex_attention", "causal_conv1d"}
    x = torch.zeros(1, 4, 2, 3)
    assert registry.select("ssd_scan", x, x, x, x, x).name == "reference"
    assert registry.select("causal_conv1d", torch.zeros(1, 4, 3), torch.zeros(3, 4)).name == "reference"
    assert ops.FAST_PATHS_ERROR is None


# ============================================================== CPU: chunk budgets
@pytest.mark.parametrize("fraction,multiple,needed,length,want", [
    (0.25, 256, 1000, 8192, 2048),   # ceil(2048 / 256) * 256
    (0.2, 256, 1000, 8192, 1792),    # 1638.4 -> 1639 -> 1792
    (0.2, 256, 1900, 8192, 2048),    # overflow: the next quarter of L above the need
    (0.2, 256, 2100, 8192, 4096),
    (0.4167, 256, 1800, 4096, 2048),  # recipe small: 1792 reserved, then 2048, 3072, 4096
    (0.4167, 256, 2049, 4096, 3072),
    (0.4167, 256, 3100, 4096, 4096),
    (0.5, 256, 10, 300, 256),
    (0.9, 256, 10, 300, 300),        # never longer than the input
    (0.25, 1, 3, 10, 3),
])
def test_chunk_budget_length(fraction, multiple, needed, length, want):
    assert ChunkBudget(fraction, multiple).length(needed, length) == want


def test_chunk_budget_overflow_meets_few_shapes():
    budget = ChunkBudget(1.25 / 3, 256)
    shapes = {budget.length(needed, 4096) for needed in range(0, 4097)}
    assert shapes == {1792, 2048, 3072, 4096}


def test_chunk_budget_rejects_nonsense():
    with pytest.raises(ValueError):
        ChunkBudget(0.0)
    with pytest.raises(ValueError):
        ChunkBudget(0.5, 0)


def test_chunk_pads_to_the_budget_and_knows_when_rows_are_full():
    h = torch.arange(2 * 6, dtype=torch.float32).view(2, 6, 1)
    boundary = torch.tensor([[1, 0, 1, 0, 0, 1], [1, 1, 1, 1, 0, 0]], dtype=torch.bool)
    info = SeqInfo.from_mask(torch.ones(2, 6, dtype=torch.bool), True)
    h_next, info_next, order = chunk(h, boundary, info, ChunkBudget(0.5, 5))
    assert h_next.shape == (2, 5, 1)
    assert h_next[0, :3, 0].tolist() == [0.0, 2.0, 5.0] and h_next[1, :4, 0].tolist() == [6.0, 7.0, 8.0, 9.0]
    assert info_next.mask.tolist() == [[True] * 3 + [False] * 2, [True] * 4 + [False]]
    assert info_next.known_all_valid is False
    full = torch.ones(2, 6, dtype=torch.bool)
    _, info_full, _ = chunk(h, full, info)
    assert info_full.known_all_valid is True


def _inner_lengths(model, run):
    seen = []
    hooks = [s.main_network.register_forward_pre_hook(lambda m, args: seen.append(args[0].shape[1]))
             for s in chunking_stages(model)]
    try:
        run()
    finally:
        for hk in hooks:
            hk.remove()
    return seen


@pytest.mark.parametrize("stages", [1, 2])
def test_chunk_budget_changes_shapes_not_results(stages):
    model = tiny_model(stages, seed=7)
    ids = torch.stack([random_bytes(48, seed=1), random_bytes(48, seed=2)])
    mask = torch.ones_like(ids, dtype=torch.bool)
    mask[1, 40:] = False
    seq_idx = torch.tensor([[0] * 20 + [1] * 28, [0] * 48])
    with torch.no_grad():
        plain = [model(ids, mask=mask), model(ids, seq_idx=seq_idx)]
        set_chunk_budget(model, 0.75, multiple=4)
        budget_lengths = _inner_lengths(model, lambda: model(ids, mask=mask))
        budgeted = [model(ids, mask=mask), model(ids, seq_idx=seq_idx)]
    for a, b in zip(plain, budgeted):
        assert rel_err(b.logits, a.logits) <= 1e-6
        for sa, sb in zip(a.stages, b.stages):
            n = sa.boundary_mask.shape[1]
            assert torch.equal(sb.boundary_mask[:, :n], sa.boundary_mask)
            assert not sb.boundary_mask[:, n:].any() and not sb.valid[:, n:].any()
    assert budget_lengths[0] == 36  # ceil(0.75 * 48 / 4) * 4


def test_chunk_budget_makes_shapes_independent_of_compression():
    """Two batches whose compression differs ~2x run the inner network at one shape."""
    model = tiny_model(1, seed=4)
    stage = chunking_stages(model)[0]
    set_chunk_budget(model, 0.5, multiple=8)
    ids = torch.stack([random_bytes(64, seed=3), random_bytes(64, seed=4)])
    counts, lengths = [], []

    def forced(p_fraction):
        # Replace the routing decision by one with a known boundary fraction.
        original = stage.routing_module._outputs

        def outputs(p, valid):
            ranks = torch.rand(p.shape, generator=torch.Generator().manual_seed(0))
            p = torch.where(ranks < p_fraction, torch.full_like(p, 0.9), torch.full_like(p, 0.1))
            p[:, 0] = 1.0
            return original(p, valid)

        stage.routing_module._outputs = outputs
        try:
            with torch.no_grad():
                lengths.extend(_inner_lengths(model, lambda: counts.append(
                    model(ids).stages[0].boundary_mask.sum().item())))
        finally:
            del stage.routing_module._outputs

    forced(0.2)
    forced(0.4)
    assert counts[1] >= 1.6 * counts[0]
    assert lengths == [32, 32]


# ============================================================== CPU: fp32 where the model needs it
def test_routing_and_residual_proj_stay_fp32_under_bf16_autocast():
    model = tiny_model(1, seed=2)
    stage = chunking_stages(model)[0]
    captured = {}
    stage.routing_module.register_forward_hook(lambda m, args, out: captured.update(h=args[0], p=out.boundary_prob))
    stage.residual_proj.register_forward_hook(lambda m, args, out: captured.update(res=out, res_in=args[0]))
    ids = random_bytes(40, seed=1)[None]
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        model(ids)
    assert captured["res"].dtype == torch.float32
    h = captured["h"].double()
    W = stage.routing_module
    q = F.normalize(h[:, :-1] @ W.q_proj_layer.weight.double().T, dim=-1)
    k = F.normalize(h[:, 1:] @ W.k_proj_layer.weight.double().T, dim=-1)
    p = ((1 - (q * k).sum(-1)) / 2).clamp(0, 1)
    assert (captured["p"][:, 1:].double() - p).abs().max() <= 1e-5  # bf16 matmuls would be ~1e-3 off
    want_res = captured["res_in"].double() @ stage.residual_proj.weight.double().T + stage.residual_proj.bias.double()
    assert rel_err(captured["res"], want_res) <= 1e-5


# ============================================================== CUDA: kernels vs references
@pytest.fixture
def no_tf32():
    old = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old


def _ssd_inputs(b, l, h, p, n, packed, init, seed, dtype):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(b, l, h, p, generator=gen)
    dt = F.softplus(torch.randn(b, l, h, generator=gen) - 1)
    A = -torch.rand(h, generator=gen) * 4 - 0.1
    B = torch.randn(b, l, 1, n, generator=gen)
    C = torch.randn(b, l, 1, n, generator=gen)
    D = torch.randn(h, generator=gen)
    seq_idx = random_seq_idx(b, l, gen, max_docs=5) if packed else None
    initial = torch.randn(b, h, p, n, generator=gen) if init else None
    cast = dict(x=x.to(dtype), B=B.to(dtype), C=C.to(dtype))
    return dict(x=x, dt=dt, A=A, B=B, C=C, D=D, seq_idx=seq_idx, initial_state=initial), cast


def _to(d, device):
    return {k: (v.to(device) if isinstance(v, torch.Tensor) else v) for k, v in d.items()}


@needs_mamba
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("l,packed,init", [(300, False, False), (517, True, False), (260, True, True)])
def test_ssd_kernel_matches_reference_with_gradients(dtype, l, packed, init, no_tf32):
    args, cast = _ssd_inputs(2, l, 4, 32, 64, packed, init, seed=l, dtype=dtype)
    learnable = {"x", "dt", "B", "C", "D"}
    ref_in = {k: (v.double().requires_grad_(k in learnable) if isinstance(v, torch.Tensor) and v.is_floating_point() else v)
              for k, v in args.items()}
    y_ref, s_ref = ops.ssd_scan_ref(**ref_in, return_final_state=True, chunk_size=64)
    gpu = _to({**args, **cast}, "cuda")
    for key in learnable:
        gpu[key] = gpu[key].detach().requires_grad_(True)
    y, s = fast_mamba.ssd_scan_mamba(**gpu, return_final_state=True, chunk_size=256)
    tol = FP32_TOL if dtype == torch.float32 else BF16_TOL
    assert y.dtype == dtype and rel_err(y.cpu(), y_ref) <= tol
    assert rel_err(s.cpu(), s_ref) <= tol
    gy = torch.randn(y.shape, generator=torch.Generator().manual_seed(1))
    (y_ref * gy.double()).sum().backward()
    (y.float() * gy.cuda()).sum().backward()
    for key in sorted(learnable):
        assert rel_err(gpu[key].grad.cpu(), ref_in[key].grad) <= (3 * tol if dtype == torch.bfloat16 else tol), key


@needs_mamba
@pytest.mark.parametrize("packed,init", [(False, False), (True, False), (False, True)])
def test_ema_kernel_matches_reference_with_gradients(packed, init, no_tf32):
    gen = torch.Generator().manual_seed(3 + packed)
    b, l, d = 2, 333, 96
    x = torch.randn(b, l, d, generator=gen, dtype=torch.float64, requires_grad=True)
    p = (torch.rand(b, l, generator=gen, dtype=torch.float64) * 0.98 + 0.01).requires_grad_(True)
    seq_idx = random_seq_idx(b, l, gen) if packed else None
    init_state = torch.randn(b, d, generator=gen, dtype=torch.float64) if init else None
    want, want_state = ops.ema_scan_ref(x, p, seq_idx=seq_idx, initial_state=init_state, return_final_state=True)
    xg = x.detach().float().cuda().requires_grad_(True)
    pg = p.detach().float().cuda().requires_grad_(True)
    got, got_state = fast_mamba.ema_scan_mamba(
        xg, pg, seq_idx=None if seq_idx is None else seq_idx.cuda(),
        initial_state=None if init_state is None else init_state.float().cuda(), return_final_state=True)
    assert rel_err(got.cpu(), want) <= FP32_TOL and rel_err(got_state.cpu(), want_state) <= FP32_TOL
    g = torch.randn(b, l, d, generator=gen, dtype=torch.float64)
    (want * g).sum().backward()
    (got * g.float().cuda()).sum().backward()
    assert rel_err(xg.grad.cpu(), x.grad) <= FP32_TOL and rel_err(pg.grad.cpu(), p.grad) <= FP32_TOL


@needs_mamba
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_triton_norms_match_reference(dtype):
    gen = torch.Generator().manual_seed(4)
    x, z = (torch.randn(3, 50, 256, generator=gen) for _ in range(2))
    w = torch.rand(256, generator=gen) + 0.5
    tol = FP32_TOL if dtype == torch.float32 else BF16_TOL
    got = fast_norm.rms_norm_triton(x.to(dtype).cuda(), w.cuda())
    assert got.dtype == dtype and rel_err(got.cpu(), ops.rms_norm_ref(x.double(), w.double())) <= tol
    got = fast_norm.gated_rms_norm_triton(x.to(dtype).cuda(), z.to(dtype).cuda(), w.cuda())
    assert rel_err(got.cpu(), ops.gated_rms_norm_ref(x.double(), z.double(), w.double())) <= tol


@needs_cuda
@pytest.mark.parametrize("dtype,window,packed,d", [
    (torch.bfloat16, -1, False, 64),   # sdpa
    (torch.bfloat16, -1, True, 64),    # flex, documents
    (torch.bfloat16, 100, True, 96),   # flex, window and documents, head dim not a power of two
    (torch.float32, 100, False, 64),   # flex, window
    (torch.float32, -1, True, 24),
])
def test_attention_fast_paths_match_reference_on_gpu(dtype, window, packed, d, no_tf32):
    gen = torch.Generator().manual_seed(window + d)
    b, l, h = 2, 700, 4
    q, k, v = (torch.randn(b, l, h, d, generator=gen) for _ in range(3))
    seq_idx = random_seq_idx(b, l, gen, max_docs=6) if packed else None
    want = ops.attention_ref(q.double(), k.double(), v.double(), window=window, seq_idx=seq_idx)
    qg, kg, vg = (t.to(dtype).cuda().requires_grad_(True) for t in (q, k, v))
    impl = registry.select("attention", qg, kg, vg, window=window, seq_idx=seq_idx)
    assert impl.name != "reference"
    got = impl.fn(qg, kg, vg, window=window, seq_idx=None if seq_idx is None else seq_idx.cuda())
    tol = FP32_TOL if dtype == torch.float32 else BF16_TOL
    assert rel_err(got.float().cpu(), want) <= tol
    got.float().square().sum().backward()
    qr = q.double().requires_grad_(True)
    ops.attention_ref(qr, k.double(), v.double(), window=window, seq_idx=seq_idx).square().sum().backward()
    assert rel_err(qg.grad.float().cpu(), qr.grad) <= 3 * tol


@needs_cuda
def test_compiled_conv_matches_reference_on_gpu(no_tf32):
    gen = torch.Generator().manual_seed(8)
    b, l, c = 2, 1000, 80
    x = torch.randn(b, l, c, generator=gen)
    w, bias = torch.randn(c, 4, generator=gen), torch.randn(c, generator=gen)
    seq_idx = random_seq_idx(b, l, gen, max_docs=8)
    want = ops.causal_conv1d_ref(x.double(), w.double(), bias.double(), seq_idx=seq_idx, activation="silu")
    impl = registry.select("causal_conv1d", x.cuda(), w.cuda())
    assert impl.name != "reference"
    got = impl.fn(x.cuda(), w.cuda(), bias.cuda(), seq_idx=seq_idx.cuda(), activation="silu")
    assert rel_err(got.cpu(), want) <= FP32_TOL


# ============================================================== CUDA: whole models, same weights
def _official(name):
    ref = torch.load(OFFICIAL / f"{name}.pt", weights_only=True)
    model = HNetLM(HNetConfig.from_json(OFFICIAL / f"{name}.json"))
    model.load_state_dict(ref["state_dict"])
    return model.eval(), ref["input_ids"], ref["mask"]


def _gpu_model_cases():
    """(name, model on the CPU, ids, layout kwargs) on the official fixtures and a windowed, packed config."""
    cases = []
    for name in ("tiny_1stage", "tiny_2stage"):
        model, ids, mask = _official(name)
        cases.append((name + "/padded", model, ids, {"mask": mask}))
    model = tiny_model(2, seed=11, d=(32, 48, 64), heads=2, d_state=16, headdim=16, window=30)
    ids = torch.stack([random_bytes(300, seed=1), random_bytes(300, seed=2)])
    seq_idx = torch.tensor([[0] * 120 + [1] * 5 + [2] * 175, [0] * 300])
    cases.append(("windowed-2stage/packed", model, ids, {"seq_idx": seq_idx}))
    return cases


def _compare(ref_out, out, tol, where, near_tie=NEAR_TIE):
    """Logits within tol and the same boundaries wherever no p is within near_tie of 0.5."""
    for s, (rs, gs) in enumerate(zip(ref_out.stages, out.stages)):
        # either side may live on the GPU (the reference is the eager GPU model in the compiled tests)
        ref_mask, got_mask = rs.boundary_mask.cpu(), gs.boundary_mask.cpu()
        n = ref_mask.shape[1]
        if got_mask.shape[1] > n:  # a chunk budget pads the inner stages' sequences with empty slots
            assert not gs.valid[:, n:].any(), f"{where}: stage {s} has real positions beyond the unbudgeted length"
            got_mask = got_mask[:, :n]
        decided = (rs.valid & ((rs.boundary_prob - 0.5).abs() > near_tie)).cpu()
        assert torch.equal(ref_mask[decided], got_mask[decided]), f"{where}: stage {s} boundaries"
        if not torch.equal(ref_mask, got_mask):
            pytest.skip(f"{where}: a boundary within {near_tie} of 0.5 flipped; later stages differ by design")
    valid = (ref_out.stages[0].valid if ref_out.stages else torch.ones(ref_out.logits.shape[:-1], dtype=torch.bool)).cpu()
    err = rel_err(out.logits.float().cpu()[valid], ref_out.logits.float().cpu()[valid])
    assert err <= tol, f"{where}: logits rel err {err:.2e} > {tol}"


@needs_mamba
@pytest.mark.parametrize("case", range(3))
@pytest.mark.parametrize("dtype", ["fp32", "bf16"])
def test_model_fast_path_equals_cpu_reference(case, dtype, no_tf32):
    name, model, ids, layout = _gpu_model_cases()[case]
    with torch.no_grad(), registry.backend("reference"):
        ref = model(ids, **layout)
    gpu = model.cuda()
    with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16, enabled=dtype == "bf16"):
        out = gpu(ids.cuda(), **_to(layout, "cuda"))
    if dtype == "fp32":
        _compare(ref, out, FP32_TOL, f"{name} {dtype}")
    else:
        _compare(ref, out, BF16_TOL, f"{name} {dtype}", near_tie=NEAR_TIE_BF16)


@needs_mamba
@pytest.mark.parametrize("compiled", [False, True])
def test_generation_on_gpu_matches_forward(compiled, no_tf32):
    model = tiny_model(1, seed=6, d=(32, 48), heads=2, d_state=16, headdim=16, window=7).cuda()
    ids = torch.stack([random_bytes(40, seed=3), random_bytes(40, seed=4)]).cuda()
    with torch.no_grad():
        full = model(ids).logits
        if compiled:
            compile_step(model)
        cache = model.new_cache(2)
        model(ids[:, :10], cache=cache)
        steps = [model.step(ids[:, t], cache).logits for t in range(10, 40)]
    assert rel_err(torch.stack(steps, 1), full[:, 10:]) <= FP32_TOL


@needs_mamba
@pytest.mark.parametrize("case", range(3))
def test_compiled_and_budgeted_model_matches_eager_with_gradients(case, no_tf32):
    name, model, ids, layout = _gpu_model_cases()[case]
    model = model.cuda().train()
    ids, layout = ids.cuda(), _to(layout, "cuda")
    eager = model(ids, **layout)
    eager.logits.square().mean().backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad()
    make_fast(model, compile=True, chunk_budget=0.6, multiple=16)
    fast_out = model(ids, **layout)
    fast_out.logits.square().mean().backward()
    _compare(eager, fast_out, FP32_TOL, name)
    for n, p in model.named_parameters():
        if n in grads:
            assert rel_err(p.grad, grads[n]) <= 1e-2, n


# ============================================================== generation without host synchronisation
def _prefilled(model, batch_lengths, seed, device="cpu"):
    L = max(batch_lengths)
    ids = torch.stack([random_bytes(L, seed=seed + i) for i in range(len(batch_lengths))]).to(device)
    mask = torch.zeros(ids.shape, dtype=torch.bool, device=device)
    for i, n in enumerate(batch_lengths):
        mask[i, :n] = True
    cache = model.new_cache(len(batch_lengths))
    with torch.no_grad():
        model(ids, mask=mask, cache=cache)
    return cache


@pytest.mark.parametrize("stages", [1, 2])
def test_dense_step_equals_model_step(stages):
    """Same logits and decisions as model.step, byte after byte, rows of different lengths."""
    import copy

    from hnet_cli.model.graph_step import dense_step

    model = tiny_model(stages, seed=20 + stages, window=4, dtype=torch.float64)  # exact: no rounding noise
    cache_a = _prefilled(model, [5, 12, 1], seed=3)
    cache_b = copy.deepcopy(cache_a)
    feed = torch.stack([random_bytes(25, seed=40 + i) for i in range(3)], 1)  # (steps, rows)
    inner_steps = 0
    with torch.no_grad():
        for t in range(feed.shape[0]):
            a = model.step(feed[t], cache_a)
            b = dense_step(model, feed[t], cache_b)
            assert rel_err(b.logits, a.logits) <= 1e-12, f"step {t}"
            for sa, sb in zip(a.stages, b.stages):
                assert torch.equal(sa.boundary_mask, sb.boundary_mask) and torch.equal(sa.valid, sb.valid)
                assert torch.allclose(sa.boundary_prob, sb.boundary_prob, atol=1e-12)
            inner_steps += int(a.stages[0].boundary_mask.sum())  # rows that ran the inner network
    assert 0 < inner_steps < feed.numel()  # some rows skipped the inner network, some did not


@needs_mamba
@pytest.mark.parametrize("compiled", [False, True])
def test_graphed_step_equals_model_step_on_gpu(compiled, no_tf32):
    import copy

    from hnet_cli.model.graph_step import GraphedStep

    model = tiny_model(2, seed=30, d=(32, 48, 64), heads=2, d_state=16, headdim=16, window=6).cuda()
    cache_a = _prefilled(model, [9, 30], seed=5, device="cuda")
    cache_b = copy.deepcopy(cache_a)
    feed = torch.stack([random_bytes(40, seed=60 + i) for i in range(2)], 1).cuda()
    graphed = GraphedStep(model, cache_b, batch=2, max_new=feed.shape[0], compile=compiled)
    with torch.no_grad():
        for t in range(feed.shape[0]):
            a = model.step(feed[t], cache_a)
            b = graphed(feed[t])
            assert rel_err(b.logits, a.logits) <= FP32_TOL, f"step {t}"
            for sa, sb in zip(a.stages, b.stages):
                assert torch.equal(sa.boundary_mask, sb.boundary_mask)
    with pytest.raises(RuntimeError):
        graphed(feed[0])


@pytest.mark.slow
def test_compiled_dense_step_equals_model_step_on_cpu():
    """The fused block step GraphedStep(compile=True) replays, checked where no GPU is needed."""
    import copy

    from hnet_cli.model.fast import compiled_block_step
    from hnet_cli.model.graph_step import dense_step

    model = tiny_model(1, seed=21, window=4)
    cache_a = _prefilled(model, [12, 12, 5], seed=3)
    cache_b = copy.deepcopy(cache_a)
    feed = torch.stack([random_bytes(12, seed=40 + i) for i in range(3)], 1)
    with torch.no_grad():
        for t in range(feed.shape[0]):
            a = model.step(feed[t], cache_a)
            b = dense_step(model, feed[t], cache_b, compiled_block_step())
            assert rel_err(b.logits, a.logits) <= 1e-5, f"step {t}"
            assert torch.equal(a.stages[0].boundary_mask, b.stages[0].boundary_mask)


@pytest.mark.skipif(HAVE_CUDA, reason="checks the message shown on machines without a GPU")
def test_hnet_bench_without_a_gpu_is_a_one_line_error(capsys):
    from hnet_cli.cli import main

    assert main(["bench", "--sections", "train"]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("hnet: error:") and "GPU" in err[0]


def test_flop_matched_baselines_match_the_hnet():
    """The isotropic baselines of the GPU benchmark carry the H-Net's forward FLOPs per byte (within a layer)."""
    from hnet_cli.bench.models import flop_matched_isotropic, hnet_config, isotropic_config
    from hnet_cli.model.flops import forward_flops_per_byte

    target = forward_flops_per_byte(hnet_config(1), 8192, [0.22]).per_byte
    for kind in ("T", "m"):
        cfg, n = flop_matched_isotropic(kind, target, 8192, d_model=1024, d_intermediate=2816, heads=16, rotary=32)
        got = forward_flops_per_byte(cfg, 8192).per_byte
        one_layer = got - forward_flops_per_byte(isotropic_config(kind, n - 1, d_model=1024, d_intermediate=2816,
                                                                  heads=16, rotary=32), 8192).per_byte
        assert abs(got - target) <= one_layer / 2

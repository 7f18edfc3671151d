"""What the commands run on a GPU against the CPU reference (skipped without CUDA and mamba_ssm).

- `hnet train`'s step (`train_step`) with compiled blocks and chunk budgets on the GPU:
  loss within 1e-3 and gradients within 1e-2 relative of the same step on the CPU
  reference (fp32, TF32 off).
- `hnet generate` on the GPU (every row stepping in one captured CUDA graph) samples
  exactly the bytes the CPU samples, greedy and at temperature, batch 1 and batch 3
  with rows that end at different steps (float64 weights, so the two devices agree
  to ~1e-15 and no near-tie can flip a byte).
- `hnet eval` on the GPU (fixed shapes, compiled blocks, bf16) gives the CPU's bits
  per byte within 1e-2 relative (bf16 rounding of logits averages out over the bytes).
"""

import copy

import pytest
import torch

from hnet_cli.data.packing import collate, pack_documents
from hnet_cli.eval.corpus import evaluate_documents
from hnet_cli.generate import Prompt, SamplingParams, generate
from hnet_cli.model.fast import make_fast
from hnet_cli.ops import fast_mamba, registry
from hnet_cli.train.objective import train_step
from hnet_cli.train.optim import build_optimizer

from model_helpers import rel_err, tiny_model
from test_eval_scoring import real_documents

needs_gpu = pytest.mark.skipif(
    not (torch.cuda.is_available() and fast_mamba.HAVE_MAMBA_SSD),
    reason="needs a CUDA GPU and mamba_ssm's Triton kernels",
)
pytestmark = needs_gpu


@pytest.fixture(autouse=True)
def no_tf32():
    old = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32 = old


def _gpu_sized(stages, seed, **kw):
    """Head and state sizes the Triton kernels accept (>= 16)."""
    return tiny_model(stages, seed=seed, d=(32, 48, 64), heads=2, d_state=16, headdim=16, window=30, **kw)


def _one_step(model, batch, device):
    """hnet train's step with lr 0 (the weights stay) and the gradients kept for comparison."""
    optimizer = build_optimizer(model, lr=0.0, weight_decay=0.0)
    optimizer.zero_grad = lambda set_to_none=True: None
    params = [p for p in model.parameters() if p.requires_grad]
    model.train()
    done = train_step(model, None, optimizer, params, [batch.to(device)], [3.0] * model.config.num_stages, 0.03,
                      1, torch.device(device), torch.float32, grad_clip=0.0, step_number=1)
    return done, {n: p.grad.detach().cpu() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("stages", [1, 2])
def test_compiled_budgeted_train_step_matches_cpu_reference(stages):
    docs = [d.data for d in real_documents()]
    batch = collate(list(pack_documents(docs, 256, carry_context=True, pad_last=True))[:4])
    cpu = _gpu_sized(stages, seed=40 + stages).float()
    gpu = copy.deepcopy(cpu).cuda()
    make_fast(gpu, compile=True, chunk_budget=0.6, multiple=64)
    with registry.backend("reference"):
        want, want_grads = _one_step(cpu, batch, "cpu")
    got, got_grads = _one_step(gpu, batch, "cuda")
    assert abs(got.loss - want.loss) <= 1e-3 * abs(want.loss)
    assert got.stats.boundaries == want.stats.boundaries and got.stats.positions == want.stats.positions
    assert abs(got.grad_norm - want.grad_norm) <= 1e-2 * want.grad_norm
    assert got_grads.keys() == want_grads.keys()
    for name, grad in want_grads.items():
        assert rel_err(got_grads[name], grad) <= 1e-2, name


@pytest.mark.parametrize("batch_size", [1, 3])
@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_graphed_generation_samples_what_the_cpu_samples(batch_size, temperature):
    cpu = _gpu_sized(2, seed=50, dtype=torch.float64)
    gpu = copy.deepcopy(cpu).cuda()
    prompts = [Prompt(p, str(i + 1), i) for i, p in enumerate([b"", b"ACGTTGCA" * 4, b"xy"])]
    params = SamplingParams(temperature=temperature, max_bytes=40, stop=(b"ab",), seed=11,
                            alphabet=None if temperature == 0 else b"abcdefgh")
    want = generate(cpu, prompts, params, num_samples=2, batch_size=batch_size, record_boundaries=True)
    got = generate(gpu, prompts, params, num_samples=2, batch_size=batch_size, record_boundaries=True)
    key = lambda s: (s.number, s.data, s.end, s.boundaries)  # noqa: E731
    assert [key(s) for s in got] == [key(s) for s in want]


def test_eval_on_gpu_matches_cpu():
    docs = real_documents()
    cpu = _gpu_sized(1, seed=60).float().eval()
    gpu = copy.deepcopy(cpu).cuda()
    kw = dict(count_units=len, context=128, stride=64, batch_size=4)
    want = evaluate_documents(cpu, docs, device="cpu", **kw)
    got = evaluate_documents(gpu, docs, device="cuda", dtype=torch.bfloat16, **kw)
    assert got.corpus.bytes == want.corpus.bytes and got.windows == want.windows
    assert abs(got.corpus.bpb - want.corpus.bpb) <= 1e-2 * want.corpus.bpb

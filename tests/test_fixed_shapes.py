"""Inference at fixed shapes (eval and chunk on GPUs) computes what the plain model computes.

`FixedShapeModel` pads rows to a bucketed length and a fixed row count and rounds
chunk sequences up to a multiple of 256; every row is still computed as if alone.
Checked on the CPU (no compilation) against the plain model (forward and `decide`) and through the jobs:
`hnet eval`'s bits and `hnet chunk`'s boundaries are unchanged (<= 1e-6 relative).
"""

import pytest
import torch

import hnet_cli.chunk.runner as chunk_runner
import hnet_cli.eval.corpus as eval_corpus
from hnet_cli.chunk.runner import segment_documents
from hnet_cli.eval.corpus import evaluate_documents
from hnet_cli.model.fast import FixedShapeModel, bucket_length, chunking_stages

from model_helpers import rel_err, tiny_model
from test_eval_scoring import real_documents


def test_bucket_lengths():
    assert [bucket_length(n) for n in (1, 200, 256, 257, 1000, 4096)] == [256, 256, 256, 512, 1024, 4096]
    assert [bucket_length(n) for n in (4097, 16385, 17408)] == [5120, 17408, 17408]


def _fixed(model, tokens):
    return FixedShapeModel(model, tokens, compile=False)


@pytest.mark.parametrize("stages", [0, 1, 2])
def test_rows_equal_the_plain_model(stages):
    model = tiny_model(stages, seed=20 + stages)
    gen = torch.Generator().manual_seed(stages)
    lengths = [37, 5, 300, 1]
    ids = torch.randint(0, 256, (len(lengths), max(lengths)), generator=gen)
    mask = torch.arange(max(lengths))[None] < torch.tensor(lengths)[:, None]
    with torch.no_grad():
        want = model(ids, mask=mask)
        got = _fixed(model, 2048)(ids, mask=mask)
    assert got.logits.shape == want.logits.shape
    assert rel_err(got.logits[mask], want.logits[mask]) <= 1e-5
    assert len(got.stages) == stages
    for g, w in zip(got.stages, want.stages):
        n = w.valid.shape[1]
        assert torch.equal(g.valid[:, :n], w.valid) and not g.valid[:, n:].any()
        assert torch.equal(g.boundary_mask[:, :n] & g.valid[:, :n], w.boundary_mask & w.valid)
        assert rel_err(g.boundary_prob[:, :n][w.valid], w.boundary_prob[w.valid]) <= 1e-5
    # decide (what hnet chunk runs): the same decisions as the forward pass at the same fixed shapes
    with torch.no_grad():
        decided = _fixed(model, 2048).decide(ids, mask=mask)
    assert len(decided) == stages
    for d, g in zip(decided, got.stages):
        assert d.boundary_prob.shape == g.boundary_prob.shape and torch.equal(d.valid, g.valid)
        assert torch.equal(d.boundary_mask & d.valid, g.boundary_mask & g.valid)
        assert rel_err(d.boundary_prob[d.valid], g.boundary_prob[g.valid]) <= 1e-6
    # chunk sequences are rounded up to a multiple of 256 slots
    for stage in chunking_stages(model):
        assert stage.chunk_budget is not None and stage.chunk_budget.multiple == 256


def _take_fixed_path(monkeypatch):
    """Make eval and chunk take the GPU path (fixed shapes) on the CPU, without compilation."""
    def wrap(model, device, tokens):
        return _fixed(model, tokens)

    monkeypatch.setattr(eval_corpus, "for_inference", wrap)
    monkeypatch.setattr(chunk_runner, "for_inference", wrap)


@pytest.mark.parametrize("stages", [1, 2])
def test_eval_is_unchanged_at_fixed_shapes(stages, monkeypatch):
    docs = real_documents()
    kw = dict(count_units=len, context=128, stride=64, batch_size=4)
    plain = evaluate_documents(tiny_model(stages, seed=30 + stages), docs, **kw)
    _take_fixed_path(monkeypatch)
    fixed = evaluate_documents(tiny_model(stages, seed=30 + stages), docs, **kw)
    assert fixed.corpus.bytes == plain.corpus.bytes and fixed.windows == plain.windows
    assert abs(fixed.corpus.bpb - plain.corpus.bpb) <= 1e-6 * plain.corpus.bpb
    for a, b in zip(fixed.stages, plain.stages):
        assert (a.positions, a.boundaries, a.chunk_lengths) == (b.positions, b.boundaries, b.chunk_lengths)


def test_chunk_is_unchanged_at_fixed_shapes(monkeypatch):
    docs = real_documents()
    kw = dict(window=96, overlap=32, batch_tokens=512)
    plain = list(segment_documents(tiny_model(1, seed=40), docs, **kw))
    _take_fixed_path(monkeypatch)
    fixed = list(segment_documents(tiny_model(1, seed=40), docs, **kw))
    assert len(fixed) == len(plain) == len(docs)
    for a, b in zip(fixed, plain):
        for sa, sb in zip(a.stages, b.stages):
            assert torch.equal(sa.element_start, sb.element_start) and torch.equal(sa.boundary, sb.boundary)
            assert rel_err(sa.boundary_prob, sb.boundary_prob) <= 1e-5


def test_for_inference_compiles_blocks_unless_compilation_is_off():
    """--no-compile (ops.without_compilation) gets fixed shapes without compiled blocks; a later
    compiled pass gets a wrapper that compiles them (compiling is lazy: nothing runs here)."""
    from hnet_cli import ops
    from hnet_cli.model.block import Block
    from hnet_cli.model.fast import for_inference

    model = tiny_model(1, seed=4)
    blocks = [m for m in model.modules() if isinstance(m, Block)]
    with ops.without_compilation():
        plain = for_inference(model, torch.device("cuda"), 4096)
    assert not plain.compiled and all(b._compiled_call_impl is None for b in blocks)
    with ops.without_compilation():
        assert for_inference(model, torch.device("cuda"), 4096) is plain  # kept on the model
    compiled = for_inference(model, torch.device("cuda"), 4096)
    assert compiled is not plain and compiled.compiled
    assert all(b._compiled_call_impl is not None for b in blocks)
    assert for_inference(model, torch.device("cpu"), 4096) is model


@pytest.mark.parametrize("command", ["eval", "chunk", "score", "embed"])
def test_no_compile_runs_the_whole_job_without_compilation(command, tmp_path, monkeypatch):
    import hnet_cli.embed.stream as embed_stream
    from hnet_cli import ops
    from hnet_cli.cli import main
    from hnet_cli.model import save_model

    seen = []
    for module in (eval_corpus, chunk_runner, embed_stream):
        real = module.for_inference
        monkeypatch.setattr(module, "for_inference",
                            lambda m, d, t, real=real: seen.append(ops.compilation_allowed()) or real(m, d, t))
    model = save_model(tiny_model(1, seed=6), tmp_path / "m")
    text = tmp_path / "in.txt"
    text.write_text("a few words to run through the model\n" * 4)
    out = {"eval": [], "chunk": ["-o", str(tmp_path / "c.tsv")], "score": ["-o", str(tmp_path / "s.tsv")],
           "embed": ["-o", str(tmp_path / "e.parquet")]}[command]
    args = [str(model), str(text)] if command == "eval" else ["-m", str(model), str(text)]
    if command == "chunk":
        args = [str(text), "-m", str(model)]
    for flag, allowed in (([], True), (["--no-compile"], False)):
        assert main([command, *args, *out, "-q", *flag]) == 0
        assert seen and set(seen) == {allowed}, (command, flag, seen)
        seen.clear()
    assert ops.compilation_allowed()  # nothing left switched off

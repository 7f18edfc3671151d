"""The training loop's parts, each alone: schedules, parameter groups, checkpoints, metrics, health, objective."""

import json

import pytest
import torch
import torch.nn.functional as F

from hnet_cli.data.packing import BOS, collate, pack_documents
from hnet_cli.errors import CheckpointError
from hnet_cli.train.checkpointer import Checkpointer
from hnet_cli.train.health import CompressionWatch, TrainingDiverged, check_finite
from hnet_cli.train.objective import forward_stats
from hnet_cli.train.metrics import MetricsLog, read_metrics
from hnet_cli.train.optim import build_optimizer, parameter_stages, set_lr
from hnet_cli.train.schedule import lr_factor
from model_helpers import tiny_model


# ---------------------------------------------------------------- schedules

def test_wsd_schedule_by_hand():
    # 100 steps, warmup 10, last 20% decays linearly to 0
    f = lambda s: lr_factor(s, 100, 10, "wsd", 0.2, 0.0)  # noqa: E731
    assert f(0) == pytest.approx(0.1) and f(9) == pytest.approx(1.0)
    assert f(10) == f(50) == f(79) == 1.0
    assert f(80) == pytest.approx(1.0) and f(90) == pytest.approx(0.5) and f(99) == pytest.approx(0.05)


def test_cosine_schedule_by_hand():
    f = lambda s: lr_factor(s, 110, 10, "cosine", min_ratio=0.1)  # noqa: E731
    assert f(4) == pytest.approx(0.5)
    assert f(10) == pytest.approx(1.0)
    assert f(60) == pytest.approx(0.1 + 0.9 * 0.5)  # half way: cos(pi/2) = 0
    assert f(110) == pytest.approx(0.1)


def test_constant_schedule():
    assert [lr_factor(s, 10, 2, "constant") for s in range(4)] == [0.5, 1.0, 1.0, 1.0]


# ---------------------------------------------------------------- parameter groups

def test_parameter_stages_of_a_two_stage_model():
    model = tiny_model(stages=2)
    stages = parameter_stages(model)
    assert stages["embeddings.weight"] == 0 and stages["lm_head.weight"] == 0
    assert stages["backbone.encoder.layers.0.mixer.in_proj.weight"] == 0
    assert stages["backbone.routing_module.q_proj_layer.weight"] == 0
    assert stages["backbone.residual_proj.weight"] == 0
    assert stages["backbone.main_network.encoder.layers.0.mixer.in_proj.weight"] == 1
    assert stages["backbone.main_network.pad_dimension"] == 1
    inner = [n for n in stages if n.startswith("backbone.main_network.main_network.main_network.")]
    assert inner and all(stages[n] == 2 for n in inner)
    # Every parameter is in exactly one stage, and each stage has some.
    assert set(stages.values()) == {0, 1, 2} and len(stages) == len(list(model.named_parameters()))


def test_optimizer_groups_decay_and_multipliers():
    model = tiny_model(stages=1)
    opt = build_optimizer(model, lr=1e-3, weight_decay=0.1, lr_multipliers=[3.0, 1.0])
    stages = parameter_stages(model)
    names = {id(p): n for n, p in model.named_parameters()}
    seen = 0
    for group in opt.param_groups:
        for p in group["params"]:
            seen += 1
            name = names[id(p)]
            assert group["stage"] == stages[name]
            assert group["lr"] == pytest.approx(1e-3 * (3.0 if stages[name] == 0 else 1.0))
            no_decay = p.dim() < 2  # norms, biases, A_log, D, dt_bias, pad_dimension
            assert group["weight_decay"] == (0.0 if no_decay else 0.1), name
    assert seen == len(list(model.parameters()))
    assert set_lr(opt, 0.5) == pytest.approx(1.5e-3)


def test_routing_projections_take_their_own_factor_on_top_of_the_stage_rate():
    model = tiny_model(stages=2)
    opt = build_optimizer(model, lr=1e-3, weight_decay=0.1, lr_multipliers=[3.0, 2.0, 1.0], routing_lr_multiplier=5.0)
    stages = parameter_stages(model)
    names = {id(p): n for n, p in model.named_parameters()}
    routed = 0
    for group in opt.param_groups:
        for p in group["params"]:
            name = names[id(p)]
            stage_rate = 1e-3 * [3.0, 2.0, 1.0][stages[name]]
            is_routing = ".routing_module." in "." + name
            routed += is_routing
            assert group["lr"] == pytest.approx(stage_rate * (5.0 if is_routing else 1.0)), name
    assert routed == 4  # W_q and W_k of the two routing modules
    assert set_lr(opt, 0.5) == pytest.approx(1.5e-3)  # the reported rate is stage 0's, not its routing's
    plain = build_optimizer(model, lr=1e-3, weight_decay=0.1, lr_multipliers=[3.0, 2.0, 1.0])
    assert len(plain.param_groups) == len(opt.param_groups) - 2  # routing groups only when asked


# ---------------------------------------------------------------- checkpoints

def test_checkpointer_keeps_last_k_and_best(tmp_path):
    model = tiny_model(stages=1)
    opt = build_optimizer(model, 1e-3, 0.1)
    ck = Checkpointer(tmp_path, keep=2)
    for step in (1, 2, 3, 4, 5):
        ck.save(step, model, opt, {"step": step, "rng": {"torch": torch.get_rng_state()}}, best=(step == 2))
    assert ck.steps() == [2, 4, 5]
    assert ck.pointer("LATEST") == "step_000005" and ck.pointer("BEST") == "step_000002"
    path, weights, opt_state, trainer = ck.load_latest()
    assert trainer["step"] == 5 and set(weights) == set(model.state_dict())
    assert json.loads((path / "state.json").read_text()) == {"step": 5}
    # The optimizer state loads back into a fresh optimizer.
    build_optimizer(model, 1e-3, 0.1).load_state_dict(opt_state)


def test_checkpoint_files_refuse_pickled_code(tmp_path):
    model = tiny_model(stages=1)
    ck = Checkpointer(tmp_path)
    ck.save(1, model, build_optimizer(model, 1e-3, 0.1), {"step": 1})
    # A trainer file holding an arbitrary object (which would run code when unpickled) is refused.
    torch.save({"step": 1, "evil": CompressionWatch([3.0])}, tmp_path / "checkpoints" / "step_000001" / "trainer.pt")
    with pytest.raises(CheckpointError, match="trainer.pt: not a file of tensors"):
        ck.load_latest()


def test_interrupted_save_leaves_latest_complete(tmp_path, monkeypatch):
    model = tiny_model(stages=1)
    opt = build_optimizer(model, 1e-3, 0.1)
    ck = Checkpointer(tmp_path)
    ck.save(1, model, opt, {"step": 1})
    import hnet_cli.train.checkpointer as module

    def crash(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(module, "_save_torch", crash)
    with pytest.raises(KeyboardInterrupt):
        ck.save(2, model, opt, {"step": 2})
    assert ck.pointer("LATEST") == "step_000001" and ck.steps() == [1]
    ck.remove_partial()
    assert not list((tmp_path / "checkpoints").glob(".tmp-*"))


# ---------------------------------------------------------------- metrics

def test_metrics_resume_drops_later_steps_and_cut_lines(tmp_path):
    path = tmp_path / "metrics.jsonl"
    log = MetricsLog(path)
    log.open()
    for step in range(1, 8):
        log.write({"kind": "train", "step": step, "loss": 1.0 / step})
    log.write({"kind": "val", "step": 4, "val_bpb": float("nan")})
    log.close()
    with open(path, "a") as f:
        f.write('{"kind": "train", "step": 8, "lo')  # a crash in the middle of a line
    log = MetricsLog(path)
    log.open(resume_step=4)
    log.write({"kind": "train", "step": 5, "loss": 0.5})
    log.close()
    records = read_metrics(path)
    assert [(r["kind"], r["step"]) for r in records] == [("train", 1), ("train", 2), ("train", 3), ("train", 4),
                                                          ("val", 4), ("train", 5)]
    assert records[4]["val_bpb"] == "nan"  # still valid JSON


# ---------------------------------------------------------------- health

def test_check_finite():
    check_finite(3, loss=1.0)
    with pytest.raises(TrainingDiverged, match="step 3: loss became nan"):
        check_finite(3, loss=float("nan"))


def test_compression_watch_warns_once_after_patience():
    watch = CompressionWatch([4.0], grace=10, patience=5, factor=2.0)
    assert watch.update(5, [0.01]) == []  # during the hockey stick: not watched
    warnings = [w for step in range(10, 20) for w in watch.update(step, [0.01])]  # 100 bytes per chunk: collapsed
    assert len(warnings) == 1 and "collapsed" in warnings[0] and "target of 4" in warnings[0]
    assert watch.update(20, [0.25]) == []  # back in range
    warnings = [w for step in range(21, 30) for w in watch.update(step, [0.9])]  # ~1 byte per chunk
    assert len(warnings) == 1 and "exploded" in warnings[0]


# ---------------------------------------------------------------- objective

def test_packed_loss_equals_per_document_losses():
    """Loss on packed rows = the sum of each document's own loss (nothing leaks across documents)."""
    model = tiny_model(stages=1, seed=3)
    docs = [bytes(range(65, 65 + n)) for n in (5, 17, 9, 30, 3, 12)]  # 82 bytes + 6 BOS: two rows of 48
    batch = collate(list(pack_documents(docs, 48, pad_last=True)))
    assert batch.input_ids.shape == (2, 48)
    with torch.no_grad():
        packed = float(forward_stats(model, batch, [3.0])[0])
        alone = 0.0
        scored = 0
        for d in docs[:3] + docs[4:]:  # the 30-byte document is cut by the row end: scored apart below
            ids = torch.tensor([[BOS, *d]])
            alone += F.cross_entropy(model(ids).logits[0, :-1].float(), ids[0, 1:], reduction="sum").item()
            scored += len(d)
        # The cut document: its first piece with its own context, the rest as a new row start.
        cut = docs[3]
        first = 48 - (len(docs[0]) + len(docs[1]) + len(docs[2]) + 3) - 1  # bytes of it in row 0 after its BOS
        head = torch.tensor([[BOS, *cut[:first]]])
        tail = torch.tensor([list(cut[first:])])
        alone += F.cross_entropy(model(head).logits[0, :-1].float(), head[0, 1:], reduction="sum").item()
        alone += F.cross_entropy(model(tail).logits[0, :-1].float(), tail[0, 1:], reduction="sum").item()
        scored += first + len(cut) - first - 1
    assert batch.n_targets == scored
    assert packed == pytest.approx(alone, rel=1e-5)


def test_ratio_stats_count_boundaries_on_real_positions():
    model = tiny_model(stages=1, seed=5)
    batch = collate(list(pack_documents([b"abcabcabc" * 3, b"xyz"], 16, carry_context=True, pad_last=True)))
    with torch.no_grad():
        out = model(batch.input_ids, seq_idx=batch.seq_idx, mask=batch.mask)
        _, ratios, bounds, positions = forward_stats(model, batch, [3.0])
    stage = out.stages[0]
    assert positions == [float(batch.mask.sum())]
    assert bounds == [float((stage.boundary_mask & batch.mask).sum())]
    assert len(ratios) == 1 and ratios[0].requires_grad is False

"""hnet chunk's segmentation against a direct forward pass, and windowed processing of long inputs.

`reference_segmentation` below is the independent oracle the chunk tests use:
one plain forward of BOS + the document, then the reporting rules of
hnet_cli/chunk/segmentation.py spelled out with Python lists.
"""

import pytest
import torch

from hnet_cli.chunk import segment_bytes, segment_documents
from hnet_cli.chunk.windows import plan_windows
from hnet_cli.data.documents import Document
from hnet_cli.model import HNetConfig, HNetLM
from model_helpers import random_bytes, tiny_model

BOS = 254


def reference_segmentation(model, data: bytes):
    """Per stage: {"elements": [(byte, p, b)], "chunks": [(start, end, p_first, mean_conf, n_elements)]}."""
    ids = torch.tensor([BOS, *data])[None]
    with torch.no_grad():
        out = model(ids)
    positions = list(range(len(data) + 1))  # stage-0 elements: every position, BOS included
    stages = []
    for st in out.stages:
        m = len(positions)
        assert int(st.valid[0].sum()) == m
        p = st.boundary_prob[0, :m].tolist()
        b = st.boundary_mask[0, :m].tolist()
        elements = []
        for t, pt, bt in zip(positions, p, b):
            if t == 0:
                if len(positions) > 1 and positions[1] == 1:
                    continue  # byte 0 is its own element; the BOS element holds no document byte
                elements.append((0, pt, bt))
            else:
                elements.append((t - 1, pt, bt))
        starts = [e for e in elements if e[2] or e[0] == 0]
        chunks = []
        for i, (start, p_first, _) in enumerate(starts):
            end = starts[i + 1][0] if i + 1 < len(starts) else len(data)
            inside = [e for e in elements if start <= e[0] < end]
            conf = [max(e[1], 1 - e[1]) for e in inside]
            chunks.append((start, end, p_first, sum(conf) / len(conf), len(inside)))
        stages.append({"elements": elements, "chunks": chunks})
        positions = [t for t, bt in zip(positions, b) if bt]
    return stages


def attention_only_model(stages: int, window: int, seed: int = 0) -> HNetLM:
    """Sliding-window attention everywhere (no Mamba): each decision sees a bounded context."""
    layout = ["T1"]
    for _ in range(stages):
        layout = ["T2", layout, "T1"]
    n = stages + 1
    cfg = HNetConfig.from_dict({
        "arch_layout": layout, "d_model": [16, 24, 32][:n], "d_intermediate": [32] * n, "vocab_size": 256,
        "ssm_cfg": {"chunk_size": 8, "d_conv": 4, "d_state": 8, "expand": 2, "headdim": 8},
        "attn_cfg": {"num_heads": [2] * n, "rotary_emb_dim": [4] * n, "window_size": [window] * n},
        "tie_embeddings": False,
    })
    torch.manual_seed(seed)
    model = HNetLM(cfg)
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=gen))
    return model.eval()


def assert_matches_reference(seg, ref, exact_p=True):
    assert seg.num_stages == len(ref)
    for s, expected in enumerate(ref):
        st = seg.stages[s]
        assert st.element_start.tolist() == [e[0] for e in expected["elements"]], f"stage {s} elements"
        assert st.boundary.tolist() == [bool(e[2]) for e in expected["elements"]], f"stage {s} decisions"
        p = torch.tensor([e[1] for e in expected["elements"]], dtype=torch.float32)
        if exact_p:
            assert torch.equal(st.boundary_prob, p), f"stage {s} p"
        else:
            assert torch.allclose(st.boundary_prob, p, atol=2e-5), f"stage {s} p"
        table = seg.chunk_table(s)
        assert table.start.tolist() == [c[0] for c in expected["chunks"]]
        assert table.end.tolist() == [c[1] for c in expected["chunks"]]
        assert table.elements.tolist() == [c[4] for c in expected["chunks"]]
        assert torch.allclose(table.boundary_prob, torch.tensor([c[2] for c in expected["chunks"]]), atol=2e-5)
        assert torch.allclose(table.mean_confidence, torch.tensor([c[3] for c in expected["chunks"]]), atol=1e-5)


@pytest.mark.parametrize("stages", [1, 2])
def test_segmentation_equals_direct_forward(stages):
    model = tiny_model(stages, seed=3)
    data = bytes(random_bytes(700, seed=stages).tolist())
    seg = segment_bytes(model, data)
    assert seg.windows == 1 and seg.length == 700
    assert_matches_reference(seg, reference_segmentation(model, data))


def test_stage_hierarchy_and_coverage():
    model = tiny_model(2, seed=5)
    seg = segment_bytes(model, "Grüße, 世界! tab\there\nnew line\x00\x01 end".encode() * 5)
    n = seg.length
    for s in range(seg.num_stages):
        starts = seg.chunk_starts(s).tolist()
        assert starts[0] == 0 and starts == sorted(set(starts)) and starts[-1] < n
        table = seg.chunk_table(s)
        assert table.end.tolist() == starts[1:] + [n]  # contiguous, covers the document
        assert int(table.elements.sum()) == len(seg.stages[s])
        ids = seg.chunk_ids(s)
        assert ids[0] == 0 and ids[-1] == len(starts) - 1
        if s + 1 < seg.num_stages:
            # stage s+1's elements are stage s's chunks
            assert seg.stages[s + 1].element_start.tolist() == starts


def test_first_byte_always_begins_a_chunk_and_bos_chunk_is_reported_at_byte_0():
    """Both cases occur: byte 0 with its own boundary, and byte 0 continuing the BOS chunk."""
    model = tiny_model(2, seed=5)
    seen = set()
    for seed in range(8):
        data = bytes(random_bytes(30, seed=seed).tolist())
        seg = segment_bytes(model, data)
        first_byte_is_boundary = bool(seg.stages[0].boundary[0])
        seen.add(first_byte_is_boundary)
        assert seg.stages[0].starts_chunk[0]
        assert seg.chunk_starts(1)[0] == 0
        # Stage 1's first element is the BOS chunk (p_0 = 1) exactly when byte 0 continued it.
        ids = torch.tensor([BOS, *data])[None]
        with torch.no_grad():
            out = model(ids)
        assert bool(out.stages[0].boundary_mask[0, 1]) == first_byte_is_boundary
        if not first_byte_is_boundary:
            assert float(seg.stages[1].boundary_prob[0]) == 1.0
        else:
            assert float(seg.stages[1].boundary_prob[0]) == float(out.stages[1].boundary_prob[0, 1])
    assert seen == {True, False}


def test_window_plan_owns_every_byte_once():
    for n, w, v in [(1, 5, 0), (10, 10, 4), (11, 10, 4), (1000, 64, 16), (1000, 64, 0), (999, 100, 99)]:
        wins = plan_windows(n, w, v)
        assert wins[0].start == 0 and wins[0].keep_start == 0 and wins[-1].end == n and wins[-1].keep_end == n
        for a, b in zip(wins, wins[1:]):
            assert a.keep_end == b.keep_start  # each byte owned by exactly one window
            assert b.start - a.start == w - v
            assert b.start + v // 2 == b.keep_start  # at least V/2 bytes of context before a seam
        for win in wins:
            assert win.end - win.start <= w and win.start <= win.keep_start < win.keep_end <= win.end
    assert len(plan_windows(10, 10, 4)) == 1 and len(plan_windows(11, 10, 4)) == 2
    assert plan_windows(0, 10, 4) == []


def test_window_covering_the_document_is_the_single_pass():
    model = tiny_model(2, seed=1)  # Mamba-2 layers: unbounded context
    data = bytes(random_bytes(2500, seed=9).tolist())
    ref = reference_segmentation(model, data)
    for window in (2500, 4096):
        seg = segment_bytes(model, data, window=window, overlap=100)
        assert seg.windows == 1 and seg.seams is None
        assert_matches_reference(seg, ref)


@pytest.mark.parametrize("stages", [1, 2])
def test_overlapping_windows_equal_single_pass_when_context_is_bounded(stages):
    """Attention windows of 6 positions, two encoder layers per stage: stage 0 sees 13 bytes back.

    With half the overlap (100 bytes) well past that, and past the stage-1 encoder's 13 chunks,
    every window's kept range is computed exactly as in one pass.
    """
    model = attention_only_model(stages, window=6, seed=stages)
    data = bytes(random_bytes(3000, seed=7).tolist())
    seg = segment_bytes(model, data, window=500, overlap=200)
    assert seg.windows == 10
    assert_matches_reference(seg, reference_segmentation(model, data), exact_p=False)
    assert seg.seams.seams == 9 and seg.seams.exact_seams == [9] * stages


def test_too_little_overlap_is_visible_and_measured():
    """No overlap: each window restarts at BOS, so boundaries near the seams differ from one pass."""
    model = attention_only_model(1, window=6, seed=1)
    data = bytes(random_bytes(3000, seed=7).tolist())
    single = segment_bytes(model, data)
    cut = segment_bytes(model, data, window=500, overlap=0)
    assert cut.windows == 6
    differ = set(single.chunk_starts(0).tolist()) ^ set(cut.chunk_starts(0).tolist())
    assert differ and all(min(abs(d - a) for a in range(500, 3000, 500)) < 20 for d in differ)
    assert cut.seams.agreement == [None]  # nothing overlaps: nothing to measure


def test_windows_batch_across_documents_in_order():
    model = tiny_model(1, seed=2)
    docs = [Document(bytes(random_bytes(n, seed=n).tolist()), "mem", f"d{n}") for n in (50, 900, 0, 7, 1300)]
    segs = list(segment_documents(model, docs, window=400, overlap=100, batch_tokens=1000))
    assert [s.document.name for s in segs] == [d.name for d in docs]
    assert [s.index for s in segs] == list(range(5))
    assert segs[2].length == 0 and segs[2].chunk_table(0).start.tolist() == []
    for seg, doc in zip(segs, docs):
        assert seg.length == len(doc.data)
        if 0 < len(doc.data) <= 400:  # one window: the single pass, even when batched with others
            assert_matches_reference(seg, reference_segmentation(model, doc.data), exact_p=False)

"""The generation loop against plain full-forward references: caches, row selection, boundary flags."""

import pytest
import torch

from hnet_cli.generate import Prompt, SamplingParams, generate
from hnet_cli.generate.cache_rows import select_rows
from hnet_cli.generate.engine import _prefill
from model_helpers import rel_err, tiny_model

BOS, EOS = 254, 255


# Generation steps are tiny ops; on a shared 2-core machine one thread is much faster.
pytestmark = pytest.mark.usefixtures("one_thread")


def full_forward_flags(model, sequence: list[int], start: int) -> list[list[int]]:
    """Per stage, per position >= start of `sequence`: does the byte start a chunk (from one full forward)."""
    with torch.no_grad():
        out = model(torch.tensor([sequence]))
    flags = []
    outer = torch.ones(len(sequence), dtype=torch.bool)
    position_in_stage = torch.arange(len(sequence))  # where each byte's chunk sits in the stage's sequence
    for stage in out.stages:
        mask = stage.boundary_mask[0]
        here = outer & mask[position_in_stage]
        flags.append([int(x) for x in here[start:]])
        # Inner stage: chunk index of each byte = (number of boundaries up to it) - 1.
        position_in_stage = torch.cumsum(mask.long(), 0)[position_in_stage] - 1
        outer = here
    return flags


def test_select_rows_repeats_and_drops_cache_rows():
    model = tiny_model(2, seed=4)
    prompts = [Prompt(b"abc", "1", 0), Prompt(b"hello world", "2", 1), Prompt(b"", "3", 2)]
    next_ids = torch.tensor([65, 66, 67])
    with torch.inference_mode():
        cache, _ = _prefill(model, prompts, "cpu")
        cache = select_rows(cache, torch.tensor([2, 0, 0]), 3)
        got = model.step(next_ids, cache).logits
        fresh, _ = _prefill(model, [prompts[2], prompts[0], prompts[0]], "cpu")
        want = model.step(next_ids, fresh).logits
    assert rel_err(got, want) < 1e-5


def test_boundary_flags_equal_the_full_forward_decisions():
    model = tiny_model(2, seed=5)
    prompt = b"flags of"
    params = SamplingParams(temperature=1.0, max_bytes=40, ignore_eos=True, seed=3)
    (sample,) = generate(model, [Prompt(prompt, "1", 0)], params, record_boundaries=True)
    sequence = [BOS, *prompt, *sample.data]
    want = full_forward_flags(model, sequence, 1 + len(prompt))
    assert sample.boundaries == want
    assert sum(want[0]) > sum(want[1]) > 0  # both stages chunk, the inner one less often


def test_batching_does_not_change_samples():
    model = tiny_model(1, seed=6)
    prompts = [Prompt(p, str(i + 1), i) for i, p in enumerate([b"", b"a longer prompt here", b"xy"])]
    # A small alphabet makes the stop string (and EOS) likely, so rows end at different steps.
    params = SamplingParams(temperature=1.1, top_k=60, top_p=0.95, max_bytes=30, stop=(b"ab",),
                            alphabet=b"abcdefghijklmnop", seed=9)
    together = generate(model, prompts, params, num_samples=3, batch_size=9)
    split = generate(model, prompts, params, num_samples=3, batch_size=2)
    alone = [s for p in prompts for s in generate(model, [p], params, num_samples=3, batch_size=1)]
    key = lambda s: (s.prompt.index, s.sample_index, s.data, s.end)  # noqa: E731
    assert [key(s) for s in together] == [key(s) for s in split]
    assert [(s.prompt.data, s.sample_index, s.data, s.end) for s in together] == \
        [(s.prompt.data, s.sample_index, s.data, s.end) for s in alone]
    assert len({s.data for s in together}) > 3  # samples differ from each other
    assert {s.end for s in together} == {"eos", "stop", "max_bytes"}  # rows ended at different steps


@pytest.mark.parametrize("stages", [1, 2])
def test_fixed_rows_give_the_same_samples(stages):
    """The GPU path (every row steps at fixed shapes, finished rows ride along unread) samples
    exactly what the shrinking batch samples: same bytes, same ends, same boundary flags."""
    model = tiny_model(stages, seed=5 + stages)  # seeds whose rows end in all three ways
    prompts = [Prompt(p, str(i + 1), i) for i, p in enumerate([b"", b"a longer prompt here", b"xy"])]
    params = SamplingParams(temperature=1.1, top_k=60, top_p=0.95, max_bytes=30, stop=(b"ab",),
                            alphabet=b"abcdefghijklmnop", seed=9)
    kw = dict(num_samples=3, batch_size=9, record_boundaries=True)
    shrinking = generate(model, prompts, params, fixed_rows=False, **kw)
    fixed = generate(model, prompts, params, fixed_rows=True, **kw)
    key = lambda s: (s.number, s.data, s.end, s.stop, s.boundaries)  # noqa: E731
    assert [key(s) for s in fixed] == [key(s) for s in shrinking]
    assert {s.end for s in fixed} == {"eos", "stop", "max_bytes"}  # rows ended at different steps
    greedy = SamplingParams(temperature=0.0, max_bytes=25, ignore_eos=True)
    assert [s.data for s in generate(model, prompts, greedy, fixed_rows=True, batch_size=1)] == \
        [s.data for s in generate(model, prompts, greedy, fixed_rows=False, batch_size=1)]


@pytest.mark.parametrize("max_bytes,asked,compiled", [
    (400, None, False), (4096, None, True), (400, True, True), (100000, False, False)])
def test_gpu_step_is_compiled_only_for_long_generations_unless_asked(monkeypatch, max_bytes, asked, compiled):
    """Compiling the step costs seconds of start-up: by default only generations of
    COMPILED_STEP_MIN_BYTES or more pay it; --compile / --no-compile decide otherwise."""
    from hnet_cli.generate import engine

    made = {}

    class Recorder:
        def __init__(self, model, cache, batch, max_steps, graph, compile):
            made.update(graph=graph, compile=compile, max_steps=max_steps)

    monkeypatch.setattr(engine, "FixedRows", Recorder)
    params = SamplingParams(max_bytes=max_bytes)
    engine._stepper(tiny_model(1), None, 2, params, False, torch.device("cuda"), None, asked)
    assert made == {"graph": True, "compile": compiled, "max_steps": max_bytes + 1}
    assert engine.COMPILED_STEP_MIN_BYTES == 4096  # the default `hnet generate --help` states


def test_generate_command_passes_its_compile_choice_to_the_engine(monkeypatch, tmp_path):
    from hnet_cli import ops
    from hnet_cli.cli import main
    from hnet_cli.generate import engine
    from hnet_cli.model import save_model

    seen = []
    real = engine._stepper

    def spy(*args):
        seen.append((args[-1], ops.compilation_allowed()))
        return real(*args)

    monkeypatch.setattr(engine, "_stepper", spy)
    model = save_model(tiny_model(1, seed=2), tmp_path / "m")
    for flag, want in (([], (None, True)), (["--compile"], (True, True)), (["--no-compile"], (False, False))):
        out = tmp_path / "s.txt"
        assert main(["generate", str(model), "-p", "ab", "--max-bytes", "3", "--seed", "1", "-q", "-o", str(out),
                     *flag]) == 0
        assert seen[-1] == want  # (the step's choice, whether compiled code may run at all)

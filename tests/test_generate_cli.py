"""`hnet generate` end to end: greedy equals full-forward argmax, batching invariance, DNA/FASTA, errors."""

import base64
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from Bio import SeqIO

from hnet_cli.cli import main
from hnet_cli.model import save_model
from model_helpers import tiny_model

BOS, EOS = 254, 255
REPO = Path(__file__).resolve().parents[1]


# Generation steps are tiny ops; on a shared 2-core machine one thread is much faster.
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    out = {}
    for stages in (1, 2):
        model = tiny_model(stages, seed=10 + stages)
        out[stages] = (save_model(model, root / f"stage{stages}"), model)
    # A model that often prefers EOS: its EOS output row is 1.1 x the row of a byte it
    # likes (244 for this seed), so greedy samples end by EOS at different steps.
    model = tiny_model(1, seed=11)
    with torch.no_grad():
        model.lm_head.weight[EOS] = 1.1 * model.lm_head.weight[244]
    out["eos"] = (save_model(model, root / "eos"), model)
    return out


def run_cli(args, capsys):
    rc = main(["generate", *(str(a) for a in args)])
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def read_jsonl(path):
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines()]


def naive_greedy(model, prompt: bytes, max_bytes: int) -> tuple[bytes, bytes]:
    """Full forward over the growing sequence each step, argmax of the last position (BOS never chosen).

    Returns (with EOS ending the sample, with EOS never chosen): both follow the
    same bytes until the first step where EOS is the argmax.
    """
    ids = [BOS, *prompt]
    out, eos_at = [], None
    with torch.no_grad():
        for _ in range(max_bytes):
            logits = model(torch.tensor([ids])).logits[0, -1].double()
            logits[BOS] = float("-inf")
            if eos_at is None and int(logits.argmax()) == EOS:
                eos_at = len(out)
            logits[EOS] = float("-inf")
            byte = int(logits.argmax())
            out.append(byte)
            ids.append(byte)
    return bytes(out[:eos_at]), bytes(out)


# ---------------------------------------------------------------- acceptance 1

@pytest.mark.parametrize("which", [1, 2, "eos"])
def test_greedy_cli_equals_full_forward_argmax(which, models, tmp_path, capsys):
    model_dir, model = models[which]
    prompts = ["", "The cat", "a much longer prompt than the others, to pad the batch"]
    prompt_file = tmp_path / "prompts.jsonl"
    prompt_file.write_text("".join(json.dumps({"prompt": p}) + "\n" for p in prompts))
    want = [naive_greedy(model, p.encode(), 40) for p in prompts]
    out = tmp_path / "out.jsonl"
    for ignore_eos in (False, True):
        args = [model_dir, "--prompt-file", prompt_file, "--temperature", "0", "--max-bytes", 40, "--json",
                "-o", out, "-q"] + (["--ignore-eos"] if ignore_eos else [])
        rc, stdout, stderr = run_cli(args, capsys)
        assert rc == 0, stderr
        records = read_jsonl(out)
        assert [r["prompt"] for r in records] == prompts
        for (with_eos, without_eos), record in zip(want, records):
            assert base64.b64decode(record["bytes_b64"]) == (without_eos if ignore_eos else with_eos)
            assert record["end"] == ("max_bytes" if ignore_eos or len(with_eos) == 40 else "eos")
    if which == "eos":
        assert len({len(with_eos) for with_eos, _ in want}) == 3  # three rows ending at three different steps


# ---------------------------------------------------------------- acceptance 2

def test_batched_samples_equal_samples_generated_alone(models, tmp_path, capsys):
    model_dir, _ = models[2]
    prompts = ["", "Hi", "The quick brown fox"]
    prompt_file = tmp_path / "prompts.txt"
    prompt_file.write_text("\n".join(p or "." for p in prompts) + "\n")
    common = ["--temperature", "1.0", "--top-k", "100", "--top-p", "0.95", "--seed", "7", "--max-bytes", 24,
              "--stop", "ab", "--alphabet", "abcdefghijklmnop", "--json", "-q"]
    batched = tmp_path / "batched.jsonl"
    rc, _, err = run_cli([model_dir, "--prompt-file", prompt_file, "-n", 2, "--batch-size", 6, "-o", batched,
                          *common], capsys)
    assert rc == 0, err
    together = read_jsonl(batched)
    assert len(together) == 6
    for i, prompt in enumerate(prompts):
        alone = tmp_path / f"alone{i}.jsonl"
        rc, _, err = run_cli([model_dir, "--prompt", prompt or ".", "-n", 2, "--batch-size", 1, "-o", alone,
                              *common], capsys)
        assert rc == 0, err
        for j, record in enumerate(read_jsonl(alone)):
            row = together[2 * i + j]
            assert (row["bytes_b64"], row["end"], row["boundaries"]) == \
                (record["bytes_b64"], record["end"], record["boundaries"])
    assert len({r["bytes_b64"] for r in together}) == 6


def test_same_seed_same_output_other_seed_differs(models, tmp_path, capsys):
    model_dir, _ = models[1]
    outputs = []
    for seed in (1, 1, 2):
        out = tmp_path / f"s{seed}.txt"
        rc, _, err = run_cli([model_dir, "-p", "abc", "--seed", seed, "--max-bytes", 30, "--ignore-eos", "-o", out], capsys)
        assert rc == 0, err
        assert "bytes/s" in err and "seed" in err
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1] != outputs[2]


# ---------------------------------------------------------------- output formats

def test_text_output_echoes_prompt_and_ends_with_newline(models, tmp_path, capsys):
    model_dir, model = models[1]
    out = tmp_path / "o.txt"
    rc, _, err = run_cli([model_dir, "-p", "Hello", "--temperature", "0", "--max-bytes", 20, "--ignore-eos", "-o", out], capsys)
    assert rc == 0, err
    want = "Hello" + naive_greedy(model, b"Hello", 20)[1].decode("utf-8", "replace")
    assert out.read_text(encoding="utf-8") == want + ("" if want.endswith("\n") else "\n")


def test_dna_fasta_output_with_acgtn_alphabet(models, tmp_path, capsys):
    model_dir, _ = models[1]
    out = tmp_path / "samples.fa"
    rc, _, err = run_cli([model_dir, "--domain", "dna", "-p", "ACGT\nTGCA", "--alphabet", "ACGTN", "-n", 3,
                          "--max-bytes", 150, "--ignore-eos", "--seed", 4, "--wrap", 60, "-o", out], capsys)
    assert rc == 0, err
    records = list(SeqIO.parse(out, "fasta"))
    assert [r.id for r in records] == ["sample_1", "sample_2", "sample_3"]
    for r in records:
        seq = str(r.seq)
        assert seq.startswith("ACGTTGCA")  # the prompt, whitespace removed
        assert len(seq) == 8 + 150 and set(seq) <= set("ACGTN")
    lines = out.read_text().splitlines()
    assert max(len(line) for line in lines if not line.startswith(">")) == 60


def test_dna_prompts_from_a_fasta_file(models, tmp_path, capsys):
    model_dir, _ = models[1]
    prompts = tmp_path / "reads.fa"
    prompts.write_text(">read1 first\nACGTAC\nGT\n>read2\nTTTT\n")
    rc, out, err = run_cli([model_dir, "--domain", "dna", "--prompt-file", prompts, "--max-bytes", 10, "--ignore-eos", "--no-echo",
                            "--json"], capsys)
    assert rc == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    assert [(r["prompt_name"], r["prompt"]) for r in records] == [("read1", "ACGTACGT"), ("read2", "TTTT")]
    assert all(r["length"] == 10 for r in records)


@pytest.mark.slow
def test_stdin_prompt_equals_prompt_argument(models, tmp_path):
    model_dir, _ = models[1]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    base = [sys.executable, "-m", "hnet_cli", "generate", str(model_dir), "--temperature", "0", "--max-bytes", "12",
            "--ignore-eos", "--threads", "1", "-q"]
    piped = subprocess.run(base, input=b"Hello\n", capture_output=True, env=env, timeout=300)
    direct = subprocess.run(base + ["-p", "Hello"], capture_output=True, env=env, timeout=300, stdin=subprocess.DEVNULL)
    assert piped.returncode == 0 and direct.returncode == 0, piped.stderr + direct.stderr
    assert piped.stdout == direct.stdout and piped.stdout.startswith(b"Hello")
    assert piped.stderr == b""


# ---------------------------------------------------------------- acceptance 4

@pytest.mark.parametrize("case", ["empty file", "blank file", "invalid utf8 file", "invalid utf8 argument",
                                  "negative temperature", "top-p zero", "top-p above one", "missing model",
                                  "jsonl without field", "bos in prompt", "bad format"])
def test_bad_input_gives_one_line_error(case, models, tmp_path, capsys):
    model_dir, _ = models[1]
    prompt_file = tmp_path / "prompts.txt"
    args = [model_dir, "--max-bytes", 5]
    needle = None
    if case == "empty file":
        prompt_file.write_bytes(b"")
        args += ["--prompt-file", prompt_file]
        needle = "empty"
    elif case == "blank file":
        prompt_file.write_bytes(b"\n  \n\n")
        args += ["--prompt-file", prompt_file]
        needle = "blank lines"
    elif case == "invalid utf8 file":
        prompt_file.write_bytes(b"fine\nbad \xff byte\n")
        args += ["--prompt-file", prompt_file]
        needle = f"{prompt_file}:2"
    elif case == "invalid utf8 argument":
        args += ["--prompt", os.fsdecode(b"caf\xe9")]  # latin-1 bytes from a shell, as Python receives them
        needle = "UTF-8"
    elif case == "negative temperature":
        args += ["--temperature", "-1"]
        needle = "--temperature"
    elif case == "top-p zero":
        args += ["--top-p", "0"]
        needle = "--top-p"
    elif case == "top-p above one":
        args += ["--top-p", "1.5"]
        needle = "--top-p"
    elif case == "missing model":
        args[0] = tmp_path / "no_such_run"
        needle = "not found"
    elif case == "jsonl without field":
        prompt_file = tmp_path / "p.jsonl"
        prompt_file.write_text('{"prompt": "ok"}\n{"text_": "x"}\n')
        args += ["--prompt-file", prompt_file]
        needle = f"{prompt_file}:2"
    elif case == "bos in prompt":
        args += ["--domain", "dna", "--prompt", os.fsdecode(b"AC\xfeGT")]
        needle = "BOS"
    elif case == "bad format":
        args += ["--format", "xml"]
        needle = "--format"
    out = tmp_path / "never.txt"
    rc, stdout, stderr = run_cli(args + ["-o", out], capsys)
    assert rc != 0
    assert stderr.startswith("hnet: error: ") and stderr.count("\n") == 1, stderr
    assert needle in stderr
    assert not out.exists() and stdout == ""


def test_help_shows_examples(capsys):
    rc, out, _ = run_cli(["--help"], capsys)
    assert rc == 0
    assert "Examples:" in out and "hnet generate runs/dna" in out


def test_run_directory_domain_picks_fasta_output(models, tmp_path, capsys):
    _, model = models[1]
    run = tmp_path / "run"
    save_model(model, run / "checkpoints" / "step_10")
    (run / "checkpoints" / "LATEST").write_text("step_10\n")
    (run / "run.json").write_text(json.dumps({"domain": "dna", "paths": []}))
    rc, out, err = run_cli([run, "-p", "ACGT", "--max-bytes", 70, "--ignore-eos", "--seed", 1, "-q"], capsys)
    assert rc == 0, err
    (record,) = SeqIO.parse(io.StringIO(out), "fasta")
    assert record.id == "sample_1" and len(record.seq) == 74
    assert set(str(record.seq)) <= set("ACGTURYSWKMBDHVNacgturyswkmbdhvn-")

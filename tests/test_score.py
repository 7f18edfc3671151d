"""hnet score: per-position scores against independent references; equality with hnet eval; bedGraph."""

import gzip
import json
import math
import shutil
import subprocess
from pathlib import Path

import pytest
import torch

from hnet_cli.cli import main
from hnet_cli.data.documents import Document
from hnet_cli.model import save_model
from hnet_cli.model.hnet import BOS
from hnet_cli.score import score_positions
from hnet_cli.score.writers import element_intervals
from model_helpers import tiny_model

LAMBDA = Path(__file__).resolve().parents[1] / "domains" / "data" / "lambda_phage.fa.gz"


def lambda_bases() -> bytes:
    return b"".join(gzip.open(LAMBDA).read().split(b"\n")[1:])


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("score_models")
    return {s: save_model(tiny_model(s, seed=11), root / f"m{s}") for s in (1, 2)}


def reference_scores(model, data: bytes):
    """-ln p per byte (float64) and p^s per byte (NaN off-stage) from one plain forward of BOS + data."""
    ids = torch.tensor([[BOS, *data]])
    with torch.no_grad():
        out = model(ids)
    logp = torch.log_softmax(out.logits[0].double(), dim=-1)
    nll = -logp[:-1].gather(-1, ids[0, 1:, None])[:, 0]
    probs, positions = [], torch.arange(len(data) + 1)
    for stage in out.stages:  # map each stage's positions back to tokens by hand
        values = torch.full((len(data) + 1,), float("nan"))
        values[positions] = stage.boundary_prob[0].float()
        probs.append(values[1:])
        positions = positions[stage.boundary_mask[0]]
    return nll, probs


@pytest.mark.parametrize("stages", [1, 2])
def test_positions_equal_one_plain_forward(stages):
    model = tiny_model(stages, seed=4)
    data = lambda_bases()[1000:1300]
    docs = [Document(data, "x", "a"), Document(b"", "x", "empty"), Document(data[:50], "x", "b")]
    got = list(score_positions(model, docs, context=512, stride=256, batch_size=2))
    assert [g.document.name for g in got] == ["a", "b"] and [g.index for g in got] == [0, 2]
    for g, bases in zip(got, (data, data[:50])):
        nll, probs = reference_scores(model, bases)
        assert torch.allclose(g.nll, nll, rtol=1e-5, atol=1e-6)
        assert math.isclose(g.nats, float(nll.sum()), rel_tol=1e-6)
        for mine, ref in zip(g.boundary_prob, probs):
            assert torch.equal(torch.isnan(mine), torch.isnan(ref))
            assert torch.allclose(mine[~torch.isnan(mine)], ref[~torch.isnan(ref)], atol=1e-6)


def test_windows_give_the_sum_of_their_parts():
    """A document longer than the context: every byte scored once; total = sum of per-position values."""
    model = tiny_model(1, seed=2)
    data = lambda_bases()[:700]
    (g,) = score_positions(model, [Document(data, "x", "a")], context=128, stride=64)
    assert g.nll.shape == (700,) and bool((g.nll > 0).all())
    assert math.isclose(float(g.nll.sum()), g.nats, rel_tol=1e-12)
    # the first window's bytes are the plain forward of its first 127 bytes
    nll, _ = reference_scores(model, data[:127])
    assert torch.allclose(g.nll[:127], nll, rtol=1e-5, atol=1e-6)


def test_element_intervals_cover_every_byte_once():
    prob = torch.tensor([float("nan"), float("nan"), 0.7, float("nan"), 0.9])
    starts, ends, values = element_intervals(prob)
    assert starts.tolist() == [0, 2, 4] and ends.tolist() == [2, 4, 5]
    assert values.tolist() == pytest.approx([1.0, 0.7, 0.9])
    starts, ends, _ = element_intervals(torch.tensor([0.6, float("nan")]))
    assert starts.tolist() == [0] and ends.tolist() == [2]


def read_bedgraph(text: str) -> dict:
    """An independent bedGraph reader: {track name: [(chrom, start, end, value)]}."""
    tracks, current = {}, None
    for line in text.splitlines():
        if line.startswith("track"):
            current = line.split('name="')[1].split('"')[0]
            tracks[current] = []
            continue
        chrom, a, b, v = line.split("\t")
        tracks.setdefault(current, []).append((chrom, int(a), int(b), float(v)))
    return tracks


@pytest.fixture(scope="module")
def lambda_8k(tmp_path_factory):
    """The first 8 kb of the lambda genome as a FASTA record (real data, small enough for CPU tests)."""
    path = tmp_path_factory.mktemp("lambda") / "lambda8k.fa"
    bases = lambda_bases()[:8000]
    path.write_bytes(b">lambda8k first 8 kb of NC_001416.1\n" + b"\n".join(
        bases[i : i + 60] for i in range(0, len(bases), 60)) + b"\n")
    return path


@pytest.mark.slow
def test_score_sums_to_eval_bits_on_a_real_genome(model_dirs, lambda_8k, tmp_path, capsys):
    """Acceptance 2: bedGraph surprisal over real DNA sums to `hnet eval`'s bits (<= 1e-6 relative)."""
    model = str(model_dirs[2])
    common = ["-d", "dna", "-c", "512", "--stride", "192", "-q"]
    assert main(["eval", model, str(lambda_8k), *common, "--json"]) == 0
    eval_bits = json.loads(capsys.readouterr().out)["models"][0]["bits"]
    graph = tmp_path / "lambda.bedGraph"
    assert main(["score", str(lambda_8k), "-m", model, *common, "-f", "bedgraph", "--stage", "all",
                 "--output", str(graph), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["bytes"] == 8000
    assert math.isclose(summary["bits"], eval_bits, rel_tol=1e-6)
    tracks = read_bedgraph(graph.read_text())
    assert list(tracks) == ["hnet_surprisal", "hnet_boundary_prob_0", "hnet_boundary_prob_1"]
    assert math.isclose(sum(v for *_, v in tracks["hnet_surprisal"]), eval_bits, rel_tol=1e-6)
    for name, rows in tracks.items():  # every base exactly once, in order, genome coordinates
        assert rows[0][1] == 0 and rows[-1][2] == 8000, name
        assert all(x[2] == y[1] and x[1] < x[2] for x, y in zip(rows, rows[1:])), name
    assert len(tracks["hnet_boundary_prob_0"]) == 8000
    assert 1 < len(tracks["hnet_boundary_prob_1"]) < 8000

    # per record, TSV: the same bits
    assert main(["score", str(lambda_8k), "-m", model, *common]) == 0
    header, row = capsys.readouterr().out.splitlines()
    fields = dict(zip(header.lstrip("#").split("\t"), row.split("\t")))
    assert fields["record"] == "lambda8k" and (fields["start"], fields["end"]) == ("0", "8000")
    assert math.isclose(float(fields["bits"]), eval_bits, rel_tol=1e-9)
    assert math.isclose(float(fields["log_likelihood"]), -eval_bits * math.log(2), rel_tol=1e-9)


@pytest.mark.skipif(shutil.which("bedtools") is None, reason="bedtools is not installed")
def test_bedgraph_round_trips_through_bedtools(model_dirs, tmp_path, capsys):
    """Acceptance 2: one track per file loads in bedtools; sort + merge gives back each region whole."""
    graph = tmp_path / "s.bedGraph"
    bed = tmp_path / "r.bed"
    bed.write_text("gi|9626243|ref|NC_001416.1|\t2000\t2600\ngi|9626243|ref|NC_001416.1|\t100\t400\n")
    assert main(["score", str(LAMBDA), "-m", str(model_dirs[1]), "-d", "dna", "-q", "-f", "bedgraph",
                 "--tracks", "surprisal", "--no-track-line", "--regions", str(bed), "--output", str(graph)]) == 0
    rows = graph.read_text().splitlines()
    assert len(rows) == 900 and not rows[0].startswith("track")
    merged = subprocess.run(f"bedtools sort -i {graph} | bedtools merge -i - -c 4 -o count",
                            shell=True, check=True, capture_output=True, text=True).stdout.split("\n")
    assert merged[:2] == ["gi|9626243|ref|NC_001416.1|\t100\t400\t300", "gi|9626243|ref|NC_001416.1|\t2000\t2600\t600"]


def test_score_errors_are_one_line(model_dirs, tmp_path, capsys):
    fa = tmp_path / "x.fa"
    fa.write_text(">x\nACGT\n")
    assert main(["score", str(fa), "-m", str(model_dirs[1]), "-f", "parquet"]) != 0
    assert "unknown --format" in capsys.readouterr().err
    assert main(["score", str(fa), "-m", str(model_dirs[1]), "--tracks", "gc"]) != 0
    assert "--tracks" in capsys.readouterr().err
    out = tmp_path / "keep.tsv"
    out.write_text("precious\n")
    assert main(["score", str(fa), "-m", str(model_dirs[1]), "--region", "chrQ:1-2", "--output", str(out)]) != 0
    assert "no record matches" in capsys.readouterr().err
    assert out.read_text() == "precious\n"

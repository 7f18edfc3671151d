"""hnet embed: vectors against plain forwards and a by-hand stage walk; pooling; reverse complement; file formats."""

import gzip
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from hnet_cli.cli import main
from hnet_cli.data.documents import Document
from hnet_cli.data.readers.fasta import reverse_complement
from hnet_cli.embed import embed_documents
from hnet_cli.model import save_model
from hnet_cli.model.hnet import BOS
from hnet_cli.model.sequence import SeqInfo
from model_helpers import tiny_model

LAMBDA = Path(__file__).resolve().parents[1] / "domains" / "data" / "lambda_phage.fa.gz"


def lambda_bases() -> bytes:
    return b"".join(gzip.open(LAMBDA).read().split(b"\n")[1:])


def rows_of(model, docs, **kw):
    out = list(embed_documents(model, docs, **kw))
    return (torch.cat([r.start for r in out]), torch.cat([r.end for r in out]), torch.cat([r.vectors for r in out]),
            [r.record for r in out for _ in range(len(r))])


def plain_hidden(model, data: bytes) -> torch.Tensor:
    with torch.no_grad():
        return model(torch.tensor([[BOS, *data]]), return_hidden=True).hidden[0, 1:]


def chunk_inputs_by_hand(model, data: bytes, stage: int):
    """The stage's main-network inputs, walking encoder -> routing -> selection by hand."""
    x = model.embeddings(torch.tensor([[BOS, *data]]))
    tokens = torch.arange(len(data) + 1)
    net = model.backbone
    with torch.no_grad():
        for s in range(stage + 1):
            info = SeqInfo.from_mask(torch.ones(x.shape[:2], dtype=torch.bool))
            h = net.encoder(net._widen(x), info)
            keep = net.routing_module(h, info).boundary_mask[0]
            x, tokens, net = h[:, keep], tokens[keep], net.main_network
    return x[0], tokens


@pytest.mark.parametrize("stages", [1, 2])
def test_per_byte_equals_one_plain_forward(stages):
    """Acceptance 1: per-byte vectors = the model's hidden states from one plain forward (<= 1e-6)."""
    model = tiny_model(stages, seed=3)
    data = lambda_bases()[5000:5400]
    start, end, vectors, records = rows_of(model, [Document(data, "x", "a", {"record": "chrA", "offset": 100})],
                                           context=1024)
    assert start.tolist() == list(range(100, 500)) and (end - start).eq(1).all() and set(records) == {"chrA"}
    assert (vectors - plain_hidden(model, data)).abs().max() <= 1e-6


@pytest.mark.parametrize("stages, stage", [(1, 0), (2, 0), (2, 1)])
def test_per_chunk_rows_are_the_main_network_inputs(stages, stage):
    """Acceptance 1: per-chunk rows = the stage's main-network inputs; count = its boundaries."""
    model = tiny_model(stages, seed=7)
    data = lambda_bases()[:300]
    start, end, vectors, _ = rows_of(model, [Document(data, "x", "a")], per="chunk", stage=stage, context=512)
    expected, tokens = chunk_inputs_by_hand(model, data, stage)
    with torch.no_grad():
        out = model(torch.tensor([[BOS, *data]]))
    assert len(vectors) == int(out.stages[stage].boundary_mask.sum()) == len(expected)
    assert (vectors - expected).abs().max() <= 1e-6
    assert start.tolist() == (tokens - 1).clamp_min(0).tolist()  # token t is byte t - 1; BOS's chunk starts at 0
    assert end.tolist() == start[1:].tolist() + [300]


def test_windows_stitch_bytes_and_chunks():
    """A record longer than the context: one row per byte / per chunk, each from its owning window."""
    model = tiny_model(1, seed=5)
    data = lambda_bases()[:900]
    doc = Document(data, "x", "a")
    start, _, vectors, _ = rows_of(model, [doc], context=256, stride=128)
    assert start.tolist() == list(range(900))
    # other rows in the batch: float32 noise of a different batch shape (the plain forward is <= 1e-6 above)
    assert (vectors[:255] - plain_hidden(model, data[:255])).abs().max() <= 1e-5  # the first window
    window = data[128 - 1 : 128 - 1 + 256]  # the second window reads bytes 127..382 without BOS
    with torch.no_grad():
        second = model(torch.tensor([list(window)]), return_hidden=True).hidden[0]
    assert (vectors[255:383] - second[128:]).abs().max() <= 1e-5
    cstart, cend, cvec, _ = rows_of(model, [doc], per="chunk", context=256, stride=128)
    assert cstart[0] == 0 and cend[-1] == 900 and (cstart[1:] == cend[:-1]).all() and (cend > cstart)[1:].all()


def test_pools_and_reverse_complement():
    model = tiny_model(1, seed=1)
    data = lambda_bases()[7000:7200]
    docs = [Document(data, "x", "a"), Document(b"", "x", "empty"), Document(data[:40], "x", "b")]
    hidden = plain_hidden(model, data)
    _, _, mean, _ = rows_of(model, docs, pool="mean", context=512)
    start, end, last, records = rows_of(model, docs, pool="last", context=512)
    assert records == ["a", "b"] and start.tolist() == [0, 0] and end.tolist() == [200, 40]
    assert torch.allclose(mean[0], hidden.mean(0), atol=1e-6) and torch.allclose(last[0], hidden[-1], atol=1e-6)
    _, _, chunk_mean, _ = rows_of(model, docs, pool="chunk-mean", context=512)
    expected, _ = chunk_inputs_by_hand(model, data, 0)
    assert torch.allclose(chunk_mean[0], expected.mean(0), atol=1e-6)

    rc_hidden = plain_hidden(model, reverse_complement(data))
    _, _, both, _ = rows_of(model, [docs[0]], rc_average=True, reverse_strand=reverse_complement, context=512)
    assert (both - (hidden + rc_hidden.flip(0)) / 2).abs().max() <= 1e-6
    _, _, both_mean, _ = rows_of(model, [docs[0]], rc_average=True, reverse_strand=reverse_complement, pool="mean",
                                 context=512)
    assert torch.allclose(both_mean[0], both.mean(0), atol=1e-6)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_model(tiny_model(2, seed=9), tmp_path_factory.mktemp("embed_model") / "m")


@pytest.fixture(scope="module")
def genome(tmp_path_factory):
    """Two real records: two stretches of the lambda genome."""
    seq = lambda_bases()
    path = tmp_path_factory.mktemp("genome") / "two.fa.gz"
    path.write_bytes(gzip.compress(b">left\n" + seq[:700] + b"\n>right\n" + seq[30000:30450] + b"\n"))
    return path


def test_formats_hold_the_same_rows(model_dir, genome, tmp_path, capsys):
    """Parquet, .npz, .npy and safetensors written by the command read back to the same table."""
    import pyarrow.parquet as pq
    from safetensors.numpy import load_file

    base = ["embed", str(genome), "-m", str(model_dir), "--per", "chunk", "-q", "-c", "256"]
    for suffix in ("parquet", "npz", "npy", "safetensors"):
        assert main([*base, "-o", str(tmp_path / f"e.{suffix}")]) == 0
    table = pq.read_table(tmp_path / "e.parquet")
    vectors = np.stack(table.column("embedding").to_numpy(zero_copy_only=False))
    assert vectors.dtype == np.float32 and vectors.shape[1] == 16
    assert set(table.column("record").to_pylist()) == {"left", "right"}
    npz = np.load(tmp_path / "e.npz")  # no pickle needed
    assert np.array_equal(npz["embedding"], vectors)
    assert npz["start"].tolist() == table.column("start").to_pylist()
    assert [str(npz["records"][i]) for i in npz["record_index"]] == table.column("record").to_pylist()
    assert np.array_equal(np.load(tmp_path / "e.npy"), vectors)
    tensors = load_file(tmp_path / "e.safetensors")
    assert np.array_equal(tensors["embedding"], vectors) and np.array_equal(tensors["end"], npz["end"])
    from safetensors import safe_open

    with safe_open(tmp_path / "e.safetensors", "np") as f:
        assert json.loads(f.metadata()["records"]) == ["left", "right"]
    # each record's chunks cover it exactly
    for record, length in (("left", 700), ("right", 450)):
        rows = [(s, e) for r, s, e in zip(table.column("record").to_pylist(), table.column("start").to_pylist(),
                                          table.column("end").to_pylist()) if r == record]
        assert rows[0][0] == 0 and rows[-1][1] == length and all(a[1] == b[0] for a, b in zip(rows, rows[1:]))


@pytest.mark.slow
def test_regions_keep_genome_coordinates_and_stdout_works(model_dir, genome, tmp_path, capsys):
    import pyarrow.parquet as pq

    path = tmp_path / "r.parquet"
    assert main(["embed", str(genome), "-m", str(model_dir), "--region", "left:101-150", "--region", "right:1-10",
                 "-o", str(path), "-q", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["rows"] == 60 and summary["dimension"] == 16
    table = pq.read_table(path)
    assert table.column("start").to_pylist() == list(range(100, 150)) + list(range(10))
    # binary formats stream to stdout too (a pipe: no seeking)
    import subprocess
    import sys

    for fmt in ("npy", "npz", "safetensors", "parquet"):
        run = subprocess.run([sys.executable, "-m", "hnet_cli", "embed", str(genome), "-m", str(model_dir),
                              "--pool", "mean", "-o", "-", "-f", fmt, "-q"], capture_output=True, check=True)
        (tmp_path / f"piped.{fmt}").write_bytes(run.stdout)
    assert np.load(tmp_path / "piped.npy").shape == (2, 16)
    assert np.array_equal(np.load(tmp_path / "piped.npz")["embedding"], np.load(tmp_path / "piped.npy"))
    assert pq.read_table(tmp_path / "piped.parquet").num_rows == 2


def test_bad_requests_are_one_line_errors(model_dir, genome, tmp_path, capsys):
    cases = [
        (["--per", "chunk", "--stage", "2"], "--stage 2"),
        (["--pool", "median"], "unknown --pool"),
        (["--per", "chunk", "--rc-average"], "--rc-average"),
        (["-f", "csv"], "unknown --format"),
    ]
    for extra, message in cases:
        assert main(["embed", str(genome), "-m", str(model_dir), "-o", str(tmp_path / "x.npy"), *extra]) == 1
        assert message in capsys.readouterr().err
    assert main(["embed", str(genome), "-m", str(model_dir), "-o", str(tmp_path / "x.csv")]) == 1
    assert "cannot tell the format" in capsys.readouterr().err
    assert not (tmp_path / "x.npy").exists()

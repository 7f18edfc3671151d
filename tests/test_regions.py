"""Regions: --region (1-based inclusive) and --regions BED (0-based half-open), cutting Documents."""

import gzip

import pytest

from hnet_cli.data.documents import Document
from hnet_cli.data.regions import Region, RegionFilter, gather_regions, parse_region, read_bed
from hnet_cli.errors import ConfigError, InputError


@pytest.mark.parametrize("text, expected", [
    ("chr1:1001-2000", Region("chr1", 1000, 2000)),
    ("chr1:1,001-2,000", Region("chr1", 1000, 2000)),
    ("chr1:1-1", Region("chr1", 0, 1)),
    ("chr1", Region("chr1")),
    ("chr1:5", Region("chr1", 4, None)),
    ("chr1:5-", Region("chr1", 4, None)),
    ("HLA-A*01:xy", Region("HLA-A*01:xy")),  # the part after the colon is not a range: a name
    ("{HLA-A*01:01}", Region("HLA-A*01:01")),  # braces, as in samtools, for names ending in :digits
    ("{HLA-A*01:01}:2-3", Region("HLA-A*01:01", 1, 3)),
    ("HLA-A*01:01:1-10", Region("HLA-A*01:01", 0, 10)),
    ("K-12-MG1655:100-200", Region("K-12-MG1655", 99, 200)),
])
def test_parse_region(text, expected):
    assert parse_region(text) == expected


@pytest.mark.parametrize("text", ["chr1:0-10", "chr1:20-10", "chr1:-10", ""])
def test_parse_region_rejects(text):
    with pytest.raises(ConfigError):
        parse_region(text)


def test_region_string_is_samtools_form():
    assert str(parse_region("chr2:11-20")) == "chr2:11-20"
    assert str(Region("chr2", 10, 20)) == "chr2:11-20"


def test_read_bed(tmp_path):
    bed = tmp_path / "r.bed"
    bed.write_text("track name=x\n# comment\nchr1\t0\t10\tfirst\nchr2 5 7\n\nchr1\t3\t3\n")
    assert read_bed(str(bed)) == [Region("chr1", 0, 10, "first"), Region("chr2", 5, 7)]
    gz = tmp_path / "r.bed.gz"
    gz.write_bytes(gzip.compress(b"chrX\t1\t2\n"))
    assert read_bed(str(gz)) == [Region("chrX", 1, 2)]


@pytest.mark.parametrize("body, problem", [
    ("chr1\t5\n", "needs chrom, start and end"),
    ("chr1\tA\t5\n", "must be integers"),
    ("chr1\t9\t5\n", "invalid interval"),
    ("# nothing\n", "no intervals"),
])
def test_read_bed_errors_name_file_and_line(tmp_path, body, problem):
    bed = tmp_path / "bad.bed"
    bed.write_text(body)
    with pytest.raises(InputError, match=problem) as err:
        read_bed(str(bed))
    assert str(bed) in str(err.value)


def test_gather_regions_keeps_order(tmp_path):
    bed = tmp_path / "r.bed"
    bed.write_text("b\t0\t1\n")
    assert gather_regions(["a:1-2"], str(bed)) == [Region("a", 0, 2), Region("b", 0, 1)]


def _doc(record, data, offset=0, continues=False):
    return Document(data, "g.fa", f"{record}:{offset}", {"record": record, "offset": offset, "continues": continues})


def test_restrict_keeps_genome_coordinates():
    genome = bytes(range(65, 65 + 26)) * 4  # 104 bases of one record
    regions = [Region("chr1", 10, 20), Region("chr1", 95, None), Region("chr9", 0, 5)]
    filt = RegionFilter(regions)
    parts = list(filt.restrict([_doc("chr1", genome), _doc("chr2", b"ACGT")]))
    assert [(p.meta["offset"], p.data) for p in parts] == [(10, genome[10:20]), (95, genome[95:])]
    assert [p.name for p in parts] == ["chr1:11-20", "chr1:96-104"]
    assert all(p.meta["record"] == "chr1" for p in parts)
    assert filt.unmatched() == [Region("chr9", 0, 5)]
    assert filt.as_dict()["bases"] == 10 + 9


def test_restrict_across_reader_pieces_continues():
    """A region that spans two pieces of one record gives two parts, the first marked to continue."""
    genome = b"ACGT" * 25
    pieces = [_doc("r", genome[:40], 0, True), _doc("r", genome[40:80], 40, True), _doc("r", genome[80:], 80, False)]
    parts = list(RegionFilter([Region("r", 30, 50)]).restrict(pieces))
    assert [(p.meta["offset"], len(p.data), p.meta["continues"]) for p in parts] == [(30, 10, True), (40, 10, False)]
    assert b"".join(p.data for p in parts) == genome[30:50]


def test_nothing_matched_is_an_error():
    filt = RegionFilter([Region("chrZ", 0, 5)])
    assert list(filt.restrict([_doc("chr1", b"ACGT")])) == []
    with pytest.raises(InputError, match="no record matches"):
        filt.check_matched(["g.fa"])


# ---------------------------------------------------------------- jobs on regions (real genome)

from pathlib import Path  # noqa: E402

LAMBDA = Path(__file__).resolve().parents[1] / "domains" / "data" / "lambda_phage.fa.gz"


def _local_model(tmp_path):
    """Stage-0 encoder of sliding-window attention only: a boundary depends on 1 + 2 x 5 bytes before it."""
    import torch

    from hnet_cli.model import HNetConfig, HNetLM, save_model

    cfg = HNetConfig.from_dict({
        "arch_layout": ["t2", ["T1"], "m1"], "d_model": [16, 24], "d_intermediate": [0, 32], "vocab_size": 256,
        "ssm_cfg": {"chunk_size": 8, "d_conv": 4, "d_state": 8, "expand": 2, "headdim": 8},
        "attn_cfg": {"num_heads": [2, 2], "rotary_emb_dim": [4, 4], "window_size": [5, 5]}, "tie_embeddings": False})
    torch.manual_seed(3)
    model = HNetLM(cfg)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * torch.randn(p.shape))
    return save_model(model.eval(), tmp_path / "local")


def _bed(text):
    return [(f[0], int(f[1]), int(f[2])) for f in (line.split("\t") for line in text.splitlines()) if len(f) >= 3]


@pytest.mark.slow
def test_chunk_on_a_region_is_the_whole_genome_run_shifted(tmp_path, capsys):
    """Acceptance 4: BED of `chunk --region` = the whole-genome intervals in place, past the encoder's reach."""
    from hnet_cli.cli import main

    import gzip

    model = _local_model(tmp_path)
    genome = tmp_path / "lambda12k.fa"  # the first 12 kb of the lambda genome, as its own record
    bases = b"".join(gzip.open(LAMBDA).read().split(b"\n")[1:])[:12_000]
    genome.write_bytes(b">lambda12k\n" + bases + b"\n")
    common = [str(genome), "-m", str(model), "-d", "dna", "-f", "bed", "-s", "0", "-q", "-w", "1024", "--overlap", "64"]
    assert main(["chunk", *common]) == 0
    whole = _bed(capsys.readouterr().out)
    chrom = whole[0][0]
    a, b = 5_000, 7_000  # 0-based half-open; --region is 1-based inclusive
    assert main(["chunk", *common,
                 "--region", f"{chrom}:{a + 1}-{b}"]) == 0
    part = _bed(capsys.readouterr().out)
    assert part[0][1] == a and part[-1][2] == b  # covers the region exactly, in genome coordinates
    assert all(x[2] == y[1] for x, y in zip(part, part[1:]))
    reach = 1 + 5 + 5
    starts_region = [s for _, s, _ in part if s > a + reach]
    starts_whole = [s for _, s, _ in whole if a + reach < s < b]
    assert len(starts_region) > 100 and starts_region == starts_whole

    bed = tmp_path / "two.bed"
    bed.write_text(f"{chrom}\t100\t400\n{chrom}\t{a}\t{b}\n")
    assert main(["chunk", *common, "--regions", str(bed)]) == 0
    both = _bed(capsys.readouterr().out)
    assert both[0][1] == 100 and both == [x for x in both if x[2] <= 400] + part


def test_eval_on_regions_scores_only_their_bases(tmp_path, capsys):
    import json

    from hnet_cli.cli import main

    model = _local_model(tmp_path)
    bed = tmp_path / "r.bed"
    bed.write_text("gi|9626243|ref|NC_001416.1|\t0\t700\nnot_in_genome\t0\t50\n")
    assert main(["eval", str(model), str(LAMBDA), "-d", "dna", "--regions", str(bed), "--json", "-q",
                 "--per-record", "-c", "256"]) == 0
    report = json.loads(capsys.readouterr().out)
    scored = report["models"][0]
    assert scored["bytes"] == 700
    assert [r["name"] for r in scored["records"]] == ["gi|9626243|ref|NC_001416.1|:1-700"]
    bed.write_text("chrZ\t0\t50\n")
    assert main(["eval", str(model), str(LAMBDA), "-d", "dna", "--regions", str(bed), "-q"]) == 1
    assert "no record matches" in capsys.readouterr().err

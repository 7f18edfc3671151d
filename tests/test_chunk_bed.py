"""BED output of hnet chunk on real DNA (the bundled phage lambda genome), multi-record FASTA.gz."""

import gzip
import io
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

import hnet_cli
from hnet_cli.cli import main
from hnet_cli.model import save_model
from model_helpers import tiny_model
from test_chunk_reference import reference_segmentation

LAMBDA = Path(__file__).resolve().parents[1] / "domains" / "data" / "lambda_phage.fa.gz"


def lambda_sequence() -> bytes:
    with gzip.open(LAMBDA, "rb") as f:
        lines = f.read().split(b"\n")
    assert lines[0].startswith(b">")
    return b"".join(line.strip() for line in lines[1:])


@pytest.fixture(scope="module")
def genome(tmp_path_factory):
    """Three records cut from lambda; the third holds a run of 150 N. Returns (path, {id: bases})."""
    seq = lambda_sequence()
    assert len(seq) == 48502
    records = {
        "lambda_a": seq[:2000],
        "lambda_b": seq[2000:3201],
        "lambda_c": seq[3201:4001] + b"N" * 150 + seq[4001:4601],
    }
    text = io.BytesIO()
    for name, bases in records.items():
        text.write(f">{name} cut from NC_001416.1\n".encode())
        for i in range(0, len(bases), 70):
            text.write(bases[i : i + 70] + b"\n")
    path = tmp_path_factory.mktemp("genome") / "three.fa.gz"
    path.write_bytes(gzip.compress(text.getvalue()))
    return path, records


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("bed_models")
    return {s: save_model(tiny_model(s, seed=5), root / f"m{s}") for s in (1, 2)}


def parse_bed(text: str):
    """An independent BED6 reader: {track name or None: [(chrom, start, end, name, score, strand)]}."""
    tracks, current = {}, None
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith(("track", "browser", "#")):
            current = line.split('name="')[1].split('"')[0] if 'name="' in line else line
            continue
        fields = line.split("\t")
        assert len(fields) == 6, f"line {number}: {line!r}"
        chrom, start, end, name, score, strand = fields
        assert chrom and not any(c.isspace() for c in chrom)
        assert start.isdigit() and end.isdigit() and name.isdigit() and score.isdigit(), line
        assert 0 <= int(score) <= 1000 and strand == "."
        tracks.setdefault(current, []).append((chrom, int(start), int(end), int(name), int(score), strand))
    return tracks


def check_intervals(rows, records):
    """Sorted, contiguous, non-overlapping, covering each record exactly; records in input order."""
    order = []
    for chrom, *_ in rows:
        if not order or order[-1] != chrom:
            assert chrom not in order, f"{chrom} appears in two blocks"
            order.append(chrom)
    assert order == list(records)
    for chrom, bases in records.items():
        mine = [r for r in rows if r[0] == chrom]
        assert mine[0][1] == 0 and mine[-1][2] == len(bases)
        for a, b in zip(mine, mine[1:]):
            assert a[1] < a[2] == b[1] < b[2]
        assert [r[3] for r in mine] == list(range(len(mine)))


def expected_rows(model, records, stage, offset_pieces=None):
    rows = []
    for chrom, bases in records.items():
        pieces = (offset_pieces or {}).get(chrom, [(0, bases)])
        index = 0
        for offset, piece in pieces:
            for start, end, _, conf, _ in reference_segmentation(model, piece)[stage]["chunks"]:
                rows.append((chrom, offset + start, offset + end, index, conf))
                index += 1
    return rows


def assert_rows_match(rows, expected):
    assert [r[:4] for r in rows] == [e[:4] for e in expected]
    for r, e in zip(rows, expected):
        assert abs(r[4] - e[4] * 1000) <= 0.5 + 1e-3, (r, e)  # score = round(mean confidence * 1000)


def test_bed_covers_records_and_matches_the_model(genome, models, tmp_path):
    path, records = genome
    out = tmp_path / "chunks.bed"
    assert main(["chunk", str(path), "-m", str(models[1]), "-f", "bed", "--output", str(out), "-q"]) == 0
    tracks = parse_bed(out.read_text())
    assert list(tracks) == [None]  # one stage: no track line unless asked
    rows = tracks[None]
    check_intervals(rows, records)
    assert_rows_match(rows, expected_rows(hnet_cli.load(models[1]), records, 0))
    # A BED reader (pyarrow's CSV reader with BED6 column types) reads the same intervals back.
    table = pacsv.read_csv(
        out,
        read_options=pacsv.ReadOptions(column_names=["chrom", "start", "end", "name", "score", "strand"]),
        parse_options=pacsv.ParseOptions(delimiter="\t", quote_char=False),
        convert_options=pacsv.ConvertOptions(column_types={
            "chrom": pa.string(), "start": pa.int64(), "end": pa.int64(), "name": pa.string(),
            "score": pa.int64(), "strand": pa.string()}),
    )
    assert [(r["chrom"], r["start"], r["end"], int(r["name"]), r["score"], r["strand"]) for r in table.to_pylist()] == rows


def test_two_stages_are_two_tracks_each_covering_the_records(genome, models, tmp_path):
    path, records = genome
    out = tmp_path / "two.bed"
    assert main(["chunk", str(path), "-m", str(models[2]), "-f", "bed", "--output", str(out), "-q"]) == 0
    tracks = parse_bed(out.read_text())
    assert list(tracks) == ["hnet_stage0", "hnet_stage1"]
    model = hnet_cli.load(models[2])
    for s, name in enumerate(tracks):
        check_intervals(tracks[name], records)
        assert_rows_match(tracks[name], expected_rows(model, records, s))
    # stage 1 boundaries are a subset of stage 0's
    assert {r[1] for r in tracks["hnet_stage1"]} <= {r[1] for r in tracks["hnet_stage0"]}


def test_reader_pieces_rejoined_unless_a_piece_size_is_asked_for(genome, models, tmp_path):
    path, records = genome
    # Pieces the reader cuts on its own (meta["continues"]) become whole records again.
    from hnet_cli.chunk.pipeline import join_continued
    from hnet_cli.data.registry import get_domain

    pieces = list(get_domain("dna").read([str(path)], max_length=300, n_split=0))
    assert len(pieces) > 3 and all(p.meta["continues"] for p in pieces if len(p.data) == 300)
    joined = list(join_continued(pieces))
    assert [(d.meta["record"], d.meta["offset"], d.data) for d in joined] == [(k, 0, v) for k, v in records.items()]
    # A piece size given on the command line keeps the pieces (bounded memory): coordinates stay
    # exact, the BED still covers every record, and each piece is chunked on its own.
    model = hnet_cli.load(models[1])
    out = tmp_path / "pieces.bed"
    assert main(["chunk", str(path), "-m", str(models[1]), "-f", "bed", "-q", "-D", "max_length=300",
                 "--output", str(out)]) == 0
    rows = parse_bed(out.read_text())[None]
    check_intervals(rows, records)
    cut = {name: [(i, bases[i : i + 300]) for i in range(0, len(bases), 300)] for name, bases in records.items()}
    assert_rows_match(rows, expected_rows(model, records, 0, cut))


def test_n_runs_split_with_exact_offsets(genome, models, tmp_path):
    path, records = genome
    model = hnet_cli.load(models[1])
    split = tmp_path / "split.bed"
    # Splitting at the N run leaves it out; the part after it keeps record coordinates (offset 950).
    assert main(["chunk", str(path), "-m", str(models[1]), "-f", "bed", "-q", "--stage", "0",
                 "--output", str(split), "-D", "n_split=100", "--track-line"]) == 0
    text = split.read_text()
    assert text.startswith('track name="hnet_stage0"')
    rows = parse_bed(text)["hnet_stage0"]
    c = records["lambda_c"]
    pieces = {"lambda_c": [(0, c[:800]), (950, c[950:])]}
    assert_rows_match(rows, expected_rows(model, records, 0, pieces))
    mine = [r for r in rows if r[0] == "lambda_c"]
    assert not any(r[1] < 950 and r[2] > 800 for r in mine)  # nothing over the left-out N run
    assert [r[3] for r in mine] == list(range(len(mine)))  # chunk names continue across the gap


def test_bed_from_stdin_pipe(genome, models, tmp_path, monkeypatch, capsys):
    path, records = genome
    file_out = tmp_path / "f.bed"
    assert main(["chunk", str(path), "-m", str(models[1]), "-f", "bed", "--output", str(file_out), "-q"]) == 0
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(path.read_bytes())))
    assert main(["chunk", "-", "-m", str(models[1]), "-d", "dna", "-f", "bed", "-q"]) == 0
    assert capsys.readouterr().out == file_out.read_text()


@pytest.mark.slow
def test_whole_lambda_genome_from_the_bundled_sample(models, tmp_path, capsys):
    """No files: the dna domain's bundled lambda genome, 48,502 bases in one record."""
    out = tmp_path / "lambda.bed"
    assert main(["chunk", "-m", str(models[1]), "-d", "dna", "-f", "bed", "--output", str(out), "-q",
                 "--window", "20000", "--overlap", "2000"]) == 0
    rows = parse_bed(out.read_text())[None]
    check_intervals(rows, {"gi|9626243|ref|NC_001416.1|": b"x" * 48502})

"""hnet score --variants: alt minus ref log-likelihood against plain forwards; every record passed through."""

import gzip
import json
import shutil
import subprocess
from pathlib import Path

import pytest
import torch

from hnet_cli.cli import main
from hnet_cli.data.readers.fasta import reverse_complement
from hnet_cli.model import save_model
from hnet_cli.model.hnet import BOS
from model_helpers import tiny_model

pysam = pytest.importorskip("pysam", reason="pysam (the vcf extra) is not installed")

LAMBDA = Path(__file__).resolve().parents[1] / "domains" / "data" / "lambda_phage.fa.gz"
CHROM = "gi|9626243|ref|NC_001416.1|"
ECOLI = Path("/usr/share/doc/ragout/examples/E.Coli/references")  # Debian package ragout-examples
PYVCF = Path("/usr/share/doc/python3-vcf/test")  # Debian package python-pyvcf-examples


def lambda_bases() -> bytes:
    return b"".join(gzip.open(LAMBDA).read().split(b"\n")[1:])


@pytest.fixture(scope="module")
def model_and_dir(tmp_path_factory):
    model = tiny_model(1, seed=21)
    return model, save_model(model, tmp_path_factory.mktemp("variant_model") / "m")


def log_likelihood(model, window: bytes) -> float:
    """ln p(window | BOS) from one plain forward, summed in float64."""
    ids = torch.tensor([[BOS, *window]])
    with torch.no_grad():
        logits = model(ids).logits[0].double()
    return float(torch.log_softmax(logits, -1)[:-1].gather(-1, ids[0, 1:, None]).sum())


def write_vcf(path: Path, rows: list[tuple]) -> None:
    lines = ["##fileformat=VCFv4.2", f"##contig=<ID={CHROM},length=48502>", "##contig=<ID=chrMissing>",
             '##INFO=<ID=SVTYPE,Number=1,Type=String,Description="type">',
             "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"]
    for chrom, pos, vid, ref, alt in rows:
        lines.append(f"{chrom}\t{pos}\t{vid}\t{ref}\t{alt}\t.\tPASS\t.")
    path.write_text("\n".join(lines) + "\n")


def test_scores_equal_two_plain_forwards_and_nothing_is_dropped(model_and_dir, tmp_path, capsys):
    """Acceptance 3: on the real lambda genome, SNVs made here score as ln p(alt window) - ln p(ref window)."""
    model, model_dir = model_and_dir
    genome = lambda_bases()
    flank = 40
    rows, expected = [], {}
    for k, pos in enumerate([10, 5000, 23001, 48490]):  # 1-based; the first and last windows are clipped
        ref = chr(genome[pos - 1])
        alt = "ACGT"[("ACGT".index(ref) + 1 + k) % 4]
        rows.append((CHROM, pos, f"snv{k}", ref, alt))
        a = pos - 1
        left, right = genome[max(0, a - flank) : a], genome[a + 1 : a + 1 + flank]
        ref_w, alt_w = left + ref.encode() + right, left + alt.encode() + right
        expected[f"snv{k}"] = (log_likelihood(model, alt_w) - log_likelihood(model, ref_w),
                               log_likelihood(model, reverse_complement(alt_w))
                               - log_likelihood(model, reverse_complement(ref_w)))
    # an insertion and a deletion (VCF style, anchored on the base before)
    ins_ref = chr(genome[29999])
    rows.append((CHROM, 30000, "ins", ins_ref, ins_ref + "GGA"))
    rows.append((CHROM, 31000, "del", genome[30999:31003].decode(), chr(genome[30999])))
    rows.append((CHROM, 32000, "multi", chr(genome[31999]), "<DEL>," + ("A" if genome[31999] != ord("A") else "C")))
    rows.append((CHROM, 33000, "sym", chr(genome[32999]), "<INV>"))
    rows.append((CHROM, 34000, "mismatch", "N" if genome[33999] != ord("N") else "A", "T"))
    rows.append(("chrMissing", 5, "missing", "A", "C"))
    rows.append((CHROM, 48502, "past_end", chr(genome[48501]) + "A", "A"))
    vcf = tmp_path / "made.vcf"
    write_vcf(vcf, rows)
    out = tmp_path / "scored.vcf.gz"
    assert main(["score", "-m", str(model_dir), "--variants", str(vcf), "--reference", str(LAMBDA),
                 "--flank", str(flank), "--both-strands", "-o", str(out), "-q", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["records"] == len(rows) and summary["reference_indexed"] is False  # plain gzip: held in memory
    assert summary["flagged"] == {"missing_contig": 1, "ref_mismatch": 2, "symbolic_allele": 1,
                                  "symbolic_allele (other alleles scored)": 1}
    got = {rec.id: rec for rec in pysam.VariantFile(str(out))}
    assert list(got) == [r[2] for r in rows]  # every record, in order
    for vid, (forward, reverse) in expected.items():
        assert got[vid].info["HNET_DLL"][0] == pytest.approx(forward, abs=1e-5)
        assert got[vid].info["HNET_DLL_RC"][0] == pytest.approx(reverse, abs=1e-5)
        assert got[vid].info["HNET_DLL_MEAN"][0] == pytest.approx((forward + reverse) / 2, abs=1e-5)
    a = 29999
    ins_ref_w = genome[a - flank : a + 1 + flank]
    ins_alt_w = genome[a - flank : a] + (ins_ref + "GGA").encode() + genome[a + 1 : a + 1 + flank]
    # windows of different lengths share a padded batch: float32 noise of ~1e-6 per base adds up
    assert got["ins"].info["HNET_DLL"][0] == pytest.approx(
        log_likelihood(model, ins_alt_w) - log_likelihood(model, ins_ref_w), rel=1e-5, abs=1e-5)
    assert "HNET_DLL" in got["del"].info
    assert got["multi"].info["HNET_DLL"][0] is None and got["multi"].info["HNET_DLL"][1] is not None
    for vid, reason in (("sym", "symbolic_allele"), ("mismatch", "ref_mismatch"), ("missing", "missing_contig"),
                        ("past_end", "ref_mismatch")):
        assert got[vid].info["HNET_SKIP"] == reason and "HNET_DLL" not in got[vid].info
    header = str(pysam.VariantFile(str(out)).header)
    for field in ("HNET_DLL", "HNET_DLL_RC", "HNET_DLL_MEAN", "HNET_SKIP"):
        assert f"##INFO=<ID={field}," in header
    if shutil.which("bcftools"):
        view = subprocess.run(["bcftools", "view", "-H", str(out)], capture_output=True, text=True, check=True)
        assert len(view.stdout.splitlines()) == len(rows)

    # a bgzipped, indexed reference gives the same numbers through htslib's faidx
    bgz = tmp_path / "lambda.fa.gz"
    pysam.tabix_compress(str(_plain_copy(tmp_path)), str(bgz))
    out2 = tmp_path / "scored2.vcf"
    assert main(["score", "-m", str(model_dir), "--variants", str(vcf), "--reference", str(bgz),
                 "--flank", str(flank), "-o", str(out2), "-q", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["reference_indexed"] is True
    again = {rec.id: rec for rec in pysam.VariantFile(str(out2))}
    assert again["snv1"].info["HNET_DLL"][0] == pytest.approx(got["snv1"].info["HNET_DLL"][0], abs=1e-6)


def _plain_copy(tmp_path: Path) -> Path:
    plain = tmp_path / "lambda.fa"
    plain.write_bytes(gzip.open(LAMBDA).read())
    return plain


def test_variant_errors_are_one_line(model_and_dir, tmp_path, capsys):
    _, model_dir = model_and_dir
    vcf = tmp_path / "v.vcf"
    write_vcf(vcf, [(CHROM, 10, "a", "A", "C")])
    cases = [
        (["--variants", str(vcf)], "--reference"),
        (["--variants", str(tmp_path / "none.vcf"), "--reference", str(LAMBDA)], "VCF not found"),
        (["--variants", str(vcf), "--reference", str(tmp_path / "none.fa")], "reference FASTA not found"),
        (["--variants", str(vcf), "--reference", str(LAMBDA), "-f", "bedgraph"], "writes VCF"),
    ]
    for args, message in cases:
        assert main(["score", "-m", str(model_dir), *args, "-q"]) == 1
        assert message in capsys.readouterr().err
    garbage = tmp_path / "g.vcf"
    garbage.write_text("this is not a VCF\n")
    assert main(["score", "-m", str(model_dir), "--variants", str(garbage), "--reference", str(LAMBDA), "-q"]) == 1
    assert str(garbage) in capsys.readouterr().err


@pytest.mark.skipif(not PYVCF.is_dir(), reason="python-pyvcf-examples is not installed (.ci/run installs it)")
def test_real_vcfs_on_another_genome_pass_through(model_and_dir, tmp_path, capsys):
    """Real VCFs (PyVCF's test files, human contigs) against the lambda genome: every record kept, flagged."""
    _, model_dir = model_and_dir
    for name in ("example-4.0.vcf", "example-4.1-sv.vcf", "samtools.vcf"):
        out = tmp_path / f"{name}.out.vcf"
        assert main(["score", "-m", str(model_dir), "--variants", str(PYVCF / name), "--reference", str(LAMBDA),
                     "-o", str(out), "-q", "--json"]) == 0
        summary = json.loads(capsys.readouterr().out)
        n_in = sum(1 for _ in pysam.VariantFile(str(PYVCF / name)))
        records = list(pysam.VariantFile(str(out)))
        assert summary["records"] == n_in == len(records) > 0
        assert all(rec.info["HNET_SKIP"] == "missing_contig" for rec in records)


def _tools_and_strains():
    tools = all(shutil.which(t) for t in ("minimap2", "samtools", "bcftools"))
    return tools and (ECOLI / "MG1655-K12.fasta.gz").is_file() and (ECOLI / "DH1.fasta.gz").is_file()


@pytest.mark.slow
@pytest.mark.skipif(not _tools_and_strains(),
                    reason="needs minimap2, samtools, bcftools and ragout-examples (Debian; .ci/run installs them)")
def test_real_differences_between_two_strains_end_to_end(model_and_dir, tmp_path, capsys):
    """Acceptance 3: E. coli DH1 aligned to the first 300 kb of K-12 MG1655 (minimap2), differences called
    with bcftools, scored; bcftools reads the output and every input record is there."""
    _, model_dir = model_and_dir
    ref = tmp_path / "mg1655_300k.fa"
    bases = b"".join(gzip.open(ECOLI / "MG1655-K12.fasta.gz").read().split(b"\n")[1:])[:300_000]
    ref.write_bytes(b">K-12-MG1655\n" + b"\n".join(bases[i : i + 80] for i in range(0, len(bases), 80)) + b"\n")
    bam, calls = tmp_path / "dh1.bam", tmp_path / "calls.vcf.gz"
    script = (f"minimap2 -t 2 -ax asm5 {ref} {ECOLI / 'DH1.fasta.gz'} 2>/dev/null | samtools sort -o {bam} - "
              f"&& samtools index {bam} && bcftools mpileup -m 1 -Ou -f {ref} {bam} 2>/dev/null "
              f"| bcftools call --ploidy 1 -mv -Oz -o {calls} 2>/dev/null")
    subprocess.run(script, shell=True, check=True)
    n_calls = sum(1 for _ in pysam.VariantFile(str(calls)))
    assert n_calls >= 10  # K-12 derivatives: a few dozen differences in 300 kb
    out = tmp_path / "scored.vcf"
    assert main(["score", "-m", str(model_dir), "--variants", str(calls), "--reference", str(ref),
                 "--flank", "64", "-o", str(out), "-q", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["records"] == n_calls and summary["scored_records"] + sum(summary["flagged"].values()) >= n_calls
    view = subprocess.run(["bcftools", "view", "-H", str(out)], capture_output=True, text=True, check=True)
    lines = view.stdout.splitlines()
    assert len(lines) == n_calls
    assert all("HNET_DLL=" in line or "HNET_SKIP=" in line for line in lines)
    query = subprocess.run(["bcftools", "query", "-f", "%POS\t%INFO/HNET_DLL\n", str(out)], capture_output=True,
                           text=True, check=True).stdout.split()
    assert len(query) == 2 * n_calls

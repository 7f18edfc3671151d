"""The Markov yardstick: bits against an independent float64 count, order choice on validation, a planted
order-2 DNA source, real genomes, and the figure in `hnet train` / `hnet eval` summaries and --json."""

import gzip
import json
import math
import random
from collections import defaultdict
from pathlib import Path

import pytest

import hnet_cli.eval.markov as markov
from hnet_cli.cli import main
from hnet_cli.data.documents import Document
from hnet_cli.data.registry import get_domain
from hnet_cli.data.split import plan_split
from hnet_cli.eval.markov import MarkovChain, max_exact_order
from hnet_cli.eval.yardstick import fit_yardstick, planned_order, yardstick_on_validation
from hnet_cli.model import save_model
from model_helpers import tiny_model
from train_helpers import micro_recipe

DATA = Path(__file__).parent.parent / "domains" / "data"
ECOLI = Path("/usr/share/doc/ragout/examples/E.Coli/references/MG1655-K12.fasta.gz")


def prose(start: int, n: int) -> bytes:
    with gzip.open(DATA / "persuasion.txt.gz", "rb") as f:
        return f.read(start + n)[start:]


def naive_bits(train_docs, val_docs, k: int, pad: int) -> float:
    """Independent reference: interpolated Witten-Bell from dictionaries of tuples, float64, one byte at a time.

    Contexts are tuples of the previous bytes with None before a document's start (pad of them).
    """
    pair = defaultdict(float)
    for doc in train_docs:
        seq = [None] * pad + list(doc)
        for t in range(pad, len(seq)):
            for j in range(k + 1):
                pair[(tuple(seq[t - j:t]), seq[t])] += 1.0
    total, followers = defaultdict(float), defaultdict(set)
    for (h, x), n in pair.items():
        total[h] += n
        followers[h].add(x)
    bits = 0.0
    for doc in val_docs:
        seq = [None] * pad + list(doc)
        for t in range(pad, len(seq)):
            p = 1.0 / 256
            for j in range(k + 1):
                h = tuple(seq[t - j:t])
                if total[h] > 0:
                    n1 = len(followers[h])
                    p = (pair[(h, seq[t])] + n1 * p) / (total[h] + n1)
            bits -= math.log2(p)
    return bits


def test_bits_match_an_independent_float64_count(monkeypatch):
    train = [prose(10_000, 2500), prose(20_000, 700)]
    # Bytes never seen in training (0xff, 0xfe, a non-ASCII letter) and a document shorter than the order.
    val = [prose(30_000, 600), b"\xff\xfe \xc3\xa9t\xc3\xa9", b"a"]
    k = 3
    chain = MarkovChain.fit(train, max_order=k)
    got = chain.bits(val)
    for order in range(k + 1):
        expected = naive_bits(train, val, order, pad=k)
        assert abs(got[order].item() - expected) <= 1e-9 * expected, order
    # Scoring in small blocks (long documents cut, their earlier bytes kept as context) changes nothing.
    monkeypatch.setattr(markov, "SCORE_BLOCK", 7)
    assert (chain.bits(val) - got).abs().max().item() <= 1e-9 * got.max().item()
    # The reference is not trivially equal across orders: the orders do differ.
    assert got[0] > got[1] > got[2]


def test_keys_stay_exact_in_int64():
    assert max_exact_order(256) == 6 and max_exact_order(4) == 23
    chain = MarkovChain.fit([bytes(range(256)) * 4], max_order=8)
    assert chain.max_order == 6  # capped where base^(k+1) would overflow


def test_the_order_is_the_best_on_validation():
    train = [prose(0, 6000)]
    validation = [Document(prose(40_000, 1500), "v", "v")]
    fitted = fit_yardstick([Document(d, "t", "t") for d in train], validation, fitted_on="t", max_order=5)
    top = fitted.chain.max_order
    assert top >= 2
    per_order = [naive_bits(train, [validation[0].data], k, pad=top) for k in range(top + 1)]
    best = min(range(top + 1), key=per_order.__getitem__)
    assert fitted.order == best
    assert abs(fitted.validation_bits[best] - per_order[best]) <= 1e-9 * per_order[best]


def planted_order2(n: int, seed: int, keep: float = 0.9) -> bytes:
    """A DNA source of order exactly 2: x_t = (x_{t-2} + x_{t-1}) mod 4 with probability `keep`, else uniform.
    Knowing one previous base tells nothing (every next base stays equally likely), knowing two tells much."""
    rng = random.Random(seed)
    bases = "ACGT"
    out = [rng.randrange(4), rng.randrange(4)]
    for _ in range(n - 2):
        out.append((out[-2] + out[-1]) % 4 if rng.random() < keep else rng.randrange(4))
    return "".join(bases[i] for i in out).encode()


def test_planted_order2_dna_gives_its_entropy():
    keep = 0.9
    p_right = keep + (1 - keep) / 4
    entropy = -(p_right * math.log2(p_right) + 3 * ((1 - keep) / 4) * math.log2((1 - keep) / 4))  # ~0.57 bits
    train = [Document(planted_order2(200_000, seed=1, keep=keep), "t", "t")]
    val = [Document(planted_order2(20_000, seed=2, keep=keep), "v", "v")]
    figure = yardstick_on_validation(train, val, get_domain("dna").count_units, "base", fitted_on="planted")
    by_order = figure.validation_bpb
    assert by_order[0] > 1.99 and by_order[1] > 1.99  # orders 0 and 1 see no structure
    assert figure.order >= 2 and abs(figure.bits_per_unit - entropy) < 0.02
    assert abs(by_order[2] - entropy) < 0.02
    assert figure.units == figure.bytes == 20_000


def test_planned_order_is_lower_for_text_than_for_dna():
    assert planned_order(4_000_000, 2.0) == 8  # capped
    assert planned_order(500_000, 4.4) == 4
    assert planned_order(1, 4.0) == 0


def _bundled_split(domain):
    return plan_split(lambda: domain.read([]), 0.05, 1 << 20)


def test_bundled_genome_yardstick_is_just_below_two_bits():
    dna = get_domain("dna")
    split = _bundled_split(dna)
    figure = yardstick_on_validation(split.train(dna.read([])), split.validation, dna.count_units, dna.unit,
                                     fitted_on="lambda")
    # A phage genome is close to random at the base level: a few hundredths of a bit below 2.
    assert 1.9 < figure.bits_per_unit < 2.0 and 1 <= figure.order <= 6
    assert figure.bytes == split.validation_bytes and figure.fit_bytes > 40_000
    # The time bound: none left after order 0, so no higher order is counted.
    bounded = fit_yardstick(split.train(dna.read([])), split.validation, fitted_on="lambda", time_bound_s=0.0)
    assert bounded.chain.max_order == 0 and bounded.time_bound_hit
    # The byte cap: only the first fit_bytes of the training part are counted.
    capped = fit_yardstick(split.train(dna.read([])), split.validation, fitted_on="lambda", fit_bytes=1000)
    assert capped.fit_bytes == 1000


@pytest.mark.slow
@pytest.mark.skipif(not ECOLI.exists(), reason="ragout-examples (E. coli genomes) not installed; see .ci/run")
def test_whole_ecoli_genome():
    dna = get_domain("dna")
    paths = [str(ECOLI)]
    split = plan_split(lambda: dna.read(paths), 0.05, 1 << 20)
    figure = yardstick_on_validation(split.train(dna.read(paths)), split.validation, dna.count_units, dna.unit,
                                     fitted_on="E. coli")
    # Bacterial genomes are known to sit near 1.9-1.95 bits/base under low-order context models.
    assert 1.85 < figure.bits_per_unit < 1.97 and figure.order >= 4
    assert figure.fit_bytes > 4_000_000


def run(argv, capsys):
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_train_summary_and_json_carry_the_yardstick(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    recipe = micro_recipe(tmp_path, steps=4, eval_every=4, checkpoint_every=4)
    code, out, err = run(["train", "--domain", "dna", "--recipe", recipe, "-o", "runs/a", "-q", "--json"], capsys)
    assert code == 0, err
    result = json.loads(out)
    ys = result["yardstick"]
    assert ys["model"] == f"order-{ys['order']} Markov chain" and ys["smoothing"] == "interpolated Witten-Bell"
    assert 1.9 < ys["bits_per_unit"] < 2.0 and ys["unit"] == "base"
    # The same validation data as the model: the bundled genome's validation split, recomputed independently.
    dna = get_domain("dna")
    split = plan_split(lambda: dna.read([]), 0.05, 2048)
    assert ys["bytes"] == split.validation_bytes
    assert json.loads((tmp_path / "runs/a/run.json").read_text())["yardstick"] == ys
    code, out, err = run(["train", "--resume", "runs/a", "--steps", "4", "-q"], capsys)
    assert code == 0, err
    line = next(x for x in out.splitlines() if x.startswith("yardstick:"))
    assert f"{ys['bits_per_unit']:.4f} bits/base" in line and "the model is" in line
    code, out, err = run(["train", "--domain", "dna", "--recipe", recipe, "-o", "runs/b", "-q", "--json",
                          "--no-yardstick"], capsys)
    assert code == 0, err
    assert json.loads(out)["yardstick"] is None
    assert "yardstick" not in json.loads((tmp_path / "runs/b/run.json").read_text())


def test_eval_table_and_json_carry_the_yardstick(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    recipe = micro_recipe(tmp_path, steps=2, eval_every=2, checkpoint_every=2)
    code, out, err = run(["train", "--domain", "dna", "--recipe", recipe, "-o", "runs/a", "-q", "--no-yardstick"],
                         capsys)
    assert code == 0, err
    held_out = tmp_path / "held.fa"
    with gzip.open(DATA / "lambda_phage.fa.gz", "rt") as f:
        genome = "".join(line.strip() for line in f if not line.startswith(">"))
    held_out.write_text(f">x\n{genome[1000:3000]}\n>y\n{genome[9000:9500]}\n")
    code, out, err = run(["eval", "runs/a", str(held_out), "--json"], capsys)
    assert code == 0, err
    report = json.loads(out)
    ys, model = report["yardstick"], report["models"][0]
    assert ys["bytes"] == model["bytes"] == 2500 and ys["units"] == 2500
    assert "training split of runs/a" in ys["fitted_on"]
    # Independent: the run's own split of the bundled genome, the chain refitted, the order it chose.
    dna = get_domain("dna")
    split = plan_split(lambda: dna.read([]), 0.05, 2048)
    fitted = fit_yardstick(split.train(dna.read([])), split.validation, fitted_on="x")
    expected = fitted.chain.bits([genome[1000:3000].encode(), genome[9000:9500].encode()])[ys["order"]].item()
    assert fitted.order == ys["order"] and abs(ys["bits"] - expected) <= 1e-9 * expected
    assert "(yardstick)" in err and "yardstick: order-" in err  # the table row and the summary line

    code, out, err = run(["eval", "runs/a", str(held_out), "--json", "--no-yardstick", "-q"], capsys)
    assert code == 0, err
    assert json.loads(out)["yardstick"] is None


def test_eval_without_a_run_needs_yardstick_train(tmp_path, capsys):
    folder = tmp_path / "saved"
    save_model(tiny_model(1, seed=3), folder)
    text = tmp_path / "a.txt"
    text.write_bytes(prose(50_000, 400))
    code, out, err = run(["eval", str(folder), str(text), "--domain", "text", "--json"], capsys)
    assert code == 0, err
    report = json.loads(out)
    assert report["yardstick"] is None and "--yardstick-train" in report["yardstick_note"]
    assert "--yardstick-train" in err
    train = tmp_path / "train.txt"
    train.write_bytes(prose(0, 8000))
    code, out, err = run(["eval", str(folder), str(text), "--domain", "text", "--json", "-q",
                          "--yardstick-train", str(train)], capsys)
    assert code == 0, err
    ys = json.loads(out)["yardstick"]
    assert ys["bytes"] == 400 and str(train) in ys["fitted_on"] and 1.5 < ys["bpb"] < 5
    code, out, err = run(["eval", str(folder), str(text), "--domain", "text", "--yardstick-train",
                          str(tmp_path / "missing.txt")], capsys)
    assert code != 0 and "missing.txt" in err and "Traceback" not in err


def test_every_order_of_a_high_order_dna_chain_matches_the_independent_count():
    """Lower orders are derived from the highest order's keys, not counted over the bytes again:
    each of orders 0-8 must still equal a direct float64 count."""
    rng = random.Random(5)
    train = [bytes(rng.choice(b"ACGT") for _ in range(3000)), b"ACGTNACGTN" * 30, b"GATTACA"]
    val = [bytes(rng.choice(b"ACGT") for _ in range(800)), b"ACGRT"]
    k = 8
    got = MarkovChain.fit(train, max_order=k).bits(val)
    for order in range(k + 1):
        expected = naive_bits(train, val, order, pad=k)
        assert abs(got[order].item() - expected) <= 1e-9 * expected, order

"""A micro recipe whose FLOP-matched baselines land within 1% (so `hnet compare` tests can check the match)."""

import gzip
import json
from pathlib import Path

from train_helpers import MICRO

LAMBDA = Path(__file__).parent.parent / "domains" / "data" / "lambda_phage.fa.gz"

# train_helpers.MICRO at widths 32/48 with two main blocks, over 128-byte rows: its
# transformer baseline (T2 at width 32) is +0.9% and its mamba baseline (m2 at width 48)
# -1.0% in forward FLOPs per byte at N = 3 (hnet_cli.train.baseline).
MODEL = {"arch_layout": ["m1", ["T2"], "m1"], "d_model": [32, 48], "d_intermediate": [0, 128]}
TRAIN = {"seq_len": 128, "steps": 8}


def micro_compare_recipe(tmp_path, name="micro", **train) -> str:
    data = json.loads(json.dumps(MICRO))
    data["description"] = "micro model for comparison tests"
    data["model"].update(MODEL)
    data["train"].update(TRAIN, **train)
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(data))
    return str(path)


def held_out_fasta(tmp_path, start=10_000, length=3_000) -> str:
    """A slice of the bundled lambda phage genome as a FASTA file."""
    text = gzip.open(LAMBDA, "rt").read()
    bases = "".join(text.split("\n", 1)[1].split())
    path = tmp_path / "held_out.fa"
    path.write_text(f">held_out\n{bases[start:start + length]}\n")
    return str(path)

"""Evaluation: bits per byte on held-out data, chunking statistics, robustness, comparisons.

    from hnet_cli.eval import evaluate
    report = evaluate(["runs/dna"], ["held_out.fa.gz"], domain="dna", context=8192, stride=4096)
    report.models[0].clean.corpus.bpb            # byte-weighted bits per byte
    report.models[0].clean.corpus.bits_per_unit  # bits per base / per character
    report.models[0].clean.stages[0].compression # L^1 / L^0

Modules, bottom up: windows (sliding windows over one document), scoring (one
batched forward over windows), chunk_stats (compression, BPIC, chunk lengths),
corpus (one model over a document stream), perturb (the robustness suite),
models (which arguments are models), markov (an order-k Markov chain over bytes),
yardstick (it fitted, its order chosen, scored beside the models), api (`evaluate`),
results (the EvalReport and its JSON), report (CSV and tables).
"""

from hnet_cli.eval.api import evaluate
from hnet_cli.eval.corpus import PassResult, Score, evaluate_documents
from hnet_cli.eval.perturb import PERTURBATIONS, parse_perturbations, perturb_bytes
from hnet_cli.eval.results import EvalReport, ModelReport
from hnet_cli.eval.windows import Window, default_stride, plan_windows

__all__ = [
    "EvalReport", "ModelReport", "PERTURBATIONS", "PassResult", "Score", "Window", "default_stride",
    "evaluate", "evaluate_documents", "parse_perturbations", "perturb_bytes", "plan_windows",
]

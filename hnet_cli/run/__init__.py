"""Which run is this: the run directory (`RunDir`) and one `resolve` for every job that uses a model.

    from hnet_cli.run import RunDir, resolve
    found = resolve("runs/dna")          # domain, reader options and context from the run's records
    model = found.load("cpu")
    RunDir("runs/dna").metrics_path      # runs/dna/metrics.jsonl

Layer: above model/ and data/, below the jobs (train, eval, generate, chunk).
"""

from hnet_cli.run.resolve import ResolvedModel, resolve
from hnet_cli.run.rundir import RunDir

__all__ = ["ResolvedModel", "RunDir", "resolve"]

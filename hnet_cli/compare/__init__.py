"""Comparing architectures at matched compute: `compare(CompareJob(...))`, what `hnet compare` calls.

Parts: arms (which models, built from one reference recipe and trained alike),
runner (one arm's run directory: new, resumed or finished), records (what a
run directory says: progress, validation curve), plot (the curves), report
(the table), api (the comparison itself).
"""

from hnet_cli.compare.api import ArmResult, CompareJob, CompareReport, compare

__all__ = ["ArmResult", "CompareJob", "CompareReport", "compare"]

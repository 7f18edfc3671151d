"""`hnet compare`: train several architectures alike at matched FLOPs per byte and score them on held-out data."""

from __future__ import annotations

import json
import sys
from typing import List, Optional

import typer

HELP = """Train an H-Net and isotropic baselines (or other recipes) on the same data, with the same seed,
steps and schedule, at matched forward FLOPs per byte; score each on held-out files; print one table
and draw the validation curves against bytes seen and against training seconds.

Arms (--archs): hnet (the recipe's H-Net), transformer and mamba (the isotropic models closest to it
in forward FLOPs per byte at compression 1/N, as hnet train --arch builds them), or recipe names or
JSON files (their own model and learning rates; the recipe's data, length and schedule). Each arm is
an ordinary run directory OUT/ARM (OUT/ARM-seedK with --seeds): running the same command
again skips finished arms, continues interrupted ones exactly and reuses held-out scores.
OUT/compare.json holds the table, OUT/compare.png the curves (needs matplotlib:
pip install 'hnet-cli[plot]').

Examples:

\b
  hnet compare --domain dna genomes/*.fa.gz --held-out held_out.fa.gz --recipe dna-small
  hnet compare --domain dna train.fa --held-out test.fa --archs hnet,dna-small-mamba-main,mamba
  hnet compare --domain dna train.fa --held-out test.fa --recipe dna-tiny --seeds 0,1,2 -o runs/cmp
  hnet compare --domain text book.txt --held-out other.txt --steps 300 --json > table.json
"""


def _seeds(text: str | None) -> list[int] | None:
    from hnet_cli.errors import ConfigError

    if text is None:
        return None
    try:
        return [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise ConfigError(f"--seeds {text!r}: give integers separated by commas, e.g. 0,1,2") from None


def compare_command(
    paths: Optional[List[str]] = typer.Argument(None, help="Training files, directories or globs; none = the bundled data."),
    domain: Optional[str] = typer.Option(None, "--domain", "-d", help="Data domain (see `hnet domains`); default text."),
    recipe: Optional[str] = typer.Option(None, "--recipe", "-r", help="The reference recipe (name or JSON file); "
                                         "default: the domain's."),
    archs: str = typer.Option("hnet,transformer,mamba", "--archs",
                              help="Comma-separated arms: hnet, transformer, mamba, or recipe names/files."),
    held_out: Optional[List[str]] = typer.Option(None, "--held-out", metavar="FILE",
                                                 help="Held-out data to score every arm on (repeatable; globs)."),
    out: Optional[str] = typer.Option(None, "--out", "--output", "-o",
                                      help="Folder of the arms' run directories (default runs/compare-DOMAIN[-RECIPE])."),
    steps: Optional[int] = typer.Option(None, "--steps", help="Optimizer steps of every arm (overrides train.steps)."),
    seeds: Optional[str] = typer.Option(None, "--seeds", metavar="S[,S...]",
                                        help="Train every arm once per seed, e.g. 0,1,2, in OUT/ARM-seedK (a longer list later "
                                             "reuses the runs done) [default: the recipe's seed, in OUT/ARM]."),
    overrides: Optional[List[str]] = typer.Option(None, "--set", metavar="FIELD=VALUE",
                                                  help="Override a field of the reference recipe (train.* fields "
                                                       "also apply to recipe arms); repeatable."),
    domain_opt: Optional[List[str]] = typer.Option(None, "--domain-opt", "-D", metavar="KEY=VALUE",
                                                   help="A reader option of the domain (repeatable)."),
    context: Optional[int] = typer.Option(None, "--context", "-c", show_default=False,
                                          help="Held-out scoring: tokens per forward pass [default: the training length]."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N."),
    plot: Optional[str] = typer.Option(None, "--plot", metavar="PNG", help="Where to draw the curves "
                                       "[default: OUT/compare.png]."),
    force: bool = typer.Option(False, "--force", help="Train every arm again from the start."),
    as_json: bool = typer.Option(False, "--json", help="Print the comparison as JSON on stdout (the table goes to stderr)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress; with --json, no table either."),
):
    from hnet_cli.compare import CompareJob, compare
    from hnet_cli.compare.report import summary_lines, table
    from hnet_cli.data.domain import option_pairs
    from hnet_cli.data.registry import DEFAULT_DOMAIN, get_domain
    from hnet_cli.errors import HnetError
    from hnet_cli.progress import make_reporter

    dom = get_domain(domain or DEFAULT_DOMAIN)
    recipe_name = recipe or dom.default_recipe or "tiny"
    if out is None:
        out = f"runs/compare-{dom.name}" + (f"-{recipe_name}" if recipe_name != dom.default_recipe else "")
    job = CompareJob(arms=archs, recipe=recipe_name, domain=dom.name, paths=list(paths or []),
                     held_out=list(held_out or []), out=out, overrides=list(overrides or []),
                     domain_options=option_pairs(domain_opt or []), steps=steps, seeds=_seeds(seeds), device=device,
                     force=force, context=context, plot=plot)
    report = compare(job, reporter=make_reporter(quiet=quiet))

    if not (as_json and quiet):
        from rich.console import Console

        console = Console(file=sys.stderr if as_json else sys.stdout)
        if not console.is_terminal:
            console.width = max(console.width, 150)  # logs and pipes: do not squeeze the table
        console.print(table(report))
        for line in summary_lines(report):
            console.print(line, markup=False, highlight=False)
    if as_json:
        typer.echo(json.dumps(report.as_dict(), indent=2))
    if report.failed:
        names = ", ".join(f"{a.name} (seed {a.seed})" for a in report.failed)
        raise HnetError(f"{len(report.failed)} arm(s) did not finish: {names}; see {report.out}/compare.json")


def register(app: typer.Typer) -> None:
    app.command("compare", help=HELP, no_args_is_help=False)(compare_command)

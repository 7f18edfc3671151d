"""`hnet train`: train an H-Net (or an isotropic baseline) on a domain's files or bundled data."""

from __future__ import annotations

import json
from typing import List, Optional

import typer

HELP = """Train an H-Net on files of a domain, or on the domain's bundled sample when no file is given.

The run directory (default runs/DOMAIN, or runs/DOMAIN-RECIPE[-ARCH] for a
non-default recipe or a baseline) receives config.json, recipe.json, run.json,
metrics.jsonl and checkpoints/ (LATEST, BEST). An existing run directory is
only reused with --resume (continue exactly) or --force (start over).

Examples:

\b
  hnet train --domain dna                                 # bundled lambda phage genome, recipe dna-tiny
  hnet train --domain dna genome.fa.gz reads.fq.gz --out runs/genome
  hnet train --domain code ~/src/project -D languages=python --recipe code-tiny
  hnet train --domain zh corpus.jsonl -D field=content --steps 2000
  hnet train --domain text book.txt --set train.lr=3e-3 --set model.d_model=[64,128]
  hnet train --domain dna --arch transformer              # FLOP-matched isotropic baseline
  hnet train --resume runs/dna --steps 1200               # continue (and lengthen) a run
  hnet train --init-from runs/dna genome2.fa.gz -o runs/dna-ft --freeze encoder,routing --steps 300   # fine-tune
  hnet train --recipe runs/dna/recipe.json --domain dna other.fa -o runs/again   # a run's own recipe
  torchrun --nproc_per_node 4 -m hnet_cli train --domain text big.parquet --recipe small
  hnet train --list-recipes
"""


def _summary_lines(result) -> list[str]:
    unit = result.unit
    lines = [f"run: {result.run_dir} (step {result.steps}/{result.total_steps}, {result.bytes_seen / 1e6:.3g} MB seen, "
             f"{result.elapsed_s:.0f} s" + (f", {result.bytes_per_s / 1e3:.3g} kB/s)" if result.bytes_per_s else ")")]
    if result.best_val_bpb is not None:
        per_unit = f"{result.best_val_bits_per_unit:.4f} bits/{unit}, " if result.best_val_bits_per_unit is not None else ""
        lines.append(f"validation: best {per_unit}{result.best_val_bpb:.4f} bits/byte at step {result.best_step}")
    if result.yardstick:
        from hnet_cli.eval.yardstick import describe

        lines.append(describe(result.yardstick, result.best_val_bits_per_unit))
    for s, (c, n) in enumerate(zip(result.compression, result.targets)):
        lines.append(f"compression: stage {s}: {c:.3f} = {1 / c if c else float('inf'):.2f} per chunk (target N={n:g})")
    if result.checkpoint:
        lines.append(f"checkpoint: {result.run_dir}/checkpoints/{result.checkpoint}")
    return lines


def train_command(
    paths: Optional[List[str]] = typer.Argument(None, help="Files, directories, globs or - (stdin); none = the bundled data."),
    domain: Optional[str] = typer.Option(None, "--domain", "-d", help="Data domain (see `hnet domains`); default text."),
    recipe: Optional[str] = typer.Option(None, "--recipe", "-r", help="Recipe name or JSON file; default: the domain's."),
    arch: str = typer.Option("hnet", "--arch", help="hnet, or an isotropic baseline FLOP-matched to the recipe's "
                             "H-Net: transformer or mamba."),
    out: Optional[str] = typer.Option(None, "--out", "--output", "-o", help="Run directory (default runs/DOMAIN[-RECIPE][-ARCH])."),
    steps: Optional[int] = typer.Option(None, "--steps", help="Optimizer steps (overrides train.steps)."),
    overrides: Optional[List[str]] = typer.Option(None, "--set", metavar="FIELD=VALUE",
                                                  help="Override a recipe field, e.g. train.lr=1e-3 (repeatable)."),
    domain_opt: Optional[List[str]] = typer.Option(None, "--domain-opt", "-D", metavar="KEY=VALUE",
                                                   help="A reader option of the domain (repeatable)."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N."),
    resume: Optional[str] = typer.Option(None, "--resume", metavar="RUN", help="Continue the run in RUN exactly."),
    init_from: Optional[str] = typer.Option(None, "--init-from", metavar="RUN|CHECKPOINT",
                                            help="Fine-tune: start from these weights (a run, a checkpoint dir, "
                                                 ".safetensors or an official .pt with --config); its "
                                                 "architecture replaces the recipe's model."),
    config: Optional[str] = typer.Option(None, "--config", metavar="CONFIG.json",
                                         help="Model config of an official .pt given to --init-from."),
    freeze: Optional[str] = typer.Option(None, "--freeze", metavar="PARTS",
                                         help="Keep these parts as loaded: embeddings, lm_head, encoder, decoder, "
                                              "routing, main (comma list; PART.S for stage S only)."),
    force: bool = typer.Option(False, "--force", help="Start over in an existing run directory."),
    list_recipes: bool = typer.Option(False, "--list-recipes", help="List the bundled recipes and exit."),
    yardstick: bool = typer.Option(True, "--yardstick/--no-yardstick",
                                   help="Report what an order-k Markov chain fitted on the training part scores on "
                                        "the validation data, beside the model's bits (fitted once per run, "
                                        "seconds on a whole genome)."),
    as_json: bool = typer.Option(False, "--json", help="Print the final summary as JSON on stdout."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
):
    from hnet_cli.progress import make_reporter
    from hnet_cli.recipes import available_recipes

    if list_recipes:
        recipes = available_recipes()
        if as_json:
            typer.echo(json.dumps(recipes, indent=2))
        else:
            width = max(map(len, recipes)) if recipes else 0
            for name, description in recipes.items():
                typer.echo(f"{name:<{width}}  {description}")
        return

    from hnet_cli.train.request import TrainRequest, run_request

    request = TrainRequest(
        paths=list(paths or []), domain=domain, recipe=recipe, arch=arch, out=out, steps=steps,
        overrides=list(overrides or []), domain_options=list(domain_opt or []), device=device, resume=resume,
        init_from=init_from, config=config, freeze=freeze, force=force, yardstick=yardstick,
    )
    result = run_request(request, reporter=make_reporter(quiet=quiet))

    if result.rank != 0:  # under torchrun, process 0 reports
        return
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
    else:
        for line in _summary_lines(result):
            typer.echo(line)


def register(app: typer.Typer) -> None:
    app.command("train", help=HELP, no_args_is_help=False)(train_command)

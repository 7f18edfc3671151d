"""`hnet eval`: bits per byte and chunking statistics of one or more models on held-out data."""

from __future__ import annotations

import json
import sys
from typing import List, Optional

import typer

from hnet_cli.commands import options

HELP = """Bits per byte (and per base / character) of one or more models on held-out data,
with chunking statistics per stage, an optional robustness suite and a comparison table.

ARGS are MODEL [MORE_MODELS...] PATHS...: the first argument is a model (a path or a
Hugging Face Hub id, org/name[@revision]); a later one is a model if it ends in .pt or
.safetensors or is a checkpoint directory (model.safetensors or its shard index) or a
training run (checkpoints/); everything else is data (files, directories, globs, - for
stdin). With --model (repeatable) every argument is data.

Each document is scored as in training: BOS (254) first, then its bytes; only the bytes
count. Documents longer than --context are scored with sliding windows: every byte is
predicted exactly once, from at least min(position + 1, context - stride) tokens of left
context. Perturbations (--perturb): uppercase, randomcase (each char 50/50 upper/lower),
antspeak ("A N T S P E A K"), drop (10% of chars), repeat (20% of chars written 2-4x);
seeded; bpb is per byte of the perturbed text.

The yardstick row is an order-k Markov chain (interpolated Witten-Bell) scored on the same
bytes: fitted on the training split the first model's run recorded (its run directory's
run.json), or on --yardstick-train FILES, with k chosen on the held-out part of that data.
A model without a run directory (a .pt, a saved folder, a Hub id) gets one only with
--yardstick-train. --no-yardstick skips it.

Examples:

\b
  hnet eval runs/dna held_out.fa.gz --domain dna                # bits per base too
  hnet eval runs/code-a runs/code-b src/ --domain code --per-file
  hnet eval runs/zh test.jsonl --domain zh -D field=content --perturb all
  hnet eval hnet_1stage_L.pt --config config_hnet_1stage_L.json book.txt --context 8192
  cat notes.txt | hnet eval runs/text - --json > scores.json
  hnet eval --model runs/a --model runs/b data/ --csv scores.csv
  hnet eval runs/dna genome.fa.gz --regions genes.bed --per-record   # bits per base of each gene
  hnet eval hnet_2stage_XL.pt --config c.json book.txt --yardstick-train other_books/
"""


def eval_command(
    args: Optional[List[str]] = typer.Argument(None, metavar="MODELS PATHS",
                                               help="Models, then data files, directories, globs or - (stdin)."),
    model: Optional[List[str]] = typer.Option(None, "--model", "-m", help="A model (repeatable); all ARGS are then data."),
    domain: Optional[str] = typer.Option(None, "--domain", "-d", show_default=False,
                                         help="How to read the data: dna, code, text, chinese (zh), ... "
                                              "[default: the first model's training domain, else text]"),
    domain_opt: Optional[List[str]] = typer.Option(None, "--domain-opt", "-D", metavar="KEY=VALUE",
                                                   help="A reader option (repeatable); see `hnet domains NAME`."),
    config: Optional[str] = typer.Option(None, "--config", help="Config JSON for models given as .pt/.safetensors files."),
    context: Optional[int] = typer.Option(None, "--context", "-c", show_default=False,
                                          help="Tokens per forward pass, BOS included [default: the first model's "
                                               "training length (train.seq_len of its run), else 8192]."),
    stride: Optional[int] = typer.Option(None, "--stride", help="Window step for long documents [default: context/2]."),
    batch_size: int = typer.Option(8, "--batch-size", "-b",
                                   help="Forward pass size in full-context windows: at most batch-size x context "
                                        "tokens, shared by more rows when documents are shorter. Results do not change."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N."),
    dtype: str = typer.Option("auto", "--dtype", help="auto (bf16 on GPU, fp32 on CPU), fp32 or bf16."),
    compile: bool = options.compile(),
    perturb: Optional[str] = typer.Option(None, "--perturb",
                                          help="Robustness suite: comma list of antspeak,drop,randomcase,repeat,uppercase or all."),
    seed: int = typer.Option(0, "--seed", help="Seed of the perturbations."),
    as_json: bool = typer.Option(False, "--json", help="Print the results as JSON on stdout (tables go to stderr)."),
    csv_path: Optional[str] = typer.Option(None, "--csv", metavar="FILE", help="Also write the results as CSV (- = stdout)."),
    per_file: bool = typer.Option(False, "--per-file", help="Scores per input file."),
    per_record: bool = typer.Option(False, "--per-record", help="Scores per document (record, source file, row)."),
    region: Optional[List[str]] = typer.Option(None, "--region", metavar="CHR:START-END",
                                               help="Only this region (1-based, inclusive, like samtools; repeatable)."),
    regions: Optional[str] = typer.Option(None, "--regions", metavar="FILE.bed",
                                          help="Only the intervals of this BED file (0-based, half-open)."),
    yardstick: bool = typer.Option(True, "--yardstick/--no-yardstick",
                                   help="Also score an order-k Markov chain on the same data (fitted on the first "
                                        "model's training split, or on --yardstick-train)."),
    yardstick_train: Optional[List[str]] = typer.Option(None, "--yardstick-train", metavar="FILE",
                                                        help="Fit the yardstick on these files (repeatable) instead "
                                                             "of the run's training split; needed for models "
                                                             "without a run directory."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress; with --json or --csv -, no tables either."),
):
    from hnet_cli.data.domain import option_pairs
    from hnet_cli.errors import ConfigError
    from hnet_cli.eval.api import evaluate
    from hnet_cli.eval.models import split_models_and_data
    from hnet_cli.eval.report import csv_text, summary_lines, tables
    from hnet_cli.outputs import check_output, write_output
    from hnet_cli.progress import make_reporter

    models, paths = split_models_and_data(list(args or []), list(model or []))
    if not models:
        raise ConfigError("no model given: hnet eval MODEL PATHS... (see hnet eval --help)")
    if as_json and csv_path == "-":
        raise ConfigError("--json and --csv - both want stdout; write the CSV to a file")
    if csv_path is not None:
        check_output(csv_path)  # a bad destination fails now, not after the evaluation
    with options.compilation(compile):
        report = evaluate(
            models, paths, domain=domain, domain_options=option_pairs(domain_opt or []), config=config,
            context=context, stride=stride, batch_size=batch_size, device=device, dtype=dtype, perturb=perturb,
            seed=seed, per_file=per_file, per_record=per_record, region=list(region or []), regions=regions,
            yardstick=yardstick, yardstick_train=list(yardstick_train or []), reporter=make_reporter(quiet=quiet),
        )
    notes = []
    if report.domain_from:
        notes.append(f"domain {report.domain} and its reader options from {report.domain_from}")
    if report.context_from:
        notes.append(f"context {report.context} (the training length, from {report.context_from}); "
                     "set it with --context")

    machine_on_stdout = as_json or csv_path == "-"
    if not (machine_on_stdout and quiet):
        from rich.console import Console

        console = Console(file=sys.stderr if machine_on_stdout else sys.stdout)
        if not console.is_terminal:
            console.width = max(console.width, 140)  # logs and pipes: do not squeeze the tables to 80 columns
        for line in notes:
            console.print(line, markup=False, highlight=False)
        for table in tables(report, per_file=per_file, per_record=per_record):
            console.print(table)
        for line in summary_lines(report):
            console.print(line, markup=False, highlight=False)
    if csv_path is not None:
        write_output(csv_path, csv_text(report))
    if as_json:
        typer.echo(json.dumps(report.as_dict(), indent=2))


def register(app: typer.Typer) -> None:
    app.command("eval", help=HELP, no_args_is_help=True)(eval_command)

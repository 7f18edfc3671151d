"""`hnet plot`: draw a run's training curves to PNG."""

from __future__ import annotations

from typing import Optional

import typer

HELP = """Draw a training run's curves to a PNG: loss, bits per byte (train and
validation), compression per stage against its target, and the learning rate.

The loss and bits axes are scaled to the run after its first tenth, where the
differences that matter are; the first steps run off the top. --json prints
the series instead (no matplotlib needed). Plotting needs matplotlib:
pip install 'hnet-cli[plot]'.

Examples:

\b
  hnet plot runs/dna                       # writes runs/dna/plots/curves.png
  hnet plot runs/dna -o dna.png
  hnet plot runs/dna -o - | display        # PNG on stdout
  hnet plot runs/dna --json | jq '.val.bpb[-1]'
"""


def plot_command(
    run: str = typer.Argument(..., help="A run directory made by hnet train."),
    out: Optional[str] = typer.Option(None, "--out", "--output", "-o",
                                      help="PNG file to write; - for stdout (default RUN/plots/curves.png)."),
    as_json: bool = typer.Option(False, "--json", help="Print the series (steps, loss, bits, compression, lr) as JSON."),
):
    if as_json:
        import json

        from hnet_cli.train.plot import run_series

        typer.echo(json.dumps(run_series(run)))
        return
    from hnet_cli.train.plot import plot_run

    written = plot_run(run, out)
    if written != "-":  # the PNG itself went to stdout: nothing may follow it
        typer.echo(written)


def register(app: typer.Typer) -> None:
    app.command("plot", help=HELP)(plot_command)

"""`hnet plot`: draw a run's training curves to PNG."""

from __future__ import annotations

from typing import Optional

import typer

HELP = """Draw a training run's curves (loss, bits per byte, compression per stage) to a PNG.

Needs matplotlib: pip install 'hnet-cli[plot]'.

Examples:

\b
  hnet plot runs/dna                       # writes runs/dna/plots/curves.png
  hnet plot runs/dna --out dna.png
"""


def plot_command(
    run: str = typer.Argument(..., help="A run directory made by hnet train."),
    out: Optional[str] = typer.Option(None, "--out", "--output", "-o", help="PNG file to write (default RUN/plots/curves.png)."),
):
    from hnet_cli.train.plot import plot_run

    typer.echo(str(plot_run(run, out)))


def register(app: typer.Typer) -> None:
    app.command("plot", help=HELP)(plot_command)

"""`hnet info`: what a model is — layout, widths, parameters, FLOPs per byte."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

HELP = """Describe a model: stages, layers, widths, parameter count and forward FLOPs per byte.

MODEL is a run directory, a checkpoint directory, an official .pt (with --config),
a Hugging Face Hub id (org/name[@revision]), or a bare config JSON (no weights needed).
FLOPs are counted at the model's own compression targets and training length
when it records them (runs and our checkpoints do), else at 0.25 per stage and
8192 bytes; --compression and --seq-len set them.

Examples:

\b
  hnet info runs/dna
  hnet info hnet_1stage_L.pt --config config_hnet_1stage_L.json
  hnet info config_hnet_2stage_XL.json --compression 0.2,0.4 --json
"""


def register(app: typer.Typer) -> None:
    @app.command("info", help=HELP, no_args_is_help=True)
    def info(
        model: str = typer.Argument(..., help="Run dir, checkpoint dir, .pt/.safetensors file, Hub id or config JSON."),
        config: Optional[Path] = typer.Option(None, "--config", help="Config JSON for an official .pt checkpoint."),
        seq_len: Optional[int] = typer.Option(
            None, "--seq-len", help="Sequence length for attention FLOPs (default: the training length, else 8192)."
        ),
        compression: Optional[str] = typer.Option(
            None, "--compression",
            help="L_{s+1}/L_s per stage, comma-separated (default: 1/N for the model's targets N, else 0.25 each).",
        ),
        as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    ):
        from hnet_cli.model.describe import describe
        from hnet_cli.model.memory import human_bytes

        ratios = _ratios(compression) if compression else None
        summary = describe(model, config=config, seq_len=seq_len, compression=ratios)
        memory = summary["memory"]
        if memory["fits_here"] is False:
            print(f"hnet info: warning: this model's weights need {human_bytes(memory['weights_bytes'])}, more "
                  f"than this machine's {human_bytes(memory['machine_bytes'])} of memory: it cannot be loaded here",
                  file=sys.stderr)
        if as_json:
            typer.echo(json.dumps(summary, indent=2))
            return
        from rich.console import Console
        from rich.table import Table

        table = Table(title=f"{summary['source']}", show_header=True)
        for col in ("stage", "d_model", "layers", "length L_s/L_0", "GFLOPs/byte"):
            table.add_column(col)
        for st in summary["stages"]:
            table.add_row(str(st["stage"]), str(st["d_model"]), st["layers"], f"{st['length_fraction']:.4g}",
                          f"{st['flops_per_byte'] / 1e9:.4g}")
        console = Console()
        console.print(table)
        console.print(
            f"parameters: {summary['parameters']:,} ({summary['parameters_non_embedding']:,} without embeddings)   "
            f"forward: {summary['flops_per_byte'] / 1e9:.4g} GFLOPs/byte at {summary['seq_len']} bytes   "
            f"stages: {summary['num_stages']}", markup=False, highlight=False,
        )
        if summary["num_stages"]:
            ratios = ", ".join(f"{c:.3g}" for c in summary["compression"])
            why = {"targets": "1/N for the model's compression targets N = "
                              + ", ".join(f"{n:g}" for n in summary["targets"] or []),
                   "given": "as given", "default": "the default; the model records no targets"}[summary["compression_from"]]
            console.print(f"compression L_s+1/L_s: {ratios} ({why}); sequence length: {summary['seq_len']} "
                          f"({summary['seq_len_from']})", markup=False, highlight=False, soft_wrap=True)
        console.print(f"memory: weights {human_bytes(memory['weights_bytes'])} (fp32), training at least "
                      f"{human_bytes(memory['training_bytes'])} (weights, gradients, AdamW state)",
                      markup=False, highlight=False, soft_wrap=True)


def _ratios(text: str) -> list[float]:
    from hnet_cli.errors import ConfigError

    try:
        return [float(x) for x in text.split(",")]
    except ValueError:
        raise ConfigError(f"--compression {text!r}: expected numbers separated by commas, e.g. 0.25 or 0.3,0.4") from None

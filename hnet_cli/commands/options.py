"""Options that several commands share, defined once so they read and behave alike.

Each function returns a fresh `typer.Option` (typer binds an option to the
parameter it defaults): `model: str = options.model()`. The short flags follow
`hnet_cli.commands.flags.SHORT_FLAGS`.
"""

from __future__ import annotations

import typer

MODEL_HELP = ("A run dir (its BEST, else LATEST checkpoint), a checkpoint dir, a .safetensors file, an official "
              ".pt (with --config), or a Hugging Face Hub id (org/name[@revision]).")


def model():
    return typer.Option(..., "--model", "-m", metavar="RUN_OR_CHECKPOINT", help=MODEL_HELP)


def config():
    return typer.Option(None, "--config", metavar="CONFIG.json", help="Model config, for official .pt checkpoints.")


def domain():
    return typer.Option(None, "--domain", "-d", help="Input domain (dna, code, text, chinese, ...). Default: the "
                                                      "run's own, else dna for FASTA/FASTQ names, else text.")


def domain_opt():
    return typer.Option(None, "--domain-opt", "-D", metavar="KEY=VALUE",
                        help="A reader option (repeatable); see `hnet domains NAME`.")


def context():
    return typer.Option(None, "--context", "-c", show_default=False,
                        help="Tokens per forward pass, BOS included [default: the model's training length, "
                             "else 8192].")


def stride():
    return typer.Option(None, "--stride", help="Window step for long records [default: context/2].")


def batch_size():
    return typer.Option(8, "--batch-size", "-b", help="Forward pass size in full-context windows.")


def region():
    return typer.Option(None, "--region", metavar="CHR:START-END",
                        help="Only this region (1-based, inclusive, like samtools; repeatable). "
                             "Output keeps genome coordinates.")


def regions():
    return typer.Option(None, "--regions", metavar="FILE.bed",
                        help="Only the intervals of this BED file (0-based, half-open).")


def device():
    return typer.Option("auto", "--device", help="auto|cpu|cuda|cuda:N.")


def dtype():
    return typer.Option("auto", "--dtype", help="auto|fp32|bf16 (auto: bf16 on GPU, fp32 on CPU).")


def compile():
    return typer.Option(True, "--compile/--no-compile",
                        help="GPUs: compile the model's blocks for its fixed shapes first (seconds of start-up, "
                             "then faster passes); --no-compile runs no compiled code, which can finish small "
                             "inputs sooner. Results agree within rounding.")


def compilation(enabled: bool):
    """`ops.compilation`, imported when a job runs (not for --help)."""
    from hnet_cli import ops

    return ops.compilation(enabled)


def as_json():
    return typer.Option(False, "--json", help="Print a JSON summary (to stderr when the output is stdout).")


def quiet():
    return typer.Option(False, "--quiet", "-q", help="No progress output.")


def report_skipped(command: str, summary: dict, err) -> None:
    """One stderr line per kind of input the reader skipped."""
    for reason, count in sorted(summary.get("read", {}).get("skipped", {}).items()):
        print(f"hnet {command}: skipped {count} ({reason})", file=err)

"""`hnet bench`: the GPU benchmark suite (training MFU, memory, generation speed)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

HELP = """Measure training bytes/s and MFU, peak memory and generation speed on this GPU.

Every figure comes from one run on one GPU; MFU is against the bf16 matmul rate
measured in the same run. Rows are written to OUT/results.jsonl as measured.

Examples:

\b
  hnet bench                                      # everything (about 10 minutes on an H100)
  hnet bench --sections train --models hnet-1stage,iso-T-matched
  hnet bench --sections generate --depth-scale 0.5 --json
"""


def register(app: typer.Typer) -> None:
    @app.command("bench", help=HELP)
    def bench(
        sections: str = typer.Option("peak,train,generate,memory,kernels", help="Comma-separated sections to run."),
        models: str = typer.Option("iso-T22-2048,hnet-1stage,iso-T-matched,hnet-2stage,iso-m-matched",
                                   help="Training models, comma-separated."),
        batch: int = typer.Option(8, help="Rows per training batch."),
        seq_len: int = typer.Option(8192, help="Bytes per row."),
        depth_scale: float = typer.Option(1.0, help="Scale every layer group's depth (faster compile and runs)."),
        steps: int = typer.Option(10, help="Timed training steps per model."),
        time_budget: float = typer.Option(540.0, help="Seconds; cases past it are skipped and reported."),
        out: Path = typer.Option(Path("bench-out"), "--out", "--output", "-o", help="Folder for results.jsonl and tables.md."),
        as_json: bool = typer.Option(False, "--json", help="Print the rows as JSON lines instead of tables."),
    ):
        import torch

        from hnet_cli.errors import HnetError

        if not torch.cuda.is_available():
            raise HnetError("hnet bench measures GPU speed and needs a CUDA GPU; none is available")
        from hnet_cli.bench.report import render
        from hnet_cli.bench.suite import SECTIONS, SuiteOptions, run_suite
        from hnet_cli.outputs import write_output

        chosen = tuple(s.strip() for s in sections.split(",") if s.strip())
        unknown = [s for s in chosen if s not in SECTIONS]
        if unknown:
            raise HnetError(f"unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
        opts = SuiteOptions(sections=chosen, models=tuple(m.strip() for m in models.split(",") if m.strip()),
                            batch=batch, seq_len=seq_len, depth_scale=depth_scale, steps=steps,
                            time_budget_s=time_budget, out_dir=out)
        rows = run_suite(opts)
        text = render(rows)
        write_output(out / "tables.md", text)
        if as_json:
            for row in rows:
                typer.echo(json.dumps({k: v for k, v in row.items() if k != "traceback"}, default=str))
        else:
            typer.echo(text)

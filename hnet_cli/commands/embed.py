"""`hnet embed`: hidden states of any stage, per byte, per chunk or pooled, to a file."""

from __future__ import annotations

import json
import sys
from typing import List, Optional

import typer

from hnet_cli.commands import options

HELP = """Export a model's hidden states: per byte, per chunk, or one vector per record.

--per byte: the stage-S output at every byte (--stage 0, the default: the hidden
state the LM head reads; S >= 1: the stage-S network's output for the chunk
holding the byte). --per chunk: the vectors stage S's main network receives,
one per chunk, with the chunk's coordinates (the first row is the chunk BOS
opens). --pool mean|last|chunk-mean: one vector per record (the mean over its
bytes, its last byte's, the mean over its chunks). --rc-average (DNA) averages
each base with its partner on the reverse-complement strand.

Output (by --output suffix, or --format): Parquet (columns record, start, end,
embedding: fixed-size list of float32), .npz (embedding, start, end,
record_index, records), .npy (the matrix alone) or .safetensors. Coordinates are
0-based half-open on the record. Long records are read in the windows of
`hnet eval` (--context, --stride), so memory stays bounded on whole genomes.

FILES: files, directories, globs or - (stdin), read as `hnet chunk` reads them.
--region chr:start-end (1-based, inclusive) or --regions file.bed (0-based,
half-open) restricts the input; coordinates stay genome coordinates.

Examples:

\b
  hnet embed genome.fa.gz -m runs/dna --per chunk -o chunks.parquet
  hnet embed reads.fq.gz -m runs/dna --pool mean --rc-average -o reads.npz
  hnet embed genome.fa -m runs/dna --regions genes.bed --pool mean -o genes.safetensors
  hnet embed notes.txt -m runs/text --stage 1 -o bytes.npy
  python -c "import pyarrow.parquet as pq; print(pq.read_table('chunks.parquet').num_rows)"
"""


def embed_command(
    paths: Optional[List[str]] = typer.Argument(None, metavar="FILES",
                                                help="Input files, directories, globs or - (stdin)."),
    model: str = options.model(),
    output: str = typer.Option(..., "--output", "-o", metavar="FILE|-",
                               help="Where to write (- = stdout, with --format). Written to a temp file, renamed on success."),
    fmt: str = typer.Option("auto", "--format", "-f", help="auto|parquet|npy|npz|safetensors (auto: from the --output suffix)."),
    per: str = typer.Option("byte", "--per", help="Rows: byte or chunk."),
    pool: Optional[str] = typer.Option(None, "--pool", help="One row per record instead: mean, last or chunk-mean."),
    stage: int = typer.Option(0, "--stage", "-s", help="Which stage's states (0 = the byte level)."),
    rc_average: bool = typer.Option(False, "--rc-average", help="DNA: average with the reverse-complement strand."),
    config: Optional[str] = options.config(),
    domain: Optional[str] = options.domain(),
    domain_opt: Optional[List[str]] = options.domain_opt(),
    context: Optional[int] = options.context(),
    stride: Optional[int] = options.stride(),
    batch_size: int = options.batch_size(),
    region: Optional[List[str]] = options.region(),
    regions: Optional[str] = options.regions(),
    device: str = options.device(),
    dtype: str = options.dtype(),
    compile: bool = options.compile(),
    as_json: bool = options.as_json(),
    quiet: bool = options.quiet(),
):
    from hnet_cli.embed.api import EmbedRequest, run_embed
    from hnet_cli.progress import make_reporter

    request = EmbedRequest(
        model=model, paths=list(paths or []), output=output, format=fmt, per=per, pool=pool, stage=stage,
        rc_average=rc_average, config=config, domain=domain, domain_options=list(domain_opt or []),
        context=context, stride=stride, batch_size=batch_size, device=device, dtype=dtype,
        region=list(region or []), regions=regions,
    )
    with options.compilation(compile):
        result = run_embed(request, reporter=make_reporter(quiet=quiet))
    summary = result.summary
    options.report_skipped("embed", summary, sys.stderr)
    if as_json:
        print(json.dumps(summary, indent=2), file=sys.stderr if output == "-" else sys.stdout)


def register(app: typer.Typer) -> None:
    app.command("embed", help=HELP, no_args_is_help=True)(embed_command)

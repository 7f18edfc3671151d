"""`hnet chunk`: show or export where a model draws chunk boundaries, at every stage."""

from __future__ import annotations

import json
import sys
from typing import List, Optional

import typer

from hnet_cli.commands import options

HELP = """Show or export the chunks a model draws in its input, at every stage.

Each document is read as in training (BOS first). Coordinates are 0-based,
half-open, in the document (plus the record offset for DNA); the document's
first byte always begins chunk 0 (the model's first chunk starts at BOS).
Per-chunk probability is p at the chunk's first element; scores and
mean_confidence average c = max(p, 1 - p) over the chunk.

Format (--format auto): the terminal view when stdout is a terminal, else by
the --output suffix (.html .json/.jsonl .tsv .parquet .bed), else TSV.
json is JSON Lines (one object per row). Rows are per byte unless
--per chunk. BED: one line per chunk (chrom = record id, name = chunk index,
score = mean confidence x 1000); several stages become one track each.

FILES: files, directories, globs or - (stdin); none = the domain's bundled
sample. --domain: the one the run was trained on (RUN/run.json, with its
reader options), else dna for FASTA/FASTQ file names, else text. DNA keeps
runs of N (n_split=0) so BED covers whole records. Output is written as
each window is decided, so memory is bounded by the window and batch, not
the record: a whole chromosome streams. -D max_length=N makes each piece of
N bases its own document (a chunk may then end where a piece ends).

Long documents are read in windows of --window bytes overlapping by
--overlap and stitched at the middle of each overlap. A document that fits
one window is exactly the single pass; longer ones are exact when half the
overlap exceeds what the encoders can see (sliding-window attention only:
1 + the sum of their windows, per stage), approximate otherwise (Mamba-2
layers see the whole prefix): --json reports how well windows agree at
their seams.

Examples:

\b
  hnet chunk notes.txt --model runs/text                   # coloured view in the terminal
  hnet chunk genome.fa.gz -m runs/dna --stage 0 -f bed > chunks.bed
  zcat asm.fa.gz | hnet chunk - -m runs/dna -d dna -f bed -s 0 | bedtools intersect -a - -b genes.bed -u
  hnet chunk -m runs/dna -f bed --track-line -o lambda.bed   # the run's domain, its bundled genome, for IGV
  hnet chunk src/ -m runs/code -d code --per chunk -f tsv | sort -t$'\\t' -k7,7nr | head
  hnet chunk poems.txt -m runs/zh -d chinese --output poems.html          # hover chunks in a browser
  hnet chunk big.fa -m runs/dna --limit 100000 --stats                    # first 100 kB, with statistics
  hnet chunk genome.fa -m runs/dna --region chr2:10001-20000 -f bed       # one region, genome coordinates
  hnet chunk text.txt -m hnet_2stage_L.pt --config config_hnet_2stage_L.json --per chunk -f parquet --output c.parquet
"""


def chunk_command(
    paths: Optional[List[str]] = typer.Argument(None, metavar="FILES",
                                                help="Input files, directories, globs or - (stdin). "
                                                     "None: the domain's bundled sample."),
    model: str = options.model(),
    config: Optional[str] = options.config(),
    domain: Optional[str] = options.domain(),
    domain_opt: Optional[List[str]] = options.domain_opt(),
    fmt: str = typer.Option("auto", "--format", "-f",
                            help="auto|term|html|json|tsv|parquet|bed (auto: term on a terminal, "
                                 "else from the --output suffix, else tsv)."),
    per: str = typer.Option("byte", "--per", help="Table rows (json/tsv/parquet): byte or chunk."),
    stage: str = typer.Option("all", "--stage", "-s", help="Stages to show: all, or e.g. 0 or 0,1 (0 = bytes)."),
    stats: bool = typer.Option(False, "--stats",
                               help="Chunk-length histogram, compression, most frequent chunks "
                                    "(DNA: base composition, GC by chunk length)."),
    output: str = typer.Option("-", "--output", "-o", metavar="FILE|-",
                               help="Where to write (- = stdout). Written to a temp file, renamed on success."),
    window: int = typer.Option(16384, "--window", "-w", metavar="W",
                               help="Longest stretch read in one forward pass, in bytes."),
    overlap: int = typer.Option(2048, "--overlap", metavar="V",
                                help="Bytes shared by consecutive windows; the seam is in its middle."),
    limit: Optional[int] = typer.Option(None, "--limit", metavar="N",
                                        help="Only the first N bytes of the input (useful on big genomes)."),
    region: Optional[List[str]] = options.region(),
    regions: Optional[str] = options.regions(),
    batch_tokens: Optional[int] = typer.Option(
        None, "--batch-tokens", metavar="T",
        help="Positions per forward pass (windows and documents batched) [default: 65536 on a GPU, 16384 on a CPU]."),
    device: str = options.device(),
    dtype: str = options.dtype(),
    compile: bool = options.compile(),
    shade: bool = typer.Option(False, "--shade", help="Terminal view: colour bytes by boundary probability."),
    track_line: bool = typer.Option(False, "--track-line",
                                    help="BED: start with a track line (IGV/UCSC); always on with several stages."),
    width: Optional[int] = typer.Option(None, "--width", help="Terminal view: line width (default: the terminal's)."),
    color: Optional[bool] = typer.Option(None, "--color/--no-color",
                                         help="Terminal view: force colour on or off (default: on a terminal)."),
    as_json: bool = typer.Option(False, "--json",
                                 help="Print a JSON summary (to stderr when the output is stdout)."),
    quiet: bool = options.quiet(),
):
    from hnet_cli.chunk.pipeline import ChunkRequest, resolve_format, run_chunk, stdout_is_terminal
    from hnet_cli.progress import make_reporter

    request = ChunkRequest(
        model=model, paths=list(paths or []), config=config, domain=domain, domain_options=list(domain_opt or []),
        format=fmt, per=per, stages=stage, output=output, window=window, overlap=overlap,
        batch_tokens=batch_tokens, limit=limit, device=device, dtype=dtype, stats=stats, shade=shade,
        track_line=track_line, width=width, color=color, region=list(region or []), regions=regions,
    )
    tty = stdout_is_terminal()
    resolved = resolve_format(fmt, output, tty)
    # The terminal view on a terminal draws as it goes: a progress bar would tear it.
    reporter = make_reporter(quiet=quiet or (output == "-" and resolved == "term" and tty))
    with options.compilation(compile):
        result = run_chunk(request, reporter=reporter, stdout_is_tty=tty)

    # Reports go to stdout unless the segmentation itself went there.
    report = sys.stderr if output == "-" else sys.stdout
    read = result.summary["read"]
    for reason, count in sorted(read["skipped"].items()):
        example = ", ".join(read["examples"].get(reason, []))
        print(f"hnet chunk: skipped {count} ({reason}, e.g. {example})", file=sys.stderr)
    if as_json:
        print(json.dumps(result.summary, indent=2), file=report)
    elif result.stats is not None and result.summary["format"] != "term":
        from rich.console import Console

        result.stats.render(Console(file=report, highlight=False))


def register(app: typer.Typer) -> None:
    app.command("chunk", help=HELP, no_args_is_help=True)(chunk_command)

"""`hnet score`: log-likelihoods per record, per-position tracks, variant effects."""

from __future__ import annotations

import json
import sys
from typing import List, Optional

import typer

from hnet_cli.commands import options

HELP = """Score sequences with a model: log-likelihood per record, surprisal and boundary
probability per position (bedGraph), or the effect of variants (VCF).

Per record (-f tsv, the default, or -f json): record, start, end, bytes, units,
log_likelihood (natural log), bits, bits_per_byte, bits_per_unit (per base for DNA),
source. Per position (-f bedgraph): one track per quantity, `surprisal` (bits of
each base) and `boundary_prob_S` (the routing probability of stage S, --stage),
0-based half-open, covering every base once. Scores are those of `hnet eval`:
the same windows (--context, --stride) and forward passes, so the surprisal of a
record sums to the bits eval reports for it.

Variants (--variants calls.vcf[.gz] --reference ref.fa[.gz]): for each SNV or
short indel, log p(alt window) - log p(ref window) over the reference +-
--flank bases around it (natural log; both strands with --both-strands), written
as VCF with INFO fields HNET_DLL (and HNET_DLL_RC, HNET_DLL_MEAN). Records that
cannot be scored (contig missing from the reference, REF not matching it,
symbolic or missing ALT) are kept, flagged with HNET_SKIP=reason, and counted.
Needs pysam (pip install 'hnet-cli[vcf]').

FILES: files, directories, globs or - (stdin), read as `hnet chunk` reads them
(the run's own domain and reader options; DNA keeps runs of N). --region
chr:start-end (1-based, inclusive) or --regions file.bed (0-based, half-open)
restricts the input; coordinates stay genome coordinates.

Examples:

\b
  hnet score genome.fa.gz -m runs/dna > records.tsv
  hnet score genome.fa.gz -m runs/dna -f bedgraph -o genome.bedGraph   # load in IGV
  hnet score genome.fa -m runs/dna -f bedgraph --tracks surprisal --no-track-line | sort -k1,1 -k2,2n > s.bg
  hnet score genome.fa -m runs/dna --regions genes.bed -f json
  hnet score -m runs/dna --variants calls.vcf.gz --reference ref.fa --flank 128 --both-strands -o scored.vcf
  bcftools view -i 'HNET_DLL < -2' scored.vcf
"""


def score_command(
    paths: Optional[List[str]] = typer.Argument(None, metavar="FILES",
                                                help="Input files, directories, globs or - (stdin)."),
    model: str = options.model(),
    config: Optional[str] = options.config(),
    domain: Optional[str] = options.domain(),
    domain_opt: Optional[List[str]] = options.domain_opt(),
    fmt: str = typer.Option("auto", "--format", "-f",
                            help="auto|tsv|json|bedgraph|vcf (auto: vcf with --variants, else from the --output "
                                 "suffix, else tsv)."),
    output: str = typer.Option("-", "--output", "-o", metavar="FILE|-",
                               help="Where to write (- = stdout). Written to a temp file, renamed on success."),
    tracks: str = typer.Option("surprisal,boundary_prob", "--tracks", help="bedGraph quantities: surprisal, boundary_prob."),
    stage: str = typer.Option("0", "--stage", "-s", help="Stages of the boundary_prob tracks: all, or e.g. 0 or 0,1."),
    track_line: bool = typer.Option(True, "--track-line/--no-track-line",
                                    help="bedGraph: a track line before each track (always with several tracks)."),
    context: Optional[int] = options.context(),
    stride: Optional[int] = options.stride(),
    batch_size: int = options.batch_size(),
    region: Optional[List[str]] = options.region(),
    regions: Optional[str] = options.regions(),
    variants: Optional[str] = typer.Option(None, "--variants", metavar="CALLS.vcf[.gz]",
                                           help="Score the variants of this VCF/BCF (- = stdin) against --reference."),
    reference: Optional[str] = typer.Option(None, "--reference", metavar="REF.fa[.gz]",
                                            help="Reference FASTA of the VCF (plain, bgzip or gzip)."),
    flank: int = typer.Option(256, "--flank", help="Reference bases on each side of a variant."),
    both_strands: bool = typer.Option(False, "--both-strands", help="Variants: also score the reverse complement."),
    device: str = options.device(),
    dtype: str = options.dtype(),
    compile: bool = options.compile(),
    as_json: bool = options.as_json(),
    quiet: bool = options.quiet(),
):
    from hnet_cli.progress import make_reporter
    from hnet_cli.score import ScoreRequest, run_score

    request = ScoreRequest(
        model=model, paths=list(paths or []), config=config, domain=domain, domain_options=list(domain_opt or []),
        format=fmt, output=output, tracks=tracks, stages=stage, track_line=track_line, context=context,
        stride=stride, batch_size=batch_size, device=device, dtype=dtype, region=list(region or []),
        regions=regions, variants=variants, reference=reference, flank=flank, both_strands=both_strands,
    )
    with options.compilation(compile):
        result = run_score(request, reporter=make_reporter(quiet=quiet))
    report = sys.stderr if output == "-" else sys.stdout
    summary = result.summary
    options.report_skipped("score", summary, sys.stderr)
    for reason, count in sorted(summary.get("flagged", {}).items()):
        print(f"hnet score: {count} variant record(s) passed through unscored: {reason}", file=sys.stderr)
    if as_json:
        print(json.dumps(summary, indent=2, default=str), file=report)


def register(app: typer.Typer) -> None:
    app.command("score", help=HELP, no_args_is_help=True)(score_command)

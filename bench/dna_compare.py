"""H-Net against its FLOP-matched Transformer and Mamba-2 on real bacterial genomes (`hnet compare`).

Data: the reference genomes of Debian's ragout-examples package (16 complete
genomes of four species: S. aureus, V. cholerae, E. coli, H. pylori):

    apt-get download ragout-examples && dpkg-deb -x ragout-examples_*.deb ragout
    python bench/dna_compare.py --examples ragout/usr/share/doc/ragout/examples --config NAME ...

Two genomes (by default S. aureus USA300_FPR3757 and H. pylori G27) are held
out; every other reference genome is training data, so each held-out genome has
relatives of its species in training. `--held-out-bases N` scores only the
first N bases of each held-out genome (CPU time); 0 scores them whole. The
genomes of kleborate-examples are reserved for independent checks and never
used here.

Each invocation runs one configuration (a recipe, `--set` overrides, steps,
seeds) through `hnet_cli.compare.compare` (arms trained one after another,
resumable: run it again to continue) and records it under its --config name in
--results (default bench/results/dna-compare.json), next to the
configurations run before, so every configuration tried stays on record.

  python bench/dna_compare.py --examples EX --config tiny-paper --recipe dna-tiny-paper --seeds 0,1,2
  python bench/dna_compare.py --examples EX --config small-gpu --recipe dna-small --seeds 0,1,2 --device cuda \
      --held-out-bases 0
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_HELD_OUT = ("S.Aureus/references/USA300_FPR3757.fasta.gz", "H.Pylori/references/G27.fasta.gz")


def genomes(examples: Path) -> list[Path]:
    found = sorted(examples.glob("*/references/*.fasta.gz"))
    if not found:
        sys.exit(f"{examples}: no */references/*.fasta.gz (extract ragout-examples, see --help)")
    return found


def held_out_slice(genome: Path, bases: int, work: Path) -> Path:
    """The first `bases` bases of the genome's first record as a FASTA file (the whole genome when 0)."""
    if bases <= 0:
        return genome
    from hnet_cli.data.registry import get_domain

    out = work / f"{genome.name.split('.')[0]}_first{bases}.fa"
    if not out.exists():
        first = next(iter(get_domain("dna").read([str(genome)], max_length=bases)))
        out.write_text(f">{first.meta.get('record', genome.stem)} first {bases} bases\n{first.data.decode()}\n")
    return out


def machine() -> dict:
    import torch

    info = {"python": platform.python_version(), "torch": torch.__version__, "cpus": os.cpu_count(),
            "threads": torch.get_num_threads(), "processor": platform.processor() or platform.machine()}
    try:
        info["load_average_at_start"] = os.getloadavg()
    except OSError:
        pass
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=Path, required=True, help="ragout's examples folder (usr/share/doc/ragout/examples)")
    parser.add_argument("--config", required=True, help="a name for this configuration (its key in --results)")
    parser.add_argument("--recipe", default="dna-tiny-paper")
    parser.add_argument("--archs", default="hnet,transformer,mamba")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="FIELD=VALUE")
    parser.add_argument("--domain-opt", action="append", default=[], metavar="KEY=VALUE",
                        help="reader options; default max_length=16384 (short documents shuffle well)")
    parser.add_argument("--held-out", action="append", default=None, metavar="SPECIES/references/FILE")
    parser.add_argument("--held-out-bases", type=int, default=150_000)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--work", type=Path, default=Path("runs/dna-compare"))
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "results" / "dna-compare.json")
    parser.add_argument("--note", default="", help="free text kept with the configuration")
    args = parser.parse_args()

    from compare_merge import record_configuration  # bench/, beside this script

    from hnet_cli.compare import CompareJob, compare
    from hnet_cli.compare.report import summary_lines
    from hnet_cli.data.domain import option_pairs
    from hnet_cli.progress import make_reporter

    every = genomes(args.examples)
    held_names = args.held_out or list(DEFAULT_HELD_OUT)
    held_genomes = [args.examples / name for name in held_names]
    for genome in held_genomes:
        if genome not in every:
            sys.exit(f"{genome}: not one of the reference genomes")
    train = [g for g in every if g not in held_genomes]
    args.work.mkdir(parents=True, exist_ok=True)
    held = [held_out_slice(g, args.held_out_bases, args.work) for g in held_genomes]
    options = option_pairs(args.domain_opt or ["max_length=16384"])
    seeds = [int(s) for s in args.seeds.split(",")]

    started = time.time()
    start_machine = machine()
    job = CompareJob(arms=args.archs, recipe=args.recipe, domain="dna", paths=[str(g) for g in train],
                     held_out=[str(h) for h in held], out=args.work / args.config, overrides=list(args.overrides),
                     domain_options=options, steps=args.steps, seeds=seeds, device=args.device)
    report = compare(job, reporter=make_reporter())
    wall = time.time() - started

    entry = {
        "config": args.config, "note": args.note, "recipe": args.recipe, "archs": args.archs, "seeds": seeds,
        "steps": args.steps, "overrides": args.overrides, "domain_options": options,
        "date": datetime.date.today().isoformat(), "wall_s_this_invocation": wall, "machine": start_machine,
        "command": "python bench/dna_compare.py " + " ".join(sys.argv[1:]),
        "train_genomes": [str(g.relative_to(args.examples)) for g in train],
        "train_bases": sum(_bases(g) for g in train),
        "held_out": [{"genome": name, "bases": args.held_out_bases or "all"} for name in held_names],
        "label": "CPU-scale check" if args.device == "cpu" else f"{args.device} run",
        "report": {k: v for k, v in report.as_dict().items() if k != "arms"}
                  | {"arms": [{k: v for k, v in a.items() if k not in ("curve", "held_out_key")}
                              for a in report.as_dict()["arms"]]},
        "curves": {f"{a.name}/seed{a.seed}": [[p.step, p.bytes, p.seconds, p.bits_per_unit] for p in a.curve]
                   for a in report.arms},
    }
    record_configuration(args.results, args.config, entry)

    print(f"\n### {args.config}: recipe {args.recipe}, seeds {args.seeds}\n")
    print("| arm | seed | params | FLOPs/byte | bytes seen | train s | val bits/base | held-out bits/base | compression |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for a in report.arms:
        comp = "/".join(f"{c:.3f}" for c in (a.held_out_compression or a.train_compression)) or "-"
        print(f"| {a.name} | {a.seed} | {a.parameters:,} | {a.flops_per_byte:.3g} ({a.flops_ratio - 1:+.1%}) | "
              f"{a.bytes_seen:,} | {a.train_seconds:.0f} | {_f(a.val_bits_per_unit)} | {_f(a.held_out_bits_per_unit)} | {comp} |")
    for line in summary_lines(report):
        print(line)


def _bases(path: Path) -> int:
    from hnet_cli.data.registry import get_domain

    return sum(len(d.data) for d in get_domain("dna").read([str(path)]))


def _f(x):
    return "-" if x is None else f"{x:.4f}"


if __name__ == "__main__":
    main()

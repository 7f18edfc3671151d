"""One table from several `hnet compare --json` outputs (arms or seeds run as separate processes).

A comparison run as one process per arm and seed (to share one GPU, or two CPU
cores) prints one JSON per process; this merges them, checks that every arm
read the same rows (data signature per seed) and saw the same bytes, and
records the result as one configuration in bench/results/dna-compare.json
beside the others, so every configuration tried stays on record.

    python bench/compare_merge.py --config cpu-tiny-paper-600 --machine "2-core AMD EPYC VM" \\
        --note "..." runs/s0.json runs/s1.json runs/s2.json
"""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def merge(reports: list[dict]) -> dict:
    """Per arm: its seeds' rows, the mean and spread of held-out bits, FLOPs against the hnet arm."""
    rows = [arm for report in reports for arm in report["arms"]]
    by_seed: dict[int, set[str]] = {}
    for arm in rows:
        by_seed.setdefault(arm["seed"], set()).add(arm["data_signature"])
    mixed = {seed: sigs for seed, sigs in by_seed.items() if len(sigs) > 1}
    if mixed:
        raise SystemExit(f"arms of one seed read different rows: {mixed}")
    if len({arm["bytes_seen"] for arm in rows}) > 1:
        raise SystemExit("arms saw different numbers of bytes: not a comparison")
    reference = next((a["flops_per_byte"] for a in rows if a["name"] == "hnet"), rows[0]["flops_per_byte"])
    arms = {}
    for arm in rows:
        entry = arms.setdefault(arm["name"], {
            "parameters": arm["parameters"], "flops_per_byte": arm["flops_per_byte"],
            "flops_ratio": arm["flops_per_byte"] / reference, "bytes_seen": arm["bytes_seen"],
            "seeds": [], "held_out_bits_per_base": [], "val_bits_per_base": [], "train_seconds": [],
            "held_out_compression": [], "curves": {}})
        entry["seeds"].append(arm["seed"])
        entry["held_out_bits_per_base"].append(arm["held_out_bits_per_unit"])
        entry["val_bits_per_base"].append(arm["val_bits_per_unit"])
        entry["train_seconds"].append(round(arm["train_seconds"], 1))
        entry["held_out_compression"].append(arm["held_out_compression"])
        entry["curves"][f"seed{arm['seed']}"] = [[p["step"], p["bytes"], round(p["seconds"], 1), p["bits_per_unit"]]
                                                 for p in arm["curve"]]
    for entry in arms.values():
        scores = [s for s in entry["held_out_bits_per_base"] if s is not None]
        entry["held_out_mean"] = statistics.fmean(scores) if scores else None
        entry["held_out_spread"] = max(scores) - min(scores) if len(scores) > 1 else None
    yardstick = next((r["yardstick"] for r in reports if r.get("yardstick")), None)
    return {"arms": arms, "yardstick": yardstick and {k: yardstick[k] for k in ("model", "bits_per_unit", "fit_bytes")
                                                      if k in yardstick},
            "held_out": reports[0].get("held_out"), "paths": reports[0].get("paths")}


def record_configuration(results_path: Path, config: str, entry: dict) -> None:
    """Keep `entry` under `config` in the results file, beside the configurations recorded before."""
    results = json.loads(results_path.read_text()) if results_path.is_file() else {}
    results.setdefault("about", "hnet compare on real bacterial genomes, one entry per configuration tried; "
                                "see bench/RESULTS.md")
    results.setdefault("configurations", {})[config] = entry
    results_path.parent.mkdir(parents=True, exist_ok=True)
    results_path.write_text(json.dumps(results, indent=2) + "\n")


def recorded_configuration(results_path: Path, config: str) -> dict:
    """The configuration recorded under `config`; a one-line exit when there is none."""
    results = json.loads(results_path.read_text()) if results_path.is_file() else {}
    entry = results.get("configurations", {}).get(config)
    if entry is None:
        raise SystemExit(f"{results_path}: no configuration {config!r} recorded")
    return entry


def add_arms(existing: dict, merged: dict) -> dict:
    """`existing` (a recorded configuration) with `merged`'s arms added: same files, same bytes, new names.

    For arms run later than the rest of a configuration (another recipe arm on the
    same data and seeds); FLOPs are re-expressed against the recorded hnet arm.
    """
    for key in ("held_out", "paths"):
        if existing.get(key) != merged.get(key):
            raise SystemExit(f"the new arms read other {key} files than the recorded configuration: not a comparison")
    clash = set(existing["arms"]) & set(merged["arms"])
    if clash:
        raise SystemExit(f"arms already recorded in this configuration: {', '.join(sorted(clash))}")
    recorded_bytes = {a["bytes_seen"] for a in existing["arms"].values()}
    if {a["bytes_seen"] for a in merged["arms"].values()} != recorded_bytes:
        raise SystemExit("the new arms saw a different number of bytes than the recorded ones: not a comparison")
    reference = existing["arms"].get("hnet", next(iter(existing["arms"].values())))["flops_per_byte"]
    out = dict(existing, arms=dict(existing["arms"]))
    for name, arm in merged["arms"].items():
        out["arms"][name] = dict(arm, flops_ratio=arm["flops_per_byte"] / reference)
    return out


def title_of(config: str, entry: dict) -> str:
    """The figure's title: the configuration, its machine's first words and its date."""
    machine = entry.get("machine", "").split(",")[0]
    return f"{config}: {machine}, {entry.get('date', '')}"


def plot_configuration(entry: dict, out: Path, title: str, arms: list[str] | None = None) -> Path:
    """Draw a recorded configuration's validation curves with hnet compare's own figure (every seed, one colour per arm)."""
    from types import SimpleNamespace

    from hnet_cli.compare.plot import plot_curves
    from hnet_cli.compare.records import CurvePoint

    runs = []
    for name, arm in entry["arms"].items():
        if arms and name not in arms:
            continue
        for seed, points in sorted(arm["curves"].items()):
            curve = [CurvePoint(step=st, bytes=b, seconds=sec, bits_per_unit=bits, bpb=bits)
                     for st, b, sec, bits in points]
            runs.append(SimpleNamespace(name=name, seed=seed, curve=curve))
    return plot_curves(runs, out, unit="base", title=title)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("reports", nargs="*", type=Path,
                        help="hnet compare --json outputs (none with --plot: draw the recorded --config)")
    parser.add_argument("--config", required=True, help="this configuration's key in --results")
    parser.add_argument("--machine", default="")
    parser.add_argument("--note", default="")
    parser.add_argument("--command", default="", help="the hnet compare command each process ran")
    parser.add_argument("--date", default=datetime.date.today().isoformat())
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "results" / "dna-compare.json")
    parser.add_argument("--add", action="store_true",
                        help="add these arms to the configuration already recorded under --config "
                             "(same files and bytes) instead of replacing it; --note is appended to its note")
    parser.add_argument("--plot", type=Path, help="also draw the configuration's validation curves into this PNG")
    parser.add_argument("--plot-arms", help="comma-separated arms to draw (default: all)")
    args = parser.parse_args()
    plot_arms = args.plot_arms.split(",") if args.plot_arms else None

    if not args.reports:
        if not args.plot:
            parser.error("give hnet compare --json outputs, or --plot to draw a recorded configuration")
        recorded = recorded_configuration(args.results, args.config)
        plot_configuration(recorded, args.plot, title_of(args.config, recorded), plot_arms)
        return
    merged = merge([json.loads(p.read_text()) for p in args.reports])
    if args.add:
        entry = add_arms(recorded_configuration(args.results, args.config), merged)
        if args.note:
            entry["note"] = f"{entry.get('note', '')}; {args.date}: {args.note}".lstrip("; ")
        merged = entry
    else:
        merged = {"date": args.date, "machine": args.machine, "note": args.note, "command": args.command} | merged
    record_configuration(args.results, args.config, merged)
    if args.plot:
        plot_configuration(merged, args.plot, title_of(args.config, merged), plot_arms)

    print("| arm | parameters | FLOPs vs hnet | held-out bits/base by seed | mean | spread | train s |")
    print("| --- | ---: | ---: | --- | ---: | ---: | ---: |")
    for name, a in sorted(merged["arms"].items(), key=lambda kv: kv[1]["held_out_mean"] or 99):
        seeds = " / ".join(f"{s:.4f}" for s in a["held_out_bits_per_base"])
        spread = "-" if a["held_out_spread"] is None else f"{a['held_out_spread']:.4f}"
        print(f"| {name} | {a['parameters']:,} | {a['flops_ratio']:.3f} | {seeds} | {a['held_out_mean']:.4f} | "
              f"{spread} | {statistics.fmean(a['train_seconds']):.0f} |")
    if merged["yardstick"]:
        print(f"| yardstick ({merged['yardstick']['model']}) | | | | {merged['yardstick']['bits_per_unit']:.4f} | | |")


if __name__ == "__main__":
    main()

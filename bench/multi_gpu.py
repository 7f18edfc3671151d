"""Multi-GPU training as users run it: `torchrun ... -m hnet_cli train` on two GPUs of one host (issue 18).

    python bench/multi_gpu.py --data DH1.fasta.gz MG1655-K12.fasta.gz COL.fasta.gz H1.fasta.gz
    python bench/multi_gpu.py --device cpu          # tiny recipes, gloo: checks the script, measures nothing

Every figure comes from the real command (`python -m hnet_cli train` for one GPU,
`torchrun --standalone --nproc_per_node 2 -m hnet_cli train` for two, NCCL with
NVLink multicast off: NCCL_NVLS_ENABLE=0) and its metrics.jsonl. Parts:

- small: recipe `small` for 200 steps on 1 GPU (grad_accum 2) and on 2 GPUs (DDP,
  grad_accum 1): the same global batch, so the same data in the same order and
  the same objective. Gives `ddp_scaling_small` (2-GPU bytes/s over 1-GPU bytes/s,
  steady state after warm-up) and the curve comparison (`curve_max_abs_diff`: the
  largest |loss difference| of one step over the 200; also 10-step means and the
  final validation bits per byte).
- L: recipe `hnet-1stage-L` for a few steps on 1 GPU (grad_accum 2), 2 GPUs DDP
  and 2 GPUs FSDP (train.parallel=fsdp): `ddp_scaling_L`, `fsdp_vs_ddp_L`.
- kill: the 2-GPU run of `small` again, one rank SIGKILLed half-way between its
  first and second checkpoints; then `--resume` on 2 GPUs and (a copy) on 1 GPU, each up to the
  next checkpoint step. Checked: every step logged once, and the data position
  at the end equal to the uninterrupted 2-GPU run's at the same step (no batch
  missing or repeated); the loss differences to that run are recorded.

Steady throughput = bytes over seconds of training steps from the run's own clock
(metrics.jsonl `bytes`, `time`) after the warm-up steps (compilation, autotuning).
The global batch is the same on 1 and 2 GPUs, so the scaling figure is strong
scaling, and the 1-GPU run amortises its optimizer step over two micro-batches.

Time: the whole benchmark is held to --budget-s (default 570 s). Finished parts
are kept in the results file, and the finished runs of a part cut short in
--workdir; what does not fit is left for the next call, which finds the compile caches of the first (~/.cache/hnet)
warm. Results: bench/results/multi-gpu.json (GPU); --device cpu writes to
--workdir unless --out is given, so CPU figures never pass for GPU results.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HNET = [sys.executable, "-m", "hnet_cli"]
TORCHRUN_2 = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "hnet_cli"]
PARTS = ("small", "L", "kill")
DONE = "bench-run.json"  # beside a finished run's files: its arguments and summary

# Per device: the two recipes, settings that keep them to the time budget, and the run lengths.
# On the CPU the recipes are tiny stand-ins: the point there is that every path runs.
PLANS = {
    "cuda": {
        "small": "small", "L": "hnet-1stage-L", "domain": "dna",
        "small_steps": 200, "small_warmup": 20, "L_steps": 13, "L_warmup": 3, "checkpoint_every": 50,
        "settings": ["train.eval_bytes=1048576"],
    },
    "cpu": {
        "small": "tiny", "L": "tiny-2stage", "domain": "dna",
        "small_steps": 20, "small_warmup": 4, "L_steps": 6, "L_warmup": 2, "checkpoint_every": 5,
        "settings": ["train.seq_len=256", "train.batch_size=2", "train.eval_bytes=4096", "train.shuffle_docs=16",
                     "train.shuffle_rows=16"],
    },
}
# The curve comparison's tolerance (stated, bf16 on GPUs): 10-step means of the two curves within
# CURVE_MEAN_TOL nats at every point, final validation within VAL_TOL bits per byte (acceptance 1).
CURVE_MEAN_TOL = 0.02
VAL_TOL = 0.01


class OutOfTime(Exception):
    pass


class Bench:
    def __init__(self, args):
        self.args = args
        self.plan = PLANS[args.device]
        self.deadline = time.monotonic() + args.budget_s
        self.work = Path(args.workdir).resolve()
        self.work.mkdir(parents=True, exist_ok=True)
        self.out = Path(args.out) if args.out else (ROOT / "bench/results/multi-gpu.json" if args.device == "cuda"
                                                    else self.work / "multi-gpu-cpu-check.json")
        self.results = self._previous()
        self.continuing = False  # set per part: it was left unfinished by the previous call

    # ---- running the command ---------------------------------------------------------------
    def env(self, gpus: int) -> dict:
        env = {**os.environ, "NCCL_NVLS_ENABLE": "0", "PYTHONUNBUFFERED": "1"}
        if self.args.device == "cuda":
            env["CUDA_VISIBLE_DEVICES"] = ",".join(self.args.gpus.split(",")[:gpus])
        else:
            env["OMP_NUM_THREADS"] = "1"
        return env

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def train_args(self, recipe: str, run_dir: Path, steps: int, *settings: str) -> list[str]:
        sets = [*self.plan["settings"], "train.log_every=1", *settings, *self.args.set]
        return ["train", "--domain", self.plan["domain"], *self.args.data, "--recipe", recipe, "--out", str(run_dir),
                "--force", "--steps", str(steps), "--device", self.args.device, "--json", "-q",
                *[x for s in sets for x in ("--set", s)]]

    def launch(self, gpus: int, args: list[str]) -> subprocess.Popen:
        cmd = (HNET if gpus == 1 else TORCHRUN_2) + args
        print("$ " + " ".join(cmd), flush=True)
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=self.env(gpus),
                                cwd=ROOT, start_new_session=True)

    def finish(self, proc: subprocess.Popen, what: str) -> tuple[float, str]:
        """Wait for `proc` within the budget; (seconds, stdout). Raises OutOfTime or RuntimeError."""
        t0 = time.monotonic()
        try:
            out, err = proc.communicate(timeout=max(1.0, self.remaining()))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise OutOfTime(f"{what}: stopped at the time budget") from None
        if proc.returncode != 0:
            raise RuntimeError(f"{what} failed (exit {proc.returncode}): {err.strip()[-1500:]}")
        return time.monotonic() - t0, out

    def train(self, gpus: int, args: list[str], what: str, reuse: bool = True) -> dict:
        """Run `hnet train`. Continuing a part that the previous call left unfinished, a run it
        finished with the same arguments is reused."""
        record = Path(args[args.index("--out") + 1]) / DONE if "--out" in args else None
        if reuse and self.continuing and record is not None and record.is_file():
            done = json.loads(record.read_text())
            if done.get("gpus") == gpus and done.get("args") == args:
                print(f"{what}: finished earlier, reused", flush=True)
                return done["result"]
        seconds, out = self.finish(self.launch(gpus, args), what)
        result = {"seconds": round(seconds, 1), "summary": json.loads(out) if out.strip() else {}}
        if record is not None:
            record.write_text(json.dumps({"gpus": gpus, "args": args, "result": result}) + "\n")
        return result

    # ---- the parts -----------------------------------------------------------------------------
    def part_small(self) -> dict:
        plan, steps = self.plan, self.plan["small_steps"]
        common = ["train.schedule=constant", "train.warmup=20", f"train.eval_every={steps}",
                  f"train.checkpoint_every={plan['checkpoint_every']}", "train.keep_checkpoints=1000"]
        one = self.train(1, self.train_args(plan["small"], self.work / "small-1gpu", steps, *common,
                                            "train.grad_accum=2"), "small, 1 GPU")
        two = self.train(2, self.train_args(plan["small"], self.work / "small-2gpu", steps, *common), "small, 2 GPUs")
        d1, d2 = self.work / "small-1gpu", self.work / "small-2gpu"
        m1, m2 = metrics(d1), metrics(d2)
        r1, r2 = steady_rate(m1, plan["small_warmup"]), steady_rate(m2, plan["small_warmup"])
        curve = compare_curves(m1, m2, validations(d1), validations(d2))
        return {
            "recipe": plan["small"], "steps": steps, "rows_per_step": rows_per_step(self.work / "small-2gpu"),
            "one_gpu": {**one, **r1}, "two_gpus_ddp": {**two, **r2},
            "ddp_scaling": r2["bytes_per_s"] / r1["bytes_per_s"], "curve": curve,
        }

    def part_L(self) -> dict:
        plan, steps = self.plan, self.plan["L_steps"]
        common = [f"train.eval_every={10 * steps}", f"train.checkpoint_every={10 * steps}", "train.keep_checkpoints=1"]
        runs = {}
        for tag, gpus, extra in (("one_gpu", 1, ["train.grad_accum=2"]), ("two_gpus_ddp", 2, []),
                                 ("two_gpus_fsdp", 2, ["train.parallel=fsdp"])):
            run_dir = self.work / f"L-{tag}"
            done = self.train(gpus, self.train_args(plan["L"], run_dir, steps, *common, *extra), f"L, {tag}")
            runs[tag] = {**done, **steady_rate(metrics(run_dir), plan["L_warmup"])}
            shutil.rmtree(run_dir / "checkpoints", ignore_errors=True)  # gigabytes; nothing reads them
        rate = {k: v["bytes_per_s"] for k, v in runs.items()}
        return {"recipe": plan["L"], "steps": steps, **runs,
                "ddp_scaling": rate["two_gpus_ddp"] / rate["one_gpu"],
                "fsdp_vs_ddp": rate["two_gpus_fsdp"] / rate["two_gpus_ddp"]}

    def part_kill(self) -> dict:
        plan, K = self.plan, self.plan["checkpoint_every"]
        reference = self.work / "small-2gpu"
        if not (reference / "checkpoints").is_dir():
            raise RuntimeError("the kill check compares with the uninterrupted 2-GPU run of part small: run it first")
        steps = plan["small_steps"]
        common = ["train.schedule=constant", "train.warmup=20", f"train.eval_every={steps}",
                  f"train.checkpoint_every={K}", "train.keep_checkpoints=1000"]
        cut, copy = self.work / "kill-2gpu", self.work / "kill-then-1gpu"
        for stale in (cut, copy):  # an earlier call's LATEST must not be taken for this run's
            shutil.rmtree(stale, ignore_errors=True)
        proc = self.launch(2, self.train_args(plan["small"], cut, steps, *common))
        killed_pid = None
        while proc.poll() is None and self.remaining() > 0:
            # Half-way to the next checkpoint: the steps after the first one are lost and redone.
            if latest_step(cut) >= K and last_logged_step(cut) >= K + max(1, K // 2):
                killed_pid = rank_pid(proc.pid, rank=1)
                if killed_pid is not None:
                    os.kill(killed_pid, signal.SIGKILL)
                    break
            time.sleep(0.05)
        try:
            proc.communicate(timeout=max(1.0, min(120.0, self.remaining())))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise OutOfTime("kill: torchrun did not stop after one rank was killed") from None
        if killed_pid is None:
            raise RuntimeError(f"kill: the run ended (exit {proc.returncode}) before rank 1 could be killed")
        killed_at = latest_step(cut)
        end = (killed_at // K + 1) * K  # the next checkpoint step, where the reference run saved its position
        shutil.copytree(cut, copy)
        result = {"killed_rank": 1, "torchrun_exit": proc.returncode, "resumed_from_step": killed_at, "resumed_to": end,
                  "steps_logged_before_kill": len(metrics(cut))}
        for tag, gpus, run_dir in (("two_gpus", 2, cut), ("one_gpu", 1, copy)):
            done = self.train(gpus, ["train", "--resume", str(run_dir), "--steps", str(end), "--device",
                                     self.args.device, "--json", "-q"], f"resume on {tag}")
            result[tag] = {**done, **check_resumed(run_dir, reference, killed_at, end)}
        result["ok"] = all(result[t]["every_step_once"] and result[t]["same_data_position"]
                           for t in ("two_gpus", "one_gpu"))
        return result

    # ---- results ------------------------------------------------------------------------------
    def _previous(self) -> dict:
        if self.args.fresh or not self.out.is_file():
            return {}
        try:
            previous = json.loads(self.out.read_text())
        except (OSError, json.JSONDecodeError):
            return {}
        return previous if previous.get("device_kind") == self.args.device else {}

    def save(self) -> None:
        import torch

        r = self.results
        r.update({"device_kind": self.args.device, "torch": torch.__version__, "nccl_nvls_enable": "0",
                  "data": [os.path.basename(p) for p in self.args.data] or ["(bundled)"]})
        if self.args.device == "cuda" and torch.cuda.is_available():
            r["device"] = f"{torch.cuda.device_count()} x {torch.cuda.get_device_name(0)}"
        if "small" in r:
            r["ddp_scaling_small"] = r["small"]["ddp_scaling"]
            r["curve_max_abs_diff"] = r["small"]["curve"]["max_abs_diff"]
        if "L" in r:
            r["ddp_scaling_L"] = r["L"]["ddp_scaling"]
            r["fsdp_vs_ddp_L"] = r["L"]["fsdp_vs_ddp"]
        if "kill" in r:
            r["kill_resume_ok"] = r["kill"]["ok"]
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.out.write_text(json.dumps(r, indent=1) + "\n")

    def run(self, parts: list[str]) -> None:
        for part in parts:
            if part in self.results and not self.args.again:
                print(f"{part}: kept from {self.results[part].get('date')} (--again measures it anew)", flush=True)
                continue
            unfinished = self.results.setdefault("unfinished", [])
            if self.remaining() < 30:
                print(f"{part}: left for the next call (time budget)", flush=True)
                continue
            self.continuing = part in unfinished
            try:
                found = getattr(self, f"part_{part}")()
            except OutOfTime as exc:
                print(f"{part}: {exc}; run again to finish (the compile caches are warm now)", flush=True)
                if part not in unfinished:
                    unfinished.append(part)
                self.results.pop(part, None)
                self.save()
                continue
            except RuntimeError as exc:
                print(f"{part}: FAILED: {exc}", flush=True)
                self.results.setdefault("failed", {})[part] = str(exc)
                self.save()
                continue
            found["date"] = datetime.date.today().isoformat()
            self.results[part] = found
            self.results.get("failed", {}).pop(part, None)
            if part in unfinished:
                unfinished.remove(part)
            self.save()
        print_table(self.results)
        print(f"results: {self.out}")


# ---- reading runs ---------------------------------------------------------------------------------
def records(run_dir: Path) -> list[dict]:
    """Every complete record of the run's metrics.jsonl, in order."""
    out = []
    path = run_dir / "metrics.jsonl"
    for line in path.read_text().splitlines() if path.is_file() else []:
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


def metrics(run_dir: Path) -> list[dict]:
    """The run's training records, one per step (the last written wins)."""
    rows = {r["step"]: r for r in records(run_dir) if r.get("kind") == "train"}
    return [rows[s] for s in sorted(rows)]


def validations(run_dir: Path) -> dict[int, float]:
    return {r["step"]: r["val_bpb"] for r in records(run_dir) if r.get("kind") == "val"}


def steady_rate(rows: list[dict], warmup: int) -> dict:
    """Bytes per second of training steps after the first `warmup` steps (the run's own clock)."""
    if len(rows) <= warmup + 1:
        raise RuntimeError(f"only {len(rows)} steps logged; need more than {warmup + 1}")
    a, b = rows[warmup - 1] if warmup else {"bytes": 0, "time": 0.0}, rows[-1]
    seconds = b["time"] - a["time"]
    n = b["step"] - (a.get("step") or 0)
    return {"bytes_per_s": (b["bytes"] - a["bytes"]) / seconds, "step_ms": 1e3 * seconds / n, "timed_steps": n,
            "bytes_per_step": (b["bytes"] - a["bytes"]) // n}


def rows_per_step(run_dir: Path) -> int | None:
    recipe = json.loads((run_dir / "recipe.json").read_text())["train"]
    info = json.loads((run_dir / "run.json").read_text())
    return recipe["batch_size"] * recipe["grad_accum"] * info["world_size"]


def compare_curves(one: list[dict], two: list[dict], va: dict[int, float], vb: dict[int, float]) -> dict:
    a = {r["step"]: r["loss"] for r in one}
    b = {r["step"]: r["loss"] for r in two}
    steps = sorted(set(a) & set(b))
    diffs = [abs(a[s] - b[s]) for s in steps]
    window = 10
    means = [abs(sum(a[s] for s in steps[i:i + window]) - sum(b[s] for s in steps[i:i + window])) / window
             for i in range(0, len(steps) - window + 1, window)]
    last = max(set(va) & set(vb)) if set(va) & set(vb) else None
    val_diff = abs(va[last] - vb[last]) if last is not None else None
    return {
        "steps_compared": len(steps), "max_abs_diff": max(diffs), "first_step_diff": diffs[0],
        "mean_abs_diff_last_50": sum(diffs[-50:]) / len(diffs[-50:]),
        "max_abs_diff_10_step_means": max(means) if means else None, "tolerance_10_step_means": CURVE_MEAN_TOL,
        "final_loss": [a[steps[-1]], b[steps[-1]]], "val_step": last,
        "val_bpb": [va.get(last), vb.get(last)], "val_bpb_abs_diff": val_diff, "val_tolerance": VAL_TOL,
        "agree": bool(means) and max(means) <= CURVE_MEAN_TOL and val_diff is not None and val_diff <= VAL_TOL,
    }


def latest_step(run_dir: Path) -> int:
    try:
        return int((run_dir / "checkpoints" / "LATEST").read_text().split("_")[1])
    except (OSError, ValueError, IndexError):
        return 0


def last_logged_step(run_dir: Path) -> int:
    try:
        with open(run_dir / "metrics.jsonl", "rb") as f:
            f.seek(max(0, f.seek(0, 2) - 4096))
            lines = f.read().decode(errors="replace").splitlines()
    except OSError:
        return 0
    for line in reversed(lines):
        try:
            return int(json.loads(line).get("step", 0))
        except (json.JSONDecodeError, ValueError, TypeError):
            continue
    return 0


def data_position(run_dir: Path, step: int) -> dict | None:
    path = run_dir / "checkpoints" / f"step_{step:06d}" / "state.json"
    return json.loads(path.read_text())["data"] if path.is_file() else None


def check_resumed(run_dir: Path, reference: Path, killed_at: int, end: int) -> dict:
    """Every step once, and the data position at `end` equal to the uninterrupted run's."""
    rows_steps = [r["step"] for r in records(run_dir) if r.get("kind") == "train"]
    mine, ref = data_position(run_dir, end), data_position(reference, end)
    a = {r["step"]: r["loss"] for r in metrics(run_dir)}
    b = {r["step"]: r["loss"] for r in metrics(reference)}
    after = [abs(a[s] - b[s]) for s in range(killed_at + 1, end + 1) if s in a and s in b]
    return {"every_step_once": rows_steps == list(range(1, end + 1)), "data_position": mine,
            "reference_data_position": ref, "same_data_position": mine is not None and mine == ref,
            "max_abs_loss_diff_after_resume": max(after) if after else None,
            "first_resumed_step_loss_diff": after[0] if after else None}


def rank_pid(parent: int, rank: int) -> int | None:
    """The process below torchrun `parent` whose environment says RANK=rank (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    todo = list(children.get(parent, []))
    while todo:
        pid = todo.pop()
        try:
            env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"RANK={rank}".encode() in env and f"LOCAL_RANK={rank}".encode() in env:
            return pid
        todo += children.get(pid, [])
    return None


# ---- the table ------------------------------------------------------------------------------------
def print_table(r: dict) -> None:
    def fmt(x, spec=".3g"):
        return "-" if x is None else format(x, spec)

    lines = ["| what | figure | target |", "| --- | ---: | ---: |"]
    if "small" in r:
        s = r["small"]
        c = s["curve"]
        lines += [
            f"| `{s['recipe']}` 1 GPU (grad_accum 2) | {fmt(s['one_gpu']['bytes_per_s'] / 1e3, ',.0f')} kB/s | |",
            f"| `{s['recipe']}` 2 GPUs DDP, same global batch | {fmt(s['two_gpus_ddp']['bytes_per_s'] / 1e3, ',.0f')} kB/s | |",
            f"| DDP scaling, `{s['recipe']}` | **{fmt(s['ddp_scaling'], '.2f')}x** | >= 1.85x |",
            f"| curve, {c['steps_compared']} steps: max abs loss diff (one step) | {fmt(c['max_abs_diff'], '.4f')} | |",
            f"| curve: max abs diff of 10-step means | {fmt(c['max_abs_diff_10_step_means'], '.4f')} | "
            f"<= {c['tolerance_10_step_means']} |",
            f"| final validation bits/byte, 1 GPU vs 2 GPUs | {fmt(c['val_bpb'][0], '.4f')} vs "
            f"{fmt(c['val_bpb'][1], '.4f')} (diff {fmt(c['val_bpb_abs_diff'], '.4f')}) | <= {c['val_tolerance']} |",
        ]
    if "L" in r:
        L = r["L"]
        lines += [
            f"| `{L['recipe']}` 1 GPU (grad_accum 2) | {fmt(L['one_gpu']['bytes_per_s'] / 1e3, ',.0f')} kB/s | |",
            f"| `{L['recipe']}` 2 GPUs DDP | {fmt(L['two_gpus_ddp']['bytes_per_s'] / 1e3, ',.0f')} kB/s | |",
            f"| `{L['recipe']}` 2 GPUs FSDP | {fmt(L['two_gpus_fsdp']['bytes_per_s'] / 1e3, ',.0f')} kB/s | |",
            f"| DDP scaling, `{L['recipe']}` | **{fmt(L['ddp_scaling'], '.2f')}x** | >= 1.85x |",
            f"| FSDP / DDP, `{L['recipe']}` | **{fmt(L['fsdp_vs_ddp'], '.2f')}** | >= 0.90 |",
        ]
    if "kill" in r:
        k = r["kill"]
        for tag in ("two_gpus", "one_gpu"):
            t = k[tag]
            lines.append(f"| SIGKILL rank 1, resume on {tag.replace('_', ' ')}: step {k['resumed_from_step']} -> "
                         f"{k['resumed_to']} | every step once: {t['every_step_once']}, same data position: "
                         f"{t['same_data_position']}, max loss diff {fmt(t['max_abs_loss_diff_after_resume'], '.4f')} "
                         f"| no missing or repeated data |")
    for part, why in r.get("failed", {}).items():
        lines.append(f"| {part} | FAILED: {why.splitlines()[0][:120]} | |")
    if r.get("unfinished"):
        lines.append(f"| not finished (time budget): {', '.join(r['unfinished'])} | run again to finish | |")
    print("\n".join(lines))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", nargs="*", default=[],
                   help="FASTA/FASTQ files to train on (dna); on the CPU the bundled genome when none")
    p.add_argument("--device", choices=("cuda", "cpu"), default="cuda",
                   help="cuda: the benchmark; cpu: tiny recipes over gloo, to check that every path runs")
    p.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated, of {', '.join(PARTS)}")
    p.add_argument("--gpus", default="0,1", help="the two GPUs (CUDA_VISIBLE_DEVICES order; the first serves 1-GPU runs)")
    p.add_argument("--budget-s", type=float, default=570,
                   help="seconds for the whole call; a run still going then is stopped and left for the next call")
    p.add_argument("--workdir", default=str(ROOT / "bench/.multi-gpu"), help="run directories (kept between calls)")
    p.add_argument("--out", help="results file (default bench/results/multi-gpu.json on GPUs; WORKDIR on the CPU)")
    p.add_argument("--again", action="store_true", help="measure anew the parts the results file holds")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a recipe setting for every run (hnet train --set), e.g. train.compile=off")
    p.add_argument("--fresh", action="store_true", help="ignore the results file (and runs kept for unfinished parts)")
    args = p.parse_args()
    args.data = [os.path.abspath(path) for path in args.data]  # the runs start in the repository root
    parts = [x.strip() for x in args.parts.split(",") if x.strip()]
    unknown = [x for x in parts if x not in PARTS]
    if unknown:
        p.error(f"unknown part(s) {', '.join(unknown)}; choose from {', '.join(PARTS)}")
    if args.device == "cuda":
        import torch

        if not args.data:
            p.error("--data: give the genomes to train on (the bundled one is too small for these batches)")

        if torch.cuda.device_count() < 2:
            p.error(f"two GPUs are needed, {torch.cuda.device_count()} visible (use --device cpu to check the script)")
    Bench(args).run(parts)


if __name__ == "__main__":
    main()

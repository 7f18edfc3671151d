"""The commands themselves on one GPU: hnet train, eval, chunk and generate on a real genome.

Runs the installed `hnet` (as `python -m hnet_cli`) the way a user would, times it
from outside and from what the commands report, and prints the table of issue
targets. Writes bench/results/gpu-commands.json.

    python bench/gpu_commands.py --genomes a.fa.gz b.fa.gz --held-out c.fa [--tests-gpu 1]

- train: recipe `small` (or --recipe) on the genomes, H-Net and `--arch transformer`
  (FLOP-matched, same data and flags). First step = wall-clock from the process
  start until metrics.jsonl records step 1 (fresh caches on a fresh machine; a
  second run measures it with caches). Steady bytes/s from the metrics' own clock
  over the steps after warm-up.
- eval / chunk: the trained H-Net over the held-out genome, whole command timed;
  the steady rate is the marginal one between the held-out file and the same file
  three times over (start-up cancels). eval is also set against a fixed-shape
  forward of the same model over the same windows (in this process).
- generate: batch 1 with a 4 kB prompt (prefill time as reported) and batch 64;
  decoding bytes/s as the command reports it.
- with --text: eval on a real code or text corpus too (e.g. a package of Python's
  standard library), whole command with warm caches.
- GPU tests: pytest of the CUDA tests.

With --two-gpus the training runs on GPU 0 while the tests and then the other
commands (on the H-Net the training wrote) run on GPU 1.
"""

from __future__ import annotations

import argparse
import datetime
import gzip
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HNET = [sys.executable, "-m", "hnet_cli"]
GPU_TESTS = ["tests/test_ops_fast.py", "tests/test_gpu_commands.py"]


def run(cmd, timeout, env=None, poll=None):
    """Run a command; returns (seconds, stdout, stderr, returncode, poll_result)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    seen = None
    if poll is not None:
        while proc.poll() is None and time.perf_counter() - t0 < timeout:
            if seen is None and poll():
                seen = time.perf_counter() - t0
            time.sleep(0.1)
    try:
        out, err = proc.communicate(timeout=max(1, timeout - (time.perf_counter() - t0)))
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    if poll is not None and seen is None and poll():
        seen = time.perf_counter() - t0
    return time.perf_counter() - t0, out.decode(errors="replace"), err.decode(errors="replace"), proc.returncode, seen


def metrics(run_dir: Path) -> list[dict]:
    path = run_dir / "metrics.jsonl"
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            pass
    return [r for r in rows if r.get("kind") == "train"]


def train(args, out: Path, arch: str, steps: int, tag: str) -> dict:
    run_dir = out / tag
    cmd = [*HNET, "train", "--domain", "dna", *args.genomes, "--recipe", args.recipe, "--arch", arch,
           "--steps", str(steps), "--set", "train.log_every=1", "--set", "train.eval_every=100000",
           "--set", "train.checkpoint_every=100000", "--out", str(run_dir), "--force", "--device", args.device, "-q"]
    seconds, _, err, rc, first = run(cmd, args.timeout, poll=lambda: bool(metrics(run_dir)))
    rows = metrics(run_dir)
    result = {"command": " ".join(cmd[2:]), "seconds": seconds, "returncode": rc, "first_step_s": first,
              "steps": len(rows)}
    warm = args.warmup_steps
    if len(rows) > warm + 2:
        a, b = rows[warm], rows[-1]
        result["bytes_per_s"] = (b["bytes"] - a["bytes"]) / (b["time"] - a["time"])
        result["step_ms"] = 1e3 * (b["time"] - a["time"]) / (b["step"] - a["step"])
        result["compression"] = b.get("compression")
    if rc != 0:
        result["error"] = err.strip().splitlines()[-1:] if err.strip() else ["(no message)"]
    return result


def find(obj, key):
    """The first value of `key` anywhere in a JSON tree."""
    if isinstance(obj, dict):
        if key in obj:
            return obj[key]
        obj = list(obj.values())
    if isinstance(obj, list):
        for item in obj:
            got = find(item, key)
            if got is not None:
                return got
    return None


def held_out_files(args, tmp: Path) -> tuple[Path, Path, int, int]:
    """The held-out genome as plain FASTA, and the same three times over (renamed records)."""
    src = Path(args.held_out)
    data = (gzip.open(src) if src.suffix == ".gz" else open(src, "rb")).read()
    data += b"" if data.endswith(b"\n") else b"\n"
    one = tmp / "held_out.fa"
    one.write_bytes(data)
    three = tmp / "held_out_x3.fa"
    three.write_bytes(b"".join(data.replace(b">", f">copy{i}_".encode()) for i in range(3)))
    bases = sum(len(line) for line in data.splitlines() if not line.startswith(b">"))
    return one, three, bases, 3 * bases


def infer(args, model: Path, tmp: Path, save=lambda res: None) -> dict:
    one, three, n1, n3 = held_out_files(args, tmp)
    res = {"held_out_bases": n1, "model": str(model)}
    prompt = tmp / "prompt.txt"
    seq = b"".join(line for line in one.read_bytes().splitlines() if not line.startswith(b">"))
    prompt.write_bytes(seq[:4096])
    # b1 and b64 as a user runs them (400 bytes: the step is captured uncompiled); b1_compiled with
    # the step compiled first (the default from 4096 bytes), to see what compiling buys per byte.
    runs = [("b1", ["-b", "1"]), ("b64", ["-n", "64", "-b", "64"]), ("b1_compiled", ["-b", "1", "--compile"])]
    for tag, extra in runs:
        cmd = [*HNET, "generate", str(model), "-d", "dna", "-p", prompt.read_text(), "--max-bytes", "400",
               "--ignore-eos", "--seed", "1", "--format", "text", "--no-echo", "--device", args.device, *extra]
        seconds, out, err, rc, _ = run(cmd, args.timeout)
        m = re.search(r"decoding ([0-9.]+) bytes/s \(prefill ([0-9.]+) s of (\d+) prompt bytes, set-up ([0-9.]+) s",
                      err)
        res[f"generate_{tag}"] = {
            "seconds": seconds, "returncode": rc,
            "decode_bytes_per_s": float(m.group(1)) if m else None,
            "prefill_s": float(m.group(2)) if m else None, "prompt_bytes": int(m.group(3)) if m else None,
            "setup_s": float(m.group(4)) if m else None,
            **({"error": err.strip().splitlines()[-1:]} if rc != 0 else {}),
        }
        save(res)
    for name, cmd_of in [
        ("eval", lambda f: [*HNET, "eval", str(model), str(f), "--domain", "dna", "--context", "4096", "--json",
                            "-q", "--device", args.device]),
        ("chunk", lambda f: [*HNET, "chunk", "-m", str(model), str(f), "-f", "bed", "-o", str(tmp / "out.bed"),
                             "--json", "-q", "--device", args.device]),
    ]:
        # The first run fills the compile and tuning caches; the marginal rate compares two runs
        # that both find them (otherwise the 3x run, second, pays less start-up than the 1x).
        # Dynamo logs each recompilation (a new shape reaching a compiled block): their count in the
        # 3x run says whether shapes still vary from batch to batch once the caches are warm.
        logged = {**os.environ, "TORCH_LOGS": "recompiles"}
        t0, _, err0, rc0, _ = run(cmd_of(one), args.timeout)
        t1, out1, err1, rc1, _ = run(cmd_of(one), args.timeout)
        t3, out3, err3, rc3, _ = run(cmd_of(three), args.timeout, env=logged)
        # The same 1x run with no compiled code (--no-compile): whether compiling pays at this size.
        tu, _, erru, rcu, _ = run([*cmd_of(one), "--no-compile"], args.timeout)
        entry = {"seconds_first": t0, "seconds_1x": t1, "seconds_3x": t3, "returncode": [rc0, rc1, rc3, rcu],
                 "seconds_1x_uncompiled": tu,
                 "recompiles_3x": err3.count("Recompiling function"),
                 "whole_command_bytes_per_s": n1 / t1,
                 "steady_bytes_per_s": (n3 - n1) / (t3 - t1) if t3 > t1 else None}
        if name == "eval" and rc1 == 0:
            report = json.loads(out1)
            entry["reported_bytes_per_s"] = find(report, "bytes_per_second")
            entry["bpb"] = find(report, "bpb")
        for rc, err in ((rc0, err0), (rc1, err1), (rc3, err3), (rcu, erru)):
            if rc != 0:
                entry["error"] = err.strip().splitlines()[-1:]
        res[name] = entry
        save(res)
    if args.text:
        res["eval_text"] = eval_text(args, model)
        save(res)
    if args.device.startswith("cuda"):
        res["eval"]["fixed_forward_bytes_per_s"] = fixed_forward_rate(model, one)
    return res


def eval_text(args, model: Path) -> dict:
    """`hnet eval` on a real text or code corpus (twice: the second finds the caches)."""
    cmd = [*HNET, "eval", str(model), args.text, "--domain", args.text_domain, "--json", "-q", "--device", args.device]
    entry = {"command": " ".join(cmd[2:])}
    for key in ("first", "cached"):
        seconds, out, err, rc, _ = run(cmd, args.timeout)
        entry[f"seconds_{key}"], entry[f"returncode_{key}"] = seconds, rc
        if rc == 0:  # the bytes the domain read (its reader skips binaries, caches and other suffixes)
            report = json.loads(out)
            entry["bytes"], entry["reported_bytes_per_s"] = find(report, "bytes"), find(report, "bytes_per_second")
        else:
            entry["error"] = err.strip().splitlines()[-1:]
    if entry["returncode_cached"] == 0:
        entry["whole_command_bytes_per_s"] = entry["bytes"] / entry["seconds_cached"]
    return entry


def fixed_forward_rate(model_path: Path, fasta: Path) -> float | None:
    """Bytes/s of the same model's compiled forward over eval's windows, at one fixed shape (no job around it)."""
    try:
        import torch

        import hnet_cli
        from hnet_cli.eval.windows import default_stride, plan_windows, window_tokens
        from hnet_cli.model.fast import for_inference

        model = hnet_cli.load(model_path, device="cuda").eval()
        seq = b"".join(line for line in fasta.read_bytes().splitlines() if not line.startswith(b">"))
        windows = plan_windows(len(seq), 4096, default_stride(4096))
        ids = torch.stack([window_tokens(seq, w) for w in windows if w.length == 4096]).cuda()
        fast = for_inference(model, torch.device("cuda"), 8 * 4096)
        mask = torch.ones(8, 4096, dtype=torch.bool, device="cuda")
        with torch.inference_mode(), torch.autocast("cuda", dtype=torch.bfloat16):
            for _ in range(3):
                fast(ids[:8], mask=mask)
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            for i in range(0, len(ids) - 7, 8):
                fast(ids[i:i + 8], mask=mask)
            torch.cuda.synchronize()
        scored = (len(ids) // 8) * 8 * default_stride(4096)  # each window scores `stride` new bytes
        return scored / (time.perf_counter() - t0)
    except Exception as exc:  # reported, not fatal: the command figures stand on their own
        print(f"fixed-shape forward: {exc!r}", file=sys.stderr)
        return None


def gpu_tests(gpu: str | None, timeout: float, workers: int = 4) -> dict:
    """The CUDA tests as README's GPU section runs them: `workers` pytest processes share the GPU
    (most of their time is compiling on the host's cores)."""
    env = dict(os.environ)
    if gpu is not None:
        env["CUDA_VISIBLE_DEVICES"] = gpu
    parallel = ["-n", str(workers)] if workers > 1 else []
    seconds, out, err, rc, _ = run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *parallel,
                                    "--durations=10", *GPU_TESTS], timeout, env=env)
    tail = (out + err).strip().splitlines()
    summary = next((line for line in reversed(tail) if re.search(r"passed|failed|error", line)), "")
    count = lambda word: int(m.group(1)) if (m := re.search(rf"(\d+) {word}", summary)) else 0  # noqa: E731
    failures = [line for line in tail if line.startswith(("FAILED", "ERROR"))]
    return {"seconds": seconds, "passed": count("passed"), "failed": count("failed") + count("error"),
            "skipped": count("skipped"), "returncode": rc, "summary": summary, "failures": failures[:20],
            "tail": tail[-40:]}


def table(r: dict) -> str:
    t, i = r.get("train", {}), r.get("infer", {})
    ev, ch = i.get("eval", {}), i.get("chunk", {})
    rows = [
        ("train: first step, fresh machine (s)", r.get("train_first_step_s"), "<= 45"),
        ("train: first step, caches exist (s)", r.get("train_first_step_cached_s"), "<= 15"),
        ("train: H-Net bytes/s", r.get("train_hnet_bytes_per_s"), ""),
        ("train: Transformer bytes/s", r.get("train_transformer_bytes_per_s"), ""),
        ("train: H-Net / Transformer", r.get("train_ratio"), ">= 0.8"),
        ("eval: bytes/s (steady)", r.get("eval_bytes_per_s"), ">= 1e6"),
        ("eval: / fixed-shape forward", r.get("eval_vs_fixed_forward"), ">= 0.6"),
        ("eval 1 MB, whole command, compiled / --no-compile (s)",
         f"{ev.get('seconds_1x')} / {ev.get('seconds_1x_uncompiled')}", ""),
        ("chunk 1 MB, whole command, compiled / --no-compile (s)",
         f"{ch.get('seconds_1x')} / {ch.get('seconds_1x_uncompiled')}", ""),
        ("chunk: bytes/s (steady)", r.get("chunk_bytes_per_s"), ">= 2e6"),
        ("eval on text/code: bytes/s (whole command)", r.get("eval_text_whole_command_bytes_per_s"), ""),
        ("generate b1: bytes/s", r.get("generate_b1_bytes_per_s"), ">= 500"),
        ("generate: 4 kB prefill (s)", r.get("generate_prefill_4kb_s"), "<= 1"),
        ("generate b64: bytes/s", r.get("generate_b64_bytes_per_s"), ">= 10000"),
        ("generate b1, step compiled: bytes/s", r.get("generate_b1_compiled_bytes_per_s"), ""),
        ("generate: first byte, caches exist (s)", r.get("generate_first_byte_cached_s"), ""),
        ("GPU tests passed / failed", f"{r.get('gpu_tests_passed')} / {r.get('gpu_tests_failed')}", "all pass"),
        ("GPU tests (s)", r.get("gpu_tests_seconds"), "<= 360"),
    ]
    fmt = lambda v: (f"{v:,.3g}" if isinstance(v, float) else str(v))  # noqa: E731
    lines = ["| what | measured | target |", "| --- | ---: | ---: |"]
    lines += [f"| {a} | {fmt(b)} | {c} |" for a, b, c in rows]
    del t, i
    return "\n".join(lines)


def train_part(args, work: Path, save=lambda res: None) -> dict:
    res: dict = {}
    if args.skip_train:
        return res
    for key, arch, steps in (("hnet", "hnet", args.steps), ("transformer", "transformer", args.steps),
                             ("hnet_cached", "hnet", 3)):
        res[key] = train(args, work, arch, steps, key)
        save(res)
    return res


def infer_part(args, work: Path, save=lambda res: None) -> dict:
    """GPU tests first (they need no model), then the commands on the H-Net trained by the train part."""
    tests = gpu_tests(None, args.tests_timeout, args.tests_workers) if not args.skip_tests else {}
    save({"tests": tests})
    save_with_tests = lambda res: save({"tests": tests, **res})  # noqa: E731
    if args.infer_model:
        return {"tests": tests, **infer(args, Path(args.infer_model), work, save_with_tests)}
    latest = work / "hnet" / "checkpoints" / "LATEST"
    deadline = time.perf_counter() + args.timeout
    while not latest.exists() and time.perf_counter() < deadline:
        time.sleep(1)
    time.sleep(2)  # the train process finishes writing its run directory
    return {"tests": tests, **infer(args, work / "hnet", work, save_with_tests)}


def summarize(train_res: dict, infer_res: dict, device: str) -> dict:
    r = {"device": device, "date": datetime.date.today().isoformat(), "train": train_res, "infer": infer_res}
    hnet, transformer, cached = (train_res.get(k, {}) for k in ("hnet", "transformer", "hnet_cached"))
    r["train_first_step_s"] = hnet.get("first_step_s")
    r["train_first_step_cached_s"] = cached.get("first_step_s")
    r["train_hnet_bytes_per_s"] = hnet.get("bytes_per_s")
    r["train_transformer_bytes_per_s"] = transformer.get("bytes_per_s")
    if hnet.get("bytes_per_s") and transformer.get("bytes_per_s"):
        r["train_ratio"] = hnet["bytes_per_s"] / transformer["bytes_per_s"]
    ev, ch = infer_res.get("eval", {}), infer_res.get("chunk", {})
    r["eval_bytes_per_s"] = ev.get("steady_bytes_per_s")
    if ev.get("fixed_forward_bytes_per_s") and ev.get("steady_bytes_per_s"):
        r["eval_vs_fixed_forward"] = ev["steady_bytes_per_s"] / ev["fixed_forward_bytes_per_s"]
    r["chunk_bytes_per_s"] = ch.get("steady_bytes_per_s")
    r["eval_text_whole_command_bytes_per_s"] = infer_res.get("eval_text", {}).get("whole_command_bytes_per_s")
    r["generate_b1_bytes_per_s"] = infer_res.get("generate_b1", {}).get("decode_bytes_per_s")
    r["generate_prefill_4kb_s"] = infer_res.get("generate_b1", {}).get("prefill_s")
    r["generate_b64_bytes_per_s"] = infer_res.get("generate_b64", {}).get("decode_bytes_per_s")
    r["generate_b1_compiled_bytes_per_s"] = infer_res.get("generate_b1_compiled", {}).get("decode_bytes_per_s")
    b64 = infer_res.get("generate_b64", {})  # the second generate process: it finds the caches
    if b64.get("prefill_s") is not None and b64.get("setup_s") is not None:
        r["generate_first_byte_cached_s"] = b64["prefill_s"] + b64["setup_s"]
    tests = infer_res.get("tests", {})
    r["gpu_tests_passed"], r["gpu_tests_failed"] = tests.get("passed"), tests.get("failed")
    r["gpu_tests_seconds"] = tests.get("seconds")
    return r


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--genomes", nargs="+", required=True)
    p.add_argument("--held-out", required=True)
    p.add_argument("--text", help="a real text or code corpus (file or folder) for `hnet eval` too")
    p.add_argument("--text-domain", default="code", help="its domain (default code: e.g. Python's standard library)")
    p.add_argument("--recipe", default="small")
    p.add_argument("--steps", type=int, default=25)
    p.add_argument("--warmup-steps", type=int, default=5)
    p.add_argument("--timeout", type=float, default=300, help="seconds allowed to one command")
    p.add_argument("--tests-timeout", type=float, default=420)
    p.add_argument("--out", default="bench/results/gpu-commands.json")
    p.add_argument("--device", default="cuda", help="cuda (the benchmark); cpu only checks that the script runs")
    p.add_argument("--tests-workers", type=int, default=4, help="pytest processes for the GPU tests (1: serial)")
    p.add_argument("--skip-tests", action="store_true")
    p.add_argument("--skip-train", action="store_true")
    p.add_argument("--infer-model", help="run eval/chunk/generate on this model (default: the H-Net trained here)")
    p.add_argument("--two-gpus", action="store_true",
                   help="train on GPU 0 while the tests, then eval/chunk/generate, run on GPU 1")
    p.add_argument("--worker", choices=["train", "infer"], help=argparse.SUPPRESS)
    p.add_argument("--workdir", help=argparse.SUPPRESS)
    args = p.parse_args()

    if args.worker:  # one half of --two-gpus: results go to WORKDIR/<worker>.json
        work = Path(args.workdir)
        save = lambda res: (work / f"{args.worker}.json").write_text(json.dumps(res))  # noqa: E731  (as it goes)
        part = train_part if args.worker == "train" else infer_part
        save(part(args, work, save))
        return 0

    import torch

    device = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else "cpu"
    with tempfile.TemporaryDirectory(prefix="hnet-gpu-bench-") as tmp:
        work = Path(tmp)
        if args.two_gpus:
            base = [sys.executable, __file__, *sys.argv[1:], "--workdir", str(work)]
            procs = [subprocess.Popen([*base, "--worker", w], env={**os.environ, "CUDA_VISIBLE_DEVICES": gpu})
                     for w, gpu in (("train", "0"), ("infer", "1"))]
            for proc in procs:
                proc.wait()
            load = lambda w: json.loads((work / f"{w}.json").read_text()) if (work / f"{w}.json").exists() else {}  # noqa: E731
            train_res, infer_res = load("train"), load("infer")
        else:
            # Results are written as each command finishes, so a call cut short keeps what it measured.
            parts = {"train": {}, "infer": {}}

            def saver(key):
                def save(res):
                    parts[key] = res
                    write_result(args.out, summarize(parts["train"], parts["infer"], device))
                    print(f"[{key}] {', '.join(sorted(res))} done", file=sys.stderr, flush=True)
                return save

            train_res = train_part(args, work, saver("train"))
            infer_res = infer_part(args, work, saver("infer"))
    result = summarize(train_res, infer_res, device)
    print(table(result))
    write_result(args.out, result)
    return 0


def write_result(path: str, result: dict) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())

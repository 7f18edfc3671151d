"""Markdown tables of benchmark rows (for the terminal, RESULTS.md and CI logs)."""

from __future__ import annotations


def _fmt(v, digits=3):
    if isinstance(v, float):
        if abs(v) >= 1e5:
            return f"{v:,.0f}"
        return f"{v:.{digits}g}" if abs(v) < 100 else f"{v:,.1f}"
    if isinstance(v, list):
        return "[" + ", ".join(_fmt(x, digits) for x in v) + "]"
    return str(v)


def table(rows: list[dict], columns: list[tuple[str, str]]) -> str:
    """columns: (key, heading) pairs; missing keys print as '-'."""
    lines = ["| " + " | ".join(h for _, h in columns) + " |", "|" + "---|" * len(columns)]
    for r in rows:
        lines.append("| " + " | ".join(_fmt(r[k]) if k in r and r[k] is not None else "-" for k, _ in columns) + " |")
    return "\n".join(lines)


def render(rows: list[dict]) -> str:
    by = lambda s: [r for r in rows if r.get("section") == s and "error" not in r and "skipped" not in r]  # noqa: E731
    parts = []
    for r in by("device"):
        parts.append(f"GPU: {r['gpu']} ({r['memory_gib']} GiB, {r['multiprocessors']} SMs), torch {r['torch']}, CUDA {r['cuda']}")
    for r in by("peak"):
        parts.append(f"Measured ceilings: bf16 matmul 8192^3 {r['bf16_matmul_tflops']:.0f} TFLOP/s; "
                     f"device copy {r['copy_tb_s']:.2f} TB/s (read + write)")
    if by("kernels"):
        parts.append("### Kernels (forward + backward)\n\n" + table(by("kernels"), [
            ("op", "op"), ("shape", "shape"), ("fwd_ms", "fwd ms"), ("fwd_bwd_ms", "fwd+bwd ms"), ("tflops", "TFLOP/s")]))
    if by("train"):
        parts.append("### Training\n\n" + table(by("train"), [
            ("name", "model"), ("params_m", "params M"), ("batch", "batch"), ("seq_len", "seq"),
            ("compression", "L_{s+1}/L_s"), ("chunk_slots", "chunk slots"), ("step_ms", "step ms"),
            ("bytes_per_s", "bytes/s"), ("fwd_flops_per_byte", "fwd FLOPs/byte"), ("train_tflops", "TFLOP/s"),
            ("mfu", "MFU"), ("peak_mem_gib", "peak GiB"), ("tf32", "TF32 fp32-mm"), ("first_step_s", "1st step s")]))
    if by("memory"):
        parts.append("### Peak memory vs compression\n\n" + table(by("memory"), [
            ("chunk_budget", "chunk budget"), ("steered", "steered"), ("compression", "measured"),
            ("chunk_slots", "chunk slots"), ("peak_mem_gib", "peak GiB")]))
    if by("generate"):
        parts.append("### Generation\n\n" + table(by("generate"), [
            ("name", "model"), ("batch", "batch"), ("mode", "mode"), ("new_bytes", "bytes/row"),
            ("ms_per_step", "ms/step"), ("bytes_per_s", "bytes/s"), ("stage0_boundary_rate", "boundary rate"),
            ("check_rel_err", "vs model.step"), ("setup_s", "setup s")]))
    errors = [r for r in rows if "error" in r or "skipped" in r]
    if errors:
        parts.append("### Not measured\n\n" + "\n".join(
            f"- {r['section']}: {r.get('error') or r.get('skipped')}" for r in errors))
    return "\n\n".join(parts) + "\n"

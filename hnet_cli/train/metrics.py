"""The run's metrics: one JSON object per line in RUN/metrics.jsonl (and TensorBoard when installed).

Lines are appended and flushed as training goes, so `tail -f` and `hnet plot`
see them at once. Rewriting the whole file atomically at every step would cost
time quadratic in the run length; instead, a resumed run first rewrites the
file (atomically) keeping only the steps up to its checkpoint, which drops
both the lines written after that checkpoint and a line cut short by a crash.
So the file of a finished run has every logged step exactly once.

Records: {"kind": "train", "step": ..., "loss": ..., ...} and
{"kind": "val", "step": ..., "val_bpb": ..., ...}.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from hnet_cli import jsonio
from hnet_cli.outputs import append_output, write_output


def _clean(value):
    """JSON has no NaN/Infinity: write them as strings so the line stays valid JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    return value


def read_metrics(path: str | Path) -> list[dict]:
    """Every complete record of a metrics file (a line cut short by a crash is left out)."""
    records = []
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return records
    for line in text.splitlines():
        try:
            record = jsonio.loads(line)
        except jsonio.JSONDecodeError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


class MetricsLog:
    def __init__(self, path: str | Path, enabled: bool = True, tensorboard_dir: str | Path | None = None):
        self.path = Path(path)
        self.enabled = enabled
        self._file = None
        self._tb = None
        self._tb_dir = tensorboard_dir

    def open(self, resume_step: int | None = None) -> None:
        """Start writing; with `resume_step`, first drop the records after that step."""
        if not self.enabled:
            return
        if resume_step is not None:
            kept = [r for r in read_metrics(self.path) if isinstance(r.get("step"), int) and r["step"] <= resume_step]
            write_output(self.path, "".join(json.dumps(r) + "\n" for r in kept))
        self._file = append_output(self.path)
        if self._tb_dir is not None:
            self._tb = _tensorboard_writer(self._tb_dir, purge_step=None if resume_step is None else resume_step + 1)

    def write(self, record: dict) -> None:
        if self._file is None:
            return
        self._file.write(json.dumps(_clean(record)) + "\n")
        self._file.flush()
        if self._tb is not None:
            step = record.get("step", 0)
            prefix = record.get("kind", "train")
            for key, value in record.items():
                if isinstance(value, (int, float)) and not isinstance(value, bool) and key != "step":
                    self._tb.add_scalar(f"{prefix}/{key}", value, step)
                elif isinstance(value, list):
                    for i, v in enumerate(value):
                        if isinstance(v, (int, float)):
                            self._tb.add_scalar(f"{prefix}/{key}_{i}", v, step)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._tb is not None:
            self._tb.close()
            self._tb = None


def _tensorboard_writer(directory, purge_step):
    """A SummaryWriter when the tensorboard package is installed, else None (it is optional)."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except Exception:  # ImportError, or tensorboard present but broken
        return None
    return SummaryWriter(str(directory), purge_step=purge_step)

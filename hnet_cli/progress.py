"""The one progress reporter.

Library code never prints. Long jobs take a `Reporter` and call `start`,
`advance`, `log` and `finish`; on a terminal it draws a rich progress bar, in
logs and CI it writes plain lines to stderr. `NullReporter` is the default for
library callers that want silence.

A job that knows how much input it has passes `total` to `start`; the bar and
the log lines then show the fraction done and an ETA. Counts in "bytes" are
shown in decimal units (kB, MB: rich's file-size formatting), in the bar, in
the log lines and in fields named like bytes (`bytes`, `..._bytes`, `B/s`,
`bytes_per_s`). `finish` writes one last line with the exact count.
"""

from __future__ import annotations

import sys
import time
from typing import Any

BYTES = "bytes"


def human_bytes(n: float) -> str:
    """16384 -> "16.38 kB", 4941234 -> "4.94 MB" (decimal units, as file sizes are shown)."""
    from rich.filesize import decimal

    return decimal(int(n), precision=2)


def human_duration(seconds: float) -> str:
    """3725 -> "1:02:05", 42 -> "0:42"."""
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _is_byte_field(key: str) -> bool:
    return key == BYTES or key.endswith("_bytes")


def _is_byte_rate_field(key: str) -> bool:
    return key in ("B/s", "bytes_per_s")


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e5):
            return f"{value:.3e}"
        return f"{value:.4g}"
    return str(value)


def format_field(key: str, value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if _is_byte_field(key):
            return f"{key}={human_bytes(value)}"
        if _is_byte_rate_field(key):
            return f"{key}={human_bytes(value)}/s"
    return f"{key}={_fmt(value)}"


def format_fields(fields: dict[str, Any]) -> str:
    return " ".join(format_field(k, v) for k, v in fields.items())


def format_count(value: float, unit: str) -> str:
    """A progress count in its unit: human bytes, else the number and the unit."""
    if unit == BYTES:
        return human_bytes(value)
    return f"{_fmt(value)} {unit}".rstrip()


class NullReporter:
    """Reports nothing."""

    def start(self, description: str, total: float | None = None, unit: str = "") -> None:
        pass

    def advance(self, amount: float = 1, **fields: Any) -> None:
        pass

    def set_total(self, total: float | None) -> None:
        """A better estimate of the total, for the task started last."""

    def log(self, message: str) -> None:
        pass

    def finish(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.finish()


class PlainReporter(NullReporter):
    """Plain lines on a stream (stderr by default), at most one per `every` seconds, and one at the end."""

    def __init__(self, stream=None, every: float = 5.0):
        self.stream = stream or sys.stderr
        self.every = every
        self._desc = ""
        self._total = None
        self._done = 0.0
        self._unit = ""
        self._last = 0.0
        self._t0 = time.monotonic()
        self._fields: dict[str, Any] = {}
        self._active = False
        self._unreported = False

    def start(self, description, total=None, unit=""):
        if self._active:
            self.finish()
        self._desc, self._total, self._unit = description, total, unit
        self._done, self._t0, self._last = 0.0, time.monotonic(), time.monotonic()
        self._fields = {}
        self._active, self._unreported = True, False

    def advance(self, amount=1, **fields):
        self._done += amount
        self._fields.update(fields)
        self._unreported = True
        now = time.monotonic()
        if now - self._last >= self.every:
            self._last = now
            self._emit()

    def set_total(self, total):
        self._total = total

    def _progress(self) -> str:
        text = format_count(self._done, self._unit) if not self._total else (
            f"{format_count(self._done, self._unit) if self._unit == BYTES else _fmt(self._done)}"
            f"/{format_count(self._total, self._unit)} ({100 * self._done / self._total:.0f}%)")
        elapsed = time.monotonic() - self._t0
        if self._unit == BYTES and elapsed > 0 and self._done:
            text += f" {human_bytes(self._done / elapsed)}/s"
        if self._total and self._done and "eta" not in self._fields and self._done < self._total:
            text += f" eta {human_duration(elapsed * (self._total - self._done) / self._done)}"
        return text

    def _emit(self):
        self._unreported = False
        print(f"{self._desc}: {self._progress()} {format_fields(self._fields)}".rstrip(), file=self.stream, flush=True)

    def log(self, message):
        print(message, file=self.stream, flush=True)

    def finish(self):
        if not self._active:
            return
        self._active = False
        if sys.exc_info()[0] is not None:
            # Called from a `finally` while an error propagates: the task did not finish, and the
            # error's own line says why (a "done" line above it would say the opposite).
            return
        if self._unreported:
            self._emit()
        elapsed = time.monotonic() - self._t0
        count = f"{int(self._done):,} {self._unit}".rstrip() if float(self._done).is_integer() else _fmt(self._done)
        if self._unit == BYTES and self._done >= 1000:
            count = f"{human_bytes(self._done)} ({count})"
        print(f"{self._desc}: done, {count} in {human_duration(elapsed)}", file=self.stream, flush=True)


def _count_column():
    """Done/total: file-size units for byte tasks, plain numbers otherwise (rich's own columns)."""
    from rich.progress import DownloadColumn, MofNCompleteColumn, ProgressColumn

    class CountColumn(ProgressColumn):
        def __init__(self):
            super().__init__()
            self._bytes, self._count = DownloadColumn(), MofNCompleteColumn()

        def render(self, task):
            if task.fields.get("unit") == BYTES:
                return self._bytes.render(task)
            return self._count.render(task)

    return CountColumn()


class RichReporter(NullReporter):
    """A rich progress bar with live metrics, for terminals."""

    def __init__(self, stream=None, console=None):
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self.console = console or Console(file=stream or sys.stderr)
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            _count_column(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[metrics]}"),
            console=self.console,
            transient=False,
        )
        self._task = None
        self._started = False

    def start(self, description, total=None, unit=""):
        if not self._started:
            self._progress.start()
            self._started = True
        self._task = self._progress.add_task(description, total=total, metrics="", unit=unit)

    def advance(self, amount=1, **fields):
        if self._task is None:
            return
        if fields:
            self._progress.update(self._task, advance=amount, metrics=format_fields(fields))
        else:
            self._progress.update(self._task, advance=amount)

    def set_total(self, total):
        if self._task is not None:
            self._progress.update(self._task, total=total)

    def log(self, message):
        self.console.print(message, markup=False, highlight=False)

    def finish(self):
        if self._started:
            self._progress.stop()
            self._started = False


def make_reporter(quiet: bool = False, stream=None) -> NullReporter:
    """A rich bar on an interactive terminal, plain lines otherwise, nothing if quiet."""
    if quiet:
        return NullReporter()
    stream = stream or sys.stderr
    if hasattr(stream, "isatty") and stream.isatty():
        return RichReporter(stream)
    return PlainReporter(stream)

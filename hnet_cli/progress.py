"""The one progress reporter.

Library code never prints. Long jobs take a `Reporter` and call `start`,
`advance`, `log` and `finish`; on a terminal it draws a rich progress bar, in
logs and CI it writes plain `key=value` lines to stderr. `NullReporter` is the
default for library callers that want silence.
"""

from __future__ import annotations

import sys
import time
from typing import Any


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e5):
            return f"{value:.3e}"
        return f"{value:.4g}"
    return str(value)


def format_fields(fields: dict[str, Any]) -> str:
    return " ".join(f"{k}={_fmt(v)}" for k, v in fields.items())


class NullReporter:
    """Reports nothing."""

    def start(self, description: str, total: float | None = None, unit: str = "") -> None:
        pass

    def advance(self, amount: float = 1, **fields: Any) -> None:
        pass

    def log(self, message: str) -> None:
        pass

    def finish(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.finish()


class PlainReporter(NullReporter):
    """Plain lines on a stream (stderr by default), at most one per `every` seconds."""

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

    def start(self, description, total=None, unit=""):
        self._desc, self._total, self._unit = description, total, unit
        self._done, self._t0, self._last = 0.0, time.monotonic(), 0.0
        self._fields = {}

    def advance(self, amount=1, **fields):
        self._done += amount
        self._fields.update(fields)
        now = time.monotonic()
        if now - self._last >= self.every or (self._total is not None and self._done >= self._total):
            self._last = now
            self._emit()

    def _emit(self):
        progress = f"{_fmt(self._done)}"
        if self._total:
            progress += f"/{_fmt(self._total)}"
        if self._unit:
            progress += f" {self._unit}"
        fields = format_fields(self._fields)
        print(f"{self._desc}: {progress} {fields}".rstrip(), file=self.stream, flush=True)

    def log(self, message):
        print(message, file=self.stream, flush=True)


class RichReporter(NullReporter):
    """A rich progress bar with live metrics, for terminals."""

    def __init__(self, stream=None):
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.console = Console(file=stream or sys.stderr)
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
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
        self._task = self._progress.add_task(description, total=total, metrics="")

    def advance(self, amount=1, **fields):
        if self._task is None:
            return
        self._progress.update(self._task, advance=amount, metrics=format_fields(fields) if fields else None)

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

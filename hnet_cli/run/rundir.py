"""The run directory: where `hnet train` writes, and what eval, chunk and generate read back.

    RUN/config.json       the model config (official format)
    RUN/recipe.json       the resolved recipe (model + every train field)
    RUN/run.json          what was trained on: domain, inputs, reader options, arch, targets
    RUN/metrics.jsonl     one JSON record per logged step / evaluation
    RUN/checkpoints/      step_NNNNNN/ dirs, LATEST, BEST (see train/checkpointer.py)
    RUN/tensorboard/      TensorBoard events (when tensorboard is installed)
    RUN/plots/            `hnet plot` output
    RUN/stdin             a copy of the data a run read from standard input

A directory that already holds files is never reused without `--resume`
(continue it) or `--force` (start over; only a directory that looks like a
run is cleared, and only the run's own entries are removed).

A model path may be the run directory itself or one of its checkpoints,
RUN/checkpoints/NAME: `RunDir.find(path)` finds the run in both cases.
Readers of the records for jobs other than resuming (`record`) treat an
unreadable file as absent: the user can always say --domain.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from hnet_cli import jsonio
from hnet_cli.errors import ConfigError, HnetError
from hnet_cli.model.checkpoint import CHECKPOINTS_DIR, CONFIG_NAME, RUN_INFO_NAME
from hnet_cli.outputs import write_output

RECIPE_NAME = "recipe.json"
METRICS_NAME = "metrics.jsonl"
TENSORBOARD_DIR = "tensorboard"
PLOTS_DIR = "plots"
STDIN_NAME = "stdin"
RUN_ENTRIES = (CONFIG_NAME, RECIPE_NAME, RUN_INFO_NAME, METRICS_NAME, CHECKPOINTS_DIR, TENSORBOARD_DIR, PLOTS_DIR,
               STDIN_NAME)


LOCK_NAME = ".lock"


class RunLock:
    """One training at a time in a run directory: an exclusive lock on RUN/.lock.

    Held from before the directory is checked until the training ends, so a
    second `hnet train` into the same --out (with --force or --resume) fails at
    once, naming the process that holds it, instead of both writing the same
    files. The lock is the operating system's (flock): it goes away with the
    process, so a run killed with SIGKILL leaves no stale lock behind. The
    file itself stays (removing it would let two processes lock two files).
    """

    def __init__(self, run_dir: str | Path):
        self.dir = Path(run_dir)
        self._file = None
        self._made_dir = False

    def acquire(self) -> "RunLock":
        try:
            import fcntl
        except ImportError:  # not a POSIX system: no lock, as before
            return self
        if not self.dir.exists():
            try:
                self.dir.mkdir(parents=True)
            except OSError as exc:
                raise HnetError(f"{self.dir}: cannot create the run directory ({exc.strerror or exc})") from None
            self._made_dir = True
        elif not self.dir.is_dir():
            raise HnetError(f"{self.dir}: exists and is not a directory")
        try:
            handle = open(self.dir / LOCK_NAME, "a+")
        except OSError as exc:
            raise HnetError(f"{self.dir}: cannot lock the run directory ({exc.strerror or exc})") from None
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "?"
            handle.close()
            raise HnetError(f"{self.dir}: another training is using this run directory (process {holder}); "
                            "wait for it to end or choose another --out") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._file = handle
        return self

    def release(self, failed: bool = False) -> None:
        """Unlock; after a failure before anything was written, remove the directory made for it."""
        if self._file is None:
            return
        if failed and self._made_dir and [p.name for p in self.dir.iterdir()] == [LOCK_NAME]:
            (self.dir / LOCK_NAME).unlink()
            self.dir.rmdir()
        self._file.close()  # closing releases the flock
        self._file = None

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, kind, exc, tb) -> None:
        self.release(failed=kind is not None)


def _entries(path: Path) -> list[Path]:
    """What a directory holds, the lock file aside."""
    return [p for p in path.iterdir() if p.name != LOCK_NAME]


class RunDir:
    """One training run's directory: its entry names, its JSON records, its lifecycle."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    # ---- names --------------------------------------------------------------------
    @property
    def config_path(self) -> Path:
        return self.path / CONFIG_NAME

    @property
    def recipe_path(self) -> Path:
        return self.path / RECIPE_NAME

    @property
    def info_path(self) -> Path:
        return self.path / RUN_INFO_NAME

    @property
    def metrics_path(self) -> Path:
        return self.path / METRICS_NAME

    @property
    def checkpoints_path(self) -> Path:
        return self.path / CHECKPOINTS_DIR

    @property
    def tensorboard_path(self) -> Path:
        return self.path / TENSORBOARD_DIR

    @property
    def plots_path(self) -> Path:
        return self.path / PLOTS_DIR

    @property
    def stdin_path(self) -> Path:
        return self.path / STDIN_NAME

    # ---- finding a run --------------------------------------------------------------
    @classmethod
    def find(cls, model_path: str | Path, name: str = RUN_INFO_NAME) -> "RunDir | None":
        """The run of a model path that holds a readable RUN/name: the path itself, or RUN for RUN/checkpoints/NAME."""
        path = Path(model_path)
        if not path.is_dir():
            return None
        candidates = [path] + ([path.parent.parent] if path.parent.name == CHECKPOINTS_DIR else [])
        for candidate in candidates:
            run = cls(candidate)
            if run.record(name) is not None:
                return run
        return None

    def looks_like_run(self) -> bool:
        return self.path.is_dir() and any((self.path / n).exists() for n in (RECIPE_NAME, RUN_INFO_NAME, CHECKPOINTS_DIR))

    # ---- records ----------------------------------------------------------------------
    def record(self, name: str = RUN_INFO_NAME) -> dict | None:
        """The JSON object in RUN/name, or None when it is missing or unreadable."""
        try:
            data = jsonio.loads((self.path / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def read(self, name: str, what: str) -> dict:
        """The JSON object in RUN/name; ConfigError naming the file when it cannot be read (resuming)."""
        path = self.path / name
        try:
            return jsonio.loads(path.read_text())
        except FileNotFoundError:
            raise ConfigError(f"{path}: missing; is {self.path} a run directory made by hnet train?") from None
        except (OSError, jsonio.JSONDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read the {what} ({exc})") from None

    def write(self, name: str, data: dict) -> None:
        """RUN/name as indented JSON, written atomically."""
        write_output(self.path / name, json.dumps(data, indent=2) + "\n")

    # ---- lifecycle --------------------------------------------------------------------
    def lock(self) -> RunLock:
        """The run's lock, to hold while training writes it: `with run.lock(): ...`."""
        return RunLock(self.path)

    def check_new(self, force: bool) -> None:
        """Refuse to reuse a directory with files in it, unless --force and it is a run directory."""
        out = self.path
        if out.exists() and not out.is_dir():
            raise HnetError(f"{out}: exists and is not a directory")
        if out.is_dir() and _entries(out):
            if not force:
                raise HnetError(f"{out}: run directory exists; continue it with --resume {out} or start over with --force")
            if not self.looks_like_run():
                raise HnetError(f"{out}: not empty and not a run directory; refusing to clear it (choose another --out)")

    def create(self, force: bool) -> None:
        """Make the directory ready for a new run (clearing the old run's entries under --force)."""
        self.check_new(force)
        out = self.path
        if out.is_dir():
            for name in RUN_ENTRIES:
                p = out / name
                if p.is_dir():
                    shutil.rmtree(p)
                elif p.exists():
                    p.unlink()
        try:
            out.mkdir(parents=True, exist_ok=True)
            probe = out / ".write-test"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise HnetError(f"{out}: cannot create the run directory ({exc.strerror or exc})") from None

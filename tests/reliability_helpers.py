"""Running `hnet` the way a user does (a separate process) for the reliability tests."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def hnet_process(args, **kw) -> subprocess.Popen:
    """`hnet ARGS` in a new process with SIGINT at its default (a terminal's Ctrl-C works)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    return subprocess.Popen(
        [sys.executable, "-m", "hnet_cli", *args], env=env,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL), **kw,
    )


def run_hnet(args, timeout=300, **kw) -> subprocess.CompletedProcess:
    kw.setdefault("stdout", subprocess.PIPE)
    kw.setdefault("stderr", subprocess.PIPE)
    proc = hnet_process(args, **kw)
    out, err = proc.communicate(timeout=timeout)
    return subprocess.CompletedProcess(args, proc.returncode, out, err)


def interrupt_when(proc: subprocess.Popen, ready, timeout: float = 240) -> tuple[bytes, bytes]:
    """Send SIGINT once `ready()` is true (e.g. a file appeared), then collect the output."""
    deadline = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    return proc.communicate(timeout=120)


def one_line_error(stderr: bytes) -> str:
    """stderr of a failed command: exactly one line, `hnet: error: ...`, no traceback."""
    text = stderr.decode()
    lines = [line for line in text.splitlines() if line.strip()]
    assert "Traceback" not in text, text
    assert len(lines) == 1 and lines[0].startswith("hnet: error: "), text
    return lines[0]


@pytest.fixture
def small_fs(tmp_path):
    """A 64 KB file system (tmpfs) to fill up; skipped where mounting is not allowed."""
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)],
                          capture_output=True)
    if done.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)

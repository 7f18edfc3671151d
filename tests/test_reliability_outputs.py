"""Outputs: checked before work starts, atomic on files, direct on devices and pipes, and every
write failure (full disk, closed pipe, Ctrl-C) a one-line error with the conventional exit code.

Rows of issue #14: F5 (a directory as output), F6 (stdout on a full disk), F7 (file output on a
full disk), S2 (devices, FIFOs, /proc links), S3 (Ctrl-C), and the extras: `chunk | head`,
`eval --csv nodir/x.csv`. See docs/RELIABILITY.md.
"""

import errno
import io
import os
import stat
import subprocess
import threading

import pytest

from hnet_cli.cli import main
from hnet_cli.errors import OutputClosed, OutputError
from hnet_cli.model import save_model
from hnet_cli.outputs import GuardedStream, check_output, write_output
from model_helpers import tiny_model
from reliability_helpers import hnet_process, interrupt_when, one_line_error, run_hnet, small_fs  # noqa: F401
from train_helpers import micro_recipe


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_model(tiny_model(1, seed=5), tmp_path_factory.mktemp("outputs_model") / "m1")


@pytest.fixture
def text_file(tmp_path):
    path = tmp_path / "in.txt"
    path.write_text("Chunk me, please: this line has words and punctuation!\n" * 20, encoding="utf-8")
    return path


def _error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("hnet: error: "), err
    return err[0]


# ---------------------------------------------------------------- the opener itself


class _Failing(io.RawIOBase):
    def __init__(self, code):
        self.code = code

    def writable(self):
        return True

    def write(self, data):
        raise OSError(self.code, os.strerror(self.code))


def test_write_errors_become_one_line_errors():
    with pytest.raises(OutputError, match="out.tsv: cannot write: no space left on device"):
        GuardedStream(_Failing(errno.ENOSPC), "out.tsv").write(b"x")
    with pytest.raises(OutputClosed) as closed:
        GuardedStream(_Failing(errno.EPIPE), "stdout").write(b"x")
    assert closed.value.exit_code == 141


def test_checked_before_work(tmp_path):
    """F5: an existing directory, a missing folder, a read-only folder: refused before any work."""
    with pytest.raises(OutputError, match="is a directory"):
        check_output(tmp_path)
    with pytest.raises(OutputError, match="does not exist"):
        check_output(tmp_path / "nope" / "x.tsv")
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        with pytest.raises(OutputError, match="permission denied"):
            check_output(locked / "x.tsv")
    assert check_output("-").is_stdout
    assert not check_output(tmp_path / "new.tsv").direct


def test_a_link_to_a_file_keeps_the_link(tmp_path):
    real = tmp_path / "real.txt"
    real.write_text("old\n")
    link = tmp_path / "link.txt"
    link.symlink_to(real)
    write_output(link, "new\n")
    assert link.is_symlink() and real.read_text() == "new\n"


def test_devices_and_fifos_are_written_directly(tmp_path):
    """S2: a device stays a device; a FIFO's reader gets the data (no temporary file, no rename)."""
    write_output("/dev/null", "discarded\n")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    write_output(fifo, b"through the pipe\n")
    reader.join(30)
    assert received == [b"through the pipe\n"]
    assert stat.S_ISFIFO(os.stat(fifo).st_mode) and sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]


# ---------------------------------------------------------------- commands


def test_a_directory_as_output_fails_at_once(model_dir, text_file, tmp_path, capsys):
    """F5: chunk --output DIR, generate -o DIR, eval --csv DIR."""
    somedir = tmp_path / "somedir"
    somedir.mkdir()
    assert main(["chunk", str(text_file), "-m", str(model_dir), "--output", str(somedir), "-q"]) == 1
    assert "is a directory" in _error(capsys)
    assert main(["generate", str(model_dir), "--prompt", "a", "-o", str(somedir), "-q"]) == 1
    assert "is a directory" in _error(capsys)
    assert main(["eval", str(model_dir), str(text_file), "--csv", str(somedir), "-q"]) == 1
    assert "is a directory" in _error(capsys)
    assert main(["score", str(text_file), "-m", str(model_dir), "-o", str(somedir), "-q"]) == 1
    assert "is a directory" in _error(capsys)
    assert main(["embed", str(text_file), "-m", str(model_dir), "-f", "npy", "-o", str(somedir), "-q"]) == 1
    assert "is a directory" in _error(capsys)
    assert list(somedir.iterdir()) == []


def test_compare_checks_its_outputs_before_training(text_file, tmp_path, capsys):
    """hnet compare: OUT that is a file, a --plot that is a directory: refused before any arm trains."""
    a_file = tmp_path / "a_file"
    a_file.write_text("keep me")
    assert main(["compare", "--domain", "text", str(text_file), "--steps", "2", "-o", str(a_file), "-q"]) == 1
    assert "is a file, not a folder" in _error(capsys)
    assert a_file.read_text() == "keep me"
    somedir = tmp_path / "somedir"
    somedir.mkdir()
    out = tmp_path / "cmp"
    assert main(["compare", "--domain", "text", str(text_file), "--steps", "2", "-o", str(out), "--plot",
                 str(somedir), "-q"]) == 1
    assert "is a directory" in _error(capsys)
    assert list(out.iterdir()) == []


def test_eval_csv_in_a_missing_folder_fails_before_evaluating(model_dir, text_file, tmp_path, capsys, monkeypatch):
    """Extra: `eval --csv nodir/x.csv` used to fail only after the whole evaluation."""
    import hnet_cli.eval.api

    def never(*a, **k):
        raise AssertionError("evaluated before checking the output")

    monkeypatch.setattr(hnet_cli.eval.api, "evaluate", never)
    assert main(["eval", str(model_dir), str(text_file), "--csv", str(tmp_path / "nodir" / "x.csv"), "-q"]) == 1
    assert "does not exist" in _error(capsys)


@pytest.mark.slow
@pytest.mark.parametrize("args", [
    ["domains", "--json"], ["--help"], ["info", "{model}", "--json"],
    ["chunk", "{text}", "-m", "{model}", "-f", "tsv", "-q"],
    ["generate", "{model}", "--prompt", "a", "--max-bytes", "8", "-q"],
    ["eval", "{model}", "{text}", "--json", "-q"], ["eval", "{model}", "{text}", "--csv", "-", "-q"],
])
def test_stdout_on_a_full_disk(args, model_dir, text_file):
    """F6: `> /dev/full`: one line naming stdout, exit 1, no traceback."""
    args = [a.format(model=model_dir, text=text_file) for a in args]
    with open("/dev/full", "w") as full:
        done = run_hnet(args, stdout=full)
    assert done.returncode == 1
    assert "stdout: cannot write: no space left on device" in one_line_error(done.stderr)


def test_file_output_on_a_full_device(model_dir, text_file):
    """F7 where no file system can be mounted: /dev/full as the output file."""
    done = run_hnet(["chunk", str(text_file), "-m", str(model_dir), "-f", "tsv", "--output", "/dev/full", "-q"])
    assert done.returncode == 1
    assert "/dev/full: cannot write: no space left on device" in one_line_error(done.stderr)


@pytest.mark.slow
def test_file_outputs_on_a_full_file_system(small_fs, model_dir, tmp_path):
    """F7: chunk, generate and train writing to a 64 KB file system: clean error, nothing left behind."""
    big = tmp_path / "big.txt"
    big.write_text("A line of text to chunk, long enough to fill a small disk.\n" * 200)
    done = run_hnet(["chunk", str(big), "-m", str(model_dir), "-f", "tsv", "--output", str(small_fs / "c.tsv"), "-q"])
    assert done.returncode == 1 and "no space left on device" in one_line_error(done.stderr)
    assert list(small_fs.iterdir()) == []
    recipe = micro_recipe(tmp_path)
    done = run_hnet(["train", "--domain", "text", str(big), "--recipe", recipe, "--steps", "4",
                     "--out", str(small_fs / "run"), "-q"])
    assert done.returncode == 1 and "no space left on device" in one_line_error(done.stderr)
    checkpoints = small_fs / "run" / "checkpoints"
    assert not checkpoints.exists() or not [p for p in checkpoints.iterdir() if p.name.startswith(".tmp")]
    # Generation writes as it goes: leave it a few KB (generating 64 KB byte by byte takes too long).
    import shutil

    shutil.rmtree(small_fs / "run")
    filler = small_fs / "filler"
    with open(filler, "wb") as f:
        try:
            f.write(b"x" * (60 << 10))
        except OSError:
            pass
    done = run_hnet(["generate", str(model_dir), "--prompt", "a", "--max-bytes", "12000", "--ignore-eos",
                     "-o", str(small_fs / "g.txt"), "-q"])
    assert done.returncode == 1 and "no space left on device" in one_line_error(done.stderr)
    assert [p.name for p in small_fs.iterdir()] == ["filler"]


def test_a_link_to_stdout_is_written_through(model_dir, text_file):
    """S2: --output /proc/self/fd/1 (or /dev/stdout) writes into the pipe, exit 0."""
    done = run_hnet(["chunk", str(text_file), "-m", str(model_dir), "-f", "bed", "--output", "/proc/self/fd/1", "-q"])
    assert done.returncode == 0, done.stderr
    assert done.stdout.count(b"\n") > 5 and done.stdout.startswith(b"in.txt\t0\t")


def test_closed_pipe_exits_141_quietly(model_dir, tmp_path):
    """Extra: `hnet chunk ... | head -1` ends with 141, as SIGPIPE would, and says nothing."""
    big = tmp_path / "big.txt"
    big.write_text("some text line for chunking\n" * 3000)
    proc = hnet_process(["chunk", str(big), "-m", str(model_dir), "-f", "tsv", "-q"],
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=300) == 141, err
    assert err == b""


def _interrupted(proc, ready):
    out, err = interrupt_when(proc, ready)
    text = err.decode()
    assert proc.returncode == 130, text
    assert "hnet: interrupted" in text and "Traceback" not in text and "Exception ignored" not in text
    return out


@pytest.mark.slow
def test_ctrl_c_exits_130_and_keeps_the_previous_output(model_dir, tmp_path):
    """S3: SIGINT during chunk (Parquet), generate, eval and train: exit 130, one line, old output kept."""
    big = tmp_path / "big.txt"
    big.write_text("some text line for chunking\n" * 20000)
    out = tmp_path / "o.parquet"
    out.write_bytes(b"previous")
    started = lambda: any(p.name.startswith(".o.parquet") for p in tmp_path.iterdir())  # noqa: E731
    _interrupted(hnet_process(["chunk", str(big), "-m", str(model_dir), "--output", str(out), "-q"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE), started)
    assert out.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.txt", "o.parquet"]

    samples = tmp_path / "s.txt"
    proc = hnet_process(["generate", str(model_dir), "--max-bytes", "1000000", "--ignore-eos", "-o", str(samples)],
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _interrupted(proc, lambda: any(p.name.startswith(".s.txt") for p in tmp_path.iterdir()))
    assert not samples.exists()

    proc = hnet_process(["eval", str(model_dir), str(big)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _interrupted(proc, lambda: proc.stderr is not None and proc.poll() is None and _slept(3))

    recipe = micro_recipe(tmp_path, steps=100000)
    run = tmp_path / "run"
    proc = hnet_process(["train", "--domain", "text", str(big), "--recipe", recipe, "--out", str(run), "-q"],
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _interrupted(proc, lambda: (run / "checkpoints" / "LATEST").exists())


def _slept(seconds):
    import time

    time.sleep(seconds)
    return True

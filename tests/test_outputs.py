"""Safe output writing: atomic replacement, usual permissions, stdout for '-'."""

import os
import stat

import pytest

from hnet_cli.errors import HnetError, OutputError
from hnet_cli.outputs import open_output, write_output


def test_written_file_follows_umask(tmp_path):
    old = os.umask(0o022)
    try:
        write_output(tmp_path / "out.txt", "hello\n")
    finally:
        os.umask(old)
    mode = stat.S_IMODE((tmp_path / "out.txt").stat().st_mode)
    assert mode == 0o644


@pytest.mark.parametrize("failure", [RuntimeError("interrupted"), OutputError("disk full")])
def test_failure_keeps_the_previous_file(tmp_path, failure):
    target = tmp_path / "out.txt"
    target.write_text("good\n")
    with pytest.raises(type(failure)):
        with open_output(target) as f:
            f.write("half")
            raise failure
    assert target.read_text() == "good\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]  # no temp file left behind


def test_missing_directory_is_a_user_error(tmp_path):
    with pytest.raises(HnetError, match="does not exist"):
        write_output(tmp_path / "nope" / "out.txt", "x")


def test_dash_is_stdout(capsys):
    write_output("-", "to stdout\n")
    assert capsys.readouterr().out == "to stdout\n"

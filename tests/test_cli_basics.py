"""The console command exists, reports its version and has help with examples."""

import subprocess
import sys

from hnet_cli import __version__
from hnet_cli.cli import main


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"hnet {__version__}"


def test_help_has_examples(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "Examples" in out and "hnet train --domain dna" in out


def test_module_entry_point_runs():
    proc = subprocess.run([sys.executable, "-m", "hnet_cli", "--version"], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.startswith("hnet ")


def test_unknown_command_fails(capsys):
    assert main(["no-such-command"]) != 0


def test_every_command_help_shows_an_example(capsys):
    from hnet_cli.cli import COMMAND_MODULES

    for name in COMMAND_MODULES:
        assert main([name, "--help"]) == 0, name
        out = capsys.readouterr().out
        assert "Examples" in out and f"hnet {name}" in out, f"`hnet {name} --help` shows no example"


def test_examples_keep_one_command_per_line(capsys):
    """Help text is rewrapped unless a paragraph is marked verbatim; examples must not run together."""
    from hnet_cli.cli import COMMAND_MODULES

    for args in [[], *([name] for name in COMMAND_MODULES)]:
        assert main([*args, "--help"]) == 0
        lines = capsys.readouterr().out.splitlines()
        for line in lines:
            assert line.count("hnet ") <= 1 or "torchrun" in line or "|" in line, f"hnet {' '.join(args)} --help: {line!r}"


def test_shell_completion_is_offered(capsys):
    assert main(["--help"]) == 0
    assert "--install-completion" in capsys.readouterr().out

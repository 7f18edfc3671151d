"""The `hnet` command: thin Typer commands that parse, call a library function, print.

Each command lives in `hnet_cli/commands/<name>.py` with a `register(app)`
function; this module only assembles them and turns user errors into one-line
messages with a non-zero exit.
"""

from __future__ import annotations

import importlib
import sys

import typer

from hnet_cli.commands.flags import HnetCommand
from hnet_cli.errors import HnetError
from hnet_cli.version import __version__

HELP = """H-Nets: byte-level language models that learn their own tokenization.

Examples:

  hnet train --domain dna                     # train on the bundled lambda phage genome
  hnet chunk --model runs/dna genome.fa       # show the chunks the model learned
  hnet eval runs/dna held_out.fa.gz           # bits per base on held-out data
  hnet generate runs/dna --prompt ACGT        # sample a continuation
"""

app = typer.Typer(
    help=HELP,
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

# Command modules, in the order `hnet --help` lists them.
COMMAND_MODULES = [
    "train",
    "eval",
    "compare",
    "generate",
    "chunk",
    "score",
    "embed",
    "domains",
    "info",
    "plot",
    "bench",
]


def _version_callback(value: bool):
    if value:
        typer.echo(f"hnet {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version_callback, is_eager=True, help="Print the version and exit."
    ),
):
    pass


for _name in COMMAND_MODULES:
    try:
        _module = importlib.import_module(f"hnet_cli.commands.{_name}")
    except ModuleNotFoundError as exc:  # a command not written yet
        if exc.name != f"hnet_cli.commands.{_name}":
            raise
        continue
    _module.register(app)

# Every command accepts last release's short spellings with a warning (commands/flags.py).
for _info in app.registered_commands:
    _info.cls = HnetCommand


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script: user errors become one line on stderr.

    Exit codes: 0 success, 1 a user error (bad input, an output that cannot be
    written), 2 a usage error, 130 interrupted (Ctrl-C), 141 the reader of the
    output went away (as if killed by SIGPIPE, the way `yes | head` ends).
    """
    from hnet_cli.outputs import guard_stdout

    with guard_stdout():
        try:
            code = app(args=argv, standalone_mode=False, prog_name="hnet")
            sys.stdout.flush()  # a full disk or a closed pipe is reported here, not at exit
        except HnetError as exc:
            return _failed(exc)
        except KeyboardInterrupt:
            return _interrupted()
        except SystemExit as exc:
            return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except typer.Exit as exc:
            return exc.exit_code
        except typer.Abort:
            print("hnet: aborted", file=sys.stderr)
            return 1
        except Exception as exc:
            # Usage errors of the (vendored) click layer: they know how to show themselves.
            if hasattr(exc, "show") and hasattr(exc, "exit_code"):
                exc.show()
                return exc.exit_code
            raise
    if code == 130:  # typer turns Ctrl-C inside a command into Exit(130) and returns it
        return _interrupted()
    return code if isinstance(code, int) else 0


def _failed(exc: HnetError) -> int:
    from hnet_cli.errors import OutputClosed
    from hnet_cli.outputs import silence_stdout

    if isinstance(exc, OutputClosed):
        # `hnet ... | head`: the reader has what it wanted; stop quietly, as SIGPIPE would.
        if getattr(sys.stdout, "wrapped", sys.stdout) is sys.__stdout__:
            silence_stdout()
        return exc.exit_code
    print(f"hnet: error: {exc}", file=sys.stderr)
    return exc.exit_code


def _interrupted() -> int:
    print("hnet: interrupted", file=sys.stderr)
    return 130


if __name__ == "__main__":
    sys.exit(main())

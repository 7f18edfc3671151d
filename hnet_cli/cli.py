"""The `hnet` command: thin Typer commands that parse, call a library function, print.

Each command lives in `hnet_cli/commands/<name>.py` with a `register(app)`
function; this module only assembles them and turns user errors into one-line
messages with a non-zero exit.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import signal
import sys
import threading

import typer

from hnet_cli.commands.flags import HnetCommand
from hnet_cli.errors import HnetError, out_of_memory_message
from hnet_cli.version import __version__

HELP = """H-Nets: byte-level language models that learn their own tokenization.

Examples:

\b
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

    interrupted = _Interrupts()
    with guard_stdout(), interrupted.watch():
        try:
            code = app(args=argv, standalone_mode=False, prog_name="hnet")
            sys.stdout.flush()  # a full disk or a closed pipe is reported here, not at exit
        except HnetError as exc:
            if interrupted.seen:
                # A library that catches Ctrl-C's exception and raises its own (safetensors does,
                # mid-read) would otherwise turn an interruption into "cannot read ...".
                return _interrupted()
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
            message = out_of_memory_message(exc, _command_name(argv))
            if message is None:
                raise
            print(f"hnet: error: {message}", file=sys.stderr)
            return 1
    if code == 130:  # typer turns Ctrl-C inside a command into Exit(130) and returns it
        return _interrupted()
    return code if isinstance(code, int) else 0


def run() -> None:
    """The console script: main(), then exit with its code.

    After Ctrl-C the exit is immediate (streams flushed first): CPython would
    otherwise end by SIGINT instead of 130 if the interrupt had ever reached
    code that C extensions run through PyRun_String, even though it was handled.
    """
    code = main()
    if code == 130:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(130)
    sys.exit(code)


class _Interrupts:
    """Whether Ctrl-C was pressed during the command (SIGINT still raises KeyboardInterrupt)."""

    def __init__(self):
        self.seen = False

    def _handler(self, signum, frame):
        self.seen = True
        raise KeyboardInterrupt

    @contextlib.contextmanager
    def watch(self):
        # Only where Python's own handler is in place: an ignored SIGINT (a background job) stays ignored.
        if threading.current_thread() is not threading.main_thread() or \
                signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
            yield
            return
        signal.signal(signal.SIGINT, self._handler)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, signal.default_int_handler)


def _command_name(argv: list[str] | None) -> str | None:
    args = sys.argv[1:] if argv is None else argv
    return next((a for a in args if not a.startswith("-")), None)


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
    run()

"""One meaning per short flag across all commands; last release's spellings still work, with a warning."""

from collections import defaultdict

import pytest
import typer

from hnet_cli.cli import app, main
from hnet_cli.commands.flags import DEPRECATED, SHORT_FLAGS, rewrite_deprecated


def _commands():
    group = typer.main.get_command(app)
    return {name: group.commands[name] for name in group.commands}


def _short_uses():
    """short flag -> [(command, the long spellings of the option that uses it)]."""
    uses = defaultdict(list)
    for name, command in _commands().items():
        for param in command.params:
            if param.param_type_name != "option":
                continue
            spellings = list(param.opts) + list(param.secondary_opts)
            longs = {s for s in spellings if s.startswith("--")}
            for short in (s for s in spellings if not s.startswith("--")):
                uses[short].append((name, longs))
    return uses


def test_no_short_flag_means_two_things():
    clashes = []
    for short, uses in _short_uses().items():
        common = set.intersection(*(longs for _, longs in uses))
        if not common:
            clashes.append(f"{short}: " + "; ".join(f"{cmd} {'/'.join(sorted(longs))}" for cmd, longs in uses))
    assert not clashes, "short flags with different meanings:\n" + "\n".join(clashes)


def test_every_short_flag_follows_the_table():
    wrong = []
    for short, uses in _short_uses().items():
        for command, longs in uses:
            if short not in SHORT_FLAGS:
                wrong.append(f"{command} {short} ({'/'.join(sorted(longs))}) is not in SHORT_FLAGS")
            elif SHORT_FLAGS[short] not in longs:
                wrong.append(f"{command} {short} is {'/'.join(sorted(longs))}, the table says {SHORT_FLAGS[short]}")
    assert not wrong, "\n".join(wrong)


def test_the_walk_sees_every_command_and_its_options():
    # Guards the two tests above against walking nothing.
    uses = _short_uses()
    assert {"train", "eval", "generate", "chunk", "domains", "plot"} <= set(_commands())
    assert ("chunk", {"--model"}) in uses["-m"] and ("generate", {"--output"}) in uses["-o"]


def test_a_clash_is_caught(monkeypatch):
    # A command that reused -m for something else would fail the walk.
    extra = typer.Typer()

    @extra.command("clash")
    def clash(max_bytes: int = typer.Option(1, "--max-bytes", "-m")):
        pass

    monkeypatch.setattr(app, "registered_commands", app.registered_commands + extra.registered_commands)
    with pytest.raises(AssertionError, match="-m"):
        test_no_short_flag_means_two_things()


def _parse(command: str, args: list[str]) -> dict:
    cmd = _commands()[command]
    ctx = cmd.make_context(command, list(args))
    return ctx.params


@pytest.mark.parametrize("command, args, param, value", [
    ("generate", ["m", "-m", "40"], "max_bytes", 40),
    ("generate", ["m", "-m40"], "max_bytes", 40),
    ("generate", ["m", "-s", "7"], "seed", 7),
    ("generate", ["m", "-f", "prompts.txt"], "prompt_file", "prompts.txt"),
    ("chunk", ["-m", "run", "-n", "1000"], "limit", 1000),
    ("chunk", ["-m", "run", "-o", "softmask=fold"], "domain_opt", ["softmask=fold"]),
    ("train", ["-o", "field=content"], "domain_opt", ["field=content"]),
    ("eval", ["run", "x.txt", "-o", "field=text"], "domain_opt", ["field=text"]),
    ("domains", ["dna", "-o", "softmask=fold"], "domain_opt", ["softmask=fold"]),
])
def test_old_spellings_still_work_with_a_warning(capsys, command, args, param, value):
    assert _parse(command, args)[param] == value
    err = capsys.readouterr().err
    assert "deprecated" in err and "next release" in err


@pytest.mark.parametrize("command, args, param, value", [
    ("chunk", ["-m", "run", "-o", "out.bed"], "output", "out.bed"),
    ("train", ["-o", "runs/x"], "out", "runs/x"),
    ("generate", ["m", "-o", "samples.fa", "-d", "dna", "-n", "2"], "output", "samples.fa"),
    ("chunk", ["-m", "run", "-D", "softmask=fold"], "domain_opt", ["softmask=fold"]),
    # A word that is another option's value is never read as a flag.
    ("generate", ["m", "--prompt", "-m"], "prompt", "-m"),
    ("generate", ["--", "-m"], "max_bytes", 256),
])
def test_new_spellings_have_no_warning(capsys, command, args, param, value):
    assert _parse(command, args)[param] == value
    assert "deprecated" not in capsys.readouterr().err


def test_deprecated_table_names_real_options():
    for command, entries in DEPRECATED.items():
        longs = {s for p in _commands()[command].params for s in getattr(p, "opts", [])}
        for entry in entries:
            assert entry.long in longs, f"{command}: {entry.long}"


def test_rewrite_leaves_other_commands_alone():
    assert rewrite_deprecated("info", ["-m", "x"], set(), print) == ["-m", "x"]


def test_deprecated_spelling_end_to_end(capsys, tmp_path):
    assert main(["domains", "dna", "-o", "colour=red"]) == 1  # the old spelling reaches the option's checks
    err = capsys.readouterr().err
    assert "-o for --domain-opt is deprecated" in err and "unknown option 'colour'" in err

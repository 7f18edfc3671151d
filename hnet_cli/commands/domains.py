"""`hnet domains`: list the domain plugins, show one, or dry-run its reader on files."""

from __future__ import annotations

import json
from typing import List, Optional

import typer

HELP = """List the data domains (plugins) and their defaults, show one, or check input files.

Examples:

\b
  hnet domains                                  # table of all domains
  hnet domains --json                           # the same, for scripts
  hnet domains dna                              # one domain and its reader options
  hnet domains dna --check reads.fq.gz          # read files, report counts and skips
  hnet domains code --check src/ -D languages=python
  hnet domains zh --check corpus.jsonl -D field=content -D errors=replace
"""


def _targets(domain) -> str:
    # "1:6 2:3,3" = stages: target N per stage, outer stage first; "*" = provisional.
    text = " ".join(
        f"{stages}:" + ",".join(f"{n:g}" for n in targets) for stages, targets in sorted(domain.compression_targets.items())
    )
    return text + ("" if domain.targets_measured else " *")


def _print_table(domains, errors) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="hnet domains", show_lines=False)
    for column in ("name", "aliases", "unit", "default recipe", "targets N", "bundled data", "summary"):
        table.add_column(column)
    for domain in domains.values():
        table.add_row(domain.name, ", ".join(domain.aliases), domain.unit, domain.default_recipe, _targets(domain),
                      domain.default_data, domain.summary)
    console = Console()
    console.print(table)
    if any(not d.targets_measured for d in domains.values()):
        console.print("targets N: stages:N per stage (outer first); * provisional, not yet from a sweep",
                      markup=False, highlight=False)
    for name, problem in errors.items():
        console.print(f"plugin {name!r} not loaded: {problem}", markup=False, highlight=False)


def _print_domain(domain) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    info = domain.describe()
    for key in ("name", "aliases", "summary", "unit", "default_recipe"):
        value = ", ".join(info[key]) if isinstance(info[key], list) else info[key]
        console.print(f"{key}: {value}", markup=False, highlight=False)
    provisional = "" if domain.targets_measured else " (provisional, not yet from a sweep)"
    targets = "; ".join(f"{k} stages: {', '.join(f'{n:g}' for n in v)}" for k, v in sorted(domain.compression_targets.items()))
    console.print(f"compression targets N: {targets}{provisional}", markup=False, highlight=False)
    console.print(f"bundled data: {domain.default_data}", markup=False, highlight=False)
    for path in info["default_paths"][:5]:
        console.print(f"  {path}", markup=False, highlight=False)
    if len(info["default_paths"]) > 5:
        console.print(f"  ... ({len(info['default_paths'])} paths)", markup=False, highlight=False)
    table = Table(title="reader options (--domain-opt KEY=VALUE)")
    for column in ("option", "type", "default", "choices", "help"):
        table.add_column(column)
    for key, option in info["options"].items():
        default = option["default"]
        default = ",".join(default) if isinstance(default, list) else str(default)
        table.add_row(key, option["type"], default, ", ".join(option.get("choices", [])), option["help"])
    console.print(table)


def _print_check(domain, stats, units) -> None:
    from rich.console import Console

    console = Console()
    say = lambda text: console.print(text, markup=False, highlight=False)  # noqa: E731
    say(f"{domain.name}: {stats.files} files, {stats.documents} documents, {stats.bytes} bytes, {units} {domain.unit}s")
    for reason, count in sorted(stats.skipped.items()):
        say(f"skipped {count}: {reason} (e.g. {', '.join(stats.examples.get(reason, []))})")
    for reason, count in sorted(stats.excluded.items()):
        say(f"excluded {count}: {reason}")
    if stats.replaced:
        say(f"replaced {stats.replaced} invalid byte sequences with U+FFFD")
    for encoding, count in sorted(stats.encodings.items()):
        say(f"encoding {encoding}: {count} files")
    for what, count in sorted(stats.counts.items()):
        say(f"{what}: {count}")


def domains_command(
    name: Optional[str] = typer.Argument(None, help="A domain name or alias to show (default: list all)."),
    paths: Optional[List[str]] = typer.Argument(None, help="With --check: files, directories, globs or - (stdin)."),
    check: bool = typer.Option(False, "--check", help="Read the inputs (or the bundled data) and report counts and skips."),
    domain_opt: Optional[List[str]] = typer.Option(None, "--domain-opt", "-D", metavar="KEY=VALUE",
                                                   help="A reader option (repeatable); see `hnet domains NAME`."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
):
    from hnet_cli.data.domain import scan
    from hnet_cli.data.registry import available_domains, get_domain, plugin_errors
    from hnet_cli.errors import ConfigError
    from hnet_cli.progress import make_reporter

    if name is None:
        if paths or check or domain_opt:
            raise ConfigError("--check and --domain-opt need a domain name: hnet domains NAME --check FILES")
        domains, errors = available_domains(), plugin_errors()
        if as_json:
            typer.echo(json.dumps({"domains": [d.describe() for d in domains.values()], "errors": errors}, indent=2))
        else:
            _print_table(domains, errors)
        return
    domain = get_domain(name)
    if paths and not check:
        raise ConfigError("input files are only read with --check: hnet domains NAME --check FILES")
    if not check:
        if domain_opt:
            domain.parse_options(domain_opt)  # report a bad option even when only showing the domain
        if as_json:
            typer.echo(json.dumps(domain.describe(), indent=2))
        else:
            _print_domain(domain)
        return
    options = domain.parse_options(domain_opt or [])
    stats, units = scan(domain, paths or [], options, reporter=make_reporter(quiet=quiet or as_json))
    if as_json:
        typer.echo(json.dumps(dict(domain=domain.name, units=units, unit=domain.unit, **stats.as_dict()), indent=2))
    else:
        _print_check(domain, stats, units)


def register(app: typer.Typer) -> None:
    app.command("domains", help=HELP, no_args_is_help=False)(domains_command)

"""``config`` and ``config check``: the effective configuration, and checking a file."""

from __future__ import annotations

from collections.abc import Sequence

import click

from .. import (
    Config,
    ConfigProblem,
    check_config,
    config_search_paths,
    find_config,
    load_config,
    read_config,
)
from . import _context
from ._app import EXIT_USAGE
from ._output import Column, echo_json, print_table

__all__ = ["COMMANDS"]


def _fail(problems: Sequence[ConfigProblem], name: str) -> None:
    """Each problem on its own line on stderr, a count, and exit 2."""
    for problem in problems:
        click.echo(str(problem), err=True)
    count = len(problems)
    click.echo(f"{name}: {count} problem{'s' if count != 1 else ''}", err=True)
    raise click.exceptions.Exit(EXIT_USAGE)


def _load(path: str | None, state: _context.State) -> Config:
    """The effective configuration: the file (each of its mistakes listed), the
    environment, ``--service`` and ``--api-key``.
    """
    found = find_config(path)
    if found is not None:
        problems = check_config(read_config(found), name=str(found))
        if problems:
            _fail(problems, str(found))
    return load_config(path, services=state.services, api_keys=state.api_keys)


@click.group("config", invoke_without_command=True)
@click.option(
    "--config",
    "path",
    metavar="PATH",
    help="The configuration file (default: the global --config, MODELPORT_CONFIG, "
    "./modelport.toml, then the user's configuration folder).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def config(ctx: click.Context, path: str | None, as_json: bool) -> None:
    """Show the configuration in force, and where each value came from.

    Values come from flags, then the environment, then the configuration file, then
    the defaults. Keys are never shown.

    \b
    Examples:
      modelport config                         what is in force, and why
      modelport config --config team.toml
      modelport config check team.toml         check a file before using it
    """
    if ctx.invoked_subcommand is not None:
        return
    state = ctx.find_object(_context.State)
    assert state is not None
    effective = _load(path if path is not None else state.config_path, state)
    rows = effective.describe()
    if as_json:
        echo_json(
            {
                "file": None if effective.path is None else str(effective.path),
                "values": [
                    {"key": key, "value": value, "source": str(source)}
                    for key, value, source in rows
                ],
            }
        )
        return
    if effective.path is not None:
        click.echo(f"configuration file: {effective.path}")
    else:
        looked = ", ".join(str(p) for p in config_search_paths())
        click.echo(f"no configuration file (looked for {looked})")
    print_table(
        [Column("KEY", no_wrap=True), Column("VALUE"), Column("SOURCE", style="dim")],
        [(key, value, str(source)) for key, value, source in rows],
    )


@config.command("check")
@click.argument("file", metavar="FILE")
def check(file: str) -> None:
    """Check a configuration file: every mistake, with its line and the fix.

    Exits 0 when the file is good, 2 when it has problems (each on stderr).
    """
    problems = check_config(read_config(file), name=file)
    if problems:
        _fail(problems, file)
    click.echo(f"{file}: no problems")


COMMANDS = [config]

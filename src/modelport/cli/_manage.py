"""``embed``, ``pull``, ``load`` and ``unload``."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from ..types import PullProgress
from . import _context
from ._output import echo_json, human_bytes, rich_console

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["COMMANDS"]


def _state(ctx: click.Context) -> _context.State:
    state = ctx.find_object(_context.State)
    assert state is not None
    return state


# --------------------------------------------------------------------------- embed


@click.command()
@click.argument("model")
@click.argument("texts", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Print the whole EmbedResponse as JSON.")
@click.pass_context
def embed(ctx: click.Context, model: str, texts: tuple[str, ...], as_json: bool) -> None:
    """Embed each TEXT with MODEL (or each line piped in).

    Prints the size and the first numbers of each vector; --json prints them all.
    """
    inputs = list(texts)
    if not inputs and not _context.stdin_is_tty():
        inputs = [line for line in sys.stdin.read().splitlines() if line.strip()]
    if not inputs:
        raise click.UsageError("Nothing to embed: give TEXT arguments or pipe lines in.")
    response = _state(ctx).client.embed(model, inputs)
    if as_json:
        echo_json(response)
        return
    for text, vector in zip(inputs, response.vectors, strict=False):
        click.echo(f"{len(vector)} dims  {_preview_vector(vector)}  {_preview_text(text)}")


def _preview_vector(vector: list[float]) -> str:
    """The first and last numbers of a vector.

    >>> _preview_vector([0.1, 0.2, 0.3])
    '[0.1, 0.2, 0.3]'
    >>> _preview_vector([0.012345, -0.5, 0.25, 0.125, 0.0625, 1.0])
    '[0.0123, -0.5, 0.25, …, 1.0]'
    """
    shown = [repr(round(x, 4)) for x in vector]
    if len(shown) > 5:
        shown = [*shown[:3], "…", shown[-1]]
    return "[" + ", ".join(shown) + "]"


def _preview_text(text: str, limit: int = 40) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


# --------------------------------------------------------------------------- pull


@click.command()
@click.argument("model")
@click.option("--json", "as_json", is_flag=True, help="Print each progress step as a line of JSON.")
@click.pass_context
def pull(ctx: click.Context, model: str, as_json: bool) -> None:
    """Download MODEL, with a progress bar per layer.

    Works with Ollama and LM Studio; use "ollama/NAME" to choose the server when
    several can download.
    """
    steps = _state(ctx).client.pull(model)
    if as_json:
        for step in steps:
            echo_json(step, indent=None)
    elif _context.stdout_is_terminal():
        _pull_with_bars(steps)
    else:
        _pull_plain(steps)


def _layer_key(step: PullProgress) -> str | None:
    if step.digest:
        return step.digest
    return "download" if step.total else None


def _pull_plain(steps: Iterator[PullProgress]) -> None:
    """One line per step and per layer, not per progress update (logs stay short)."""
    seen: set[str] = set()
    last = None
    for step in steps:
        key = _layer_key(step)
        if key is not None and key not in seen:
            seen.add(key)
            click.echo(f"{step.status}  {human_bytes(step.total)}")
        elif step.status != last:
            click.echo(step.status)
        last = step.status


def _pull_with_bars(steps: Iterator[PullProgress]) -> None:
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TaskID,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    tasks: dict[str, TaskID] = {}
    last = None
    live = False
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=rich_console(),
    )
    try:
        for step in steps:
            key = _layer_key(step)
            if key is None:
                if live:  # the bars are done: later steps print below them, in order
                    progress.stop()
                    live = False
                if step.status != last:
                    progress.console.print(step.status, markup=False, highlight=False)
            else:
                if not live:
                    progress.start()
                    live = True
                task = tasks.get(key)
                if task is None:
                    task = tasks[key] = progress.add_task(step.status, total=step.total)
                progress.update(
                    task, description=step.status, completed=step.completed or 0, total=step.total
                )
            last = step.status
    finally:
        if live:
            progress.stop()


# --------------------------------------------------------------------------- load / unload


@click.command()
@click.argument("model")
@click.option(
    "--context-length",
    type=click.IntRange(min=1),
    metavar="N",
    help="The context window to load it with (default: the server's).",
)
@click.option(
    "--ttl",
    type=click.FloatRange(min=0, min_open=True),
    metavar="SECONDS",
    help="Unload after this long unused (default: the server's).",
)
@click.pass_context
def load(ctx: click.Context, model: str, context_length: int | None, ttl: float | None) -> None:
    """Load MODEL into memory (Ollama, LM Studio, a llama.cpp router).

    Waits until the server says the model is loaded. A llama.cpp router takes neither
    option: it says which of its own settings to use instead.
    """
    _state(ctx).client.load(model, context_length=context_length, ttl=ttl)
    click.echo(f"Loaded {model}.")


@click.command()
@click.argument("model")
@click.pass_context
def unload(ctx: click.Context, model: str) -> None:
    """Unload MODEL from memory (Ollama, LM Studio, a llama.cpp router).

    A model that is not loaded is left as it is.
    """
    _state(ctx).client.unload(model)
    click.echo(f"Unloaded {model}.")


COMMANDS = [embed, pull, load, unload]

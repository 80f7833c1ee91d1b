"""``modelport complete``: a legacy text completion (the prompt as given, no template)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from . import _context
from ._output import echo_json

if TYPE_CHECKING:
    from .. import CompleteOptions

__all__ = ["COMMANDS"]


@click.command()
@click.argument("model")
@click.argument("prompt")
@click.option(
    "--temperature", type=click.FloatRange(min=0), metavar="T", help="Sampling temperature."
)
@click.option("--max-tokens", type=click.IntRange(min=1), metavar="N", help="Stop after N tokens.")
@click.option("--stop", multiple=True, metavar="TEXT", help="Stop at TEXT. Repeatable.")
@click.option(
    "--stream/--no-stream", default=True, help="Print the text as it arrives (the default)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the CompletionResponse as JSON.")
@click.pass_context
def complete(
    ctx: click.Context,
    model: str,
    prompt: str,
    temperature: float | None,
    max_tokens: int | None,
    stop: tuple[str, ...],
    stream: bool,
    as_json: bool,
) -> None:
    """Continue PROMPT with MODEL, as given: no chat template, no roles.

    \b
    Ollama runs it as /api/generate with raw: true; the other servers on
    /v1/completions.
      modelport complete smollm2 "Once upon a time" --max-tokens 32
    """
    state = ctx.find_object(_context.State)
    assert state is not None
    options: CompleteOptions = {}
    if temperature is not None:
        options["temperature"] = temperature
    if max_tokens is not None:
        options["max_tokens"] = max_tokens
    if stop:
        options["stop"] = list(stop)
    client = state.client
    if as_json:
        echo_json(client.complete(model, prompt, **options))
        return
    if not stream:
        click.echo(client.complete(model, prompt, **options).text)
        return
    with client.complete_stream(model, prompt, **options) as chunks:
        for chunk in chunks:
            click.echo(chunk.text, nl=False)
    click.echo()


COMMANDS = [complete]

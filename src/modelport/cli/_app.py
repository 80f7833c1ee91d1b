"""The ``modelport`` command group: global options, and the one place errors become
exit codes.

Exit codes: 0 success, 1 a model or server error (any :class:`ModelportError`),
2 a usage error (including a bad ``--service`` URL), 130 interrupted.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

import click

from .._version import __version__
from ..errors import ConfigurationError, ModelportError
from . import _context
from ._output import report_error

__all__ = ["EXIT_ERROR", "EXIT_INTERRUPTED", "EXIT_USAGE", "app"]

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class _Group(click.Group):
    """A group that turns modelport errors and Ctrl-C into one line and an exit code."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except ModelportError as exc:
            state = ctx.obj if isinstance(ctx.obj, _context.State) else None
            report_error(exc, debug=bool(state and state.debug))
            code = EXIT_USAGE if isinstance(exc, ConfigurationError) else EXIT_ERROR
            raise click.exceptions.Exit(code) from None
        except KeyboardInterrupt:
            if _context.stderr_is_terminal():
                click.echo("", err=True)
            raise click.exceptions.Exit(EXIT_INTERRUPTED) from None


def _restore(logger: logging.Logger, handler: logging.Handler, level: int) -> Callable[[], None]:
    """Undo what --debug did to a logger, when the command ends."""

    def restore() -> None:
        logger.removeHandler(handler)
        logger.setLevel(level)

    return restore


def _named_keys(values: tuple[str, ...]) -> dict[str, str]:
    keys: dict[str, str] = {}
    for value in values:
        name, sep, key = value.partition("=")
        if not sep or not name.strip() or not key.strip():
            raise click.BadParameter(
                "expected NAME=KEY, where NAME is a service's name (the key is not shown)",
                param_hint="'--api-key'",
            )
        keys[name.strip()] = key
    return keys


CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(name="modelport", cls=_Group, context_settings=CONTEXT_SETTINGS)
@click.option(
    "--service",
    "services",
    multiple=True,
    metavar="URL",
    help="A server to use, instead of finding them: a URL, name=URL, or a kind "
    "(ollama, lmstudio, llamacpp). Repeatable. Same as MODELPORT_SERVICES.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    metavar="SECONDS",
    help="Read timeout for each request (default: MODELPORT_TIMEOUT, else 60; 600 for serve).",
)
@click.option(
    "--api-key",
    "api_keys",
    multiple=True,
    metavar="NAME=KEY",
    callback=lambda ctx, param, values: _named_keys(values),
    help="The API key of the service named NAME (as in --service NAME=URL). Repeatable. "
    "Same as MODELPORT_API_KEY_<NAME>. Sent only to that service.",
)
@click.option(
    "--config",
    "config_path",
    metavar="PATH",
    help="The configuration file (default: MODELPORT_CONFIG, ./modelport.toml, then the "
    "user's configuration folder). Flags and the environment override it.",
)
@click.option("--debug", is_flag=True, help="Show full tracebacks and every HTTP request.")
@click.version_option(
    __version__, "--version", prog_name="modelport", message="%(prog)s %(version)s"
)
@click.pass_context
def app(
    ctx: click.Context,
    services: tuple[str, ...],
    timeout: float | None,
    api_keys: dict[str, str],
    config_path: str | None,
    debug: bool,
) -> None:
    """See, try and manage the language models running on your own machines.

    Finds Ollama, LM Studio, llama.cpp and OpenAI-compatible servers on this machine
    (or the ones given with --service) and talks to all of them the same way.

    \b
    Examples:
      modelport discover                 what is running, and what is not
      modelport models --loaded          every model, across every server
      modelport chat llama3.2            a conversation (Ctrl-D to leave)
      modelport chat llama3.2 "Why is the sky blue?"
      cat notes.txt | modelport chat qwen3 "Summarise this"
    """
    state = _context.State(
        services=services,
        timeout=timeout,
        debug=debug,
        api_keys=api_keys,
        config_path=config_path,
    )
    ctx.obj = state
    ctx.call_on_close(state.close)
    if debug:
        import logging

        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("debug: %(name)s: %(message)s"))
        for name in ("httpx", "modelport"):
            logger = logging.getLogger(name)
            ctx.call_on_close(_restore(logger, handler, logger.level))
            logger.setLevel(logging.DEBUG)
            logger.addHandler(handler)

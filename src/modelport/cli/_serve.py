"""``modelport serve``: the gateway (``modelport.gateway``) served by uvicorn.

:func:`make_client` and :func:`run` are looked up at call time, so the tests replace
them (a client over fake services; a recorder instead of a real server).
"""

from __future__ import annotations

import logging
import os
import secrets
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

import click

from ..errors import ConfigurationError
from ..types import Service, ServiceStatus
from . import _context

if TYPE_CHECKING:
    from .. import Config
    from ..client import AsyncClient
    from ..gateway import Gateway, ServerLimits

__all__ = ["COMMANDS", "INSTALL_HINT", "make_client", "run", "serve"]

INSTALL_HINT = (
    "modelport serve needs the 'serve' extra (uvicorn). "
    "Install it with: pip install 'modelport[serve]'"
)
DEFAULT_PORT = 11435


SERVE_TIMEOUT = 600.0
"""The gateway's read timeout when neither ``--timeout`` nor ``MODELPORT_TIMEOUT`` sets
one. A coding agent's prompt (4,000 tokens and more) takes minutes to read on a CPU, and
llama.cpp sends only keep-alives meanwhile: the library's 60 s would cut it, retry, and
fail the agent. LiteLLM's proxy waits 600 s too."""


def make_client(
    services: Sequence[str], timeout: float | None, gateway_id: str, config: Config | None = None
) -> AsyncClient:
    """The client the gateway serves: the configuration file's services and aliases
    (``None``: no file) with ``--service`` entries over them, else discovery. It
    schedules: the file's limits and what each server says about its capacity
    (llama.cpp's slots, a router's ``--models-max``) limit it, with a FIFO queue.
    """
    import modelport

    return modelport.AsyncClient(
        services=list(services) or None,
        timeout=timeout,
        gateway_id=gateway_id,
        config=config,
        _limits=True,
        _default_timeout=SERVE_TIMEOUT,
    )


def _gateway_keys(flags: Sequence[str], config: Config) -> tuple[list[str], list[str]]:
    """Every key callers may send: ``--api-key``, ``MODELPORT_API_KEYS``, and one from
    each variable ``[gateway] api_keys_env`` names; and why a key given is no key (an
    empty flag, an empty ``MODELPORT_API_KEYS``, a variable unset or empty).
    """
    from ..gateway import keys_from_env

    env_keys = keys_from_env(os.environ)
    keys = [key.strip() for key in (*flags, *env_keys) if key.strip()]
    empty: list[str] = []
    if any(not key.strip() for key in flags):
        empty.append('the API key given is empty (an unset variable in --api-key "$KEY"?)')
    if "MODELPORT_API_KEYS" in os.environ and not env_keys:
        empty.append("MODELPORT_API_KEYS is empty")
    for variable in config.gateway.api_keys_env:
        value = os.environ.get(variable, "").strip()
        if value:
            keys.append(value)
        else:
            empty.append(f"{variable} (named by [gateway] api_keys_env) is unset or empty")
    return list(dict.fromkeys(keys)), empty


def run(
    app: Gateway,
    *,
    host: str,
    port: int,
    limits: ServerLimits,
    log_level: str,
    announce: Callable[[int], Awaitable[None]],
) -> None:
    """Serve ``app`` until Ctrl-C (see :func:`modelport.gateway.serve`)."""
    from ..gateway import serve

    serve(app, host=host, port=port, limits=limits, log_level=log_level, announce=announce)


def _shown_host(host: str) -> str:
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _size(size: int) -> str:
    """``104857600`` -> ``100 MB``, in the units ``--max-body`` takes."""
    for unit, scale in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if size >= scale:
            return f"{size / scale:g} {unit}"
    return f"{size} B"


def _service_line(service: Service) -> str:
    mark = {ServiceStatus.AVAILABLE: "ok", ServiceStatus.DEGRADED: "degraded"}.get(
        service.status, "unavailable"
    )
    models = "" if service.model_count is None else f", {service.model_count} models"
    why = f" ({service.error})" if service.error and mark != "ok" else ""
    return f"  {mark:<11} {service.name} ({service.kind}) {service.base_url}{models}{why}"


def _setup_logging(level: str, access_log: str = "text") -> None:
    logger = logging.getLogger("modelport.gateway")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
        logger.addHandler(handler)
    logger.setLevel(level.upper())
    logger.propagate = False
    if access_log == "json":  # one JSON object a line, nothing around it
        access = logging.getLogger("modelport.gateway.access")
        if not access.handlers:
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(logging.Formatter("%(message)s"))
            access.addHandler(handler)
        access.propagate = False


@click.command("serve")
@click.option(
    "--host",
    default=None,
    help="The address to listen on (default: [gateway] host, else 127.0.0.1).",
)
@click.option(
    "--port",
    default=None,
    type=click.IntRange(0, 65535),
    help=f"The port (default: [gateway] port, else {DEFAULT_PORT}).",
)
@click.option(
    "--service",
    "services",
    multiple=True,
    metavar="SPEC",
    help="A server to put behind the gateway (URL, name=URL or a kind); repeatable. "
    "Default: MODELPORT_SERVICES, else the servers found on this machine.",
)
@click.option(
    "--api-key",
    "api_keys",
    multiple=True,
    metavar="KEY",
    help="A key callers must send (Bearer or x-api-key); repeatable. Also MODELPORT_API_KEYS "
    "(comma-separated) and the variables [gateway] api_keys_env names. Required to listen "
    "beyond this machine.",
)
@click.option(
    "--max-body",
    default=None,
    metavar="SIZE",
    help="The largest request body (512KB, 100MB...); larger gets 413. Default: [gateway] "
    "max_body, else 100MB.",
)
@click.option(
    "--max-body-memory",
    default=None,
    metavar="SIZE",
    help="Request bodies held in memory at once, across requests; beyond it 503. "
    "Default: 4 times --max-body.",
)
@click.option(
    "--cors-origin",
    "cors_origins",
    multiple=True,
    metavar="ORIGIN",
    help="A browser origin allowed to read answers (https://app.example, "
    "https://*.example, or * for any); repeatable; also MODELPORT_ORIGINS; these replace "
    "[gateway] cors_origins. Added to pages on localhost and 127.0.0.1 and the app://, "
    "file://, tauri:// and vscode-webview:// schemes.",
)
@click.option(
    "--max-connections",
    type=click.IntRange(1, None),
    default=None,
    metavar="N",
    help="Connections open at once (default: as many as the open-file limit allows, "
    "half of it). At the cap, idle connections make room; busy ones get 503.",
)
@click.option(
    "--idle-timeout",
    type=click.FloatRange(0.1, 3600),
    default=10.0,
    show_default=True,
    metavar="SECONDS",
    help="A connection that sends nothing for this long (before its request, within "
    "its head or its body) is closed, with 408 mid-request.",
)
@click.option(
    "--head-timeout",
    type=click.FloatRange(0.1, 3600),
    default=30.0,
    show_default=True,
    metavar="SECONDS",
    help="The most a request's head (its line and headers) may take to arrive.",
)
@click.option(
    "--log-level",
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
    default="info",
    show_default=True,
    help="info logs one line per request (never prompts or keys).",
)
@click.option(
    "--access-log",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="The per-request line: text, or one JSON object (request id, surface, model, "
    "service, status, error type, tokens, queue wait, TTFT, duration).",
)
@click.pass_obj
def serve(
    state: _context.State,
    host: str | None,
    port: int | None,
    services: tuple[str, ...],
    api_keys: tuple[str, ...],
    max_body: str | None,
    max_body_memory: str | None,
    cors_origins: tuple[str, ...],
    max_connections: int | None,
    idle_timeout: float,
    head_timeout: float,
    log_level: str,
    access_log: str,
) -> None:
    """Serve every model behind one OpenAI-compatible (and Ollama) endpoint.

    Its settings come from the flags, then the environment, then the configuration
    file's [gateway] table (see `modelport config`), then the defaults.

    \b
    Examples:
      modelport serve                          on http://127.0.0.1:11435
      modelport serve --service gpu=http://10.0.0.5:11434
      modelport serve --host 0.0.0.0 --api-key "$KEY"
    """
    from ..gateway import (
        ServerLimits,
        create_app,
        is_loopback,
        origins_from_env,
        parse_size,
    )

    config = state.config
    host = host if host is not None else config.gateway.host
    port = port if port is not None else config.gateway.port
    keys, empty = _gateway_keys(api_keys, config)
    if not is_loopback(host) and not keys:
        said = f"{'; '.join(empty)}, so " if empty else ""
        raise click.UsageError(
            f"Refusing to listen on {host} without an API key: {said}anyone who can reach "
            "this machine could use its models. Add a non-empty key with --api-key KEY "
            "(repeatable) or MODELPORT_API_KEYS=key1,key2 (or set the variables [gateway] "
            "api_keys_env names), or listen on 127.0.0.1."
        )
    try:
        size = parse_size(max_body) if max_body is not None else config.gateway.max_body
    except ConfigurationError as exc:
        raise click.BadParameter(str(exc), param_hint="--max-body") from None
    try:
        held = parse_size(max_body_memory) if max_body_memory is not None else 4 * size
    except ConfigurationError as exc:
        raise click.BadParameter(str(exc), param_hint="--max-body-memory") from None
    if held < size:
        raise click.BadParameter(
            f"{max_body_memory} is less than one body of --max-body {max_body}.",
            param_hint="--max-body-memory",
        )
    try:
        import httptools  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        click.echo(INSTALL_HINT, err=True)
        raise click.exceptions.Exit(2) from None

    gateway_id = secrets.token_hex(8)
    client = make_client(
        [*state.services, *services], state.timeout, gateway_id, config=state.file_config
    )
    origins = [*cors_origins, *origins_from_env(os.environ)] or list(config.gateway.cors_origins)
    app = create_app(
        client,
        api_keys=keys,
        max_body=size,
        gateway_id=gateway_id,
        max_body_memory=held,
        cors_origins=origins,
        access_log=access_log,
    )
    limits = ServerLimits(
        idle_timeout=idle_timeout, head_timeout=head_timeout, max_connections=max_connections
    ).within_open_files()
    cap = limits.max_connections
    _setup_logging(log_level, access_log)

    async def announce(bound: int) -> None:
        url = f"http://{_shown_host(host)}:{bound}"
        found = await client.services()
        lines = [
            f"modelport gateway on {url}",
            f"  OpenAI:  base_url={url}/v1",
            f"  Ollama:  OLLAMA_HOST={url}",
            f"  keys:    {len(keys)} API key{'s' if len(keys) != 1 else ''} required"
            if keys
            else "  keys:    none (this machine only"
            + ("; a key given was empty or unset, and ignored)" if empty else ")"),
            f"  limits:  {cap} connections, idle timeout {idle_timeout:g} s, "
            f"bodies {_size(size)} ({_size(held)} at once)",
            "services:" if found else "services: none found yet (looked again on each request)",
            *(_service_line(s) for s in found),
            "Ctrl-C to stop.",
        ]
        click.echo("\n".join(lines))

    run(app, host=host, port=port, limits=limits, log_level=log_level, announce=announce)


COMMANDS = [serve]

"""``modelport serve``: one HTTP endpoint that speaks the OpenAI API and Ollama's in
front of every service an :class:`~modelport.AsyncClient` knows.

>>> from modelport.gateway import create_app
>>> app = create_app(api_keys=["s3cret"])       # an ASGI app; serve it with uvicorn
>>> app.id != ""
True

The app is plain ASGI: mount it in another ASGI app, test it in-process with
``httpx.ASGITransport``, or run it with ``modelport serve`` (the ``serve`` extra),
or :func:`serve` from Python, which adds the limits of :class:`ServerLimits` on every
connection (an app mounted elsewhere gets its host server's).
It uses only the public client, so everything the client does (discovery, routing
by model name, balancing replicas by requests in flight, failover before the first
byte, typed errors) is what the gateway does. See ``docs/gateway.md``.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..client import AsyncClient
from ._app import GATEWAY_HEADER, Gateway
from ._config import DEFAULT_MAX_BODY, is_loopback, keys_from_env, origins_from_env, parse_size
from ._server import ServerLimits, serve

__all__ = [
    "DEFAULT_MAX_BODY",
    "GATEWAY_HEADER",
    "Gateway",
    "ServerLimits",
    "create_app",
    "is_loopback",
    "keys_from_env",
    "origins_from_env",
    "parse_size",
    "serve",
]


def create_app(
    client: AsyncClient | None = None,
    *,
    api_keys: Sequence[str] | None = None,
    max_body: int | str = DEFAULT_MAX_BODY,
    gateway_id: str | None = None,
    max_body_memory: int | str | None = None,
    cors_origins: Sequence[str] = (),
    metrics: bool | None = None,
    access_log: str = "text",
) -> Gateway:
    """The gateway as an ASGI application.

    Args:
        client: the :class:`~modelport.AsyncClient` to serve; ``None`` makes one that
            discovers local servers (and never routes to this gateway itself). A
            client passed in is not closed by the app; make it with
            ``AsyncClient(..., gateway_id=ID)`` and pass the same ``gateway_id`` here
            (or none: the app takes the client's) so it too never routes to itself.
        api_keys: keys a caller must send (``Authorization: Bearer KEY`` or
            ``x-api-key: KEY``). None (or an empty list) means no key is asked for, and
            then only requests addressed to this machine (``Host`` ``localhost``,
            ``127.0.0.1``, ``[::1]``) are answered.
        max_body: the largest request body in bytes (or ``"100MB"``); larger gets 413.
        gateway_id: this instance's id (default: the client's ``gateway_id``, else random).
        max_body_memory: the request-body bytes held at once across every request
            (default: 4 times ``max_body``); beyond it a request gets 503 with
            ``Retry-After``.
        cors_origins: browser origins allowed besides the defaults (pages on
            localhost and 127.0.0.1, ``app://``, ``file://``, ``tauri://``,
            ``vscode-webview://``): origins, patterns with ``*``, or ``"*"`` for any.
        metrics: ``GET /metrics`` and ``/metrics/upstream`` (Prometheus, with the key as
            every route; ``docs/observability.md``). ``None``: on when prometheus-client
            is installed (the ``serve`` extra); ``False``: off (404, nothing recorded).
        access_log: the line logged per request at INFO on ``modelport.gateway``:
            ``"text"`` (the default) or ``"json"``, one JSON object per request.

    Raises:
        ConfigurationError: an empty API key, an unreadable size, a
            ``max_body_memory`` smaller than ``max_body``, an unknown ``access_log``,
            or ``metrics=True`` without prometheus-client.
    """
    return Gateway(
        client,
        api_keys=api_keys,
        max_body=parse_size(max_body),
        gateway_id=gateway_id,
        max_body_memory=None if max_body_memory is None else parse_size(max_body_memory),
        cors_origins=cors_origins,
        metrics=metrics,
        access_log=access_log,
    )

"""``modelport serve``: one HTTP endpoint that speaks the OpenAI API and Ollama's in
front of every service an :class:`~modelport.AsyncClient` knows.

>>> from modelport.gateway import create_app
>>> app = create_app(api_keys=["s3cret"])       # an ASGI app; serve it with uvicorn
>>> app.id != ""
True

The app is plain ASGI: mount it in another ASGI app, test it in-process with
``httpx.ASGITransport``, or run it with ``modelport serve`` (the ``serve`` extra).
It uses only the public client, so everything the client does (discovery, routing
by model name, balancing replicas by requests in flight, failover before the first
byte, typed errors) is what the gateway does. See ``docs/gateway.md``.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..client import AsyncClient
from ._app import GATEWAY_HEADER, Gateway
from ._config import DEFAULT_MAX_BODY, is_loopback, keys_from_env, parse_size

__all__ = [
    "DEFAULT_MAX_BODY",
    "GATEWAY_HEADER",
    "Gateway",
    "create_app",
    "is_loopback",
    "keys_from_env",
    "parse_size",
]


def create_app(
    client: AsyncClient | None = None,
    *,
    api_keys: Sequence[str] | None = None,
    max_body: int | str = DEFAULT_MAX_BODY,
    gateway_id: str | None = None,
) -> Gateway:
    """The gateway as an ASGI application.

    Args:
        client: the :class:`~modelport.AsyncClient` to serve; ``None`` makes one that
            discovers local servers (and never routes to this gateway itself). A
            client passed in is not closed by the app; make it with
            ``AsyncClient(..., gateway_id=ID)`` and pass the same ``gateway_id`` here
            (or none: the app takes the client's) so it too never routes to itself.
        api_keys: keys a caller must send (``Authorization: Bearer KEY`` or
            ``x-api-key: KEY``); none means no key is asked for.
        max_body: the largest request body in bytes (or ``"100MB"``); larger gets 413.
        gateway_id: this instance's id (default: the client's ``gateway_id``, else random).

    Raises:
        ConfigurationError: an unreadable ``max_body``.
    """
    return Gateway(client, api_keys=api_keys, max_body=parse_size(max_body), gateway_id=gateway_id)

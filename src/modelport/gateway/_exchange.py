"""One request and its response, at the ASGI level: what the gateway's handlers write
to (whole JSON answers, failures in each surface's shape, streamed pieces), and what
the access log needs to know about it.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from ..discovery import GATEWAY_HEADER
from ..types import ChatChunk, Usage
from . import _errors as errors
from ._errors import Failure

if TYPE_CHECKING:
    from ._app import Gateway

__all__ = [
    "GATEWAY_HEADER",
    "Encoder",
    "Exchange",
    "Handler",
    "Receive",
    "Route",
    "Scope",
    "Send",
    "Surface",
    "until_disconnect",
    "CLIENT_CLOSED",
    "JSON",
    "NDJSON",
    "TEXT",
    "Disconnected",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Surface = Literal["openai", "ollama"]
Handler = Callable[["Exchange", object], Awaitable[None]]

JSON = b"application/json"
NDJSON = b"application/x-ndjson"
TEXT = b"text/plain; charset=utf-8"
STREAM_HEADERS = [(b"cache-control", b"no-cache"), (b"x-accel-buffering", b"no")]
VARY = (b"vary", b"origin")
"""Every answer may differ by the page asking (CORS), so caches must key on it."""
CLIENT_CLOSED = 499
"""The status logged for a caller that left before the answer was complete."""


class Encoder(Protocol):
    """Turns a stream's chunks into the bytes of one surface (SSE or NDJSON)."""

    def chunk(self, chunk: ChatChunk) -> bytes: ...

    def end(self) -> bytes: ...


class Disconnected(Exception):
    """The caller hung up while its request body was being read."""


@dataclass(frozen=True, slots=True)
class Route:
    """One path: which surface's error shape it uses, and a handler per method."""

    surface: Surface
    methods: dict[str, Handler]
    body: bool = False
    """Whether the handlers take a JSON body."""
    public: bool = False
    """Whether it answers without an API key (only fixed, harmless answers)."""


class Exchange:
    """One request and its response, with what the access log needs."""

    __slots__ = (
        "authorized",
        "closed",
        "cors",
        "gateway",
        "held",
        "method",
        "model",
        "path",
        "receive",
        "scope",
        "send",
        "service",
        "started",
        "status",
        "streaming",
        "surface",
        "usage",
    )

    def __init__(self, gateway: Gateway, scope: Scope, receive: Receive, send: Send, path: str):
        self.gateway = gateway
        self.scope = scope
        self.receive = receive
        self.send = send
        self.method: str = scope["method"]
        self.path = path
        self.surface: Surface = "ollama" if path == "/" or path.startswith("/api/") else "openai"
        self.started = time.perf_counter()
        self.status = 0
        self.model: str | None = None
        self.service: str | None = None
        self.usage: Usage | None = None
        self.streaming = False
        self.closed = False
        self.cors: list[tuple[bytes, bytes]] = []
        """Headers granting the caller's page (CORS) the answer; sent on every response."""
        self.held = 0
        """Bytes of request body counted against the gateway's body budget."""
        self.authorized = False
        """Whether the caller sent a right key (or the gateway asks for none)."""

    @property
    def headers_sent(self) -> bool:
        return self.status != 0

    def note(self, service: str | None, usage: Usage | None = None) -> None:
        """Record the service that answered and the tokens, for the access log."""
        self.service = service or self.service
        self.usage = usage or self.usage

    async def _start(self, status: int, headers: Iterable[tuple[bytes, bytes]]) -> None:
        self.status = status
        await self.send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [*headers, *self.cors, VARY, self.gateway.stamp],
            }
        )

    async def json(
        self, status: int, body: object, headers: Sequence[tuple[bytes, bytes]] = ()
    ) -> None:
        """A whole JSON response."""
        data = errors.dumps(body)
        await self.raw(status, data, JSON, headers)

    async def raw(
        self,
        status: int,
        data: bytes,
        content_type: bytes,
        headers: Sequence[tuple[bytes, bytes]] = (),
    ) -> None:
        """A whole response with these bytes."""
        length = (b"content-length", str(len(data)).encode())
        await self._start(status, [(b"content-type", content_type), length, *headers])
        body = b"" if self.method == "HEAD" else data
        await self.send({"type": "http.response.body", "body": body})
        self.closed = True

    async def fail(self, failure: Failure, headers: Sequence[tuple[bytes, bytes]] = ()) -> None:
        """The failure as a whole response in this surface's shape."""
        body = (
            errors.ollama_body(failure) if self.surface == "ollama" else errors.openai_body(failure)
        )
        await self.json(failure.status, body, [*errors.headers_for(failure), *headers])

    async def open_stream(self, content_type: bytes) -> None:
        """Send the headers of a streamed response (status 200)."""
        self.streaming = True
        await self._start(200, [(b"content-type", content_type), *STREAM_HEADERS])

    async def write(self, data: bytes) -> None:
        """One piece of a streamed response, sent at once."""
        if data:
            await self.send({"type": "http.response.body", "body": data, "more_body": True})

    async def finish(self) -> None:
        """End a streamed response."""
        if not self.closed:
            self.closed = True
            await self.send({"type": "http.response.body", "body": b"", "more_body": False})


async def until_disconnect(receive: Receive) -> None:
    """Return when the caller hangs up."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return

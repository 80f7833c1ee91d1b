"""One request and its response, at the ASGI level: what the gateway's handlers write
to (whole JSON answers, failures in the surface's shape, streamed pieces), the
warnings returned to the caller, and what the access log needs to know about it.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping, Sequence
from typing import Any, Protocol

from ..discovery import GATEWAY_HEADER
from ..types import Usage
from ._errors import Failure
from ._json import dumps

__all__ = [
    "CLIENT_CLOSED",
    "GATEWAY_HEADER",
    "JSON",
    "NDJSON",
    "SSE",
    "TEXT",
    "WARNING_HEADER",
    "Disconnected",
    "ErrorShape",
    "Exchange",
    "Shapes",
    "Receive",
    "Scope",
    "Send",
    "read_headers",
    "until_disconnect",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

JSON = b"application/json"
NDJSON = b"application/x-ndjson"
SSE = b"text/event-stream"
TEXT = b"text/plain; charset=utf-8"
STREAM_HEADERS = [(b"cache-control", b"no-cache"), (b"x-accel-buffering", b"no")]
VARY = (b"vary", b"origin")
"""Every answer may differ by the page asking (CORS), so caches must key on it."""
CLIENT_CLOSED = 499
"""The status logged for a caller that left before the answer was complete."""
WARNING_HEADER = b"x-modelport-warning"
"""The one response header naming what a request lost (dropped tools...), ``; `` between."""


ErrorShape = tuple[int, Sequence[tuple[bytes, bytes]], object]
"""A failure as one surface answers it: the status, extra headers and the JSON body."""


class Shapes(Protocol):
    """What an exchange needs of its surface (a :class:`~._surface.Surface`)."""

    def failure_for(self, error: BaseException) -> Failure: ...

    def error(self, failure: Failure) -> ErrorShape: ...


class Disconnected(Exception):
    """The caller hung up while its request body was being read."""


def _header_text(text: str) -> str:
    """One warning, safe in a header value: printable ASCII, no ``;`` of its own."""
    safe = "".join(c if " " <= c <= "~" and c != ";" else "?" for c in text)
    return safe[:300]


class Exchange:
    """One request and its response, with what the access log needs."""

    __slots__ = (
        "authorized",
        "closed",
        "cors",
        "error_type",
        "first_token",
        "held",
        "method",
        "model",
        "operation",
        "path",
        "queue_wait",
        "receive",
        "request_id",
        "scope",
        "send",
        "service",
        "stamp",
        "started",
        "status",
        "streaming",
        "surface",
        "upstream",
        "usage",
        "warnings",
    )

    def __init__(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        path: str,
        surface: Shapes,
        stamp: tuple[bytes, bytes],
    ) -> None:
        self.scope = scope
        self.receive = receive
        self.send = send
        self.method: str = scope["method"]
        self.path = path
        self.surface = surface
        """The surface whose shapes the answer takes (the route's, once found)."""
        self.stamp = stamp
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
        self.request_id: bytes | None = None
        """The ``x-request-id`` sent upstream, echoed on the response."""
        self.warnings: list[str] = []
        """What the request lost, for the ``x-modelport-warning`` header."""
        self.operation: str | None = None
        """The GenAI operation (``chat``, ``text_completion``, ``embeddings``,
        ``rerank``) of a model request; ``None`` for other routes (metrics)."""
        self.error_type: str | None = None
        """The class of the error the request failed with (metrics, the request log)."""
        self.first_token = 0.0
        """When a stream's first chunk came from the service (``perf_counter``; 0: none)."""
        self.upstream = 0.0
        """Seconds spent waiting on the client's calls (the rest is the gateway's own)."""
        self.queue_wait: float | None = None
        """Seconds the request waited in the scheduler's queue, where it waited."""

    @property
    def headers_sent(self) -> bool:
        return self.status != 0

    def note(self, service: str | None, usage: Usage | None = None) -> None:
        """Record the service that answered and the tokens, for the access log."""
        self.service = service or self.service
        self.usage = usage or self.usage

    def failed(self, error: BaseException) -> None:
        """Record the error the request failed with, and its service."""
        self.error_type = type(error).__name__
        self.note(getattr(error, "service", None))

    def failure_type(self) -> str:
        """What the request failed with: its error's class, ``cancelled`` (the caller
        left), the status of another failure (``401``), or ``""`` for a success.
        """
        if self.error_type is not None:
            return self.error_type
        status = self.status or CLIENT_CLOSED
        if status == CLIENT_CLOSED:
            return "cancelled"
        return str(status) if status >= 400 else ""

    def warn(self, *warnings: str) -> None:
        """Tell the caller what its request lost (before the response starts)."""
        self.warnings.extend(warnings)

    async def _start(self, status: int, headers: Iterable[tuple[bytes, bytes]]) -> None:
        self.status = status
        out = [*headers, *self.cors, VARY, self.stamp]
        if self.request_id is not None:
            out.append((b"x-request-id", self.request_id))
        if self.warnings:
            value = "; ".join(_header_text(w) for w in self.warnings)
            out.append((WARNING_HEADER, value.encode()))
        await self.send({"type": "http.response.start", "status": status, "headers": out})

    async def json(
        self, status: int, body: object, headers: Sequence[tuple[bytes, bytes]] = ()
    ) -> None:
        """A whole JSON response."""
        await self.raw(status, dumps(body), JSON, headers)

    async def raw(
        self,
        status: int,
        data: bytes,
        content_type: bytes,
        headers: Sequence[tuple[bytes, bytes]] = (),
    ) -> None:
        """A whole response with these bytes."""
        length = (b"content-length", b"%d" % len(data))
        await self._start(status, [(b"content-type", content_type), length, *headers])
        body = b"" if self.method == "HEAD" else data
        await self.send({"type": "http.response.body", "body": body})
        self.closed = True

    async def fail(self, failure: Failure, headers: Sequence[tuple[bytes, bytes]] = ()) -> None:
        """The failure as a whole response in the surface's shape."""
        status, extra, body = self.surface.error(failure)
        await self.json(status, body, [*extra, *headers])

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


_READ = {
    b"authorization": 0,
    b"x-api-key": 1,
    b"content-length": 2,
    b"host": 3,
    b"origin": 4,
    b"access-control-request-headers": 5,
    b"access-control-request-method": 6,
    b"traceparent": 7,
    b"x-request-id": 8,
}
_CHAIN = GATEWAY_HEADER.encode()


def read_headers(
    headers: Iterable[tuple[bytes, bytes]],
) -> tuple[list[bytes | None], list[bytes]]:
    """The request headers the gateway reads, in the order of ``_READ`` (the last of
    each, ``None`` when absent), and every value of the gateway chain.
    """
    found: list[bytes | None] = [None] * len(_READ)
    chain: list[bytes] = []
    slot_of = _READ.get
    for name, value in headers:
        slot = slot_of(name)
        if slot is not None:
            found[slot] = value
        elif name == _CHAIN:
            chain.append(value)
    return found, chain


async def until_disconnect(receive: Receive) -> None:
    """Return when the caller hangs up."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return

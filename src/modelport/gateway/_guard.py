"""Every connection bounded, below the HTTP server: what a caller may hold before its
request reaches the gateway, however it behaves.

:class:`Guard` wraps the server's own protocol object for each connection (any
asyncio protocol: uvicorn's, here). It sees every byte first and keeps its own
light parsers (httptools) on them, on the requests to know where each one is, and on
the responses the server writes to know where each one ends:

=========  ===================================  ===========================================
phase      from                                 bounded by
=========  ===================================  ===========================================
fresh      the connection opened                ``idle_timeout`` until its first byte
head       the request's first byte             ``idle_timeout`` between bytes, and
                                                ``head_timeout`` for the whole head;
                                                ``max_head`` bytes (431 beyond it)
body       the end of the head                  ``idle_timeout`` between bytes (a slow
                                                upload that keeps coming is never cut)
answer     the end of the body                  nothing: a response however long is
                                                never cut
idle       the end of every response            ``idle_timeout`` until the next request's
                                                first byte (closed quietly)
=========  ===================================  ===========================================

A timeout in the fresh, head or body phase answers 408 (unless a response was already
started) and closes the connection. While the server itself has stopped reading
(flow control: the application is not consuming), nothing counts against the caller.

:class:`Connections` holds every open connection and caps their number, which
protects memory and file descriptors. At the cap, a new connection closes the oldest
one that has no request in progress (fresh, idle, or still sending its head), so
idle or slow callers make room for new ones instead of locking them out; when every
connection is working, the new one gets 503. One timer per server sweeps them all
(``tick`` seconds apart), so a byte costs a clock read, not a timer.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Iterable, Sequence
from typing import cast

import httptools

from . import _errors as errors
from ._server import ServerLimits

__all__ = ["Connections", "Guard"]

FRESH, IDLE, HEAD, BODY, ANSWER = 0, 1, 2, 3, 4
WAITING = (FRESH, IDLE)
"""Phases with no request in progress: a new head may begin."""
LINGER = 1.0
"""Seconds a refused connection is still read (and what comes dropped) after its answer."""
LINGER_BYTES = 256 * 1024
"""The most dropped in that time: a caller that sends more is cut off at once (reset)."""
_REASONS = {408: b"Request Timeout", 431: b"Request Header Fields Too Large", 503: b"Busy"}


def _answer(status: int, message: str, code: str, extra: Sequence[bytes]) -> bytes:
    failure = errors.failure(status, code, message)
    body = errors.dumps(errors.openai_body(failure))
    head = [
        b"HTTP/1.1 %d %s" % (status, _REASONS[status]),
        b"content-type: application/json",
        b"content-length: %d" % len(body),
        b"connection: close",
        *extra,
    ]
    if status == 503:
        head.append(b"retry-after: 1")
    return b"\r\n".join(head) + b"\r\n\r\n" + body


class Connections:
    """Every connection of one server: the cap, and the sweep that times them out."""

    def __init__(self, limits: ServerLimits, headers: Sequence[tuple[bytes, bytes]] = ()) -> None:
        if limits.max_connections is None:
            limits = limits.within_open_files()
        self.limits = limits
        self.cap: int = limits.max_connections  # type: ignore[assignment]  # set just above
        self.open: dict[Guard, None] = {}  # oldest first
        self._extra = [name + b": " + value for name, value in headers]
        self._timer: asyncio.TimerHandle | None = None
        self.timeout = _answer(
            408,
            "The request did not arrive in time: no byte came for "
            f"{limits.idle_timeout:g} s, or its head took over {limits.head_timeout:g} s.",
            "request_timeout",
            self._extra,
        )
        self.too_large = _answer(
            431,
            f"The request's head (its line and headers) is over {limits.max_head} bytes.",
            "headers_too_large",
            self._extra,
        )
        self.busy = _answer(
            503,
            f"The gateway has {self.cap} connections open, all of them busy.",
            "too_many_connections",
            self._extra,
        )

    def add(self, guard: Guard) -> bool:
        """Take a new connection; at the cap, close the oldest one that has no request
        in progress, or refuse this one (503) when there is none.
        """
        if len(self.open) >= self.cap:
            idle = next((g for g in self.open if g.phase <= HEAD), None)  # oldest first
            if idle is None:
                guard.refuse(self.busy)
                return False
            idle.refuse(self.busy if idle.phase == HEAD else b"")
        self.open[guard] = None
        if self._timer is None:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(self.limits.tick, self._sweep)
        return True

    def remove(self, guard: Guard) -> None:
        self.open.pop(guard, None)

    def _sweep(self) -> None:
        now = time.monotonic()
        for guard in list(self.open):
            guard.check(now)
        self._timer = None
        if self.open:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(self.limits.tick, self._sweep)


class Guard(asyncio.Protocol):
    """One connection: the server's protocol ``inner``, watched (see the module)."""

    def __init__(self, inner: asyncio.Protocol, connections: Connections) -> None:
        self.inner = inner
        self.connections = connections
        self.limits = connections.limits
        self.transport: asyncio.Transport | None = None
        self.phase = FRESH
        self.since = self.last = time.monotonic()
        self.head_bytes = 0
        self._tail = b""
        self.paused = False
        """The server stopped reading (flow control): nothing counts against the caller."""
        self.answered = False
        """A response to the current request has started (a timeout then sends no 408)."""
        self._parser: httptools.HttpRequestParser | None = httptools.HttpRequestParser(self)
        self._answers = _Answers(self)
        self._pending: deque[bytes] = deque()
        """The methods of the requests whose response has not ended yet."""
        self._serving = False
        """Whether the server's protocol has the connection (not when refused at once)."""
        self._watched: _Watched | None = None
        self._dropped = 0

    # ------------------------------------------------------------------ asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        if self.connections.add(self):
            self._serving = True
            self._watched = _Watched(self.transport, self)
            self.inner.connection_made(self._watched)

    def data_received(self, data: bytes) -> None:
        if not self._serving:
            self._dropped += len(data)
            if self._dropped > LINGER_BYTES and self.transport is not None:
                self.transport.abort()
            return
        self.last = time.monotonic()
        if self._parser is not None:
            if self.phase <= HEAD and not self._head_fits(data):  # waiting, or in a head
                self.refuse(self.connections.too_large)
                return
            try:
                self._parser.feed_data(data)
            except httptools.HttpParserUpgrade:
                self._parser = None  # not HTTP/1.1 from here on: the server says what it is
            except httptools.HttpParserError:
                self._parser = None  # the server answers it (400) and closes
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received() if self._serving else None

    def connection_lost(self, exc: Exception | None) -> None:
        self.connections.remove(self)
        if self._serving:
            self._serving = False
            self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()

    # ------------------------------------------------------------------ parser callbacks

    def on_message_begin(self) -> None:
        self.phase = HEAD
        self.since = self.last
        self.answered = False

    def on_headers_complete(self) -> None:
        self.phase = BODY
        self.head_bytes = 0
        self._tail = b""
        if self._parser is not None:  # (it is: only its feed_data calls this)
            self._pending.append(self._parser.get_method())

    def on_message_complete(self) -> None:
        self.phase = ANSWER

    def answered_one(self) -> None:
        """A response ended: with no other request in progress, the connection is idle."""
        if self._pending:
            self._pending.popleft()
        if not self._pending and self.phase == ANSWER:
            self.phase = IDLE
            self.since = self.last = time.monotonic()

    def asked_head(self) -> bool:
        """Whether the response being written answers a HEAD request (no body follows)."""
        return bool(self._pending) and self._pending[0] == b"HEAD"

    # ------------------------------------------------------------------ limits

    def _head_fits(self, data: bytes) -> bool:
        """Count the head's bytes up to its blank line (exactly, across reads)."""
        window = self._tail + data
        end = window.find(b"\r\n\r\n")
        if end < 0:
            self.head_bytes += len(data)
            self._tail = window[-3:]
        else:
            self.head_bytes += end + 4 - len(self._tail)
        return self.head_bytes <= self.limits.max_head

    def check(self, now: float) -> None:
        """Time the connection out if its caller has stalled (see the module's table)."""
        if self.paused or self.phase == ANSWER:
            return
        limits = self.limits
        if self.phase == IDLE:
            if now - self.last > limits.idle_timeout:
                self.refuse(b"")  # kept alive and left: closed quietly, as servers do
            return
        if self.phase == FRESH:
            late = now - self.since > limits.idle_timeout
        elif self.phase == HEAD:
            late = now - self.last > limits.idle_timeout or now - self.since > limits.head_timeout
        else:
            late = now - self.last > limits.idle_timeout
        if late:
            self.refuse(b"" if self.answered else self.connections.timeout)

    def refuse(self, answer: bytes) -> None:
        """End the connection: the server sees its caller leave at once; ``answer`` (if
        any) is sent, then what the caller still sends is read and dropped for up to
        :data:`LINGER` seconds, so that the answer is not lost to a reset while the
        caller is still writing.
        """
        transport = self.transport
        self.connections.remove(self)
        if self._serving:
            self._serving = False
            if self._watched is not None:
                self._watched.detached = True  # the server's writes and close end here
            self.inner.connection_lost(None)
        if transport is None or transport.is_closing():
            return
        if not answer:
            transport.close()
            return
        transport.write(answer)
        if transport.can_write_eof():
            transport.write_eof()
        asyncio.get_running_loop().call_later(LINGER, transport.close)


class _Answers:
    """The responses the server writes on a connection, parsed only to tell the guard
    where each one ends (a ``100 Continue`` is not an end; an answer to ``HEAD`` ends
    with its head).
    """

    def __init__(self, guard: Guard) -> None:
        self.guard = guard
        self.parser: httptools.HttpResponseParser | None = httptools.HttpResponseParser(self)
        self._fresh = False

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        if self.parser is None:
            return
        try:
            self.parser.feed_data(bytes(data))
        except httptools.HttpParserError:
            self.parser = None  # not what we understand: the connection is never idle
        if self._fresh:
            self._fresh = False
            self.parser = httptools.HttpResponseParser(self)

    def on_headers_complete(self) -> None:  # the parser's callbacks: it is there
        if self.parser is None:
            return
        if self.parser.get_status_code() >= 200 and self.guard.asked_head():
            self.guard.answered_one()
            self._fresh = True  # a parser that does not wait for a body that never comes

    def on_message_complete(self) -> None:
        if self.parser is None:
            return
        if not self._fresh and self.parser.get_status_code() >= 200:
            self.guard.answered_one()


class _Watched(asyncio.Transport):
    """The transport as the server sees it: tells the guard when a response starts
    and when the server stops or resumes reading.
    """

    def __init__(self, transport: asyncio.Transport, guard: Guard) -> None:
        super().__init__()
        self._transport = transport
        self._guard = guard
        self.detached = False
        """The guard refused the connection: the server's part in it is over."""

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self.detached:
            self._guard.answered = True
            self._transport.write(data)
            self._guard._answers.feed(data)

    def writelines(self, list_of_data: Iterable[bytes | bytearray | memoryview]) -> None:
        for data in list_of_data:
            self.write(data)

    def pause_reading(self) -> None:
        self._guard.paused = True
        if not self.detached:
            self._transport.pause_reading()

    def resume_reading(self) -> None:
        self._guard.paused = False
        self._guard.last = time.monotonic()
        if not self.detached:
            self._transport.resume_reading()

    def is_reading(self) -> bool:
        return not self.detached and self._transport.is_reading()

    def close(self) -> None:
        if not self.detached:
            self._transport.close()

    def abort(self) -> None:
        if not self.detached:
            self._transport.abort()

    def is_closing(self) -> bool:
        return self.detached or self._transport.is_closing()

    def get_extra_info(self, name: str, default: object = None) -> object:
        return self._transport.get_extra_info(name, default)

    def can_write_eof(self) -> bool:
        return self._transport.can_write_eof()

    def write_eof(self) -> None:
        self._transport.write_eof()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size()

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._transport.get_write_buffer_limits()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._transport.set_write_buffer_limits(high, low)

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._transport.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._transport.get_protocol()

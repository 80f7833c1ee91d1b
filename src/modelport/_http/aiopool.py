"""modelport's asyncio HTTP/1.1 connection pool: the async transport's path on an
asyncio (or uvloop) event loop.

httpx's async stack costs about 1.6 ms of CPU per request here (docs/performance.md:
httpx's request building, two socket writes per request, an h11 event per step,
anyio cancel scopes and ``sniffio`` around every read), twenty times what a bare
asyncio protocol needs for the same POST. This pool is that protocol, made safe:

- **One write per request**: the head and the body go out in one ``write``.
- **Kept-alive connections reused** (last in, first out), closed after
  ``keepalive_expiry`` idle seconds or beyond ``max_keepalive`` idle ones; at most
  ``max_connections`` at once, a request beyond that waits for a free one (its wait
  bounded by the pool timeout: :class:`httpx.PoolTimeout`).
- **Per-read timeouts** from one ``loop.call_at`` timer per connection, re-armed only
  when it fires early (no cancel scope, no timer per read): a wait for bytes longer
  than the read timeout fails with :class:`httpx.ReadTimeout`.
- **Backpressure**: past :data:`HIGH_WATER` bytes received and not yet taken by the
  consumer, the connection stops reading until they are taken.
- **Bounds**: a response head over :data:`MAX_HEAD_BYTES` (httpcore's limit) is a
  protocol error; compressed bodies are inflated :data:`PIECE` bytes at a time, so a
  caller's body cap stops a gzip bomb before it is inflated.
- **httpx's errors**: every failure is raised as the httpx exception httpx's own
  transport raises for it (connection refused: :class:`httpx.ConnectError`; a server
  that closes without answering: :class:`httpx.RemoteProtocolError`; a reset:
  :class:`httpx.ReadError`; a malformed response: :class:`httpx.RemoteProtocolError`;
  a corrupt compressed body: :class:`httpx.DecodingError`), so the transport maps
  them to modelport's errors in its one place
  (:func:`~modelport._http.mapping.map_transport_error`).
- **Nothing left behind**: a request that ends any way but by reading its response to
  the end (an error, a cancellation, a consumer that stops early) closes its
  connection; only a connection whose response was read whole goes back to the pool.

Responses are parsed by httptools (llhttp), which the ``serve`` extra installs; without
it :func:`load` returns ``None`` and the async transport keeps httpx and httpcore.
"""

from __future__ import annotations

import asyncio
import sys
import zlib
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from typing import Protocol, TypeVar

    T = TypeVar("T")

    class Parser(Protocol):
        """What a connection calls on its response parser (httptools'
        ``HttpResponseParser``, which calls the connection back as it parses).
        """

        def feed_data(self, data: bytes) -> None: ...
        def get_status_code(self) -> int: ...
        def should_keep_alive(self) -> bool: ...


__all__ = ["HIGH_WATER", "MAX_HEAD_BYTES", "PIECE", "AsyncioPool", "Connection", "Response", "load"]

MAX_HEAD_BYTES = 100 * 1024
"""The longest response head (status line and headers) read: httpcore's limit."""
HIGH_WATER = 256 * 1024
"""Bytes of a body received and not yet taken, past which a connection stops reading."""
PIECE = 64 * 1024
"""The most bytes a compressed body is inflated to at once."""

Origin = tuple[str, int]
"""Where a connection goes: host and port."""


def load() -> Callable[[Connection], Parser] | None:
    """The response parser class of httptools, or ``None`` when it is not installed."""
    try:
        import httptools
    except ImportError:
        return None
    return httptools.HttpResponseParser


def _text(value: bytes) -> str:
    """A header value as httpx decodes it: ASCII, else UTF-8, else Latin-1."""
    if value.isascii():
        return value.decode("ascii")
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.decode("latin-1")


class Connection(asyncio.Protocol):
    """One HTTP/1.1 connection and the response being read on it."""

    def __init__(self, pool: AsyncioPool, origin: Origin, loop: asyncio.AbstractEventLoop):
        self.pool = pool
        self.origin = origin
        self.loop = loop
        self.parser = pool.parser(self)
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.active = False
        """A request is using the connection."""
        self.idle_since = 0.0
        self.paused = False
        self.timer: asyncio.TimerHandle | None = None
        self.read_timeout: float | None = None
        self.wait_since = 0.0
        self.waiter: asyncio.Future[None] | None = None
        self._fresh()

    def _fresh(self) -> None:
        """Forget the last response: a new request starts."""
        self.status = 0
        self.headers: dict[str, str] = {}
        self.head_size = 0
        self.header_size = 0
        self.head_done = False
        self.interim = False
        self.complete = False
        self.received = False
        self.reusable = True
        self.until_close = False
        self.chunks: list[bytes] = []
        self.buffered = 0
        self.error: httpx.HTTPError | None = None

    # ---- what the pool's tests and the leak checks read (httpcore's names)

    def is_idle(self) -> bool:
        return not (self.active or self.closed)

    def is_closed(self) -> bool:
        return self.closed

    def __repr__(self) -> str:
        state = "closed" if self.closed else "active" if self.active else "idle"
        return f"<Connection {self.origin[0]}:{self.origin[1]} {state}>"

    # ---- asyncio's protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if not self.active:  # bytes no request asked for: the connection is not to be trusted
            self.close()
            return
        self.received = True
        try:
            self.parser.feed_data(data)
        except Exception as exc:  # httptools' parse errors, an upgrade
            self._fail(httpx.RemoteProtocolError(f"malformed response: {exc}"))
            return
        if not self.head_done:
            self.head_size += len(data)
        if self.head_size > MAX_HEAD_BYTES or self.header_size > MAX_HEAD_BYTES:
            if self.error is None:
                self._fail(
                    httpx.RemoteProtocolError(
                        f"the response head is longer than {MAX_HEAD_BYTES} bytes"
                    )
                )
            return
        if self.buffered > HIGH_WATER and not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()
        self._wake()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.active and not self.complete and self.error is None:
            if exc is not None:
                self.error = httpx.ReadError(str(exc) or type(exc).__name__)
            elif self.head_done and self.until_close:
                self.complete = True  # a body without a length ends with the connection
            elif not self.received:
                self.error = httpx.RemoteProtocolError(
                    "Server disconnected without sending a response."
                )
            else:
                self.error = httpx.RemoteProtocolError(
                    "peer closed connection without sending complete message body"
                )
        self.reusable = False
        self._closed()
        self._wake()

    # ---- httptools' callbacks (anything after the response's end is a stray response:
    # never read into this one, and the connection is not kept)

    def on_message_begin(self) -> None:
        if self.complete:
            self.reusable = False

    def on_header(self, name: bytes, value: bytes) -> None:
        if self.complete:
            return
        self.header_size += len(name) + len(value) + 4
        key = name.decode("latin-1").lower()
        text = _text(value)
        had = self.headers.get(key)
        self.headers[key] = text if had is None else f"{had}, {text}"

    def on_headers_complete(self) -> None:
        if self.complete:
            return
        status = self.parser.get_status_code()
        if 100 <= status < 200:  # an interim answer (100 Continue): the real one follows
            self.interim = True
            return
        self.status = status
        self.head_done = True
        headers = self.headers
        self.until_close = (
            status not in (204, 304)
            and "content-length" not in headers
            and "chunked" not in headers.get("transfer-encoding", "").lower()
        )

    def on_body(self, body: bytes) -> None:
        if self.complete:
            return
        self.chunks.append(body)
        self.buffered += len(body)

    def on_message_complete(self) -> None:
        if self.interim:
            self.interim = False
            self.headers = {}
            self.head_size = self.header_size = 0
            return
        if self.complete:  # a second response no request asked for
            self.reusable = False
            return
        self.complete = True
        if not self.parser.should_keep_alive():
            self.reusable = False

    # ---- the consumer's side

    def send(self, data: bytes, read_timeout: float | None) -> None:
        """Start a request: its bytes in one write."""
        self._fresh()
        self.active = True
        self.read_timeout = read_timeout
        try:
            assert self.transport is not None
            self.transport.write(data)
        except Exception:  # closed under it: nothing was sent, as with a stale connection
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a response."
            ) from None

    def wait(self) -> asyncio.Future[None]:
        """A future that is done when something arrives (bytes, the end, an error) or
        fails with :class:`httpx.ReadTimeout` after the read timeout.
        """
        waiter = self.loop.create_future()
        self.waiter = waiter
        timeout = self.read_timeout
        if timeout is not None:
            self.wait_since = now = self.loop.time()
            if self.timer is None:
                self.timer = self.loop.call_at(now + timeout, self._timed)
        return waiter

    def _timed(self) -> None:
        self.timer = None
        waiter, timeout = self.waiter, self.read_timeout
        if waiter is None or waiter.done() or timeout is None:
            return  # nothing waits now: the next wait arms the timer anew
        due = self.wait_since + timeout
        if self.loop.time() >= due - 0.001:
            self._fail(httpx.ReadTimeout("timed out"))
        else:  # a later wait than the one the timer was armed for
            self.timer = self.loop.call_at(due, self._timed)

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            if not waiter.done():
                waiter.set_result(None)

    async def head(self) -> None:
        """Wait for the response's head."""
        while not self.head_done:
            if self.error is not None:
                raise self.error
            await self.wait()

    def take(self) -> bytes:
        """The body bytes received and not yet taken (reading resumes if paused)."""
        chunks = self.chunks
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        self.chunks = []
        self.buffered = 0
        if self.paused:
            self.paused = False
            if self.transport is not None and not self.closed:
                self.transport.resume_reading()
        return data

    def _fail(self, error: httpx.HTTPError) -> None:
        """A failure of the connection: the response ends with ``error`` (unless it was
        complete already) and the connection is closed.
        """
        if self.error is None and not self.complete:
            self.error = error
        self.close()

    def done(self) -> None:
        """The response was read to its end: back to the pool, or closed."""
        self.active = False
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.reusable and self.complete and not self.closed and self.error is None:
            self.pool.release(self)
        else:
            self.close()

    def close(self) -> None:
        """Close the connection (a request still reading on it gets a read error)."""
        if self.active and not self.complete and self.error is None:
            self.error = httpx.ReadError("the connection was closed")
        self.active = False
        transport = self.transport
        if transport is not None and not self.closed:
            if transport.get_write_buffer_size():
                transport.abort()  # a server that does not read would keep it open
            else:
                transport.close()
        self._closed()
        self._wake()

    def _closed(self) -> None:
        if not self.closed:
            self.closed = True
            if self.timer is not None:
                self.timer.cancel()
                self.timer = None
            self.pool.discard(self)


class _Inflate:
    """A compressed body's decoder, as httpx's (gzip, deflate), in bounded pieces."""

    def __init__(self, encoding: str) -> None:
        self.gzip = encoding == "gzip"
        self.first = not self.gzip
        wbits = zlib.MAX_WBITS | 16 if self.gzip else zlib.MAX_WBITS
        self.decoder = zlib.decompressobj(wbits)

    def feed(self, data: bytes) -> list[bytes]:
        first, self.first = self.first, False
        try:
            out = [self.decoder.decompress(data, PIECE)]
        except zlib.error as exc:
            if first:  # deflate without its zlib wrapper, as some servers send it
                self.decoder = zlib.decompressobj(-zlib.MAX_WBITS)
                return self.feed(data)
            raise httpx.DecodingError(str(exc)) from exc
        return out

    def more(self) -> bytes:
        """The next piece of what the data fed so far inflates to (``b""``: no more)."""
        tail = self.decoder.unconsumed_tail
        if not tail:
            return b""
        try:
            return self.decoder.decompress(tail, PIECE)
        except zlib.error as exc:
            raise httpx.DecodingError(str(exc)) from exc

    def flush(self) -> bytes:
        try:
            return self.decoder.flush()
        except zlib.error as exc:
            raise httpx.DecodingError(str(exc)) from exc


_ENCODINGS = frozenset({"gzip", "deflate"})


class Response:
    """A response from the pool, read the way the transport reads httpx's:
    ``status_code``, ``headers`` (names in lower case), :meth:`aiter_bytes`, :meth:`aclose`.
    """

    __slots__ = ("_connection", "_ended", "headers", "status_code")

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._ended = False
        self.status_code = connection.status
        self.headers = connection.headers

    def _inflate(self) -> _Inflate | None:
        encoding = self.headers.get("content-encoding")
        if encoding is None:
            return None
        encoding = encoding.strip().lower()
        return _Inflate(encoding) if encoding in _ENCODINGS else None

    async def aiter_bytes(self) -> AsyncIterator[bytes]:
        """The body as it arrives (inflated); the connection goes back to the pool at
        its end.
        """
        connection = self._connection
        inflate = self._inflate()
        while True:
            if connection.chunks:
                data = connection.take()
                if inflate is None:
                    yield data
                else:
                    for piece in inflate.feed(data):
                        if piece:
                            yield piece
                    piece = inflate.more()
                    while piece:
                        yield piece
                        piece = inflate.more()
            elif connection.error is not None:
                raise connection.error
            elif connection.complete:
                break
            else:
                await connection.wait()
        if inflate is not None:
            rest = inflate.flush()
            if rest:
                yield rest
        self._end()

    def _end(self) -> None:
        if not self._ended:
            self._ended = True
            self._connection.done()

    async def aclose(self) -> None:
        """Close the response: a body not read to its end closes its connection."""
        if not self._ended:
            self._ended = True
            connection = self._connection
            if not (connection.complete and not connection.chunks):
                connection.reusable = False
            connection.done()
            if connection.closed:
                await asyncio.sleep(0)  # asyncio closes the socket on its next turn: let it


if sys.version_info >= (3, 11):

    async def _within(seconds: float, awaitable: Awaitable[T]) -> T:
        async with asyncio.timeout(seconds):
            return await awaitable

else:  # pragma: no cover - Python 3.10

    async def _within(seconds: float, awaitable: Awaitable[T]) -> T:
        return await asyncio.wait_for(awaitable, seconds)


class AsyncioPool:
    """Kept-alive HTTP/1.1 connections on the running asyncio loop, by origin.

    Args:
        parser: httptools' ``HttpResponseParser`` (see :func:`load`).
        max_connections: connections open at once, in all.
        max_keepalive: idle connections kept per origin.
        keepalive_expiry: seconds an idle connection is kept.
    """

    def __init__(
        self,
        parser: Callable[[Connection], Parser],
        *,
        max_connections: int | None,
        max_keepalive: int | None,
        keepalive_expiry: float | None,
    ) -> None:
        self.parser = parser
        self.max_connections = max_connections if max_connections is not None else sys.maxsize
        self.max_keepalive = max_keepalive if max_keepalive is not None else sys.maxsize
        self.keepalive_expiry = keepalive_expiry
        self.loop: asyncio.AbstractEventLoop | None = None
        self.closed = False
        self._all: dict[Connection, None] = {}
        self._idle: dict[Origin, list[Connection]] = {}
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def connections(self) -> list[Connection]:
        """The connections open (or opening) now."""
        return list(self._all)

    def usable(self) -> bool:
        """Whether this pool can send now: an asyncio loop runs (trio runs none), and
        it is the loop the pool's connections belong to.
        """
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return False
        return self.loop is None or loop is self.loop

    async def open(
        self,
        origin: Origin,
        data: bytes,
        *,
        read: float | None,
        connect: float | None,
        pool: float | None,
    ) -> Response:
        """Send ``data`` (a whole request) to ``origin`` and wait for the response's
        head; the body is read from the :class:`Response`.
        """
        connection = self._idle_one(origin)
        if connection is None:
            connection = await self._new(origin, connect, pool)
        try:
            connection.send(data, read)
            await connection.head()
        except BaseException:
            connection.close()
            raise
        return Response(connection)

    def _idle_one(self, origin: Origin) -> Connection | None:
        idle = self._idle.get(origin)
        if not idle:
            return None
        expiry = self.keepalive_expiry
        now = self.loop.time() if self.loop is not None and expiry is not None else 0.0
        while idle:
            connection = idle.pop()
            if connection.closed:
                continue
            transport = connection.transport
            if transport is None or transport.is_closing():
                connection.close()
                continue
            if expiry is not None and now - connection.idle_since > expiry:
                connection.close()
                continue
            return connection
        return None

    async def _new(self, origin: Origin, connect: float | None, pool: float | None) -> Connection:
        loop = asyncio.get_running_loop()
        if self.loop is None:
            self.loop = loop
        give_up = None if pool is None else loop.time() + pool
        while True:
            if self.closed:
                raise RuntimeError("the connection pool is closed")
            if len(self._all) < self.max_connections:
                break
            await self._slot(give_up)
            connection = self._idle_one(origin)
            if connection is not None:
                return connection
        connection = Connection(self, origin, loop)
        self._all[connection] = None
        host, port = origin
        try:
            if connect is None:
                await loop.create_connection(lambda: connection, host, port)
            else:
                await _within(connect, loop.create_connection(lambda: connection, host, port))
        except BaseException as exc:
            connection.close()
            if isinstance(exc, (TimeoutError, asyncio.TimeoutError)) and not _cancelling():
                raise httpx.ConnectTimeout("timed out") from None
            if isinstance(exc, OSError):
                raise httpx.ConnectError(str(exc)) from None
            raise
        return connection

    async def _slot(self, give_up: float | None) -> None:
        """Wait until a connection is given back or closed (:class:`httpx.PoolTimeout`
        at ``give_up``).
        """
        assert self.loop is not None
        waiter = self.loop.create_future()
        self._waiters.append(waiter)
        try:
            if give_up is None:
                await waiter
            else:
                await _within(max(give_up - self.loop.time(), 0.0), waiter)
        except (TimeoutError, asyncio.TimeoutError):
            if _cancelling():
                raise
            raise httpx.PoolTimeout("timed out waiting for a free connection") from None
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    def _notify(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def release(self, connection: Connection) -> None:
        """A connection whose response was read whole: kept for the next request."""
        idle = self._idle.setdefault(connection.origin, [])
        if self.closed or len(idle) >= self.max_keepalive:
            connection.close()
            return
        connection.idle_since = connection.loop.time()
        idle.append(connection)
        self._notify()

    def discard(self, connection: Connection) -> None:
        """A connection closed: its slot is free."""
        if self._all.pop(connection, 0) is None:
            self._notify()

    def close(self) -> bool:
        """Close every connection (requests still reading on them get a read error);
        whether there was one.
        """
        self.closed = True
        connections = list(self._all)
        for connection in connections:
            connection.close()
        self._idle.clear()
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
        return bool(connections)


def _cancelling() -> bool:
    """Whether the current task is being cancelled (its timeout, not ours, fired)."""
    task = asyncio.current_task()
    return task is not None and sys.version_info >= (3, 11) and task.cancelling() > 0

"""modelport's own httpx transports: httpcore's connection pools, built and driven
through httpcore's public API.

A provider's clients send through :class:`PoolTransport` (sync) and
:class:`AsyncPoolTransport` unless the user gives a transport of their own. Each is
an :class:`httpx.BaseTransport` (or :class:`httpx.AsyncBaseTransport`) over an
``httpcore.ConnectionPool`` (``AsyncConnectionPool``) that modelport creates, so that
modelport chooses what the pool is made of instead of reaching into httpx's:

- **The sync deadline.** The sync pool's network backend is
  :class:`~modelport._http.deadline.DeadlineBackend`: no socket read outlasts the
  deadline of the request that makes it (:data:`~modelport._http.deadline.READ_DEADLINE`).
- **Nothing left behind by a cancelled async request.** httpcore 1.0.9 loses a
  connection in three moments of a cancellation (see :class:`_Connection`): a task
  cancelled just after its new connection was made, before it sent on it, or while
  it closed a response, left the connection open and in the pool for ever (a socket
  and a pool slot each time); a request cancelled after the pool handed it a new
  connection, before it used it, left that connection in the pool, never to connect
  (encode/httpcore#1093). The async pool closes the first two and retires the third.
- **httpx's errors.** httpcore's exceptions are raised as the matching httpx ones,
  as httpx's own transport does, so the rest of modelport sees only httpx's.
- **An asyncio path.** For a plain-http server, :class:`AsyncPoolTransport` also
  holds modelport's own asyncio pool (:attr:`AsyncPoolTransport.fast`,
  :mod:`modelport._http.aiopool`) when httptools is installed; the async transport
  sends through it whenever an asyncio loop runs (see
  :meth:`~modelport._http.transport.AsyncTransport._open`), and through httpcore's
  pool otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from typing import TYPE_CHECKING, NoReturn, Protocol, TypedDict

import httpcore
import httpx

from .aiopool import AsyncioPool, Connection, load
from .deadline import DeadlineBackend

if TYPE_CHECKING:
    from typing_extensions import TypeIs, Unpack

__all__ = ["AsyncPoolTransport", "PoolTransport"]

_ERRORS: dict[type[Exception], type[httpx.HTTPError]] = {
    httpcore.TimeoutException: httpx.TimeoutException,
    httpcore.ConnectTimeout: httpx.ConnectTimeout,
    httpcore.ReadTimeout: httpx.ReadTimeout,
    httpcore.WriteTimeout: httpx.WriteTimeout,
    httpcore.PoolTimeout: httpx.PoolTimeout,
    httpcore.NetworkError: httpx.NetworkError,
    httpcore.ConnectError: httpx.ConnectError,
    httpcore.ReadError: httpx.ReadError,
    httpcore.WriteError: httpx.WriteError,
    httpcore.ProxyError: httpx.ProxyError,
    httpcore.UnsupportedProtocol: httpx.UnsupportedProtocol,
    httpcore.ProtocolError: httpx.ProtocolError,
    httpcore.LocalProtocolError: httpx.LocalProtocolError,
    httpcore.RemoteProtocolError: httpx.RemoteProtocolError,
}
"""httpcore's exceptions and httpx's for each."""


def _raise_as_httpx(exc: Exception) -> NoReturn:
    """Raise the httpx error for an httpcore one (its class's, or for a subclass its
    nearest base's), caused by it; anything else as it is.
    """
    for cls in type(exc).__mro__:
        mapped = _ERRORS.get(cls)
        if mapped is not None:
            raise mapped(str(exc)) from exc
    raise exc


def _response(
    response: httpcore.Response, body: httpx.SyncByteStream | httpx.AsyncByteStream
) -> httpx.Response:
    return httpx.Response(
        status_code=response.status,
        headers=response.headers,
        stream=body,
        extensions=response.extensions,
    )


def _core_request(request: httpx.Request) -> httpcore.Request:
    url = request.url
    return httpcore.Request(
        method=request.method,
        url=httpcore.URL(
            scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path
        ),
        headers=request.headers.raw,
        content=request.stream,
        extensions=request.extensions,
    )


def _ssl_context(tls: bool) -> ssl.SSLContext | None:
    """A verifying TLS context (httpx's) for a pool that will speak TLS. ``None`` for
    a plain-http server: loading the CA certificates costs ~20 ms, and httpcore makes
    a verifying context itself should an https URL come after all.
    """
    return httpx.create_ssl_context(verify=True, trust_env=False) if tls else None


class _PoolOptions(TypedDict):
    """What both pools are made with (httpcore's ``ConnectionPool`` arguments)."""

    ssl_context: ssl.SSLContext | None
    max_connections: int | None
    max_keepalive_connections: int | None
    keepalive_expiry: float | None


class _ConnectionOptions(TypedDict):
    """What the async pool's connections are made with, beside their origin."""

    ssl_context: ssl.SSLContext | None
    keepalive_expiry: float | None
    network_backend: httpcore.AsyncNetworkBackend


class _SyncStream(Protocol):
    """A response body from httpcore's sync pool."""

    def __iter__(self) -> Iterator[bytes]: ...
    def close(self) -> None: ...


class _AsyncStream(Protocol):
    """A response body from httpcore's async pool."""

    def __aiter__(self) -> AsyncIterator[bytes]: ...
    async def aclose(self) -> None: ...


def _is_sync(stream: Iterable[bytes] | AsyncIterable[bytes]) -> TypeIs[_SyncStream]:
    return hasattr(stream, "__iter__") and hasattr(stream, "close")


def _is_async(stream: Iterable[bytes] | AsyncIterable[bytes]) -> TypeIs[_AsyncStream]:
    return hasattr(stream, "__aiter__") and hasattr(stream, "aclose")


def _sync_body(response: httpcore.Response) -> _SyncStream:
    """The body of a response from httpcore's sync pool (httpcore types it as either
    kind; its sync pool's are sync).
    """
    stream = response.stream
    if not _is_sync(stream):
        raise TypeError(f"httpcore's sync pool answered with a {type(stream).__name__} body")
    return stream


def _async_body(response: httpcore.Response) -> _AsyncStream:
    """The body of a response from httpcore's async pool (see :func:`_sync_body`)."""
    stream = response.stream
    if not _is_async(stream):
        raise TypeError(f"httpcore's async pool answered with a {type(stream).__name__} body")
    return stream


def _pool_options(limits: httpx.Limits, tls: bool) -> _PoolOptions:
    return {
        "ssl_context": _ssl_context(tls),
        "max_connections": limits.max_connections,
        "max_keepalive_connections": limits.max_keepalive_connections,
        "keepalive_expiry": limits.keepalive_expiry,
    }


# ------------------------------------------------------------------ sync


class _Body(httpx.SyncByteStream):
    """A response body from the pool, its errors raised as httpx's."""

    def __init__(self, stream: _SyncStream) -> None:
        self.stream = stream

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self.stream
        except Exception as exc:
            _raise_as_httpx(exc)

    def close(self) -> None:
        self.stream.close()


class PoolTransport(httpx.BaseTransport):
    """An httpx transport over an httpcore connection pool whose socket reads end by
    the deadline of the request that makes them (HTTP/1.1, no proxy).

    Args:
        limits: the pool's connection limits.
        tls: whether the server speaks https (a verifying TLS context is made for it).
        network_backend: how connections are opened (httpcore's sync sockets by
            default); its reads are bounded by the deadline either way.
    """

    def __init__(
        self,
        *,
        limits: httpx.Limits,
        tls: bool = True,
        network_backend: httpcore.NetworkBackend | None = None,
    ) -> None:
        backend = httpcore.SyncBackend() if network_backend is None else network_backend
        self.pool = httpcore.ConnectionPool(
            **_pool_options(limits, tls), network_backend=DeadlineBackend(backend)
        )

    @property
    def connections(self) -> list[httpcore.ConnectionInterface]:
        """The pool's connections now (httpcore's ``ConnectionPool.connections``)."""
        return self.pool.connections

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        try:
            response = self.pool.handle_request(_core_request(request))
        except Exception as exc:
            _raise_as_httpx(exc)
        return _response(response, _Body(_sync_body(response)))

    def close(self) -> None:
        self.pool.close()


# ------------------------------------------------------------------ async


class _Connection(httpcore.AsyncHTTPConnection):
    """An httpcore connection that leaves nothing behind when its request is cancelled.

    httpcore changes a connection's state under a lock, and taking the lock lets the
    event loop run, so a cancellation can land there; httpcore then leaves the state
    as it was. A task cancelled that way just after its new connection was made
    leaves it NEW, and one cancelled while it closes a response leaves it ACTIVE:
    open, in the pool, and neither idle, closed nor available, so never reused nor
    reclaimed. Such a connection is closed here (and its response's body, see
    :class:`_Released`).

    A connection the pool handed to a request that was cancelled before it could use
    it is *retired* (:meth:`retire`): it reports itself closed, so the pool drops it
    the next time it hands out connections (when any request starts or ends), and
    should a request still come to it, it is told the connection is not available,
    and the pool gives that request another one.
    """

    def __init__(self, origin: httpcore.Origin, **options: Unpack[_ConnectionOptions]) -> None:
        super().__init__(origin, **options)
        self.used = False
        self.retired = False

    def retire(self) -> None:
        """Give up a connection no request has used (it holds no socket yet)."""
        if not self.used:
            self.retired = True

    def is_closed(self) -> bool:
        return self.retired or super().is_closed()

    async def handle_async_request(self, request: httpcore.Request) -> httpcore.Response:
        if self.retired:
            raise httpcore.ConnectionNotAvailable()
        self.used = True
        try:
            response = await super().handle_async_request(request)
        except httpcore.ConnectionNotAvailable:
            raise  # another request is using it: the pool gives this one another
        except BaseException:
            await self.drop()  # left NEW: connected for this request, never sent on
            raise
        response.stream = _Released(_async_body(response), self)
        return response

    async def drop(self) -> None:
        """Close the connection unless httpcore left it idle or closed (it does so after
        every failure it handles; one left otherwise was stopped half-way).
        """
        if not (super().is_closed() or self.is_idle()):
            with contextlib.suppress(Exception):  # the failure being raised says more
                await self.aclose()


class _Released:
    """A connection's response body that, should its closing be cancelled half-way
    (while httpcore releases the connection), closes the connection. The pool keeps
    its record of that request, a small object; the socket and the slot are freed.
    """

    def __init__(self, stream: _AsyncStream, connection: _Connection) -> None:
        self.stream = stream
        self.connection = connection

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self.stream.__aiter__()

    async def aclose(self) -> None:
        try:
            await self.stream.aclose()
        except BaseException:
            await self.connection.drop()
            raise


class _AsyncPool(httpcore.AsyncConnectionPool):
    """httpcore's async pool with connections that are cancellation-safe, and the
    connections cancelled requests were handed retired.
    """

    def __init__(
        self,
        *,
        connection: _ConnectionOptions,
        network_backend: httpcore.AsyncNetworkBackend,
        **options: Unpack[_PoolOptions],
    ) -> None:
        super().__init__(network_backend=network_backend, **options)
        self.connection_options = connection

    def create_connection(self, origin: httpcore.Origin) -> httpcore.AsyncConnectionInterface:
        return _Connection(origin, **self.connection_options)

    async def handle_async_request(self, request: httpcore.Request) -> httpcore.Response:
        try:
            return await super().handle_async_request(request)
        except BaseException:
            # If this request was cancelled after the pool handed it a new connection,
            # that connection is now in the pool for nobody. Which one it is cannot be
            # told from outside, so every connection not used yet is retired: one that
            # was meant for a request still waiting is refused to it when it comes,
            # and the pool gives that request a fresh one.
            for connection in self.connections:
                if isinstance(connection, _Connection):
                    connection.retire()
            raise


class _AsyncBody(httpx.AsyncByteStream):
    """A response body from the async pool, its errors raised as httpx's."""

    def __init__(self, stream: _AsyncStream) -> None:
        self.stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for part in self.stream:
                yield part
        except Exception as exc:
            _raise_as_httpx(exc)

    async def aclose(self) -> None:
        await self.stream.aclose()


class AsyncPoolTransport(httpx.AsyncBaseTransport):
    """The async twin of :class:`PoolTransport`, over httpcore's async pool with
    connections that a cancelled request never leaves behind (see :class:`_Connection`),
    and beside it modelport's own asyncio pool for plain http (:attr:`fast`).

    Args:
        limits: the pool's connection limits (each pool's).
        tls: whether the server speaks https (no asyncio pool then).
        network_backend: how connections are opened (httpcore's AnyIO backend by
            default; one given means no asyncio pool either).
    """

    fast: AsyncioPool | None
    """modelport's asyncio pool (``None``: no httptools, https, or a backend given)."""

    def __init__(
        self,
        *,
        limits: httpx.Limits,
        tls: bool = True,
        network_backend: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        options = _pool_options(limits, tls)
        backend = httpcore.AnyIOBackend() if network_backend is None else network_backend
        self.pool = _AsyncPool(
            **options,
            network_backend=backend,
            connection={
                "ssl_context": options["ssl_context"],
                "keepalive_expiry": limits.keepalive_expiry,
                "network_backend": backend,
            },
        )
        parser = None if tls or network_backend is not None else load()
        self.fast = (
            None
            if parser is None
            else AsyncioPool(
                parser,
                max_connections=limits.max_connections,
                max_keepalive=limits.max_keepalive_connections,
                keepalive_expiry=limits.keepalive_expiry,
            )
        )

    @property
    def connections(self) -> list[httpcore.AsyncConnectionInterface | Connection]:
        """The connections of both pools now (httpcore's, then the asyncio pool's; each
        with ``is_idle()`` and ``is_closed()``).
        """
        fast: list[Connection] = [] if self.fast is None else self.fast.connections
        return [*self.pool.connections, *fast]

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            response = await self.pool.handle_async_request(_core_request(request))
        except Exception as exc:
            _raise_as_httpx(exc)
        return _response(response, _AsyncBody(_async_body(response)))

    async def aclose(self) -> None:
        if self.fast is not None and self.fast.close():
            await asyncio.sleep(0)  # asyncio closes the sockets on its next turn: let it
        await self.pool.aclose()

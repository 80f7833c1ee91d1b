"""modelport's own httpx transports over httpcore's connection pools (no sockets: the
pools are given network backends that replay answers).

What they add to httpcore: errors raised as httpx's, and nothing left behind by an
async request that is cancelled at an unlucky moment (encode/httpcore#1093 and the
case after it).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import httpcore
import httpx
import pytest

from modelport import LlamaCppProvider
from modelport._http.pool import AsyncPoolTransport, PoolTransport

URL = "http://127.0.0.1:9/"
OK = [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"]


class _Stream(httpcore.AsyncMockStream):
    """A replayed connection that says whether it was closed."""

    def __init__(self, chunks: list[bytes]) -> None:
        super().__init__(chunks)
        self.was_closed = False

    async def aclose(self) -> None:
        self.was_closed = True
        await super().aclose()


class _Backend(httpcore.AsyncNetworkBackend):
    """Replays ``chunks`` on every connection; ``cancel_on_connect`` cancels the task
    that made a connection as soon as it has it (before it can send on it)."""

    def __init__(self, chunks: list[bytes], *, cancel_on_connect: bool = False) -> None:
        self.chunks = chunks
        self.cancel_on_connect = cancel_on_connect
        self.streams: list[_Stream] = []

    async def connect_tcp(self, host: str, port: int, *args: object, **kwargs: object) -> Any:
        stream = _Stream(list(self.chunks))
        self.streams.append(stream)
        if self.cancel_on_connect:
            task = asyncio.current_task()
            assert task is not None
            task.cancel()
        return stream

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


def _stuck(transport: AsyncPoolTransport) -> list[Any]:
    """Connections that are neither idle nor closed: in use, or never to be used."""
    return [c for c in transport.connections if not (c.is_idle() or c.is_closed())]


@pytest.mark.anyio
async def test_a_request_cancelled_just_after_its_connection_is_made_closes_it() -> None:
    """The task is cancelled once it has its new connection and before it sends on it:
    httpcore left such a connection open and in the pool for ever (state NEW: not
    idle, not closed, never reused), a socket and a pool slot lost per cancellation;
    1,500 cancelled streams left 40 to 250 sockets open."""
    backend = _Backend(OK, cancel_on_connect=True)
    transport = AsyncPoolTransport(limits=httpx.Limits(max_connections=4), network_backend=backend)
    async with httpx.AsyncClient(transport=transport) as client:
        request = asyncio.create_task(client.get(URL))
        with pytest.raises(asyncio.CancelledError):
            await request
        [stream] = backend.streams
        assert stream.was_closed, "the cancelled request's connection was left open"
        assert _stuck(transport) == []
        backend.cancel_on_connect = False
        assert (await client.get(URL)).json() == {}


def _one_connection(backend: _Backend) -> AsyncPoolTransport:
    return AsyncPoolTransport(
        limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
        network_backend=backend,
    )


async def _until_queued(transport: AsyncPoolTransport, count: int) -> None:
    """Let the event loop run until ``count`` requests wait for a connection (the pool's
    repr says how many)."""
    for _ in range(1000):
        if f"{count} queued" in repr(transport.pool):
            return
        await asyncio.sleep(0)
    raise AssertionError(repr(transport.pool))


@pytest.mark.anyio
async def test_a_request_cancelled_once_the_pool_gave_it_a_connection_leaves_no_slot_taken() -> (
    None
):
    """encode/httpcore#1093: the pool gives a waiting request a new connection, and the
    request is cancelled before it can use it. httpcore kept that connection, never to
    connect, in the pool; with ``max_connections`` of them every request failed with
    PoolTimeout."""
    backend = _Backend(OK)
    transport = _one_connection(backend)
    async with httpx.AsyncClient(transport=transport, timeout=httpx.Timeout(5.0)) as client:
        first = await client.send(client.build_request("GET", URL), stream=True)
        waiter = asyncio.create_task(client.get(URL))
        await _until_queued(transport, 1)
        await first.aclose()  # the pool now gives the waiter a new connection...
        waiter.cancel()  # ...and the waiter is cancelled before it runs
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert _stuck(transport) == [], transport.connections
        assert (await client.get(URL)).json() == {}  # the only slot is free


@pytest.mark.anyio
async def test_a_request_given_a_new_connection_is_answered_when_another_is_cancelled() -> None:
    """What a cancelled request leaves cannot be told apart from a new connection meant
    for a request that has not run yet, so both are retired: the request that comes
    to a retired connection is given another one."""
    backend = _Backend(OK)
    transport = _one_connection(backend)
    async with httpx.AsyncClient(transport=transport, timeout=httpx.Timeout(5.0)) as client:
        first = await client.send(client.build_request("GET", URL), stream=True)
        waiters = [asyncio.create_task(client.get(URL)) for _ in range(2)]
        await _until_queued(transport, 2)
        await first.aclose()  # the first waiter is given a new connection...
        waiters[1].cancel()  # ...and the second, still waiting, is cancelled
        answer, cancelled = await asyncio.gather(*waiters, return_exceptions=True)
        assert isinstance(cancelled, asyncio.CancelledError)
        assert isinstance(answer, httpx.Response), answer
        assert answer.json() == {}
        assert _stuck(transport) == []


PARTIAL = [b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nhi\r\n"]


@pytest.mark.anyio
@pytest.mark.parametrize("steps", [1, 2, 3], ids=lambda n: f"after {n} loop steps")
async def test_a_task_cancelled_while_it_closes_a_response_leaves_no_connection_open(
    steps: int,
) -> None:
    """Closing a response mid-body releases its connection under httpcore's state lock,
    and taking a lock lets the event loop run: a task cancelled there left the
    connection ACTIVE, its socket open, in the pool for ever (with httpx's own
    transport too). Wherever the cancellation lands, the connection ends closed."""
    backend = _Backend(PARTIAL)
    transport = AsyncPoolTransport(limits=httpx.Limits(max_connections=4), network_backend=backend)
    async with httpx.AsyncClient(transport=transport) as client:
        response = await client.send(client.build_request("GET", URL), stream=True)
        closing = asyncio.create_task(response.aclose())
        for _ in range(steps):
            await asyncio.sleep(0)
        closing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await closing
        [stream] = backend.streams
        assert stream.was_closed, "the connection was left open"
        assert _stuck(transport) == [], transport.connections


# ------------------------------------------------------------------ httpcore's errors as httpx's

ERRORS = [
    (httpcore.ConnectError("refused"), httpx.ConnectError),
    (httpcore.ConnectTimeout("slow"), httpx.ConnectTimeout),
    (httpcore.ReadTimeout("slow"), httpx.ReadTimeout),
    (httpcore.WriteTimeout("slow"), httpx.WriteTimeout),
    (httpcore.PoolTimeout("full"), httpx.PoolTimeout),
    (httpcore.ReadError("reset"), httpx.ReadError),
    (httpcore.WriteError("reset"), httpx.WriteError),
    (httpcore.RemoteProtocolError("bad"), httpx.RemoteProtocolError),
    (httpcore.LocalProtocolError("bad"), httpx.LocalProtocolError),
    (httpcore.UnsupportedProtocol("ftp"), httpx.UnsupportedProtocol),
    (httpcore.ProxyError("proxy"), httpx.ProxyError),
]


class _Failing(httpcore.NetworkBackend):
    def __init__(self, error: Exception) -> None:
        self.error = error

    def connect_tcp(self, *args: object, **kwargs: object) -> Any:
        raise self.error


class _AsyncFailing(httpcore.AsyncNetworkBackend):
    def __init__(self, error: Exception) -> None:
        self.error = error

    async def connect_tcp(self, *args: object, **kwargs: object) -> Any:
        raise self.error


@pytest.mark.parametrize(("error", "expected"), ERRORS, ids=lambda e: type(e).__name__)
def test_httpcore_errors_are_raised_as_the_matching_httpx_error(
    error: Exception, expected: type[httpx.HTTPError]
) -> None:
    transport = PoolTransport(limits=httpx.Limits(), network_backend=_Failing(error))
    with httpx.Client(transport=transport) as client, pytest.raises(httpx.HTTPError) as caught:
        client.get(URL)
    assert type(caught.value) is expected
    assert caught.value.__cause__ is error


@pytest.mark.anyio
@pytest.mark.parametrize(("error", "expected"), ERRORS, ids=lambda e: type(e).__name__)
async def test_the_async_pool_raises_httpcore_errors_as_httpx_errors_too(
    error: Exception, expected: type[httpx.HTTPError]
) -> None:
    transport = AsyncPoolTransport(limits=httpx.Limits(), network_backend=_AsyncFailing(error))
    async with httpx.AsyncClient(transport=transport) as client:
        with pytest.raises(httpx.HTTPError) as caught:
            await client.get(URL)
    assert type(caught.value) is expected


class _BreaksMidBody(httpcore.NetworkBackend):
    def connect_tcp(self, *args: object, **kwargs: object) -> Any:
        class Stream(httpcore.MockStream):
            def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
                data = super().read(max_bytes, timeout)
                if not data:
                    raise httpcore.ReadError("connection reset by peer")
                return data

        return Stream([b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n12345"])


def test_an_error_while_reading_the_body_is_an_httpx_error() -> None:
    transport = PoolTransport(limits=httpx.Limits(), network_backend=_BreaksMidBody())
    with httpx.Client(transport=transport) as client:
        with client.stream("GET", URL) as response, pytest.raises(httpx.ReadError):
            response.read()
        assert transport.connections == []


def test_a_provider_answers_through_the_pool_transport() -> None:
    backend_answer = b'{"choices": [{"message": {"content": "ok"}, "finish_reason": "stop"}]}'
    head = f"HTTP/1.1 200 OK\r\ncontent-length: {len(backend_answer)}\r\n\r\n".encode()

    class Backend(httpcore.NetworkBackend):
        def connect_tcp(self, *args: object, **kwargs: object) -> Any:
            return httpcore.MockStream([head, backend_answer])

    transport = PoolTransport(limits=httpx.Limits(), network_backend=Backend())
    with LlamaCppProvider(transport=transport) as provider:
        assert provider.chat("m", "hi").text == "ok"
        assert [c.is_idle() for c in transport.connections] == [True]  # kept alive

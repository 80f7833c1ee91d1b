"""The async transport's own asyncio HTTP/1.1 pool (``modelport._http.aiopool``).

On an asyncio (or uvloop) event loop, with httptools installed, a provider's async
requests go through modelport's asyncio pool instead of httpcore's: one socket
write per request, kept-alive connections reused, per-read timeouts, reading paused
for a slow consumer, the response head bounded. Anywhere else (no httptools, no
asyncio loop running: trio, or a transport given by the user) they keep httpx and
httpcore. The whole fault suite runs its async half against this pool; these tests
prove what is its own. Nothing here asserts how fast anything is.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import httpx
import pytest

from modelport import ServiceUnavailableError, StreamError
from modelport._http.pool import AsyncPoolTransport

from .conftest import bounded, check_error
from .kinds import OPENAI
from .servers import Conn, FaultServer, Received, Tally, answer, flood, stream

pytestmark = pytest.mark.socket

KIND = OPENAI


def _serve(routes: Any) -> FaultServer:
    return FaultServer(routes).start()


def test_async_requests_on_asyncio_reuse_one_connection_of_modelports_asyncio_pool() -> None:
    server = _serve({KIND.chat_path: answer(200, KIND.reply("hello"))})
    provider = KIND.provider(server.url, timeout=5.0)

    async def main() -> tuple[list[str], Any]:
        texts = [(await provider.achat(KIND.model, "hi")).text for _ in range(3)]
        transport = provider._async
        assert transport is not None
        pooled = transport.pooled
        assert isinstance(pooled, AsyncPoolTransport)
        assert pooled.fast is not None, "httptools is installed: the asyncio pool is built"
        assert pooled.pool.connections == [], "httpcore's pool was not used"
        [connection] = pooled.fast.connections
        assert connection.is_idle()
        await provider.aclose()
        assert connection.is_closed()
        return texts, connection

    try:
        texts, _ = bounded(lambda: asyncio.run(main()))
        assert texts == ["hello"] * 3
        assert server.connections == 1, "each request made a connection of its own"
        assert len(server.requests) == 3
        # the request as httpx sent it: the same headers, one body with its length
        sent = server.requests[0]
        assert sent.headers["host"] == f"127.0.0.1:{server.port}"
        assert sent.headers["content-type"] == "application/json"
        assert sent.headers["content-length"] == str(len(sent.body))
        assert sent.headers["accept-encoding"] == "gzip, deflate"
        assert sent.json()["model"] == KIND.model
        assert server.wait_all_closed()
    finally:
        server.stop()


def test_the_asyncio_pool_is_not_used_without_a_running_asyncio_loop() -> None:
    """trio (or any loop that is not asyncio's) runs no asyncio loop: the transport
    then keeps httpx and httpcore (the same check, made here from plain code)."""
    transport = AsyncPoolTransport(limits=httpx.Limits(max_connections=4), tls=False)
    assert transport.fast is not None
    assert not transport.fast.usable()


def test_without_httptools_async_requests_keep_httpcores_pool(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "httptools", None)  # an import of it now fails
    server = _serve({KIND.chat_path: answer(200, KIND.reply("hello"))})
    provider = KIND.provider(server.url, timeout=5.0)

    async def main() -> str:
        text = (await provider.achat(KIND.model, "hi")).text
        transport = provider._async
        assert transport is not None and isinstance(transport.pooled, AsyncPoolTransport)
        assert transport.pooled.fast is None
        assert len(transport.pooled.pool.connections) == 1
        await provider.aclose()
        return text

    try:
        assert bounded(lambda: asyncio.run(main())) == "hello"
    finally:
        server.stop()


def test_a_response_head_over_the_limit_is_a_typed_error_naming_the_server() -> None:
    huge = {"x-padding": "a" * 300_000}
    server = _serve({KIND.chat_path: answer(200, KIND.reply("hi"), headers=huge)})
    provider = KIND.provider(server.url, timeout=5.0)

    async def main() -> BaseException | None:
        try:
            await provider.achat(KIND.model, "hi")
        except Exception as exc:
            return exc
        finally:
            await provider.aclose()
        return None

    try:
        error = bounded(lambda: asyncio.run(main()))
        check_error(error, ServiceUnavailableError, provider, cause=httpx.RemoteProtocolError)
        assert server.wait_all_closed()
    finally:
        server.stop()


def test_a_slow_consumer_pauses_reading_so_memory_stays_bounded() -> None:
    """The consumer takes one chunk and waits: the pool stops reading (the server's
    sends then block on full socket buffers) instead of taking the whole stream."""
    tally = Tally()
    budget = 256 * 1024 * 1024
    script = flood(
        KIND.piece("x" * 1000), budget=budget, tally=tally, content_type=KIND.stream_type
    )
    server = _serve({KIND.chat_path: script})
    provider = KIND.provider(server.url, timeout=5.0)

    async def main() -> int:
        async with provider.achat_stream(KIND.model, "hi") as chunks:
            async for _ in chunks:
                break
            sent = -1
            while sent != tally.sent:  # until the server is stuck (its buffers full)
                sent = tally.sent
                await asyncio.sleep(0.5)
        await provider.aclose()
        return sent

    try:
        sent = bounded(lambda: asyncio.run(main()), 60.0)
        assert not tally.finished
        assert sent < 32 * 1024 * 1024, f"the client took {sent // 1024} KiB while not reading"
        assert server.wait_all_closed()
    finally:
        server.stop()


def test_a_stream_cancelled_mid_way_closes_its_connection_and_leaves_the_pool_clean() -> None:
    pieces = [KIND.piece(text) for text in ("a", "b")]
    script = stream(pieces, content_type=KIND.stream_type, then="hold")
    server = _serve({KIND.chat_path: script})
    provider = KIND.provider(server.url, timeout=5.0)

    async def main() -> list[str]:
        seen: list[str] = []

        async def consume() -> None:
            async with provider.achat_stream(KIND.model, "hi") as chunks:
                async for chunk in chunks:
                    seen.append(chunk.text)

        task = asyncio.create_task(consume())
        while len(seen) < 2:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        transport = provider._async
        assert transport is not None and isinstance(transport.pooled, AsyncPoolTransport)
        assert transport.pooled.fast is not None
        for connection in transport.pooled.fast.connections:
            assert connection.is_idle() or connection.is_closed()
        assert server.wait_settled()
        await provider.aclose()
        return seen

    try:
        assert bounded(lambda: asyncio.run(main())) == ["a", "b"]
        assert server.wait_all_closed()
    finally:
        server.stop()


def test_a_read_timeout_mid_stream_keeps_the_partial_text() -> None:
    pieces = [KIND.piece(text) for text in ("a", "b")]
    script = stream(pieces, content_type=KIND.stream_type, then="hold")
    server = _serve({KIND.chat_path: script})
    provider = KIND.provider(server.url, timeout=0.5)

    async def main() -> tuple[list[str], BaseException | None]:
        seen: list[str] = []
        try:
            async with provider.achat_stream(KIND.model, "hi") as chunks:
                async for chunk in chunks:
                    seen.append(chunk.text)
        except Exception as exc:
            return seen, exc
        finally:
            await provider.aclose()
        return seen, None

    try:
        seen, error = bounded(lambda: asyncio.run(main()))
        assert seen == ["a", "b"]
        assert isinstance(error, StreamError)
        assert error.partial == "ab"
        assert isinstance(error.__cause__, httpx.ReadTimeout)
        assert server.wait_all_closed()
    finally:
        server.stop()


def test_a_second_response_nobody_asked_for_is_not_read_into_the_first() -> None:
    """A server that sends two responses to one request: the first is the answer; the
    second is neither read into it nor left to answer the next request (the
    connection is not kept)."""
    first, second = KIND.reply("first"), KIND.reply("second")

    def twice(conn: Conn, request: Received) -> None:
        head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n"
        conn.send(
            head.format(len(first)).encode() + first + head.format(len(second)).encode() + second
        )

    server = _serve({KIND.chat_path: twice})
    provider = KIND.provider(server.url, timeout=5.0)

    async def main() -> list[str]:
        texts = [(await provider.achat(KIND.model, "hi")).text for _ in range(2)]
        await provider.aclose()
        return texts

    try:
        assert bounded(lambda: asyncio.run(main())) == ["first", "first"]
        assert server.connections == 2, "a connection with a stray response was kept"
    finally:
        server.stop()


def test_an_accept_encoding_the_pool_cannot_decode_keeps_httpx() -> None:
    """httpx advertises br (and zstd) when brotli (zstandard) is installed, and decodes
    them; the asyncio pool decodes gzip and deflate only, so a client whose headers ask
    for more sends the httpx way."""
    server = _serve({KIND.chat_path: answer(200, KIND.reply("hello"))})
    provider = KIND.provider(server.url, timeout=5.0, headers={"accept-encoding": "br, gzip"})

    async def main() -> str:
        text = (await provider.achat(KIND.model, "hi")).text
        transport = provider._async
        assert transport is not None and isinstance(transport.pooled, AsyncPoolTransport)
        assert transport.pooled.fast is not None
        assert transport.pooled.fast.connections == []
        assert len(transport.pooled.pool.connections) == 1
        await provider.aclose()
        return text

    try:
        assert bounded(lambda: asyncio.run(main())) == "hello"
        assert server.requests[0].headers["accept-encoding"] == "br, gzip"
    finally:
        server.stop()


def test_a_header_a_request_sets_replaces_the_common_one_on_every_request_on_the_pool() -> None:
    """A gateway's requests carry their chain in place of its own id and the caller's
    traceparent: the common head without those is kept once and reused, and a header
    changed on the client afterwards is sent from then on."""
    from modelport._http.forwarding import GATEWAY_HEADER, forwarding

    server = _serve({KIND.chat_path: answer(200, KIND.reply("hello"))})
    provider = KIND.provider(server.url, timeout=5.0)
    provider._set_header(GATEWAY_HEADER, "gw-own")
    provider._set_header("x-team", "blue")

    async def main() -> None:
        await provider.achat(KIND.model, "hi")
        for chain, trace in (("gw-a, gw-own", "00-a-b-01"), ("gw-b, gw-own", "00-c-d-01")):
            with forwarding(chain.split(", "), [("traceparent", trace)]):
                await provider.achat(KIND.model, "hi")
        provider._set_header(GATEWAY_HEADER, "gw-new")
        provider._set_header("x-team", "green")
        with forwarding(["gw-c", "gw-new"], [("traceparent", "00-e-f-01")]):
            await provider.achat(KIND.model, "hi")
        transport = provider._async
        assert transport is not None and transport.fast is not None, "sent on the pool"
        await provider.aclose()

    try:
        bounded(lambda: asyncio.run(main()))
        sent = [
            (r.headers.get(GATEWAY_HEADER), r.headers.get("traceparent"), r.headers.get("x-team"))
            for r in server.requests
        ]
        assert sent == [
            ("gw-own", None, "blue"),
            ("gw-a, gw-own", "00-a-b-01", "blue"),
            ("gw-b, gw-own", "00-c-d-01", "blue"),
            ("gw-c, gw-new", "00-e-f-01", "green"),
        ]
    finally:
        server.stop()

"""Connections, health and lifecycle (issue 11, defects 8, 10, 11, 12 and 13).

Defect 8: every service unreachable is a retriable AllServicesFailedError naming each
cause, never "model not found". Defect 10 (and issue 17): async streams cancelled at
any moment leave no socket open and no connection stuck in the pool (httpcore's open
bug #1093 and the case after it, handled in modelport's own pool). Defect 11: the
sync Client probes configured URLs concurrently within its discovery timeout. Defect
12: ``close()`` during a request gives a typed error, and an AsyncClient works across
event loops. Defect 13: a listing probe does not reset the health that chat failures
earned.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from typing import Any

import pytest

import modelport
from modelport import (
    AllServicesFailedError,
    ModelNotFoundError,
    ModelportError,
    OpenAICompatibleProvider,
    ServerError,
    ServiceStatus,
    ServiceUnavailableError,
)

from .conftest import GUARD, Lab, bounded
from .hostile import health_routes, sockets_to, wait_until
from .kinds import OLLAMA, OPENAI, Kind
from .servers import (
    Conn,
    FaultServer,
    HoldingServer,
    Received,
    answer,
    closed_port_url,
    stream,
)

pytestmark = pytest.mark.socket


def dead_urls(count: int) -> list[str]:
    urls: list[str] = []
    while len(urls) < count:
        url = closed_port_url()
        if url not in urls:
            urls.append(url)
    return urls


# ------------------------------------------------------------------ defect 8


def _all_failed(error: BaseException | None, urls: list[str]) -> None:
    assert isinstance(error, AllServicesFailedError), f"{type(error).__name__}: {error}"
    assert error.retriable
    assert len(error.errors) == len(urls), error.errors
    assert not any(isinstance(e, ModelNotFoundError) for e in error.errors), error.errors
    assert all(isinstance(e, ModelportError) and e.retriable for e in error.errors)
    text = str(error)
    for url in urls:
        assert url in text, f"{url} is not named in: {text}"


def test_every_configured_url_unreachable_is_all_services_failed(lab: Lab) -> None:
    """Before the fix: a non-retriable ModelNotFoundError ("looked in any reachable
    service")."""
    urls = dead_urls(2)
    client = lab.client(urls, max_retries=0)
    with pytest.raises(ModelportError) as caught:
        lab.chat(client, "m1")
    _all_failed(caught.value, urls)
    _all_failed(lab.stream(client, "m1").error, urls)


def test_every_provider_unreachable_is_all_services_failed(lab: Lab) -> None:
    urls = dead_urls(2)
    client = lab.client(
        [lab.provider(OPENAI, url, name=f"dead{i}") for i, url in enumerate(urls)],
        max_retries=0,
    )
    with pytest.raises(ModelportError) as caught:
        lab.chat(client, "m1")
    _all_failed(caught.value, urls)
    assert {e.service for e in caught.value.errors} == {"dead0", "dead1"}  # type: ignore[attr-defined]


def test_one_unreachable_service_raises_its_own_retriable_error(lab: Lab) -> None:
    """A regression guard: with one service its own error is enough."""
    [url] = dead_urls(1)
    client = lab.client([lab.provider(OPENAI, url, name="dead")], max_retries=0)
    with pytest.raises(ModelportError) as caught:
        lab.chat(client, "m1")
    error = caught.value
    assert isinstance(error, (ServiceUnavailableError, AllServicesFailedError)), repr(error)
    assert error.retriable
    assert url in str(error)


# ------------------------------------------------------------------ defect 13


@pytest.mark.parametrize("failures", [2, 3], ids=["degraded", "unavailable"])
@pytest.mark.parametrize("probe", ["services", "models"])
def test_a_listing_probe_does_not_reset_health_earned_by_chat_failures(
    lab: Lab, probe: str, failures: int
) -> None:
    kind = OPENAI
    server = lab.serve(
        {
            **health_routes(kind),
            kind.chat_path: answer(500, b'{"error": {"message": "the runner crashed"}}'),
        }
    )
    client = lab.client([lab.provider(kind, server.url)], max_retries=0, failure_threshold=3)
    [service] = lab.services(client)
    assert service.status is ServiceStatus.AVAILABLE
    for _ in range(failures):
        with pytest.raises(ServerError):
            lab.chat(client, kind.model)
    if probe == "services":
        lab.services(client, refresh=True)
    else:
        with contextlib.suppress(ModelportError):
            lab.call(lambda: client.models(refresh=True), lambda: client.models(refresh=True))
    [service] = lab.services(client)
    assert service.status in (ServiceStatus.DEGRADED, ServiceStatus.UNAVAILABLE), service
    assert service.error and "the runner crashed" in service.error, service


# ------------------------------------------------------------------ defect 11


def test_configured_urls_are_probed_concurrently_within_the_discovery_timeout(lab: Lab) -> None:
    """Six silent URLs, discovery_timeout=0.5: all six are probed at once (every probe
    is open on its server at the same time), not one URL at a time as the sync client
    did (12 s: each with a 2 s floor). Counted by the servers, not timed."""
    lock = threading.Lock()
    open_now, peak = [0], [0]

    def counted(conn: Conn, request: Received) -> None:
        with lock:
            open_now[0] += 1
            peak[0] = max(peak[0], open_now[0])
        try:
            conn.hold()
        finally:
            with lock:
                open_now[0] -= 1

    servers = [lab.serve(counted) for _ in range(6)]
    client = lab.client([s.url for s in servers], discovery_timeout=0.5, max_retries=0, timeout=0.5)
    with pytest.raises(ModelportError):
        lab.chat(client, "m1", guard=60.0)  # a hang guard only
    assert peak[0] >= 6, f"at most {peak[0]} of six silent URLs were probed at once"


# ------------------------------------------------------------------ defect 12


def gated_reply(kind: Kind) -> Any:
    """Answer once the test releases the server, or never if the client hangs up."""

    def script(conn: Conn, request: Received) -> None:
        if conn.wait_release():
            conn.respond(200, kind.reply("late"))

    return script


def _in_flight(run: Any) -> tuple[threading.Thread, list[BaseException | object]]:
    outcome: list[BaseException | object] = []

    def target() -> None:
        try:
            outcome.append(run())
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, outcome


def test_closing_a_client_during_a_chat_gives_a_typed_error_saying_so(lab: Lab) -> None:
    if lab.mode == "async":
        pytest.skip("close() from another thread is the sync client's case")
    kind = OPENAI
    server = lab.serve({kind.chat_path: gated_reply(kind)})
    client = lab.client([lab.provider(kind, server.url, timeout=3.0)], max_retries=2)
    thread, outcome = _in_flight(lambda: client.chat(kind.model, "hi"))
    assert wait_until(lambda: server.requests)
    client.close()
    thread.join(GUARD)
    assert not thread.is_alive(), "the request hangs after close()"
    [error] = outcome
    assert isinstance(error, ModelportError), f"{type(error).__name__}: {error!r}"
    assert "closed" in str(error).lower(), str(error)
    server.release()


def test_closing_a_client_during_a_multi_request_listing_gives_a_typed_error(lab: Lab) -> None:
    """An Ollama listing is /api/tags then /api/show for each model: closing the client
    between them let ``RuntimeError: ... client has been closed`` escape."""
    if lab.mode == "async":
        pytest.skip("close() from another thread is the sync client's case")
    tags = {"models": [{"name": f"m{i}", "model": f"m{i}", "digest": f"d{i}"} for i in range(3)]}

    def gated_tags(conn: Conn, request: Received) -> None:
        if conn.wait_release():
            conn.respond(200, json.dumps(tags).encode())

    server = lab.serve(
        {
            "/api/tags": gated_tags,
            "/api/show": answer(200, b'{"capabilities": ["completion"], "model_info": {}}'),
        }
    )
    provider = lab.provider(OLLAMA, server.url, timeout=5.0)
    client = lab.client([provider], max_retries=0)
    thread, outcome = _in_flight(lambda: client.models(refresh=True))
    assert wait_until(lambda: server.requests)
    client.close()
    server.release()
    thread.join(GUARD)
    assert not thread.is_alive()
    [result] = outcome
    if isinstance(result, BaseException):
        assert isinstance(result, ModelportError), f"{type(result).__name__}: {result!r}"
        assert "closed" in str(result).lower(), str(result)


@pytest.mark.parametrize("via", ["client", "provider"])
def test_an_async_client_works_in_two_successive_event_loops(via: str) -> None:
    kind = OPENAI
    body = [kind.piece("a"), kind.piece("b"), kind.finish()]
    routes = {
        **health_routes(kind),
        "POST " + kind.chat_path: answer(200, kind.reply("ok")),
    }
    with (
        FaultServer(routes) as server,
        FaultServer({kind.chat_path: stream(body, content_type=kind.stream_type)}) as streamer,
    ):
        provider = OpenAICompatibleProvider(server.url, timeout=2.0)
        stream_provider = OpenAICompatibleProvider(streamer.url, timeout=2.0, name="streamer")
        client = modelport.AsyncClient(services=[provider, stream_provider], max_retries=0)

        async def use() -> tuple[str, str]:
            if via == "provider":
                reply = await provider.achat(kind.model, "hi")
                chat = stream_provider.achat_stream(kind.model, "hi")
            else:
                reply = await client.chat(f"openai/{kind.model}", "hi")
                chat = client.chat_stream(f"streamer/{kind.model}", "hi")
            async with chat as chunks:
                text = "".join([c.text async for c in chunks])
            return reply.text, text

        for _ in range(2):
            assert bounded(lambda: asyncio.run(use())) == ("ok", "ab")
        bounded(lambda: asyncio.run(client.aclose()))
        bounded(lambda: asyncio.run(provider.aclose()))
        bounded(lambda: asyncio.run(stream_provider.aclose()))


# ------------------------------------------------------------------ defect 10


STREAMS = 1500
"""How many streams the cancellation test starts, one after another."""
LEAK_LIMIT = 10
"""Fewer sockets than this may be left open to the server once it closed its side."""


def _cancel_after(index: int) -> float:
    """When stream ``index`` is cancelled: 1 ms after it starts, and for one stream in
    three a little later (2-9 ms), so that on a machine of any speed some are cancelled
    in each phase: waiting for a connection, connecting, just connected, sending,
    reading the first chunk."""
    return 0.001 if index % 3 else 0.001 * (2 + index % 8)


def test_async_streams_cancelled_at_any_moment_leave_no_socket_open(lab: Lab) -> None:
    """1,500 streams against a server that sends one chunk and holds each connection
    for 2 s, each cancelled a few milliseconds after it starts. Once the server has
    closed its side of every connection, the client may have fewer than 10 sockets
    open to it. Before the fix, 40 to 250 were: a task cancelled just after its
    connection was made left that connection open in httpcore's pool for ever (never
    used, never reclaimed; each a socket and a pool slot).

    The same holds for a request cancelled after the pool handed it a new connection
    and before it used it (httpcore's open bug #1093: a pool slot lost per
    cancellation, until every request failed with PoolTimeout): afterwards no
    connection is stuck in the pool, and the pool still serves.
    """
    if lab.mode == "sync":
        pytest.skip("cancellation is an asyncio matter")
    kind = OPENAI
    head = (
        f"HTTP/1.1 200 OK\r\ncontent-type: {kind.stream_type}\r\ntransfer-encoding: chunked\r\n\r\n"
    ).encode()
    piece = kind.piece("held")
    first = head + f"{len(piece):x}\r\n".encode() + piece + b"\r\n"

    with HoldingServer(first, hold=2.0) as server:
        provider = lab.provider(kind, server.url, timeout=10.0)

        async def one() -> str:
            async with provider.achat_stream(kind.model, "hi") as chat:
                return "".join([c.text async for c in chat])

        async def start_and_cancel(index: int) -> None:
            task = asyncio.create_task(one())
            await asyncio.sleep(_cancel_after(index))
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, ModelportError):
                await task

        async def first_chunk() -> str:
            async with provider.achat_stream(kind.model, "hi") as chat:
                async for chunk in chat:
                    return chunk.text
            return ""

        async def main() -> tuple[int, list[Any], str]:
            tasks = []
            for index in range(STREAMS):
                tasks.append(asyncio.create_task(start_and_cancel(index)))
                await asyncio.sleep(0.001)
            await asyncio.gather(*tasks)
            # Every stream is over; the server closes what is left within 2 s.
            closed = await asyncio.to_thread(server.wait_all_closed, 60.0)
            assert closed, f"the server still has {server.open} connections open"
            left = sockets_to(server.port)
            waited = time.monotonic()
            while left >= LEAK_LIMIT and time.monotonic() - waited < 5.0:
                await asyncio.sleep(0.1)  # a close still under way gets 5 s
                left = sockets_to(server.port)
            pool = lab.pool(provider)
            stuck = [c for c in pool.connections if not (c.is_idle() or c.is_closed())]
            text = await asyncio.wait_for(first_chunk(), GUARD)
            return left, stuck, text

        left, stuck, text = lab.call(lambda: (0, [], ""), main, guard=180.0)
        assert left < LEAK_LIMIT, (
            f"{left} sockets still open to the server after it closed every connection "
            f"(of {server.accepted} it accepted)"
        )
        assert stuck == [], f"{len(stuck)} connections stuck in the pool: {stuck[:3]}"
        assert text == "held"  # the pool still serves

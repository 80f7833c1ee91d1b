"""Client(gateway_id=...): every upstream request says which gateway sent it, and
discovery drops a service that answers with that same id (the gateway itself)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import httpx
import pytest

import modelport
from modelport import OpenAICompatibleProvider, ServiceStatus, ServiceUnavailableError
from modelport.discovery import forwarding, gateway_chain
from tests.faults.servers import Conn, FaultServer, Received
from tests.gateway.conftest import recording_backend

pytestmark = pytest.mark.socket

HEADER = "x-modelport-gateway"


def _ollama_like(gateway_id: str) -> FaultServer:
    """An Ollama look-alike that stamps every answer with a gateway id, and answers a
    request carrying that same id with 508, as a modelport gateway does."""

    def script(conn: Conn, request: Received) -> None:
        stamp = {HEADER: gateway_id}
        if request.headers.get(HEADER) == gateway_id:
            conn.respond(508, b'{"error": "loop"}', headers=stamp)
        elif request.path == "/":
            conn.respond(200, b"Ollama is running", content_type="text/plain", headers=stamp)
        elif request.path == "/api/tags":
            conn.respond(
                200, json.dumps({"models": [{"name": "m:latest"}]}).encode(), headers=stamp
            )
        else:
            conn.respond(200, b"{}", headers=stamp)

    return FaultServer(script)


@pytest.fixture
def gateway() -> Iterator[FaultServer]:
    with _ollama_like("gw-1") as server:
        yield server


def test_requests_to_a_given_provider_carry_the_gateway_id() -> None:
    seen: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get(HEADER))
        if request.url.path == "/v1/models":
            return httpx.Response(200, json={"data": [{"id": "m"}]})
        return httpx.Response(
            200, json={"choices": [{"message": {"content": "hi"}, "finish_reason": "stop"}]}
        )

    provider = OpenAICompatibleProvider(
        "http://127.0.0.1:9/v1", transport=httpx.MockTransport(handler)
    )
    client = modelport.Client(services=[provider], gateway_id="gw-1")
    assert client.gateway_id == "gw-1"
    client.models()
    client.chat("m", "hi")
    assert seen == ["gw-1", "gw-1"]


def test_discovery_reports_the_gateway_itself_unavailable(
    gateway: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OLLAMA_HOST", gateway.url)
    found = {s.base_url: s for s in modelport.discover(timeout=2.0, gateway_id="gw-1")}
    itself = found[gateway.url]
    assert itself.status is ServiceStatus.UNAVAILABLE
    assert itself.error == "this is the gateway itself"
    assert gateway.requests and all(r.headers.get(HEADER) == "gw-1" for r in gateway.requests)


@pytest.mark.anyio
async def test_async_discovery_with_another_id_finds_the_server(
    gateway: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OLLAMA_HOST", gateway.url)
    found = {s.base_url: s for s in await modelport.adiscover(timeout=2.0, gateway_id="gw-2")}
    assert found[gateway.url].status is ServiceStatus.AVAILABLE
    assert found[gateway.url].kind == "ollama"


@pytest.mark.anyio
async def test_a_client_whose_only_service_is_itself_has_none_and_fails_at_once(
    gateway: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELPORT_SERVICES", gateway.url)
    async with modelport.AsyncClient(gateway_id="gw-1") as client:
        assert await client.services() == []
        with pytest.raises(ServiceUnavailableError):
            await client.chat("m", "hi")
    assert all(r.path != "/api/chat" for r in gateway.requests)


@pytest.mark.anyio
async def test_discovering_itself_through_ollama_host_adopts_nothing(
    gateway: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OLLAMA_HOST", gateway.url)
    async with modelport.AsyncClient(gateway_id="gw-1", discovery_timeout=2.0) as client:
        assert all(s.base_url != gateway.url for s in await client.services())


def test_providers_the_client_builds_carry_the_gateway_id(monkeypatch: pytest.MonkeyPatch) -> None:
    with _ollama_like("other") as server:
        monkeypatch.setenv("OLLAMA_HOST", server.url)
        client = modelport.Client(services=["ollama"], gateway_id="gw-1")
        assert [m.name for m in client.models()] == ["m:latest"]
        client.close()
    assert server.requests[-1].headers.get(HEADER) == "gw-1"


def test_an_empty_gateway_id_is_a_configuration_error() -> None:
    with pytest.raises(modelport.ConfigurationError):
        modelport.Client(services=[], gateway_id="")


# ------------------------------------------------------------------ the chain (issue 18, D8)


@pytest.mark.parametrize(
    ("value", "ids"),
    [
        (None, ()),
        ("", ()),
        ("gw-1", ("gw-1",)),
        ("a1, b2,c3", ("a1", "b2", "c3")),
    ],
)
def test_a_chain_header_is_read_as_its_gateway_ids(value: str | None, ids: tuple[str, ...]) -> None:
    assert gateway_chain(value) == ids


@pytest.mark.parametrize("value", ["a b", "a,,b", "a, ", "x" * 65, "a;b", "ü"])
def test_a_chain_header_that_is_not_ids_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match=HEADER):
        gateway_chain(value)


@pytest.mark.anyio
async def test_requests_made_for_a_chained_request_carry_the_chain_and_others_the_id() -> None:
    provider, seen = recording_backend()
    async with modelport.AsyncClient(services=[provider], gateway_id="gw-1") as client:
        await client.chat("m", "hi")
        plain = {r.headers[HEADER] for r in seen}
        seen.clear()
        with forwarding(("aa", "bb", "gw-1")):
            await client.models(refresh=True)
            await client.chat("m", "hi")
            async with client.chat_stream("m", "hi") as stream:
                async for _ in stream:
                    pass
        chained = [r.headers[HEADER] for r in seen]
        seen.clear()
        await client.chat("m", "hi")
        after = {r.headers[HEADER] for r in seen}
    assert plain == after == {"gw-1"}
    assert len(chained) == 3 and set(chained) == {"aa, bb, gw-1"}


def test_a_sync_client_in_a_chained_context_carries_the_chain() -> None:
    provider, seen = recording_backend()
    client = modelport.Client(services=[provider], gateway_id="gw-1")
    with forwarding(("aa", "gw-1")):
        client.chat("m", "hi")
    client.close()
    assert [r.headers[HEADER] for r in seen if r.url.path.endswith("completions")] == ["aa, gw-1"]


def _chain_answering(script_id: str) -> FaultServer:
    """A gateway look-alike that answers 508 to a request whose chain holds its id."""

    def script(conn: Conn, request: Received) -> None:
        stamp = {HEADER: script_id}
        chain = [part.strip() for part in request.headers.get(HEADER, "").split(",")]
        if script_id in chain:
            conn.respond(
                508, b'{"error": {"message": "loop", "code": "gateway_loop"}}', headers=stamp
            )
        elif request.path == "/":
            conn.respond(200, b"Ollama is running", content_type="text/plain", headers=stamp)
        else:
            conn.respond(200, b'{"models": []}', headers=stamp)

    return FaultServer(script)


@pytest.mark.anyio
async def test_a_probe_for_a_chained_request_carries_the_chain(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with _chain_answering("other") as server:
        monkeypatch.setenv("OLLAMA_HOST", server.url)
        with forwarding(("aa", "gw-1")):
            found = {
                s.base_url: s for s in await modelport.adiscover(timeout=2.0, gateway_id="gw-1")
            }
        assert found[server.url].status is ServiceStatus.AVAILABLE
        assert {r.headers.get(HEADER) for r in server.requests} == {"aa, gw-1"}


def test_a_probe_answered_with_508_is_a_loop_after_one_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # gw-1 serves a request that came from gw-2, and probes gw-2 for it: gw-2 finds
    # itself in the chain and answers 508. That address is part of a loop, and
    # nothing more is asked of it.
    with _chain_answering("gw-2") as server:
        monkeypatch.setenv("OLLAMA_HOST", server.url)
        with forwarding(("gw-2", "gw-1")):
            found = {s.base_url: s for s in modelport.discover(timeout=2.0, gateway_id="gw-1")}
    looped = found[server.url]
    assert looped.status is ServiceStatus.UNAVAILABLE
    assert looped.error is not None and "loop" in looped.error
    assert [r.path for r in server.requests] == ["/"]


def test_a_probe_answer_whose_id_chain_holds_this_id_is_the_gateway_itself(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def script(conn: Conn, request: Received) -> None:
        conn.respond(
            200, b"Ollama is running", content_type="text/plain", headers={HEADER: "x9, gw-1"}
        )

    with FaultServer(script) as server:
        monkeypatch.setenv("OLLAMA_HOST", server.url)
        found = {s.base_url: s for s in modelport.discover(timeout=2.0, gateway_id="gw-1")}
    assert found[server.url].error == "this is the gateway itself"


def test_a_508_from_a_service_is_a_server_error_that_is_never_retried() -> None:
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if request.url.path == "/v1/models":
            return httpx.Response(200, json={"data": [{"id": "m"}]})
        return httpx.Response(508, json={"error": {"message": "loop", "code": "gateway_loop"}})

    provider = OpenAICompatibleProvider(
        "http://127.0.0.1:9/v1", transport=httpx.MockTransport(handler)
    )
    client = modelport.Client(services=[provider], max_retries=3)
    client._sleep = lambda seconds: None  # type: ignore[attr-defined]
    with pytest.raises(modelport.ServerError) as caught:
        client.chat("m", "hi")
    with pytest.raises(modelport.ServerError):
        client.chat("m", "hi")  # not marked down: a loop is a setup problem, not ill health
    client.close()
    assert caught.value.status_code == 508 and caught.value.retriable is False
    assert "loop" in str(caught.value).lower()
    assert len([r for r in calls if r.url.path.endswith("completions")]) == 2


@pytest.mark.anyio
async def test_a_client_whose_only_discovered_server_is_a_loop_fails_with_508_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # gw-1 serves a request that came through gw-2; the only server discovery finds
    # is gw-2 itself, which refuses the chained probe: the request is in a loop.
    with _chain_answering("gw-2") as server:
        monkeypatch.setenv("OLLAMA_HOST", server.url)
        async with modelport.AsyncClient(gateway_id="gw-1", discovery_timeout=2.0) as client:
            client._sleep = lambda seconds: asyncio.sleep(0)  # type: ignore[attr-defined]
            with forwarding(("gw-2", "gw-1")), pytest.raises(modelport.ServerError) as caught:
                await client.chat("m", "hi")
            assert caught.value.status_code == 508 and caught.value.retriable is False
            assert "loop" in str(caught.value)
            # The same server is no loop for a request of this gateway's own callers.
            assert [s.kind for s in await client.services()] == ["ollama"]

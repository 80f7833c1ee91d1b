"""Client(gateway_id=...): every upstream request says which gateway sent it, and
discovery drops a service that answers with that same id (the gateway itself)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

import modelport
from modelport import OpenAICompatibleProvider, ServiceStatus, ServiceUnavailableError
from tests.faults.servers import Conn, FaultServer, Received

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

"""Live: discovery and failover with real llama.cpp servers."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

import modelport
from modelport import ServiceStatus

from .conftest import LlamaServer


def _dead_url() -> str:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}"


def test_live_discovery_identifies_the_llamacpp_server(llamacpp_chat_url: str) -> None:
    services = {s.base_url: s for s in modelport.discover(hosts=[llamacpp_chat_url], timeout=2.0)}
    service = services[llamacpp_chat_url]
    assert service.kind == "llamacpp"
    assert service.status is ServiceStatus.AVAILABLE
    assert service.model_count == 1


def test_live_client_over_a_dead_url_and_the_real_server_answers(llamacpp_chat_url: str) -> None:
    dead = _dead_url()
    with modelport.Client(services=[dead, llamacpp_chat_url], max_retries=1) as client:
        model = client.models()[0].name
        reply = client.chat(model, "Say hi.", max_tokens=8)
        assert reply.text
        assert reply.service == "llamacpp"
        statuses = {s.name: s.status for s in client.services()}
    assert statuses["llamacpp"] is ServiceStatus.AVAILABLE
    # The dead URL was never identified: it is named by its address.
    assert statuses[dead.removeprefix("http://")] is ServiceStatus.UNAVAILABLE


def test_live_failover_when_a_server_dies_after_listing(
    llamacpp_chat_url: str, llama_paths: tuple[str, str], tmp_path: Path
) -> None:
    doomed = LlamaServer(*llama_paths, ["-c", "512"], tmp_path)
    first = modelport.LlamaCppProvider(doomed.url, name="first", timeout=5.0)
    second = modelport.LlamaCppProvider(llamacpp_chat_url, name="second")
    try:
        with modelport.Client(services=[first, second], max_retries=1) as client:
            names = {(m.service, m.name) for m in client.models()}
            model = next(name for service, name in names if service == "first")
            assert ("second", model) in names  # both serve it; "first" is tried first
            doomed.stop()
            reply = client.chat(model, "Say hi.", max_tokens=8)
            assert reply.service == "second"
            assert reply.text
            state = {s.name: s.status for s in client.services()}
            assert state["first"] is not ServiceStatus.AVAILABLE
            with client.chat_stream(model, "Say hi.", max_tokens=8) as stream:
                assert "".join(c.text for c in stream) == stream.response.text
            assert stream.response.service == "second"
    finally:
        doomed.stop()


@pytest.mark.anyio
async def test_live_async_client_discovers_and_chats(llamacpp_chat_url: str) -> None:
    async with modelport.AsyncClient(services=[llamacpp_chat_url]) as client:
        (service,) = await client.services()
        assert service.kind == "llamacpp"
        model = (await client.models())[0].name
        reply = await client.chat(model, "Say hi.", max_tokens=8)
        assert reply.text


def test_live_client_with_no_arguments_finds_the_server_on_its_default_port(
    llamacpp_chat_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import modelport.discovery as discovery

    # Pretend llama.cpp's default port is where the test server listens.
    defaults = tuple(
        (name, llamacpp_chat_url if kind == "llamacpp" else url, kind)
        for name, url, kind in discovery.DEFAULT_CANDIDATES
    )
    monkeypatch.setattr(discovery, "DEFAULT_CANDIDATES", defaults)
    with modelport.Client() as client:
        reply = client.chat("some-model", "hi", max_tokens=4)
    assert reply.text
    assert reply.service == "llamacpp"

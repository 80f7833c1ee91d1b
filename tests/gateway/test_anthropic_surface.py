"""The Anthropic Messages surface, registered (issue 20): its routes in-process, as
Claude Code and the anthropic SDK call them, in front of an OpenAI-compatible service
over ``httpx.MockTransport`` (no sockets).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

import modelport
from modelport.gateway import create_app
from modelport.gateway._anthropic import _surface as anthropic_surface

from .conftest import Records, gateway, recording_backend
from .test_surface_contract import Upstream

pytestmark = pytest.mark.anyio

HI = {"model": "m", "max_tokens": 32, "messages": [{"role": "user", "content": "Say hi"}]}


def _events(body: bytes) -> list[str]:
    return [
        line[len("event: ") :] for line in body.decode().splitlines() if line.startswith("event: ")
    ]


async def test_a_message_is_answered_with_claude_codes_query_string() -> None:
    provider, seen = recording_backend()
    async with gateway([provider], api_keys=["k"]) as (_, http):
        answer = await http.post(
            "/v1/messages?beta=true",
            json={**HI, "metadata": {"user_id": "u"}, "context_management": {}},
            headers={"x-api-key": "k", "anthropic-version": "2023-06-01", "anthropic-beta": "x"},
        )
    assert answer.status_code == 200
    body = answer.json()
    assert body["type"] == "message" and body["id"].startswith("msg_")
    assert body["model"] == "m" and body["content"] == [{"type": "text", "text": "hi"}]
    assert body["stop_reason"] == "end_turn"
    sent = json.loads(next(r for r in seen if r.url.path.endswith("/chat/completions")).content)
    assert sent["max_tokens"] == 32 and sent["messages"][-1]["content"] == "Say hi"


async def test_a_streamed_message_follows_anthropics_event_grammar() -> None:
    provider, _ = recording_backend()
    async with gateway([provider]) as (_, http):
        answer = await http.post("/v1/messages", json={**HI, "stream": True})
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/event-stream"
    assert _events(answer.content) == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]


async def test_server_tools_are_dropped_and_named_in_the_warning_header() -> None:
    provider, seen = recording_backend()
    tools = [
        {"type": "web_search_20250305", "name": "web_search"},
        {"name": "get_weather", "input_schema": {"type": "object", "properties": {}}},
    ]
    async with gateway([provider]) as (_, http):
        answer = await http.post("/v1/messages", json={**HI, "tools": tools})
    assert answer.status_code == 200
    assert "web_search" in answer.headers["x-modelport-warning"]
    sent = json.loads(next(r for r in seen if r.url.path.endswith("/chat/completions")).content)
    assert [t["function"]["name"] for t in sent["tools"]] == ["get_weather"]


async def test_count_tokens_answers_the_clients_count_for_a_known_model_and_404_otherwise() -> None:
    provider, _ = recording_backend()
    async with gateway([provider]) as (_, http):
        counted = await http.post("/v1/messages/count_tokens?beta=true", json=HI)
        unknown = await http.post("/v1/messages/count_tokens", json={**HI, "model": "nope"})
    assert counted.status_code == 200
    assert counted.json()["input_tokens"] > 0
    assert unknown.status_code == 404
    assert unknown.json()["error"]["type"] == "not_found_error"


async def test_claude_codes_side_paths_get_a_quiet_2xx_without_a_key(
    gateway_records: Records,
) -> None:
    provider, _ = recording_backend()
    async with gateway([provider], api_keys=["k"]) as (_, http):
        hello = await http.head("/api/hello")
        logged = await http.post("/api/event_logging/batch", json={"events": [1]})
    assert (hello.status_code, logged.status_code, logged.json()) == (200, 200, {})
    assert "event_logging" not in gateway_records.text()
    assert "/api/hello" not in gateway_records.text()


async def test_an_unknown_path_under_v1_messages_is_a_404_in_anthropics_shape() -> None:
    provider, _ = recording_backend()
    async with gateway([provider]) as (_, http):
        answer = await http.post("/v1/messages/batches", json={})
    assert answer.status_code == 404
    assert answer.json()["type"] == "error"
    assert answer.json()["error"]["type"] == "not_found_error"


async def test_no_healthy_service_is_529_overloaded_with_retry_after() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/models"):
            return httpx.Response(200, json={"data": [{"id": "m"}]})
        return httpx.Response(503, json={"error": {"message": "loading"}})

    provider = modelport.OpenAICompatibleProvider(
        "http://127.0.0.1:9/v1", name="up", transport=httpx.MockTransport(refuse)
    )
    async with gateway([provider]) as (_, http):
        answer = await http.post("/v1/messages", json=HI)
    assert answer.status_code == 529
    assert answer.json()["error"]["type"] == "overloaded_error"
    assert int(answer.headers["retry-after"]) >= 1


async def test_headers_and_pings_go_out_while_the_first_chunk_is_awaited(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(anthropic_surface, "HEARTBEAT", 0.01)
    release = asyncio.Event()

    async def chunks() -> AsyncIterator[bytes]:
        await asyncio.wait_for(release.wait(), 30)
        yield b'data: {"choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":"stop"}]}\n\n'
        yield b"data: [DONE]\n\n"

    async def slow(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/models"):
            return httpx.Response(200, json={"data": [{"id": "m"}]})
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=chunks())

    provider = modelport.OpenAICompatibleProvider(
        "http://127.0.0.1:9/v1", name="up", transport=httpx.MockTransport(slow)
    )
    client = modelport.AsyncClient(services=[provider])
    app = create_app(client)
    sent: list[dict[str, Any]] = []
    pinged = asyncio.Event()

    async def receive() -> dict[str, Any]:
        if not sent and not pinged.is_set() and not hasattr(receive, "done"):
            receive.done = True  # type: ignore[attr-defined]
            return {"type": "http.request", "body": json.dumps({**HI, "stream": True}).encode()}
        await asyncio.Event().wait()
        return {}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
        if b"event: ping" in message.get("body", b""):
            pinged.set()
            release.set()  # the first chunk comes only after a ping was seen

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/messages",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"localhost")],
    }
    try:
        await asyncio.wait_for(app(scope, receive, send), 30)
    finally:
        await client.aclose()
    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 200
    body = b"".join(m.get("body", b"") for m in sent[1:])
    events = _events(body)
    assert events[:2] == ["message_start", "ping"]
    assert events.count("message_start") == 1 and events[-1] == "message_stop"


async def test_the_anthropic_sdk_talks_to_the_gateway_in_process() -> None:
    anthropic = pytest.importorskip("anthropic")
    httpx2 = pytest.importorskip("httpx2")
    client = Upstream().client()  # model m; a 404 for any other, as a real server
    app = create_app(client, api_keys=["k"])
    http = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app))
    sdk = anthropic.AsyncAnthropic(
        base_url="http://localhost", api_key="k", http_client=http, max_retries=0
    )
    try:
        message = await sdk.messages.create(**HI)
        async with sdk.messages.stream(**HI) as stream:
            text = "".join([piece async for piece in stream.text_stream])
            final = await stream.get_final_message()
        counted = await sdk.messages.count_tokens(model="m", messages=HI["messages"])
        models = await sdk.models.list()
        with pytest.raises(anthropic.NotFoundError):
            await sdk.messages.create(**{**HI, "model": "nope"})
        wrong = anthropic.AsyncAnthropic(
            base_url="http://localhost", api_key="bad", http_client=http, max_retries=0
        )
        with pytest.raises(anthropic.AuthenticationError):
            await wrong.messages.create(**HI)
    finally:
        await http.aclose()
        await client.aclose()
    assert message.content[0].text == "hi" and message.stop_reason == "end_turn"
    assert text == "hi" and final.content[0].text == "hi"
    assert counted.input_tokens > 0
    assert [m.id for m in models.data] == ["up/m"]  # the client's ids


_ = logging  # the records fixture reads the gateway's logger

"""OpenTelemetry in the gateway (the ``otel`` extra): a SERVER span per request, a child
of the caller's ``traceparent``; the client's span for the model call under it; and
the ``traceparent`` that reaches the upstream naming that client span, so a server
with tracing (vLLM) joins the same trace. Without a tracer provider the caller's ids
pass through as before (``test_surfaces``).
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

import modelport
from tests.spans import named, spans, traceparent_of

from .conftest import gateway, recording_backend

from opentelemetry.trace import SpanKind, StatusCode  # isort: skip

__all__ = ["spans"]  # the fixture, used by name

pytestmark = pytest.mark.anyio

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
CALLER = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def server_spans(exporter: Any) -> list[Any]:
    return [s for s in exporter.get_finished_spans() if s.kind is SpanKind.SERVER]


@pytest.mark.parametrize("stream", [False, True])
async def test_a_request_is_a_server_span_over_the_client_span_and_the_upstream_joins_it(
    stream: bool, spans: Any
) -> None:
    provider, seen = recording_backend()
    async with gateway([provider]) as (_, http):
        answer = await http.post(
            "/v1/chat/completions",
            json={**CHAT, "stream": stream},
            headers={"traceparent": CALLER, "x-request-id": "req-42"},
        )
    assert answer.status_code == 200
    (server,) = server_spans(spans)
    (client,) = named(spans, "chat m")
    assert server.name == "POST /v1/chat/completions"
    assert server.context.trace_id == 0x0AF7651916CD43DD8448EB211C80319C
    assert server.parent is not None and server.parent.is_remote
    assert server.parent.span_id == 0xB7AD6B7169203331
    assert dict(server.attributes or {}) == {
        "http.request.method": "POST",
        "http.route": "/v1/chat/completions",
        "url.path": "/v1/chat/completions",
        "http.response.status_code": 200,
    }
    assert client.kind is SpanKind.CLIENT
    assert client.parent is not None and client.parent.span_id == server.context.span_id
    chats = [r for r in seen if r.url.path.endswith("/chat/completions")]
    assert [r.headers["traceparent"] for r in chats] == [traceparent_of(client)]
    assert [r.headers["x-request-id"] for r in chats] == ["req-42"]
    assert answer.headers["x-request-id"] == "req-42"


async def test_requests_outside_a_model_call_carry_the_server_spans_traceparent(
    spans: Any,
) -> None:
    provider, seen = recording_backend()
    async with gateway([provider]) as (_, http):
        answer = await http.get("/v1/models", headers={"traceparent": CALLER})
    assert answer.status_code == 200
    (server,) = server_spans(spans)
    assert server.name == "GET /v1/models"
    listings = [r for r in seen if r.url.path.endswith("/models")]
    assert listings
    assert {r.headers["traceparent"] for r in listings} == {traceparent_of(server)}


async def test_a_caller_without_ids_gets_the_server_spans_trace_as_its_request_id(
    spans: Any,
) -> None:
    provider, seen = recording_backend()
    async with gateway([provider]) as (_, http):
        answer = await http.post("/v1/chat/completions", json=CHAT)
    (server,) = server_spans(spans)
    assert server.parent is None  # a new trace starts here
    assert answer.headers["x-request-id"] == f"{server.context.trace_id:032x}"
    chats = [r for r in seen if r.url.path.endswith("/chat/completions")]
    assert [r.headers["x-request-id"] for r in chats] == [f"{server.context.trace_id:032x}"]


async def test_an_upstream_failure_sets_error_type_on_both_spans(spans: Any) -> None:
    def failing(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/models"):
            return httpx.Response(200, json={"data": [{"id": "m"}]})
        return httpx.Response(400, json={"error": "bad temperature"})

    provider = modelport.OpenAICompatibleProvider(
        "http://127.0.0.1:9/v1", name="up", transport=httpx.MockTransport(failing)
    )
    async with gateway([provider]) as (_, http):
        answer = await http.post("/v1/chat/completions", json=CHAT)
    assert answer.status_code == 400
    (server,) = server_spans(spans)
    (client,) = named(spans, "chat m")
    assert (client.attributes or {})["error.type"] == "InvalidRequestError"
    assert client.status.status_code is StatusCode.ERROR
    assert (server.attributes or {})["http.response.status_code"] == 400
    # A 4xx is the caller's mistake: the server span is not an error (HTTP conventions).
    assert "error.type" not in (server.attributes or {})
    assert server.status.status_code is StatusCode.UNSET


async def test_a_gateway_error_status_is_the_server_spans_error_type(spans: Any) -> None:
    def down(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/models"):
            return httpx.Response(200, json={"data": [{"id": "m"}]})
        return httpx.Response(500, json={"error": "boom"})

    provider = modelport.OpenAICompatibleProvider(
        "http://127.0.0.1:9/v1", name="up", transport=httpx.MockTransport(down)
    )
    client = modelport.AsyncClient(services=[provider], max_retries=0)
    async with gateway(client) as (_, http):
        answer = await http.post("/v1/chat/completions", json=CHAT)
    assert answer.status_code >= 500
    (server,) = server_spans(spans)
    assert (server.attributes or {})["error.type"] == str(answer.status_code)
    assert server.status.status_code is StatusCode.ERROR


async def test_a_streamed_reply_ends_the_server_span_after_the_last_byte(spans: Any) -> None:
    provider, _ = recording_backend()
    async with gateway([provider]) as (_, http):
        async with http.stream("POST", "/api/chat", json={**CHAT, "stream": True}) as answer:
            lines = [json.loads(line) async for line in answer.aiter_lines() if line]
    assert lines[-1]["done"] is True
    (server,) = server_spans(spans)
    (client,) = named(spans, "chat m")
    assert server.name == "POST /api/chat"
    assert client.end_time is not None and server.end_time is not None
    assert client.end_time <= server.end_time

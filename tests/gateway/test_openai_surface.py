"""The OpenAI surface in-process (httpx.ASGITransport) over fake services: every route,
every error row, auth, the body limit, and the real openai SDK pointed at it."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

import modelport
from modelport import (
    AuthenticationError,
    CapabilityError,
    ChatResponse,
    ContextLengthExceededError,
    InvalidRequestError,
    ModelNotFoundError,
    ModelNotLoadedError,
    ModelportError,
    ProtocolError,
    RateLimitError,
    RequestTimeoutError,
    ServerError,
    ServiceUnavailableError,
    ToolCall,
)
from modelport.testing import FakeProvider

from .conftest import BASE, Records, gateway, recording_backend

pytestmark = pytest.mark.anyio

HELLO = {"model": "m", "messages": [{"role": "user", "content": "Say hello"}]}


def fake(**kwargs: Any) -> FakeProvider:
    kwargs.setdefault("models", ["m", "emb"])
    kwargs.setdefault("reply", "Hello there")
    return FakeProvider(**kwargs)


def sse_events(body: str) -> list[Any]:
    out = []
    for block in body.split("\n\n"):
        if block.startswith("data: "):
            data = block[6:]
            out.append(data if data == "[DONE]" else json.loads(data))
    return out


@pytest.fixture
def records() -> Iterator[Records]:
    handler = Records()
    root = logging.getLogger()
    gateway_log = logging.getLogger("modelport.gateway")
    saved = (root.level, gateway_log.level, gateway_log.propagate)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    gateway_log.setLevel(logging.DEBUG)
    gateway_log.propagate = True
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(saved[0])
        gateway_log.setLevel(saved[1])
        gateway_log.propagate = saved[2]


# ---------------------------------------------------------------------------- routes


async def test_models_lists_every_model_with_the_clients_ids() -> None:
    async with gateway([fake(name="a"), fake(name="b", models=["x"])]) as (_, http):
        response = await http.get("/v1/models")
    assert response.status_code == 200
    assert [m["id"] for m in response.json()["data"]] == ["a/m", "a/emb", "b/x"]


async def test_one_model_by_id_and_an_unknown_one() -> None:
    async with gateway([fake()]) as (_, http):
        found = await http.get("/v1/models/fake/m")
        missing = await http.get("/v1/models/nope")
    assert found.status_code == 200
    assert found.json()["id"] == "fake/m" and found.json()["object"] == "model"
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "model_not_found"


async def test_chat_answers_in_openais_shape_naming_the_model_as_the_caller_did() -> None:
    async with gateway([fake()]) as (_, http):
        response = await http.post("/v1/chat/completions", json=HELLO)
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "chat.completion" and body["id"].startswith("chatcmpl-")
    assert body["model"] == "m"
    assert body["choices"][0]["message"] == {"role": "assistant", "content": "Hello there"}
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"]["completion_tokens"] == 2


async def test_options_reach_the_service() -> None:
    service = fake()
    request = {**HELLO, "temperature": 0.3, "max_completion_tokens": 9, "stop": ["x"], "seed": 4}
    async with gateway([service]) as (_, http):
        assert (await http.post("/v1/chat/completions", json=request)).status_code == 200
    sent = service.requests[-1]
    assert (sent.temperature, sent.max_tokens, sent.stop, sent.seed) == (0.3, 9, ("x",), 4)


async def test_a_stream_is_sse_with_no_buffering_headers_and_ends_with_done() -> None:
    async with gateway([fake(stream_pieces=3)]) as (_, http):
        response = await http.post("/v1/chat/completions", json={**HELLO, "stream": True})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["x-accel-buffering"] == "no"
    assert response.headers["cache-control"] == "no-cache"
    got = sse_events(response.text)
    assert got[-1] == "[DONE]"
    chunks = got[:-1]
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert text == "Hello there"
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert all(c["model"] == "m" for c in chunks)


@pytest.mark.parametrize("asked", [True, False])
async def test_the_usage_chunk_is_sent_only_when_asked_for(asked: bool) -> None:
    request = {**HELLO, "stream": True, "stream_options": {"include_usage": asked}}
    async with gateway([fake()]) as (_, http):
        got = sse_events((await http.post("/v1/chat/completions", json=request)).text)
    with_usage = [c for c in got[:-1] if c.get("usage")]
    if asked:
        assert len(with_usage) == 1 and with_usage[0]["choices"] == []
        assert with_usage[0] is got[-2]
        assert with_usage[0]["usage"]["completion_tokens"] == 2
    else:
        assert with_usage == []


async def test_streamed_tool_calls_have_indexes_ids_and_the_tool_calls_finish() -> None:
    def reply(req: Any) -> ChatResponse:
        calls = (ToolCall("get_weather", {"city": "Paris"}), ToolCall("get_time", {}))
        return ChatResponse(text="", model="m", tool_calls=calls, finish_reason="tool_calls")

    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]
    async with gateway([fake(reply=reply)]) as (_, http):
        response = await http.post(
            "/v1/chat/completions", json={**HELLO, "stream": True, "tools": tools}
        )
    got = sse_events(response.text)[:-1]
    fragments = [f for c in got for f in c["choices"][0]["delta"].get("tool_calls", [])]
    heads = [f for f in fragments if "id" in f]
    assert [(h["index"], h["function"]["name"]) for h in heads] == [
        (0, "get_weather"),
        (1, "get_time"),
    ]
    assert len({h["id"] for h in heads}) == 2
    assert got[-1]["choices"][0]["finish_reason"] == "tool_calls"


async def test_embeddings_as_floats_and_base64() -> None:
    async with gateway([fake(dimensions=3)]) as (_, http):
        floats = await http.post("/v1/embeddings", json={"model": "emb", "input": ["a", "bb"]})
        packed = await http.post(
            "/v1/embeddings", json={"model": "emb", "input": "a", "encoding_format": "base64"}
        )
    assert floats.status_code == 200
    data = floats.json()["data"]
    assert [d["index"] for d in data] == [0, 1] and len(data[0]["embedding"]) == 3
    assert isinstance(packed.json()["data"][0]["embedding"], str)


async def test_embeddings_of_mixed_inputs_are_a_400_in_openais_shape() -> None:
    async with gateway([fake(dimensions=3)]) as (_, http):
        response = await http.post("/v1/embeddings", json={"model": "emb", "input": [1, "b"]})
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"


async def test_health_lists_the_services_and_their_status() -> None:
    async with gateway([fake(name="a"), fake(name="b")]) as (app, http):
        response = await http.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["gateway"] == app.id
    assert [(s["name"], s["status"], s["in_flight"]) for s in body["services"]] == [
        ("a", "available", 0),
        ("b", "available", 0),
    ]


async def test_every_response_names_the_gateway_and_a_request_from_itself_is_a_loop() -> None:
    service = fake()
    async with gateway([service]) as (app, http):
        ok = await http.get("/v1/models")
        loop = await http.post(
            "/v1/chat/completions", json=HELLO, headers={"x-modelport-gateway": app.id}
        )
        other = await http.get("/v1/models", headers={"x-modelport-gateway": "someone-else"})
    assert ok.headers["x-modelport-gateway"] == app.id
    assert loop.status_code == 508 and loop.headers["x-modelport-gateway"] == app.id
    assert loop.json()["error"]["code"] == "gateway_loop"
    assert other.status_code == 200
    assert service.requests == []


async def test_unknown_routes_and_methods_get_json_errors() -> None:
    async with gateway([fake()]) as (_, http):
        missing = await http.get("/v1/nothing-here")
        wrong = await http.get("/v1/chat/completions")
    assert missing.status_code == 404 and "error" in missing.json()
    assert wrong.status_code == 405 and wrong.json()["error"]["type"] == "invalid_request_error"


# ---------------------------------------------------------------------------- errors


ERRORS: list[tuple[ModelportError, int, str]] = [
    (ModelNotFoundError("no such model"), 404, "model_not_found"),
    (InvalidRequestError("bad request"), 400, "invalid_request"),
    (CapabilityError("no tools here"), 400, "unsupported_capability"),
    (ContextLengthExceededError("too long for 2048"), 400, "context_length_exceeded"),
    (ModelNotLoadedError("load it first"), 409, "model_not_loaded"),
    (RateLimitError("slow down", retry_after=3), 429, "rate_limit_exceeded"),
    (AuthenticationError("upstream said 401"), 502, "upstream_authentication_failed"),
    (ProtocolError("html page"), 502, "upstream_error"),
]
RETRIED: list[tuple[ModelportError, int, str]] = [
    (ServiceUnavailableError("busy"), 503, "service_unavailable"),
    (RequestTimeoutError("too slow"), 504, "upstream_timeout"),
    (ServerError("500 from upstream"), 502, "upstream_error"),
]


@pytest.mark.parametrize("stream", [False, True], ids=["chat", "stream"])
@pytest.mark.parametrize(
    ("error", "status", "code"), ERRORS + RETRIED, ids=lambda v: type(v).__name__
)
async def test_each_error_row_has_its_status_and_openai_shape(
    error: ModelportError, status: int, code: str, stream: bool
) -> None:
    service = fake()
    service.fail_next(*[error] * 3)  # retriable ones are retried, then fail
    client = modelport.AsyncClient(services=[service], max_retries=0)
    async with gateway(client) as (_, http):
        response = await http.post("/v1/chat/completions", json={**HELLO, "stream": stream})
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    if status in (429, 503):
        assert int(response.headers["retry-after"]) >= 1


async def test_no_service_at_all_is_503_with_retry_after() -> None:
    async with gateway([]) as (_, http):
        response = await http.post("/v1/chat/completions", json=HELLO)
    assert response.status_code == 503
    assert "retry-after" in response.headers


@pytest.mark.parametrize(
    "raw",
    [b"{not json", b"[1, 2]", b'"text"', b"\xff\xfe"],
    ids=["broken", "list", "string", "bytes"],
)
async def test_a_body_that_is_not_a_json_object_is_400(raw: bytes) -> None:
    service = fake()
    async with gateway([service]) as (_, http):
        response = await http.post("/v1/chat/completions", content=raw)
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert service.requests == []


async def test_more_than_one_choice_is_a_clear_400_and_nothing_is_sent() -> None:
    service = fake()
    async with gateway([service]) as (_, http):
        response = await http.post("/v1/chat/completions", json={**HELLO, "n": 3})
    assert response.status_code == 400
    assert "n=3" in response.json()["error"]["message"]
    assert service.requests == []


# ---------------------------------------------------------------------------- limits, auth


async def test_a_body_over_the_limit_is_413_and_nothing_goes_upstream() -> None:
    service = fake()
    big = {**HELLO, "messages": [{"role": "user", "content": "x" * 5000}]}
    async with gateway([service], max_body=1024) as (_, http):
        declared = await http.post("/v1/chat/completions", json=big)

        async def chunks() -> Any:
            for _ in range(10):
                yield b" " * 500

        undeclared = await http.post("/v1/chat/completions", content=chunks())
        small = await http.post("/v1/chat/completions", json=HELLO)
    assert declared.status_code == 413 and undeclared.status_code == 413
    assert declared.json()["error"]["code"] == "request_too_large"
    assert small.status_code == 200
    assert len(service.requests) == 1


@pytest.mark.parametrize(
    "headers",
    [{"authorization": "Bearer s3cret"}, {"x-api-key": "s3cret"}],
    ids=["bearer", "x-api-key"],
)
async def test_a_right_key_is_accepted_and_never_forwarded(headers: dict[str, str]) -> None:
    provider, seen = recording_backend()
    async with gateway([provider], api_keys=["other", "s3cret"]) as (_, http):
        response = await http.post("/v1/chat/completions", json=HELLO, headers=headers)
    assert response.status_code == 200
    assert seen, "nothing reached the service"
    for request in seen:
        assert "s3cret" not in str(request.headers)
        assert "x-api-key" not in request.headers


@pytest.mark.parametrize(
    "headers",
    [{}, {"authorization": "Bearer wrong"}, {"x-api-key": "s3cre"}, {"authorization": "s3cret"}],
    ids=["missing", "wrong-bearer", "wrong-x-api-key", "no-scheme"],
)
async def test_a_missing_or_wrong_key_is_401_in_openais_shape(headers: dict[str, str]) -> None:
    provider, seen = recording_backend()
    async with gateway([provider], api_keys=["s3cret"]) as (_, http):
        response = await http.post("/v1/chat/completions", json=HELLO, headers=headers)
        health = await http.get("/health", headers=headers)
    assert response.status_code == 401
    assert health.status_code == 200 and health.json() == {"status": "ok"}  # liveness only
    assert response.json()["error"]["code"] == "invalid_api_key"
    assert seen == []


# ---------------------------------------------------------------------------- content parts


async def test_content_parts_with_a_data_url_image_reach_the_service_as_an_image() -> None:
    service = fake()
    parts = [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
    ]
    async with gateway([service]) as (_, http):
        response = await http.post(
            "/v1/chat/completions",
            json={"model": "m", "messages": [{"role": "user", "content": parts}]},
        )
    assert response.status_code == 200
    message = service.requests[-1].messages[-1]
    assert message.content == "what is this?"
    assert message.images == ("data:image/png;base64,iVBORw0KGgo=",)


async def test_an_http_image_url_is_passed_to_an_openai_service_as_a_url() -> None:
    provider, seen = recording_backend()
    parts = [
        {"type": "text", "text": "describe"},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
    ]
    async with gateway([provider]) as (_, http):
        response = await http.post(
            "/v1/chat/completions",
            json={"model": "m", "messages": [{"role": "user", "content": parts}]},
        )
    assert response.status_code == 200
    sent = json.loads(seen[-1].content)
    assert sent["messages"][0]["content"][1]["image_url"]["url"] == "https://example.com/cat.png"


# ---------------------------------------------------------------------------- logging


async def test_one_access_log_line_per_request_without_prompts_or_keys(records: Records) -> None:
    prompt = "my very private prompt"
    request = {"model": "m", "messages": [{"role": "user", "content": prompt}]}
    async with gateway([fake()], api_keys=["s3cret-key"]) as (_, http):
        headers = {"authorization": "Bearer s3cret-key"}
        await http.post("/v1/chat/completions", json=request, headers=headers)
        await http.post("/v1/chat/completions", json={**request, "stream": True}, headers=headers)
        await http.post("/v1/chat/completions", json=request)
    lines = [
        r for r in records.records if r.name == "modelport.gateway" and r.levelno == logging.INFO
    ]
    assert len(lines) == 3
    first = lines[0].getMessage()
    for part in ("POST", "/v1/chat/completions", "model=m", "service=fake", "200", "tokens=4+2"):
        assert part in first, first
    assert "401" in lines[2].getMessage()
    everything = records.text()
    assert prompt not in everything and "s3cret-key" not in everything


# ---------------------------------------------------------------------------- the real SDK


@pytest.fixture
def openai_sdk() -> Any:
    return pytest.importorskip("openai")


async def test_the_openai_sdk_lists_chats_streams_and_embeds(openai_sdk: Any) -> None:
    async with gateway([fake(dimensions=5)], api_keys=["k"]) as (app, _):
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app))
        sdk = openai_sdk.AsyncOpenAI(base_url=f"{BASE}/v1", api_key="k", http_client=http)
        assert [m.id for m in (await sdk.models.list()).data] == ["fake/m", "fake/emb"]
        reply = await sdk.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}]
        )
        assert reply.choices[0].message.content == "Hello there"
        stream = await sdk.chat.completions.create(
            model="m",
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        pieces = [chunk async for chunk in stream]
        assert (
            "".join(c.choices[0].delta.content or "" for c in pieces if c.choices) == "Hello there"
        )
        assert pieces[-1].usage is not None and pieces[-1].usage.completion_tokens == 2
        vectors = await sdk.embeddings.create(model="emb", input=["a", "b"])
        assert [len(d.embedding) for d in vectors.data] == [5, 5]
        await sdk.close()


async def test_the_openai_sdk_raises_its_own_errors(openai_sdk: Any) -> None:
    service = fake()
    async with gateway([service], api_keys=["k"]) as (app, _):
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app))
        sdk = openai_sdk.AsyncOpenAI(
            base_url=f"{BASE}/v1", api_key="k", http_client=http, max_retries=0
        )
        with pytest.raises(openai_sdk.NotFoundError):
            await sdk.models.retrieve("nope")
        service.fail_next(ContextLengthExceededError("the prompt is longer than 2048 tokens"))
        with pytest.raises(openai_sdk.BadRequestError) as caught:
            await sdk.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "x"}]
            )
        assert caught.value.code == "context_length_exceeded"
        bad = openai_sdk.AsyncOpenAI(
            base_url=f"{BASE}/v1", api_key="nope", http_client=http, max_retries=0
        )
        with pytest.raises(openai_sdk.AuthenticationError):
            await bad.models.list()
        await sdk.close()


# ---------------------------------------------------------------------------- mounting


async def test_the_app_can_be_mounted_in_another_asgi_app() -> None:
    starlette_routing = pytest.importorskip("starlette.routing")
    from starlette.applications import Starlette

    client = modelport.AsyncClient(services=[fake()])
    from modelport.gateway import create_app

    outer = Starlette(routes=[starlette_routing.Mount("/llm", app=create_app(client))])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=outer), base_url=BASE) as http:
        response = await http.get("/llm/v1/models")
    await client.aclose()
    assert response.status_code == 200
    assert response.json()["data"][0]["id"] == "fake/m"

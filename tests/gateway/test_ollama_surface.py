"""The Ollama surface in-process (httpx.ASGITransport) over fake services of each kind:
every route, every error in Ollama's shape, and the real ollama SDK pointed at it."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

import modelport
from modelport import (
    Capabilities,
    ChatResponse,
    ContextLengthExceededError,
    ModelInfo,
    ModelNotFoundError,
    OllamaProvider,
    RateLimitError,
    RequestTimeoutError,
    ServiceUnavailableError,
    StreamError,
    Timings,
    ToolCall,
    Usage,
)
from modelport.testing import FakeProvider

from .conftest import BASE, gateway

pytestmark = pytest.mark.anyio

CHAT = {"model": "m", "messages": [{"role": "user", "content": "Say hello"}]}


def fake(**kwargs: Any) -> FakeProvider:
    kwargs.setdefault("models", ["m", "emb"])
    kwargs.setdefault("reply", "Hello there")
    return FakeProvider(**kwargs)


def ndjson(text: str) -> list[Any]:
    return [json.loads(line) for line in text.splitlines() if line]


# ---------------------------------------------------------------------------- fixed routes


async def test_root_says_ollama_is_running_without_a_key() -> None:
    async with gateway([fake()], api_keys=["k"]) as (_, http):
        get = await http.get("/")
        head = await http.head("/")
        version = await http.get("/api/version", headers={"x-api-key": "k"})
    assert get.status_code == 200 and get.text == "Ollama is running"
    assert head.status_code == 200 and head.content == b""
    assert version.status_code == 200 and isinstance(version.json()["version"], str)


async def test_tags_list_every_model_by_the_clients_ids() -> None:
    async with gateway([fake(name="a"), fake(name="b", models=["x"])]) as (_, http):
        body = (await http.get("/api/tags")).json()
        head = await http.head("/api/tags")
    assert [m["name"] for m in body["models"]] == ["a/m", "a/emb", "b/x"]
    assert all(m["model"] == m["name"] and len(m["digest"]) == 64 for m in body["models"])
    assert head.status_code == 200


async def test_show_gives_details_context_length_and_capabilities() -> None:
    info = ModelInfo(
        id="fake/m",
        name="m",
        service="fake",
        kind="openai",
        context_length=8192,
        loaded=True,
        capabilities=Capabilities(chat=True, tools=True, vision=True),
        family="qwen2",
    )
    async with gateway([FakeProvider(models=[info])]) as (_, http):
        body = (await http.post("/api/show", json={"model": "m"})).json()
        missing = await http.post("/api/show", json={"model": "nope"})
        legacy = await http.post("/api/show", json={"name": "m"})
    assert body["model_info"]["general.architecture"] == "qwen2"
    assert body["model_info"]["qwen2.context_length"] == 8192
    assert body["capabilities"] == ["completion", "tools", "vision"]
    assert missing.status_code == 404 and "error" in missing.json()
    assert legacy.status_code == 200


async def test_ps_lists_the_loaded_models() -> None:
    idle = ModelInfo(id="fake/idle", name="idle", service="fake", kind="openai", loaded=False)
    busy = ModelInfo(
        id="fake/busy",
        name="busy",
        service="fake",
        kind="openai",
        loaded=True,
        loaded_context_length=4096,
    )
    async with gateway([FakeProvider(models=[idle, busy])]) as (_, http):
        body = (await http.get("/api/ps")).json()
    assert [(m["name"], m["context_length"]) for m in body["models"]] == [("fake/busy", 4096)]


# ---------------------------------------------------------------------------- chat, generate


async def test_chat_streams_ndjson_by_default_ending_with_done_and_counts() -> None:
    async with gateway([fake(stream_pieces=3)]) as (_, http):
        response = await http.post("/api/chat", json=CHAT)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/x-ndjson")
    assert response.headers["x-accel-buffering"] == "no"
    lines = ndjson(response.text)
    assert "".join(line["message"]["content"] for line in lines) == "Hello there"
    assert [line["done"] for line in lines].count(True) == 1 and lines[-1]["done"]
    assert lines[-1]["eval_count"] == 2 and lines[-1]["prompt_eval_count"] == 2
    assert all(line["model"] == "m" for line in lines)


async def test_chat_without_streaming_is_one_body() -> None:
    reply = ChatResponse(
        text="Hi",
        model="m",
        thinking="hmm",
        finish_reason="stop",
        usage=Usage(5, 1, 6),
        timings=Timings(generation_ms=12.0),
    )
    async with gateway([fake(reply=lambda req: reply)]) as (_, http):
        body = (await http.post("/api/chat", json={**CHAT, "stream": False})).json()
    assert body["message"] == {"role": "assistant", "content": "Hi", "thinking": "hmm"}
    assert body["done"] is True and body["eval_duration"] == 12_000_000


async def test_chat_options_reach_the_service() -> None:
    service = fake()
    request = {
        **CHAT,
        "stream": False,
        "format": {"type": "object"},
        "options": {"num_predict": 7, "temperature": 0.5, "num_ctx": 4096, "seed": 2, "top_k": 9},
        "keep_alive": 300,
        "think": False,
    }
    async with gateway([service]) as (_, http):
        assert (await http.post("/api/chat", json=request)).status_code == 200
    sent = service.requests[-1]
    assert (sent.max_tokens, sent.temperature, sent.context_length, sent.seed) == (7, 0.5, 4096, 2)
    assert sent.schema == {"type": "object"} and sent.keep_alive == 300 and sent.think is False
    assert sent.options == {"top_k": 9}


async def test_images_in_messages_reach_the_service() -> None:
    service = fake()
    message = {"role": "user", "content": "what is it?", "images": ["iVBORw0KGgo="]}
    async with gateway([service]) as (_, http):
        await http.post("/api/chat", json={"model": "m", "messages": [message], "stream": False})
    assert service.requests[-1].messages[-1].images == ("iVBORw0KGgo=",)


async def test_a_chat_with_no_messages_loads_the_model_and_answers_done() -> None:
    service = fake()
    async with gateway([service]) as (_, http):
        body = (await http.post("/api/chat", json={"model": "m", "stream": False})).json()
        unload = (await http.post("/api/generate", json={"model": "m", "keep_alive": 0})).json()
    assert body["done"] is True and body["done_reason"] == "load"
    assert unload["done_reason"] == "unload"
    assert service.requests == []


async def test_generate_streams_response_deltas() -> None:
    service = fake(stream_pieces=2)
    async with gateway([service]) as (_, http):
        response = await http.post(
            "/api/generate",
            json={
                "model": "m",
                "prompt": "Why?",
                "system": "Be brief",
                "raw": True,
                "context": [1],
            },
        )
        whole = (
            await http.post("/api/generate", json={"model": "m", "prompt": "Why?", "stream": False})
        ).json()
    lines = ndjson(response.text)
    assert "".join(line["response"] for line in lines) == "Hello there"
    assert lines[-1]["done"] is True
    assert [m.role for m in service.requests[0].messages] == ["system", "user"]
    assert whole["response"] == "Hello there" and whole["done"] is True


async def test_streamed_tool_calls_have_arguments_as_objects() -> None:
    def reply(req: Any) -> ChatResponse:
        return ChatResponse(
            text="", model="m", tool_calls=(ToolCall("f", {"x": 1}),), finish_reason="tool_calls"
        )

    async with gateway([fake(reply=reply)]) as (_, http):
        lines = ndjson((await http.post("/api/chat", json=CHAT)).text)
    calls = [c for line in lines for c in line["message"].get("tool_calls", [])]
    assert calls[0]["function"] == {"index": 0, "name": "f", "arguments": {"x": 1}}


# ---------------------------------------------------------------------------- embeddings, pull


async def test_embed_and_the_legacy_embeddings() -> None:
    async with gateway([fake(dimensions=3)]) as (_, http):
        embed = (await http.post("/api/embed", json={"model": "emb", "input": ["a", "bb"]})).json()
        legacy = (await http.post("/api/embeddings", json={"model": "emb", "prompt": "a"})).json()
        empty = (await http.post("/api/embed", json={"model": "emb"})).json()
    assert len(embed["embeddings"]) == 2 and len(embed["embeddings"][0]) == 3
    assert len(legacy["embedding"]) == 3
    assert empty["embeddings"] == []


def _pulling_ollama() -> OllamaProvider:
    lines = [
        {"status": "pulling manifest"},
        {"status": "pulling abc", "digest": "sha256:abc", "total": 100, "completed": 50},
        {"status": "success"},
    ]

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/pull":
            content = b"".join(json.dumps(line).encode() + b"\n" for line in lines)
            return httpx.Response(
                200, content=content, headers={"content-type": "application/x-ndjson"}
            )
        if request.url.path == "/api/tags":
            return httpx.Response(200, json={"models": []})
        return httpx.Response(404, text="404 page not found")

    return OllamaProvider("http://127.0.0.1:11434", transport=httpx.MockTransport(handler))


async def test_pull_streams_progress_from_a_service_that_can_pull() -> None:
    async with gateway([_pulling_ollama()]) as (_, http):
        response = await http.post("/api/pull", json={"model": "llama3.2"})
        whole = (await http.post("/api/pull", json={"model": "llama3.2", "stream": False})).json()
    lines = ndjson(response.text)
    assert lines[0] == {"status": "pulling manifest"}
    assert lines[1] == {
        "status": "pulling abc",
        "digest": "sha256:abc",
        "total": 100,
        "completed": 50,
    }
    assert lines[-1] == {"status": "success"}
    assert whole == {"status": "success"}


class _QuietPuller(FakeProvider):
    """A service that can pull and reports no progress at all (a model it already has)."""

    can_pull = True

    def _op_pull(self, model: str) -> Any:
        return
        yield


async def test_pull_with_no_progress_at_all_answers_success_not_500() -> None:
    """A service whose pull ends without reporting anything: the caller still gets
    Ollama's final ``success``, streamed or not."""
    async with gateway([_QuietPuller(models=["llama3.2"])]) as (_, http):
        streamed = await http.post("/api/pull", json={"model": "llama3.2"})
        whole = await http.post("/api/pull", json={"model": "llama3.2", "stream": False})
    assert streamed.status_code == 200, streamed.text
    assert ndjson(streamed.text) == [{"status": "success"}]
    assert whole.status_code == 200, whole.text
    assert whole.json() == {"status": "success"}


async def test_pull_from_a_service_that_cannot_is_a_400() -> None:
    async with gateway([fake()]) as (_, http):
        response = await http.post("/api/pull", json={"model": "llama3.2"})
    assert response.status_code == 400 and "error" in response.json()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/create"),
        ("POST", "/api/copy"),
        ("POST", "/api/push"),
        ("DELETE", "/api/delete"),
        ("HEAD", "/api/blobs/sha256:ab"),
        ("POST", "/api/blobs/sha256:ab"),
    ],
)
async def test_other_management_routes_are_501_with_a_clear_error(method: str, path: str) -> None:
    async with gateway([fake()]) as (_, http):
        response = await http.request(method, path, json={"model": "m"})
    assert response.status_code == 501
    if method != "HEAD":
        assert "not supported" in response.json()["error"]


async def test_unknown_routes_are_a_plain_text_404_as_ollama_answers() -> None:
    async with gateway([fake()]) as (_, http):
        response = await http.get("/api/nothing")
    assert response.status_code == 404 and response.text == "404 page not found"


# ---------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (ModelNotFoundError("model 'm' not found"), 404),
        (ContextLengthExceededError("the prompt is longer than the context"), 400),
        (ServiceUnavailableError("busy"), 503),
        (RequestTimeoutError("slow"), 504),
        (RateLimitError("slow down", retry_after=2), 429),
    ],
)
@pytest.mark.parametrize("stream", [True, False])
async def test_errors_take_ollamas_shape_and_the_contracts_status(
    error: Any, status: int, stream: bool
) -> None:
    service = fake()
    service.fail_next(error)
    client = modelport.AsyncClient(services=[service], max_retries=0)
    async with gateway(client) as (_, http):
        response = await http.post("/api/chat", json={**CHAT, "stream": stream})
    assert response.status_code == status
    assert set(response.json()) == {"error"} and isinstance(response.json()["error"], str)


async def test_a_failure_mid_stream_is_a_last_error_line() -> None:
    class Breaking(FakeProvider):
        def _op_chat_stream(self, req: Any) -> Any:
            from modelport import ChatChunk
            from modelport._http.ops import emit

            yield from emit(ChatChunk(text="Partial "))
            raise StreamError("the runner crashed", partial="Partial ")

    async with gateway([Breaking(models=["m"])]) as (_, http):
        response = await http.post("/api/chat", json=CHAT)
    lines = ndjson(response.text)
    assert lines[0]["message"]["content"] == "Partial "
    assert lines[-1] == {"error": lines[-1]["error"]} and "crashed" in lines[-1]["error"]
    assert all(not line.get("done") for line in lines)


async def test_a_bad_body_is_a_400_in_ollamas_shape() -> None:
    async with gateway([fake()]) as (_, http):
        response = await http.post("/api/chat", content=b"{nope")
    assert response.status_code == 400 and isinstance(response.json()["error"], str)


async def test_a_missing_key_is_401_in_ollamas_shape() -> None:
    async with gateway([fake()], api_keys=["k"]) as (_, http):
        response = await http.post("/api/chat", json=CHAT)
    assert response.status_code == 401 and isinstance(response.json()["error"], str)


async def test_an_image_url_to_an_ollama_service_is_refused_clearly() -> None:
    provider = OllamaProvider(
        "http://127.0.0.1:11434", transport=httpx.MockTransport(lambda r: httpx.Response(500))
    )
    parts = [
        {"type": "text", "text": "x"},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
    ]
    async with gateway([provider]) as (_, http):
        response = await http.post(
            "/v1/chat/completions",
            json={"model": "m", "messages": [{"role": "user", "content": parts}]},
        )
    assert response.status_code == 400
    assert "image data" in response.json()["error"]["message"]


# ---------------------------------------------------------------------------- the real SDK


async def test_the_ollama_sdk_lists_shows_chats_generates_and_embeds() -> None:
    ollama = pytest.importorskip("ollama")
    info = ModelInfo(
        id="fake/m",
        name="m",
        service="fake",
        kind="openai",
        context_length=2048,
        loaded=True,
        capabilities=Capabilities(chat=True, embedding=True),
        family="llama",
    )
    services = [
        FakeProvider(models=[info], reply="Hello there", dimensions=4),
        FakeProvider(models=["z"], name="other"),  # two services: names are looked up
    ]
    async with gateway(services) as (app, _):
        sdk = ollama.AsyncClient(host=BASE, transport=httpx.ASGITransport(app=app))
        assert [m.model for m in (await sdk.list()).models] == ["fake/m", "other/z"]
        shown = await sdk.show("fake/m")
        assert shown.modelinfo["llama.context_length"] == 2048
        assert "completion" in shown.capabilities
        reply = await sdk.chat(model="m", messages=[{"role": "user", "content": "hi"}])
        assert reply.message.content == "Hello there" and reply.done
        parts = [
            part
            async for part in await sdk.chat(
                model="m", messages=[{"role": "user", "content": "hi"}], stream=True
            )
        ]
        assert parts[-1].done and parts[-1].eval_count == 2
        generated = await sdk.generate(model="m", prompt="hi")
        assert generated.response == "Hello there"
        embedded = await sdk.embed(model="m", input=["a", "b"])
        assert [len(v) for v in embedded.embeddings] == [4, 4]
        assert [m.model for m in (await sdk.ps()).models] == ["fake/m", "other/z"]
        with pytest.raises(ollama.ResponseError) as caught:
            await sdk.chat(model="nope", messages=[{"role": "user", "content": "hi"}])
        assert caught.value.status_code == 404

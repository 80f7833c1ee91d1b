"""Never stricter than the server: capabilities steer routing, they never refuse.

The llama.cpp bodies are recorded from a real llama-server (see
tests/fixtures/llamacpp/capabilities/SOURCES.md): SmolLM2's own chat template says
``supports_tools: false``, yet the server answers a request with tools with 200.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

import modelport
from modelport import CapabilityError, LlamaCppProvider, OpenAICompatibleProvider

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "llamacpp" / "capabilities"
TOOL = {"name": "get_weather", "parameters": {"type": "object", "properties": {}}}


def recorded(name: str) -> Any:
    return json.loads((FIXTURES / name).read_bytes())


class Llama:
    """A llama-server replaying the recorded bodies; ``tools`` sets what its template says."""

    def __init__(self, name: str, *, tools: bool = False, embeddings: str = "chat") -> None:
        self.name = name
        self.props = recorded("props_chat.json")
        self.props["chat_template_caps"] = {**self.props["chat_template_caps"]}
        self.props["chat_template_caps"]["supports_tools"] = tools
        self.embeddings = embeddings
        self.sent: list[tuple[str, Any]] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        self.sent.append((request.url.path, body))
        path = request.url.path
        if path == "/v1/models":
            return httpx.Response(200, content=(FIXTURES / "v1_models_chat.json").read_bytes())
        if path == "/props":
            return httpx.Response(200, json=self.props)
        if path == "/v1/chat/completions":
            if body.get("stream"):
                events = [
                    {"choices": [{"delta": {"content": f"from {self.name}"}, "index": 0}]},
                    {"choices": [{"delta": {}, "finish_reason": "stop", "index": 0}]},
                ]
                data = b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events)
                return httpx.Response(200, content=data + b"data: [DONE]\n\n")
            reply = recorded("chat_tools_template_without_tools.json")
            reply["choices"][0]["message"]["content"] = f"from {self.name}"
            return httpx.Response(200, json=reply)
        if path == "/v1/embeddings":
            if body.get("input") == []:
                probe = f"embeddings_empty_probe_{self.embeddings}.json"
                status = 501 if self.embeddings == "chat" else 400
                return httpx.Response(status, content=(FIXTURES / probe).read_bytes())
            if self.embeddings == "chat":
                return httpx.Response(
                    501, content=(FIXTURES / "embeddings_on_chat_server.json").read_bytes()
                )
            return httpx.Response(
                200,
                content=(FIXTURES / "embeddings_token_arrays_embeddings_mean.json").read_bytes(),
            )
        return httpx.Response(404, json={"error": {"code": 404, "message": "File Not Found"}})

    def provider(self, port: int) -> LlamaCppProvider:
        return LlamaCppProvider(
            f"http://127.0.0.1:{port}", name=self.name, transport=httpx.MockTransport(self.handler)
        )

    @property
    def chats(self) -> list[Any]:
        return [body for path, body in self.sent if path == "/v1/chat/completions"]


MODEL = "SmolLM2-135M-Instruct.Q4_1"


def test_tools_are_sent_to_a_llamacpp_server_whose_template_says_no_tools() -> None:
    llama = Llama("chat")
    client = modelport.Client(services=[llama.provider(8080)])
    client.models()  # the listing says supports_tools: false
    response = client.chat(MODEL, "weather in Paris?", tools=[TOOL])
    assert response.text == "from chat"
    (sent,) = llama.chats
    assert sent["tools"][0]["function"]["name"] == "get_weather"


def test_a_request_with_a_feature_the_model_is_said_to_lack_carries_a_warning() -> None:
    llama = Llama("chat")
    client = modelport.Client(services=[llama.provider(8080)])
    client.models()
    response = client.chat(MODEL, "weather in Paris?", tools=[TOOL])
    (warning,) = response.warnings
    assert "tools" in warning and "chat" in warning and "supports_tools" not in warning.lower()
    assert client.chat(MODEL, "hi").warnings == ()


def test_tools_go_to_the_replica_whose_template_supports_them() -> None:
    plain, tooled = Llama("plain"), Llama("tooled", tools=True)
    client = modelport.Client(services=[plain.provider(8080), tooled.provider(8081)])
    response = client.chat(MODEL, "weather?", tools=[TOOL])
    assert response.service == "tooled"
    assert response.warnings == ()
    assert plain.chats == []
    # Without tools, the configured order holds.
    assert client.chat(MODEL, "hi").service == "plain"


def test_tools_go_to_the_server_when_no_replica_says_it_supports_them() -> None:
    one, two = Llama("one"), Llama("two")
    client = modelport.Client(services=[one.provider(8080), two.provider(8081)])
    response = client.chat(MODEL, "weather?", tools=[TOOL])
    assert response.service == "one"
    assert response.warnings


def test_a_streamed_reply_carries_the_warnings_on_the_stream_and_its_response() -> None:
    llama = Llama("chat")
    client = modelport.Client(services=[llama.provider(8080)])
    client.models()
    with client.chat_stream(MODEL, "weather?", tools=[TOOL]) as stream:
        text = "".join(chunk.text for chunk in stream)
        assert stream.warnings and "tools" in stream.warnings[0]
        assert stream.response.warnings == stream.warnings
    assert text == "from chat"


@pytest.mark.anyio
async def test_the_async_client_passes_and_warns_like_the_sync_one() -> None:
    llama = Llama("chat")
    async with modelport.AsyncClient(services=[llama.provider(8080)]) as client:
        await client.models()
        response = await client.chat(MODEL, "weather?", tools=[TOOL])
        assert response.warnings
        stream = client.chat_stream(MODEL, "weather?", tools=[TOOL])
        async with stream:
            async for _ in stream:
                pass
        assert stream.response.warnings == response.warnings


def _openai(name: str, models: list[dict[str, Any]], reply: httpx.Response | None = None) -> Any:
    sent: list[Any] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/models":
            return httpx.Response(200, json={"object": "list", "data": models})
        sent.append(json.loads(request.content))
        if reply is not None:
            return reply
        return httpx.Response(
            200, json={"choices": [{"message": {"content": "ok"}, "finish_reason": "stop"}]}
        )

    provider = OpenAICompatibleProvider(
        "http://127.0.0.1:9000", name=name, transport=httpx.MockTransport(handler)
    )
    return provider, sent


@pytest.mark.parametrize(
    ("options", "feature"),
    [
        ({"think": True}, "thinking"),
        ({"images": True}, "vision"),
    ],
)
def test_images_and_thinking_the_model_is_said_to_lack_are_sent_with_a_warning(
    options: dict[str, Any], feature: str
) -> None:
    # An LM Studio-style listing that says no vision and no reasoning.
    entry = {"id": "m", "object": "model", "capabilities": {"vision": False}}
    provider, sent = _openai("box", [entry])
    client = modelport.Client(services=[provider])
    (info,) = client.models()
    from dataclasses import replace

    caps = replace(info.capabilities, vision=False, thinking=False)
    client.router.states[0].models = [replace(info, capabilities=caps)]
    message: dict[str, Any] = {"role": "user", "content": "look"}
    if options.pop("images", False):
        message["images"] = [b"\x89PNG\r\n\x1a\n"]
    response = client.chat("m", [message], **options)
    assert len(sent) == 1
    assert any(feature in w for w in response.warnings)


def test_an_embedding_model_by_its_name_is_still_asked_to_chat() -> None:
    # The name looks like an embedding model; only the server knows whether it chats.
    provider, sent = _openai("box", [{"id": "nomic-embed-text", "object": "model"}])
    client = modelport.Client(services=[provider])
    client.models()
    assert client.chat("nomic-embed-text", "hi").text == "ok"
    assert len(sent) == 1


def test_a_refusal_by_the_server_is_still_a_capability_error() -> None:
    refusal = httpx.Response(
        501,
        json={
            "error": {
                "code": 501,
                "message": "This server does not support tools",
                "type": "not_supported_error",
            }
        },
    )
    provider, sent = _openai("box", [{"id": "m", "object": "model"}], refusal)
    client = modelport.Client(services=[provider])
    with pytest.raises(CapabilityError):
        client.chat("m", "hi", tools=[TOOL])
    assert len(sent) == 1

"""Embeddings go to replicas that can embed; capability refusals fail over; token ids.

llama-server's ``/props`` do not say whether it embeds (recorded: the same bytes with
and without ``--embeddings``); an empty ``POST /v1/embeddings`` does, refused before
any work: 501 without ``--embeddings``, 400 "must not be empty" with it, 400 "Pooling
type 'none' is not OAI compatible" when it embeds only through ``/embeddings``.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

import modelport
from modelport import CapabilityError, OllamaProvider, OpenAICompatibleProvider, ServiceStatus

from .test_never_stricter import MODEL, Llama


@pytest.mark.parametrize(
    ("kind", "embedding"),
    [("chat", False), ("embeddings", False), ("embeddings_mean", True)],
)
def test_llamacpp_listing_says_whether_the_server_embeds(kind: str, embedding: bool) -> None:
    llama = Llama("l", embeddings=kind)
    (info,) = llama.provider(8080).models()
    assert info.capabilities.embedding is embedding
    assert info.capabilities.chat is True  # an --embeddings server chats too
    (probe,) = [body for path, body in llama.sent if path == "/v1/embeddings"]
    assert probe == {"input": []}


def test_llamacpp_listing_says_nothing_of_embeddings_when_the_probe_has_no_answer() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/embeddings":
            return httpx.Response(404, json={"error": {"code": 404, "message": "File Not Found"}})
        return Llama("l").handler(request)

    provider = modelport.LlamaCppProvider(transport=httpx.MockTransport(handler))
    (info,) = provider.models()
    assert info.capabilities.embedding is None


def test_embed_goes_to_the_replica_that_can_embed() -> None:
    chat, emb = Llama("chat"), Llama("emb", embeddings="embeddings_mean")
    client = modelport.Client(services=[chat.provider(8080), emb.provider(8081)])
    response = client.embed(MODEL, "hello")
    assert response.service == "emb"
    assert not [b for p, b in chat.sent if p == "/v1/embeddings" and b != {"input": []}]
    assert "emb" in {m.service for m in client.models() if m.capabilities.embedding}
    assert "chat" not in {m.service for m in client.models() if m.capabilities.embedding}


def _openai(name: str, embed: httpx.Response | None, stream: httpx.Response | None = None) -> Any:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/v1/models":
            return httpx.Response(200, json={"object": "list", "data": [{"id": "m"}]})
        calls.append(path)
        if path == "/v1/embeddings" and embed is not None:
            return embed
        if path == "/v1/chat/completions" and stream is not None:
            return stream
        if path == "/v1/embeddings":
            return httpx.Response(200, json={"data": [{"index": 0, "embedding": [0.5]}]})
        events = [{"choices": [{"delta": {"content": name}, "finish_reason": "stop"}]}]
        data = b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events)
        return httpx.Response(200, content=data + b"data: [DONE]\n\n")

    provider = OpenAICompatibleProvider(
        f"http://127.0.0.1:{9000 + len(name)}", name=name, transport=httpx.MockTransport(handler)
    )
    return provider, calls


NOT_SUPPORTED = httpx.Response(
    501,
    json={
        "error": {
            "code": 501,
            "message": "This server does not support embeddings. Start it with `--embeddings`",
            "type": "not_supported_error",
        }
    },
)


def test_a_capability_error_fails_over_to_the_next_replica_and_leaves_health_alone() -> None:
    first, first_calls = _openai("a", NOT_SUPPORTED)
    second, second_calls = _openai("bb", None)
    client = modelport.Client(services=[first, second])
    response = client.embed("m", "hello")
    assert response.service == "bb"
    assert first_calls == ["/v1/embeddings"] and second_calls == ["/v1/embeddings"]
    health = {s.name: s for s in client.services()}
    assert health["a"].status is ServiceStatus.AVAILABLE
    assert client.router.states[0].failures == 0


def test_a_stream_refused_for_capability_before_its_first_byte_fails_over() -> None:
    first, _ = _openai("a", None, stream=NOT_SUPPORTED)
    second, _ = _openai("bb", None)
    client = modelport.Client(services=[first, second])
    with client.chat_stream("m", "hi") as stream:
        assert "".join(chunk.text for chunk in stream) == "bb"
    assert client.router.states[0].status is ServiceStatus.AVAILABLE


def test_when_every_replica_refuses_the_capability_error_itself_is_raised() -> None:
    first, _ = _openai("a", NOT_SUPPORTED)
    second, _ = _openai("bb", NOT_SUPPORTED)
    client = modelport.Client(services=[first, second])
    with pytest.raises(CapabilityError) as caught:
        client.embed("m", "hello")
    assert "--embeddings" in str(caught.value)


# ---------------------------------------------------------------------------- token ids


@pytest.mark.parametrize("tokens", [[1, 2, 3], [[1, 2], [3, 4]]])
def test_token_ids_pass_through_to_an_openai_compatible_server(tokens: Any) -> None:
    emb = Llama("emb", embeddings="embeddings_mean")
    client = modelport.Client(services=[emb.provider(8080)])
    response = client.embed(MODEL, tokens)
    assert len(response.vectors) == 2  # the recorded answer to [[1, 2], [3, 4]]
    sent = [b for p, b in emb.sent if p == "/v1/embeddings" and b != {"input": []}]
    assert sent == [{"model": MODEL, "input": tokens}]


@pytest.mark.parametrize("bad", [[1, "a"], [[1], "a"], [True, 2], [[]], [1.5]])
def test_mixed_or_empty_token_inputs_are_invalid_requests(bad: Any) -> None:
    client = modelport.Client(services=[Llama("emb").provider(8080)])
    with pytest.raises(modelport.InvalidRequestError):
        client.embed(MODEL, bad)


def test_ollama_refuses_token_ids_and_names_the_client_side_fix() -> None:
    sent: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request.url.path)
        return httpx.Response(200, json={"embeddings": [[0.1]]})

    provider = OllamaProvider(transport=httpx.MockTransport(handler))
    with pytest.raises(CapabilityError) as caught:
        provider.embed("nomic-embed-text", [[1, 2, 3]])
    assert "check_embedding_ctx_length=False" in str(caught.value)
    assert sent == []

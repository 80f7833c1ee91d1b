"""Live: modelport against a real llama.cpp server running SmolLM2-135M-Instruct."""

from __future__ import annotations

import httpx
import pytest

import modelport
from modelport import (
    CapabilityError,
    ContextLengthExceededError,
    InvalidRequestError,
    LlamaCppProvider,
    ServiceStatus,
)


@pytest.fixture
def chat(llamacpp_chat_url: str) -> LlamaCppProvider:
    return LlamaCppProvider(llamacpp_chat_url)


def test_live_models_report_trained_and_served_context(chat: LlamaCppProvider) -> None:
    (info,) = chat.models()
    assert info.name.startswith("SmolLM2") and "/" not in info.name  # the file's stem
    assert info.details["model_path"].endswith(".gguf")
    assert info.context_length == 8192  # SmolLM2's n_ctx_train
    assert info.loaded_context_length == 2048  # -c 2048
    assert info.loaded is True
    assert info.capabilities.chat is True


def test_live_health_is_available(chat: LlamaCppProvider) -> None:
    service = chat.health()
    assert service.status is ServiceStatus.AVAILABLE
    assert service.model_count == 1


def test_live_chat_answers_with_usage_and_timings(chat: LlamaCppProvider) -> None:
    reply = chat.chat(
        "smollm2",
        "What is the capital of France? Answer in one word.",
        max_tokens=16,
        temperature=0,
        seed=1,
    )
    assert reply.text.strip()
    assert reply.usage is not None
    assert reply.usage.prompt_tokens and reply.usage.prompt_tokens > 5
    assert reply.usage.completion_tokens and reply.usage.completion_tokens <= 16
    assert reply.timings is not None and reply.timings.tokens_per_second
    assert reply.finish_reason in ("stop", "length")


def test_live_stream_chunks_join_to_the_final_text(chat: LlamaCppProvider) -> None:
    with chat.chat_stream(
        "smollm2", "Count from one to five.", max_tokens=24, temperature=0
    ) as stream:
        chunks = list(stream)
    joined = "".join(c.text for c in chunks)
    assert joined.strip()
    assert stream.response.text == joined
    assert chunks[-1].done and [c.done for c in chunks].count(True) == 1
    assert stream.response.usage is not None
    assert stream.response.usage.completion_tokens and stream.response.usage.completion_tokens <= 24
    assert stream.response.timings is not None
    assert stream.response.timings.time_to_first_token_ms is not None


@pytest.mark.anyio
async def test_live_async_chat_and_stream(llamacpp_chat_url: str) -> None:
    async with LlamaCppProvider(llamacpp_chat_url) as provider:
        reply = await provider.achat("smollm2", "Say hello.", max_tokens=8)
        assert reply.text
        async with provider.achat_stream("smollm2", "Say hello.", max_tokens=8) as stream:
            texts = [chunk.text async for chunk in stream]
        assert "".join(texts) == stream.response.text


def test_live_embeddings_have_the_size_the_server_reports(llamacpp_embed_url: str) -> None:
    provider = LlamaCppProvider(llamacpp_embed_url)
    (info,) = provider.models()
    expected = info.details["meta"]["n_embd"]  # read from the server, not hard-coded
    result = provider.embed("smollm2", ["The sky is blue.", "Grass is green."])
    assert len(result.vectors) == 2
    assert result.dimensions == expected
    assert result.vectors[0] != result.vectors[1]


def test_live_embeddings_on_the_chat_server_raise_capability_error(chat: LlamaCppProvider) -> None:
    with pytest.raises(CapabilityError) as caught:
        chat.embed("smollm2", "hello")
    assert caught.value.status_code == 501
    assert "--embeddings" in str(caught.value)


def test_live_prompt_longer_than_the_context_raises_context_length_exceeded(
    chat: LlamaCppProvider,
) -> None:
    with pytest.raises(ContextLengthExceededError) as caught:
        chat.chat("smollm2", "hello world " * 3000, max_tokens=4)
    assert caught.value.status_code == 400
    assert "2048" in str(caught.value)


def test_live_empty_messages_are_refused_before_sending(llamacpp_chat_url: str) -> None:
    sent: list[httpx.Request] = []

    class Spy(httpx.HTTPTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            sent.append(request)
            return super().handle_request(request)

    provider = LlamaCppProvider(llamacpp_chat_url, transport=Spy())
    with pytest.raises(InvalidRequestError):
        provider.chat("smollm2", [])
    assert sent == []


def test_live_client_chat_through_the_public_api(llamacpp_chat_url: str) -> None:
    with modelport.Client(services=[llamacpp_chat_url]) as client:
        (service,) = client.services()
        assert service.kind == "llamacpp"
        reply = client.chat("SmolLM2-135M-Instruct.Q4_1.gguf", "Say hi.", max_tokens=8)
        assert reply.text

"""The provider contract: the same behaviour, through the public API, for every provider.

Each provider kind supplies a fake server (a :class:`Harness`) speaking its real wire
format; the tests below never look at the wire.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import httpx
import pytest

import modelport
from modelport import (
    ChatResponse,
    ContextLengthExceededError,
    ModelNotFoundError,
    ModelportError,
    ProtocolError,
    ServerError,
    ServiceStatus,
    ServiceUnavailableError,
    StreamError,
)

from .harness import ECHO_PREFIX, EMBED_VECTOR, STREAM_PIECES_BEFORE_FAILURE, USAGE, Harness

HARNESSES: dict[str, str] = {
    "openai": "tests.contract.harness_openai:OpenAIHarness",
    "llamacpp": "tests.contract.harness_openai:LlamaCppHarness",
    "llamacpp-router": "tests.contract.harness_llamacpp:LlamaCppRouterHarness",
    "ollama": "tests.contract.harness_ollama:OllamaHarness",
    "lmstudio": "tests.contract.harness_lmstudio:LMStudioHarness",
    "gateway": "tests.contract.harness_gateway:GatewayHarness",
}


def _load(spec: str) -> Callable[[], Harness]:
    """The harness factory; a harness that fails to import fails the whole suite,
    rather than leaving a provider out of the contract without a word."""
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]


def _params() -> list[Any]:
    return [pytest.param(_load(spec), id=kind) for kind, spec in HARNESSES.items()]


@pytest.fixture(params=_params())
def harness(request: pytest.FixtureRequest) -> Harness:
    factory = request.param
    return factory()  # type: ignore[no-any-return]


@pytest.fixture(params=[p for p in _params() if p.values[0]().manages_models])
def managing(request: pytest.FixtureRequest) -> Harness:
    """The fakes that emulate loading and unloading."""
    factory = request.param
    return factory()  # type: ignore[no-any-return]


# ---------------------------------------------------------------------------- listing


def test_models_lists_every_model_with_service_prefixed_ids(harness: Harness) -> None:
    provider = harness.provider()
    models = provider.models()
    names = [m.name for m in models]
    for name in ("alpha", "beta"):
        assert harness.listed(name) in names
    for info in models:
        assert info.id == f"{provider.name}/{info.name}"
        assert info.service == provider.name
        assert info.kind == provider.kind


def test_health_reports_available_service(harness: Harness) -> None:
    service = harness.provider().health()
    assert service.status is ServiceStatus.AVAILABLE
    assert service.kind == harness.kind
    assert service.error is None


def test_health_of_unreachable_server_reports_unavailable_without_raising(harness: Harness) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    provider = harness.make_provider(httpx.MockTransport(refuse))
    service = provider.health()
    assert service.status is ServiceStatus.UNAVAILABLE
    assert service.error and provider.base_url in service.error


def test_model_info_of_unknown_model_raises_model_not_found_with_suggestions(
    harness: Harness,
) -> None:
    provider = harness.provider()
    with pytest.raises(ModelNotFoundError) as caught:
        provider.model_info("alpah")
    assert caught.value.model == "alpah"
    assert harness.listed("alpha") in caught.value.suggestions


# ---------------------------------------------------------------------------- chat


def test_chat_returns_the_reply_text_and_usage(harness: Harness) -> None:
    reply = harness.provider().chat("alpha", "hello there")
    assert isinstance(reply, ChatResponse)
    assert reply.text == ECHO_PREFIX + "hello there"
    assert reply.usage is not None
    assert reply.usage.prompt_tokens == USAGE["prompt"]
    assert reply.usage.completion_tokens == USAGE["completion"]
    assert reply.message.role == "assistant"
    assert reply.message.content == reply.text


def test_chat_sends_the_conversation_in_order(harness: Harness) -> None:
    provider = harness.provider()
    provider.chat(
        "alpha",
        [
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": "second"},
        ],
        system="be brief",
    )
    sent = harness.calls[-1].json["messages"]
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "user"]
    assert sent[-1]["content"] == "second"


def test_chat_stream_chunks_join_to_the_final_response(harness: Harness) -> None:
    provider = harness.provider()
    with provider.chat_stream("alpha", "one two three") as stream:
        chunks = list(stream)
    text = "".join(c.text for c in chunks)
    assert text == ECHO_PREFIX + "one two three"
    assert stream.response.text == text
    assert [c.done for c in chunks].count(True) == 1 and chunks[-1].done
    assert stream.response.usage is not None
    assert stream.response.usage.completion_tokens == USAGE["completion"]


def test_chat_of_missing_model_raises_model_not_found_naming_the_server(harness: Harness) -> None:
    provider = harness.provider()
    with pytest.raises(ModelNotFoundError) as caught:
        provider.chat("missing", "hi")
    error = caught.value
    assert error.service == provider.name
    assert error.base_url == provider.base_url
    assert provider.server_name in str(error)


def test_chat_over_the_context_raises_context_length_exceeded(harness: Harness) -> None:
    with pytest.raises(ContextLengthExceededError):
        harness.provider().chat("overflow", "a very long prompt")


def test_chat_on_busy_server_raises_retriable_service_unavailable(harness: Harness) -> None:
    with pytest.raises(ServiceUnavailableError) as caught:
        harness.provider().chat("busy", "hi")
    assert caught.value.retriable


def test_chat_on_crashing_server_raises_server_error(harness: Harness) -> None:
    with pytest.raises(ServerError) as caught:
        harness.provider().chat("crash", "hi")
    assert caught.value.status_code == 500
    assert caught.value.retriable


def test_error_mid_stream_raises_stream_error_keeping_the_partial_text(harness: Harness) -> None:
    received = []
    with pytest.raises(StreamError) as caught:
        with harness.provider().chat_stream("midstream", "hi") as stream:
            for chunk in stream:
                received.append(chunk.text)
    assert caught.value.partial == "".join(STREAM_PIECES_BEFORE_FAILURE)
    assert "".join(received) == caught.value.partial


def test_stream_that_ends_early_raises_stream_error_keeping_the_partial_text(
    harness: Harness,
) -> None:
    with pytest.raises(StreamError) as caught:
        with harness.provider().chat_stream("truncated", "hi") as stream:
            list(stream)
    assert caught.value.partial == "".join(STREAM_PIECES_BEFORE_FAILURE)


def test_unreachable_server_raises_service_unavailable_with_a_hint(harness: Harness) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    provider = harness.make_provider(httpx.MockTransport(refuse))
    with pytest.raises(ServiceUnavailableError) as caught:
        provider.chat("alpha", "hi")
    message = str(caught.value)
    assert provider.base_url in message
    assert caught.value.hint and caught.value.hint in message
    assert isinstance(caught.value.__cause__, httpx.ConnectError)


def test_html_error_page_becomes_a_typed_error_with_the_page_text(harness: Harness) -> None:
    def proxy(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            502,
            text="<html><head><title>x</title></head><body><h1>502 Bad Gateway</h1></body></html>",
            headers={"content-type": "text/html"},
        )

    provider = harness.make_provider(httpx.MockTransport(proxy))
    with pytest.raises(ServerError) as caught:
        provider.chat("alpha", "hi")
    assert "502 Bad Gateway" in str(caught.value)
    assert "<h1>" not in str(caught.value)


def test_garbage_success_body_raises_protocol_error(harness: Harness) -> None:
    def garbage(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text="this is not json {")

    provider = harness.make_provider(httpx.MockTransport(garbage))
    with pytest.raises(ProtocolError):
        provider.chat("alpha", "hi")
    with pytest.raises(ProtocolError):
        provider.models()


def test_wrong_shaped_success_body_raises_protocol_error(harness: Harness) -> None:
    def wrong(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"unexpected": ["shape"]})

    provider = harness.make_provider(httpx.MockTransport(wrong))
    with pytest.raises(ProtocolError):
        provider.chat("alpha", "hi")


def test_dropped_connection_mid_stream_raises_stream_error_with_partial(harness: Harness) -> None:
    full = harness.stream_response("alpha", ["Hello ", "world ", "again"])
    body = full.content
    cut = body[: len(body) // 2]

    class Broken(httpx.SyncByteStream):
        def __iter__(self):  # type: ignore[no-untyped-def]
            yield cut
            raise httpx.ReadError("connection reset by peer")

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=Broken(), headers=full.headers)

    provider = harness.make_provider(httpx.MockTransport(handler))
    with pytest.raises(StreamError) as caught, provider.chat_stream("alpha", "hi") as stream:
        list(stream)
    assert caught.value.partial.startswith("Hello")
    assert isinstance(caught.value.__cause__, httpx.ReadError)


# ---------------------------------------------------------------------------- model management


def test_load_then_unload_each_show_in_a_refreshed_listing(managing: Harness) -> None:
    provider = managing.provider()
    provider.load("beta")
    assert {m.name: m.loaded for m in provider.models(refresh=True)}["beta"] is True
    provider.unload("beta")
    assert {m.name: m.loaded for m in provider.models(refresh=True)}["beta"] is False


def test_unload_of_a_model_that_is_not_loaded_is_a_no_op(managing: Harness) -> None:
    provider = managing.provider()
    provider.unload("beta")
    assert {m.name: m.loaded for m in provider.models(refresh=True)}["beta"] is False


def test_load_of_an_unknown_model_raises_model_not_found_with_suggestions(
    managing: Harness,
) -> None:
    with pytest.raises(ModelNotFoundError) as caught:
        managing.provider().load("alpah")
    assert "alpha" in caught.value.suggestions


def test_load_and_unload_of_an_unreachable_server_are_retriable_errors(
    managing: Harness,
) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    provider = managing.make_provider(httpx.MockTransport(refuse))
    for manage in (provider.load, provider.unload):
        with pytest.raises(ModelportError) as caught:
            manage("alpha")
        assert caught.value.retriable
        assert isinstance(caught.value.__cause__, httpx.ConnectError)


# ---------------------------------------------------------------------------- embeddings


def test_embed_returns_one_vector_per_input_in_order(harness: Harness) -> None:
    provider = harness.provider()
    result = provider.embed("embedder", ["a", "b", "c"])
    assert result.vectors == [EMBED_VECTOR] * 3
    assert result.dimensions == len(EMBED_VECTOR)
    assert result.service == provider.name


# ---------------------------------------------------------------------------- secrets


def test_api_key_is_sent_as_bearer_and_never_shown(harness: Harness) -> None:
    provider = harness.provider(api_key="sk-very-secret")
    provider.chat("alpha", "hi")
    assert harness.calls[-1].headers["authorization"] == "Bearer sk-very-secret"
    assert "sk-very-secret" not in repr(provider)
    assert "sk-very-secret" not in str(provider)
    with pytest.raises(ModelNotFoundError) as caught:
        provider.chat("missing", "hi")
    assert "sk-very-secret" not in str(caught.value)
    assert "sk-very-secret" not in repr(caught.value)


# ---------------------------------------------------------------------------- async twins


@pytest.mark.anyio
async def test_async_chat_and_stream_match_the_sync_ones(harness: Harness) -> None:
    provider = harness.provider()
    reply = await provider.achat("alpha", "hello async")
    assert reply.text == ECHO_PREFIX + "hello async"
    async with provider.achat_stream("alpha", "hello async") as stream:
        texts = [chunk.text async for chunk in stream]
    assert "".join(texts) == reply.text
    assert stream.response.text == reply.text
    models = await provider.amodels()
    assert {harness.listed("alpha"), harness.listed("beta")} <= {m.name for m in models}
    await provider.aclose()


@pytest.mark.anyio
async def test_async_error_mid_stream_keeps_the_partial_text(harness: Harness) -> None:
    provider = harness.provider()
    with pytest.raises(StreamError) as caught:
        async with provider.achat_stream("midstream", "hi") as stream:
            async for _ in stream:
                pass
    assert caught.value.partial == "".join(STREAM_PIECES_BEFORE_FAILURE)


# ---------------------------------------------------------------------------- through a Client


def test_client_over_the_provider_answers_and_lists(harness: Harness) -> None:
    provider = harness.provider()
    client = modelport.Client(services=[provider])
    assert client.chat("alpha", "via client").text == ECHO_PREFIX + "via client"
    assert {harness.listed("alpha"), harness.listed("beta")} <= {m.name for m in client.models()}
    assert client.chat(f"{provider.name}/alpha", "prefixed").text == ECHO_PREFIX + "prefixed"

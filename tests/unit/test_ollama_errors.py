"""Ollama's errors, as it really sends them, become the right typed errors.

The bodies below are written from the format strings in Ollama's server/routes.go and
server/sched.go (see tests/fixtures/ollama/README.md, "derived" rows): the wording
drifts between versions, so the mapping keys on status and shape first.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from modelport import (
    AuthenticationError,
    CapabilityError,
    ContextLengthExceededError,
    InvalidRequestError,
    ModelNotFoundError,
    ModelportError,
    ProtocolError,
    ServerError,
    ServiceUnavailableError,
)
from tests.conftest import load_fixture
from tests.contract.harness_ollama import FakeOllama, reply, stream_reply

TOOLS = load_fixture("ollama/requests/chat_tools_request.json")["tools"]


@pytest.fixture(autouse=True)
def _no_ollama_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OLLAMA_API_KEY", raising=False)


def failing_chat(status: int, body: Any, **routes: Any) -> FakeOllama:
    return FakeOllama(
        {
            "/api/chat": reply(status, body),
            "/api/tags": reply(200, load_fixture("ollama/tags.json")),
            **routes,
        }
    )


def test_json_404_raises_model_not_found_with_close_names_from_the_model_list() -> None:
    server = failing_chat(404, {"error": "model 'llama3' not found"})
    provider = server.provider()
    with pytest.raises(ModelNotFoundError) as caught:
        provider.chat("llama3", "hi")
    error = caught.value
    assert error.model == "llama3"
    assert "llama3.2:latest" in error.suggestions
    assert error.status_code == 404
    assert error.service == "ollama" and error.base_url == provider.base_url
    assert "Ollama at http://127.0.0.1:11434" in str(error)
    assert "ollama pull llama3" in str(error)
    assert server.paths() == ["POST /api/chat", "GET /api/tags"]


def test_try_pulling_it_first_404_also_raises_model_not_found() -> None:
    server = FakeOllama(
        {
            "/api/embed": reply(
                404, {"error": 'model "all-minilm" not found, try pulling it first'}
            ),
            "/api/tags": reply(200, {"models": []}),
        }
    )
    with pytest.raises(ModelNotFoundError) as caught:
        server.provider().embed("all-minilm", "hi")
    assert caught.value.model == "all-minilm"
    assert caught.value.suggestions == []


def test_model_not_found_still_raises_when_the_model_list_cannot_be_read() -> None:
    server = FakeOllama({"/api/chat": reply(404, {"error": "model 'llama3' not found"})})
    with pytest.raises(ModelNotFoundError) as caught:
        server.provider().chat("llama3", "hi")
    assert caught.value.suggestions == []


def test_streamed_chat_of_a_missing_model_also_suggests_close_names() -> None:
    server = failing_chat(404, {"error": "model 'deepseek' not found"})
    with pytest.raises(ModelNotFoundError) as caught:
        with server.provider().chat_stream("deepseek", "hi") as stream:
            list(stream)
    assert caught.value.suggestions == ["deepseek-r1:latest"]


@pytest.mark.anyio
async def test_async_chat_of_a_missing_model_suggests_close_names() -> None:
    server = failing_chat(404, {"error": "model 'llama3' not found"})
    provider = server.provider()
    with pytest.raises(ModelNotFoundError) as caught:
        await provider.achat("llama3", "hi")
    assert "llama3.2:latest" in caught.value.suggestions
    with pytest.raises(ModelNotFoundError) as caught:
        async with provider.achat_stream("llama3", "hi") as stream:
            async for _ in stream:
                pass
    assert "llama3.2:latest" in caught.value.suggestions
    await provider.aclose()


def test_text_404_means_the_endpoint_is_missing_and_raises_capability_error_naming_it() -> None:
    server = FakeOllama()  # every path answers gin's "404 page not found"
    with pytest.raises(CapabilityError) as caught:
        server.provider().chat("llama3.2", "hi")
    assert "/api/chat" in str(caught.value)
    assert caught.value.status_code == 404
    assert not isinstance(caught.value, ModelNotFoundError)


@pytest.mark.parametrize(
    ("message", "what"),
    [
        ("registry.ollama.ai/library/gemma3:latest does not support tools", "tools"),
        ('"gemma3" does not support thinking', "thinking"),
        ('"nomic-embed-text" does not support chat', "chat"),
        ('"nomic-embed-text" does not support generate', "generate"),
    ],
)
def test_400_does_not_support_raises_capability_error_naming_the_feature(
    message: str, what: str
) -> None:
    server = failing_chat(400, {"error": message})
    with pytest.raises(CapabilityError) as caught:
        server.provider().chat("gemma3", "hi", tools=TOOLS)
    assert what in str(caught.value)
    assert caught.value.hint
    assert caught.value.status_code == 400


@pytest.mark.parametrize(
    "message",
    [
        "the prompt is longer than the context length currently available to the model; "
        "increase num_ctx or shorten the prompt",
        "the input length exceeds the context length",
    ],
)
def test_400_context_overflow_raises_context_length_exceeded(message: str) -> None:
    server = failing_chat(400, {"error": message}, **{"/api/embed": reply(400, {"error": message})})
    provider = server.provider()
    with pytest.raises(ContextLengthExceededError):
        provider.chat("llama3.2", "a very long prompt")
    with pytest.raises(ContextLengthExceededError):
        provider.embed("all-minilm", "a very long input")


def test_503_server_busy_raises_retriable_service_unavailable() -> None:
    server = failing_chat(
        503, {"error": "server busy, please try again.  maximum pending requests exceeded"}
    )
    with pytest.raises(ServiceUnavailableError) as caught:
        server.provider().chat("llama3.2", "hi")
    assert caught.value.retriable
    assert caught.value.status_code == 503
    assert "OLLAMA_NUM_PARALLEL" in str(caught.value) or "OLLAMA_MAX_QUEUE" in str(caught.value)


def test_500_runner_failure_raises_retriable_server_error_with_the_message() -> None:
    server = failing_chat(500, {"error": "llama runner process has terminated: exit status 2"})
    with pytest.raises(ServerError) as caught:
        server.provider().chat("llama3.2", "hi")
    assert caught.value.retriable
    assert "llama runner process has terminated" in str(caught.value)


def test_500_load_timeout_hints_at_ollama_load_timeout() -> None:
    server = failing_chat(
        500, {"error": "timed out waiting for llama runner to start - progress 0.00 - "}
    )
    with pytest.raises(ServerError) as caught:
        server.provider().chat("llama3.2", "hi")
    assert "OLLAMA_LOAD_TIMEOUT" in str(caught.value)


def test_500_for_an_option_of_the_wrong_type_raises_invalid_request_not_retriable() -> None:
    server = failing_chat(500, {"error": 'option "num_ctx" must be of type integer'})
    with pytest.raises(InvalidRequestError) as caught:
        server.provider().chat("llama3.2", "hi", options={"num_ctx": "4096"})
    assert not caught.value.retriable
    assert caught.value.status_code == 500


def test_empty_403_raises_authentication_error_explaining_the_host_header_check() -> None:
    server = failing_chat(403, b"")
    with pytest.raises(AuthenticationError) as caught:
        server.provider().chat("llama3.2", "hi")
    text = str(caught.value)
    assert "Host" in text
    assert "proxy_set_header Host localhost:11434" in text


def test_401_raises_authentication_error_naming_ollama_api_key_and_the_signin_url() -> None:
    server = failing_chat(
        401, {"error": "unauthorized", "signin_url": "https://ollama.com/connect?name=box&key=abc"}
    )
    with pytest.raises(AuthenticationError) as caught:
        server.provider().chat("gpt-oss:120b-cloud", "hi")
    text = str(caught.value)
    assert "OLLAMA_API_KEY" in text
    assert "https://ollama.com/connect?name=box&key=abc" in text


def test_other_400s_raise_invalid_request_with_the_server_message() -> None:
    server = failing_chat(
        400,
        {"error": 'invalid think value: "max" (must be "high", "medium", "low", true, or false)'},
    )
    with pytest.raises(InvalidRequestError) as caught:
        server.provider().chat("qwen3", "hi", think="max")
    assert "invalid think value" in str(caught.value)
    assert type(caught.value) is InvalidRequestError


@pytest.mark.parametrize(
    "make_error",
    [
        lambda request: httpx.ConnectError("[Errno 111] Connection refused", request=request),
        lambda request: httpx.ReadTimeout("timed out", request=request),
        lambda request: httpx.RemoteProtocolError("peer closed connection", request=request),
    ],
)
def test_no_httpx_exception_escapes_any_operation(make_error: Any) -> None:
    def broken(request: httpx.Request) -> httpx.Response:
        raise make_error(request)

    from modelport.providers.ollama import OllamaProvider

    provider = OllamaProvider(transport=httpx.MockTransport(broken))
    calls = [
        lambda: provider.chat("llama3.2", "hi"),
        lambda: list(provider.chat_stream("llama3.2", "hi")),
        lambda: provider.models(),
        lambda: provider.model_info("llama3.2"),
        lambda: provider.embed("all-minilm", "hi"),
        lambda: list(provider.pull("llama3.2")),
        lambda: provider.load("llama3.2"),
        lambda: provider.unload("llama3.2"),
        lambda: provider.delete("llama3.2"),
    ]
    for call in calls:
        with pytest.raises(ModelportError) as caught:
            call()
        assert isinstance(caught.value.__cause__, httpx.HTTPError)
        assert "ollama serve" in str(caught.value) or "Ollama" in str(caught.value)


def test_garbage_bodies_raise_protocol_error_from_every_operation() -> None:
    garbage = reply(200, "<html>not json</html>")
    server = FakeOllama(
        dict.fromkeys(("/api/chat", "/api/tags", "/api/show", "/api/embed", "/api/ps"), garbage)
    )
    provider = server.provider()
    for call in (
        lambda: provider.chat("llama3.2", "hi"),
        lambda: provider.models(),
        lambda: provider.model_info("llama3.2"),
        lambda: provider.embed("all-minilm", "hi"),
    ):
        with pytest.raises(ProtocolError):
            call()


def test_wrong_shaped_bodies_raise_protocol_error_not_key_or_type_errors() -> None:
    server = FakeOllama(
        {
            "/api/tags": reply(200, {"models": [{"no_name": 1}]}),
            "/api/embed": reply(200, {"embeddings": "nope"}),
            "/api/chat": reply(200, {"done": True, "message": {"content": 5}}),
        }
    )
    provider = server.provider()
    for call in (
        lambda: provider.models(),
        lambda: provider.embed("all-minilm", "hi"),
        lambda: provider.chat("llama3.2", "hi"),
    ):
        with pytest.raises(ProtocolError):
            call()


def test_in_band_error_on_a_200_non_streamed_reply_is_raised() -> None:
    server = FakeOllama(
        {"/api/chat": reply(200, {"error": "the model failed to generate a response"})}
    )
    with pytest.raises(ModelportError) as caught:
        server.provider().chat("llama3.2", "hi")
    assert "the model failed to generate a response" in str(caught.value)


def test_streamed_error_before_output_from_a_missing_model_is_model_not_found() -> None:
    server = FakeOllama({"/api/chat": stream_reply([{"error": "model 'llama3' not found"}])})
    with pytest.raises(ModelNotFoundError):
        with server.provider().chat_stream("llama3", "hi") as stream:
            list(stream)

"""``count_tokens()``: a chat's prompt tokens, exact where the server can count them.

llama.cpp bodies are recorded from llama-server 11434.0.0 with SmolLM2
(tests/fixtures/responses/SOURCES.md): ``/v1/chat/completions/input_tokens`` said 19 for
the same two messages whose real chat's ``usage.prompt_tokens`` was 19, and so did
``/apply-template`` then ``/tokenize``. vLLM's ``/tokenize`` answer is its documented shape
(``vllm/entrypoints/serve/tokenize/protocol.py``: ``count``, ``max_model_len``, ``tokens``).
"""

from __future__ import annotations

import asyncio
import json
import math
from typing import Any

import httpx
import pytest

import modelport
from modelport import (
    InvalidRequestError,
    LlamaCppProvider,
    LMStudioProvider,
    Message,
    OllamaProvider,
    OpenAICompatibleProvider,
    TokenCount,
)
from modelport._tokens import CHARS_PER_TOKEN, IMAGE_TOKENS, MESSAGE_TOKENS, estimate_input_tokens
from tests.conftest import load_fixture

MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hi"}]
SENT_MESSAGES = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Say hi"},
]
NOT_FOUND = (404, load_fixture("responses/llamacpp_unknown_route_404.json"))
VLLM_MODELS = {"object": "list", "data": [{"id": "q", "object": "model", "owned_by": "vllm"}]}


class Server:
    """Routes by path: ``answers[path] = (status, body)``; records every request."""

    def __init__(self, answers: dict[str, tuple[int, Any]]) -> None:
        self.answers = answers
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        status, body = self.answers.get(request.url.path, NOT_FOUND)
        return httpx.Response(status, json=body)

    @property
    def sent(self) -> list[tuple[str, Any]]:
        return [(r.url.path, json.loads(r.content) if r.content else None) for r in self.requests]


def _llamacpp(server: Server) -> LlamaCppProvider:
    return LlamaCppProvider("http://127.0.0.1:8080", transport=httpx.MockTransport(server))


def _openai(server: Server) -> OpenAICompatibleProvider:
    return OpenAICompatibleProvider("http://127.0.0.1:8000", transport=httpx.MockTransport(server))


# ---------------------------------------------------------------------------- llama.cpp


def test_llamacpp_counts_exactly_with_its_input_tokens_endpoint() -> None:
    server = Server(
        {
            "/v1/chat/completions/input_tokens": (
                200,
                load_fixture("responses/llamacpp_chat_completions_input_tokens_system.json"),
            )
        }
    )
    count = _llamacpp(server).count_tokens("smollm2", MESSAGES)
    assert server.sent == [
        (
            "/v1/chat/completions/input_tokens",
            {"model": "smollm2", "messages": SENT_MESSAGES},
        )
    ]
    assert count == TokenCount(count=19, exact=True, model="smollm2", service="llamacpp")


def test_llamacpp_sends_the_tools_too_since_the_template_may_render_them() -> None:
    server = Server({"/v1/chat/completions/input_tokens": (200, {"input_tokens": 90})})
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    count = _llamacpp(server).count_tokens("smollm2", "hi", tools=[tool])
    assert server.sent[0][1]["tools"] == [tool]
    assert count.count == 90


def test_an_older_llamacpp_counts_with_apply_template_then_tokenize() -> None:
    server = Server(
        {
            "/apply-template": (200, load_fixture("responses/llamacpp_apply_template_system.json")),
            "/tokenize": (200, load_fixture("responses/llamacpp_tokenize_system.json")),
        }
    )
    count = _llamacpp(server).count_tokens("smollm2", MESSAGES)
    prompt = load_fixture("responses/llamacpp_apply_template_system.json")["prompt"]
    assert server.sent[1:] == [
        ("/apply-template", {"model": "smollm2", "messages": SENT_MESSAGES}),
        ("/tokenize", {"content": prompt, "add_special": True, "parse_special": True}),
    ]
    assert count.count == 19 and count.exact is True


def test_llamacpp_that_cannot_count_gives_the_estimate() -> None:
    count = _llamacpp(Server({})).count_tokens("smollm2", MESSAGES)
    assert count.exact is False
    assert count.count == estimate_input_tokens(
        (Message("system", "Be brief."), Message("user", "Say hi"))
    )


def test_an_unreadable_count_is_a_protocol_error() -> None:
    server = Server({"/v1/chat/completions/input_tokens": (200, {"input_tokens": "many"})})
    with pytest.raises(modelport.ProtocolError):
        _llamacpp(server).count_tokens("smollm2", MESSAGES)


# ---------------------------------------------------------------------------- vLLM & others


def test_vllm_counts_exactly_with_tokenize_and_its_chat_template() -> None:
    server = Server(
        {
            "/v1/models": (200, VLLM_MODELS),
            "/tokenize": (200, {"count": 12, "max_model_len": 8192, "tokens": list(range(12))}),
        }
    )
    count = _openai(server).count_tokens("q", MESSAGES)
    assert server.sent[-1] == (
        "/tokenize",
        {"model": "q", "messages": SENT_MESSAGES, "add_generation_prompt": True},
    )
    assert count == TokenCount(count=12, exact=True, model="q", service="openai")


def test_a_generic_server_gets_the_estimate_after_one_look_at_its_models() -> None:
    server = Server({"/v1/models": (200, {"object": "list", "data": [{"id": "q"}]})})
    provider = _openai(server)
    count = provider.count_tokens("q", MESSAGES)
    provider.count_tokens("q", MESSAGES)
    assert count.exact is False and count.count > 0
    assert [path for path, _ in server.sent] == ["/v1/models"]


def test_ollama_and_lmstudio_give_the_estimate_without_a_request() -> None:
    for provider_class in (OllamaProvider, LMStudioProvider):
        server = Server({})
        provider = provider_class("http://127.0.0.1:9", transport=httpx.MockTransport(server))
        count = provider.count_tokens("m", MESSAGES)
        assert count.exact is False and count.count == estimate_input_tokens(
            (Message("system", "Be brief."), Message("user", "Say hi"))
        )
        assert server.requests == []


def test_bad_messages_are_refused_before_sending() -> None:
    server = Server({})
    with pytest.raises(InvalidRequestError):
        _llamacpp(server).count_tokens("smollm2", [])
    with pytest.raises(InvalidRequestError):
        _llamacpp(server).count_tokens("smollm2", "hi", stream=True)  # type: ignore[call-arg]
    assert server.requests == []


# ---------------------------------------------------------------------------- the estimate


def test_the_estimate_is_characters_over_four_plus_a_few_tokens_a_message_and_image() -> None:
    messages = (Message("user", "x" * 10, images=[b"img"]), Message("assistant", "y" * 6))
    expected = math.ceil(16 / CHARS_PER_TOKEN) + 2 * MESSAGE_TOKENS + IMAGE_TOKENS
    assert estimate_input_tokens(messages) == expected


def test_the_estimate_counts_tool_calls_and_tools_where_the_template_shows_them() -> None:
    call = modelport.ToolCall(name="get", arguments={"a": 1})
    messages = (Message("assistant", tool_calls=[call]),)
    tool = {"type": "function", "function": {"name": "get"}}
    with_tools = estimate_input_tokens(messages, [tool])
    without = estimate_input_tokens(messages, [tool], tools_rendered=False)
    assert without == math.ceil(len('get{"a": 1}') / CHARS_PER_TOKEN) + MESSAGE_TOKENS
    assert with_tools > without


def test_the_gateway_counts_with_the_core_estimator() -> None:
    from modelport import _tokens
    from modelport.gateway import _anthropic

    assert _anthropic.estimate_input_tokens is _tokens.estimate_input_tokens


# ---------------------------------------------------------------------------- Client


def test_client_and_async_client_count_tokens() -> None:
    def server() -> Server:
        return Server({"/v1/chat/completions/input_tokens": (200, {"input_tokens": 19})})

    assert modelport.Client(services=[_llamacpp(server())]).count_tokens(
        "llamacpp/smollm2", MESSAGES
    ) == TokenCount(19, True, "smollm2", "llamacpp")

    async def main() -> TokenCount:
        async with modelport.AsyncClient(services=[_llamacpp(server())]) as client:
            return await client.count_tokens("llamacpp/smollm2", MESSAGES)

    assert asyncio.run(main()).count == 19

"""Chat features that depend on the server: a thinking budget, reasoning sent back, and
the stop string a server says matched.

Each is sent only where the server takes it (llama.cpp's own source; vLLM's protocol),
never to a generic OpenAI-compatible server, whose strict validation may refuse an
unknown field. vLLM is told from its ``/v1/models`` answer (``owned_by: "vllm"``).
"""

from __future__ import annotations

import json
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
)
from modelport._http.mapping import ErrorContext
from modelport._wire import openai_chat as wire
from tests.conftest import load_fixture

HISTORY = [
    {"role": "user", "content": "hi"},
    Message(role="assistant", content="Hello", thinking="The user greets."),
    {"role": "user", "content": "again"},
]

# vLLM's ChatCompletionResponse (vllm/entrypoints/openai/chat_completion/protocol.py):
# each choice has ``stop_reason: int | str | None``, the stop string that matched (a str),
# the stop token id (an int) or None (end of sequence).
VLLM_CHAT_STOPPED = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "Qwen/Qwen3-0.6B",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "One, two", "reasoning": None},
            "logprobs": None,
            "finish_reason": "stop",
            "stop_reason": ", three",
        }
    ],
    "usage": {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13},
}
VLLM_MODELS = {
    "object": "list",
    "data": [
        {
            "id": "Qwen/Qwen3-0.6B",
            "object": "model",
            "created": 1,
            "owned_by": "vllm",
            "root": "Qwen/Qwen3-0.6B",
            "parent": None,
            "max_model_len": 8192,
        }
    ],
}
GENERIC_MODELS = {"object": "list", "data": [{"id": "Qwen/Qwen3-0.6B", "object": "model"}]}


class Server:
    """A fake OpenAI-compatible server: ``/v1/models`` and a chat answer, recorded."""

    def __init__(self, models: Any, chat: Any = VLLM_CHAT_STOPPED) -> None:
        self.models = models
        self.chat = chat
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path == "/v1/models":
            return httpx.Response(200, json=self.models)
        if isinstance(self.chat, bytes):
            return httpx.Response(
                200, content=self.chat, headers={"content-type": "text/event-stream"}
            )
        return httpx.Response(200, json=self.chat)

    @property
    def sent(self) -> dict[str, Any]:
        chats = [r for r in self.requests if r.url.path.endswith("/chat/completions")]
        return json.loads(chats[-1].content)  # type: ignore[no-any-return]

    @property
    def paths(self) -> list[str]:
        return [r.url.path for r in self.requests]


def _openai(server: Server) -> OpenAICompatibleProvider:
    return OpenAICompatibleProvider("http://127.0.0.1:8000", transport=httpx.MockTransport(server))


def _llamacpp(server: Server) -> LlamaCppProvider:
    return LlamaCppProvider("http://127.0.0.1:8080", transport=httpx.MockTransport(server))


# ---------------------------------------------------------------------------- think_budget


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        (-1, "think_budget must be 0 or a positive integer"),
        (1.5, "think_budget must be an integer"),
        (True, "think_budget must be an integer"),
        ("100", "think_budget must be an integer"),
        (2**40, "think_budget must be below"),
    ],
)
def test_invalid_think_budget_is_refused_before_sending(value: Any, fragment: str) -> None:
    server = Server(GENERIC_MODELS)
    with pytest.raises(InvalidRequestError, match=fragment):
        _llamacpp(server).chat("m", "hi", think_budget=value)
    assert server.requests == []


def test_think_budget_goes_to_llamacpp_as_thinking_budget_tokens() -> None:
    server = Server(
        GENERIC_MODELS, load_fixture("responses/llamacpp_chat_reasoning_content_budget.json")
    )
    _llamacpp(server).chat("smollm2", "hi", think=True, think_budget=512)
    sent = server.sent
    assert sent["thinking_budget_tokens"] == 512
    assert sent["chat_template_kwargs"] == {"enable_thinking": True}
    assert "thinking_token_budget" not in sent


def test_think_budget_goes_to_vllm_as_thinking_token_budget() -> None:
    server = Server(VLLM_MODELS)
    provider = _openai(server)
    provider.chat("Qwen/Qwen3-0.6B", "hi", think_budget=0)
    assert server.sent["thinking_token_budget"] == 0
    assert "thinking_budget_tokens" not in server.sent
    provider.chat("Qwen/Qwen3-0.6B", "hi", think_budget=64)
    assert server.paths.count("/v1/models") == 1  # asked once, then remembered


def test_think_budget_is_never_sent_to_a_generic_openai_compatible_server() -> None:
    server = Server(GENERIC_MODELS)
    _openai(server).chat("Qwen/Qwen3-0.6B", "hi", think_budget=64)
    assert set(server.sent) == {"model", "messages"}


def test_think_budget_is_not_sent_to_lmstudio() -> None:
    server = Server(GENERIC_MODELS)
    provider = LMStudioProvider("http://127.0.0.1:1234", transport=httpx.MockTransport(server))
    provider.chat("qwen3", "hi", think_budget=64)
    assert "thinking_token_budget" not in server.sent
    assert "thinking_budget_tokens" not in server.sent


def test_think_budget_is_not_sent_to_ollama_which_has_no_budget() -> None:
    sent: list[Any] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content))
        return httpx.Response(200, json=load_fixture("ollama/chat_nonstream.json"))

    OllamaProvider(transport=httpx.MockTransport(handler)).chat("qwen3", "hi", think_budget=64)
    assert "think_budget" not in json.dumps(sent[0])
    assert "budget" not in json.dumps(sent[0].get("options", {}))


def test_client_accepts_think_budget_as_a_chat_option() -> None:
    assert "think_budget" in modelport.ChatOptions.__annotations__


# ---------------------------------------------------------------------------- reasoning back


def test_llamacpp_gets_an_assistant_messages_thinking_back_as_reasoning_content() -> None:
    server = Server(
        GENERIC_MODELS, load_fixture("responses/llamacpp_chat_reasoning_content_budget.json")
    )
    _llamacpp(server).chat("smollm2", HISTORY)
    assert server.sent["messages"][1] == {
        "role": "assistant",
        "content": "Hello",
        "reasoning_content": "The user greets.",
    }


def test_vllm_gets_an_assistant_messages_thinking_back_as_reasoning_content() -> None:
    server = Server(VLLM_MODELS)
    _openai(server).chat("Qwen/Qwen3-0.6B", HISTORY)
    assert server.sent["messages"][1]["reasoning_content"] == "The user greets."


def test_generic_servers_and_lmstudio_never_get_reasoning_back() -> None:
    generic = Server(GENERIC_MODELS)
    _openai(generic).chat("Qwen/Qwen3-0.6B", HISTORY)
    assert generic.sent["messages"][1] == {"role": "assistant", "content": "Hello"}
    lmstudio = Server(GENERIC_MODELS)
    LMStudioProvider("http://127.0.0.1:1234", transport=httpx.MockTransport(lmstudio)).chat(
        "qwen3", HISTORY
    )
    assert lmstudio.sent["messages"][1] == {"role": "assistant", "content": "Hello"}


def test_reasoning_is_sent_back_with_tool_calls_too() -> None:
    server = Server(
        GENERIC_MODELS, load_fixture("responses/llamacpp_chat_reasoning_content_budget.json")
    )
    call = modelport.ToolCall(name="f", arguments={"a": 1}, id="call_1")
    history = [
        {"role": "user", "content": "go"},
        Message(role="assistant", thinking="I should call f.", tool_calls=[call]),
        {"role": "tool", "content": "done", "tool_call_id": "call_1"},
    ]
    _llamacpp(server).chat("smollm2", history)
    sent = server.sent["messages"][1]
    assert sent["reasoning_content"] == "I should call f."
    assert sent["content"] is None and sent["tool_calls"][0]["id"] == "call_1"


def test_user_messages_never_carry_reasoning() -> None:
    server = Server(
        GENERIC_MODELS, load_fixture("responses/llamacpp_chat_reasoning_content_budget.json")
    )
    _llamacpp(server).chat("smollm2", [{"role": "user", "content": "hi", "thinking": "x"}])
    assert server.sent["messages"][0] == {"role": "user", "content": "hi"}


# ---------------------------------------------------------------------------- stop_sequence

CTX = ErrorContext(service="srv", base_url="http://127.0.0.1:8000", server="vLLM")


def test_chat_response_says_which_stop_string_vllm_matched() -> None:
    reply = wire.parse_chat_completion(VLLM_CHAT_STOPPED, CTX)
    assert reply.finish_reason == "stop"
    assert reply.stop_sequence == ", three"


@pytest.mark.parametrize("said", [None, 151645, ""])
def test_no_stop_sequence_when_vllm_stopped_on_a_token_or_end_of_sequence(said: Any) -> None:
    data = json.loads(json.dumps(VLLM_CHAT_STOPPED))
    data["choices"][0]["stop_reason"] = said
    assert wire.parse_chat_completion(data, CTX).stop_sequence is None


def test_llamacpp_chat_replies_have_no_stop_sequence() -> None:
    data = load_fixture("responses/llamacpp_chat_reasoning_content_budget.json")
    assert wire.parse_chat_completion(data, CTX).stop_sequence is None


def _vllm_stream(stop_reason: Any) -> bytes:
    def event(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": finish, **extra}
        data = {"id": "c", "object": "chat.completion.chunk", "model": "q", "choices": [choice]}
        return b"data: " + json.dumps(data).encode() + b"\n\n"

    return (
        event({"role": "assistant", "content": ""})
        + event({"content": "One, two"})
        + event({}, "stop", stop_reason=stop_reason)
        + b"data: [DONE]\n\n"
    )


def test_streamed_chat_says_which_stop_string_vllm_matched_on_the_last_chunk() -> None:
    server = Server(VLLM_MODELS, _vllm_stream(", three"))
    with _openai(server).chat_stream("q", "count", stop=[", three"]) as stream:
        chunks = list(stream)
    assert chunks[-1].done and chunks[-1].stop_sequence == ", three"
    assert all(c.stop_sequence is None for c in chunks[:-1])
    assert stream.response.stop_sequence == ", three"


def test_streamed_chat_without_a_stop_string_has_no_stop_sequence() -> None:
    server = Server(VLLM_MODELS, _vllm_stream(None))
    with _openai(server).chat_stream("q", "count") as stream:
        chunks = list(stream)
    assert chunks[-1].stop_sequence is None and stream.response.stop_sequence is None


def test_ollama_replies_have_no_stop_sequence() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=load_fixture("ollama/chat_nonstream.json"))

    reply = OllamaProvider(transport=httpx.MockTransport(handler)).chat("llama3.2", "hi")
    assert reply.stop_sequence is None

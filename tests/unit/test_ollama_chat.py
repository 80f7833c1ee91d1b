"""Ollama chat on ``/api/chat``: the exact JSON sent, the replies parsed, the NDJSON streams."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from modelport import (
    CapabilityError,
    ChatChunk,
    ContextLengthExceededError,
    Message,
    ProtocolError,
    ServerError,
    StreamError,
    ToolCall,
    Usage,
)
from modelport.providers.ollama import OllamaProvider
from tests.conftest import load_fixture
from tests.contract.harness_ollama import NDJSON, FakeOllama, reply, stream_reply

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
PNG_B64 = base64.b64encode(PNG).decode()


@pytest.fixture(autouse=True)
def _no_ollama_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OLLAMA_API_KEY", raising=False)


def chat_server(body: Any = None) -> FakeOllama:
    return FakeOllama({"/api/chat": reply(200, body or load_fixture("ollama/chat_nonstream.json"))})


# ---------------------------------------------------------------------------- the JSON sent


def test_chat_sends_stream_false_explicitly_with_the_messages() -> None:
    server = chat_server()
    server.provider().chat("llama3.2", "why is the sky blue?")
    assert server.bodies("/api/chat") == [
        {
            "model": "llama3.2",
            "messages": [{"role": "user", "content": "why is the sky blue?"}],
            "stream": False,
        }
    ]


def test_chat_with_tools_sends_exactly_the_documented_request() -> None:
    documented = load_fixture("ollama/requests/chat_tools_request.json")
    server = chat_server(load_fixture("ollama/chat_tools.json"))
    server.provider().chat(
        "llama3.2", "What is the weather today in Paris?", tools=documented["tools"]
    )
    assert server.bodies("/api/chat") == [documented]


def test_chat_with_a_schema_sends_it_as_format_like_the_documented_request() -> None:
    documented = load_fixture("ollama/requests/chat_structured_request.json")
    server = chat_server(load_fixture("ollama/chat_structured.json"))
    reply_ = server.provider().chat(
        "llama3.1",
        documented["messages"][0]["content"],
        response_format=documented["format"],
        temperature=0,
    )
    assert server.bodies("/api/chat") == [documented]
    assert json.loads(reply_.text) == {"age": 22, "available": False}


def test_chat_in_json_mode_sends_format_json() -> None:
    server = chat_server()
    server.provider().chat("llama3.2", "list three colours as JSON", response_format="json")
    assert server.bodies("/api/chat")[0]["format"] == "json"


def test_chat_sends_tool_call_arguments_as_objects_and_tool_results_with_name_and_id() -> None:
    server = chat_server(load_fixture("ollama/chat_tool_result_followup.json"))
    openai_style_history = [
        {"role": "user", "content": "what is the weather in Toronto?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_p7o2gz50",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Toronto"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_p7o2gz50", "content": "11 degrees celsius"},
    ]
    server.provider().chat("llama3.2", openai_style_history)
    assert server.bodies("/api/chat")[0]["messages"] == [
        {"role": "user", "content": "what is the weather in Toronto?"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "id": "call_p7o2gz50",
                    "function": {"name": "get_weather", "arguments": {"city": "Toronto"}},
                }
            ],
        },
        {
            "role": "tool",
            "content": "11 degrees celsius",
            "tool_name": "get_weather",
            "tool_call_id": "call_p7o2gz50",
        },
    ]


def test_chat_sends_a_reply_message_back_with_its_thinking_and_tool_calls() -> None:
    server = chat_server()
    previous = Message(
        role="assistant",
        content="",
        thinking="I should look up the weather.",
        tool_calls=(ToolCall(name="get_weather", arguments={"city": "Tokyo"}),),
    )
    history = [
        Message(role="user", content="weather in Tokyo?"),
        previous,
        Message(role="tool", content="22°C", name="get_weather"),
    ]
    server.provider().chat("qwen3", history)
    sent = server.bodies("/api/chat")[0]["messages"]
    assert sent[1] == {
        "role": "assistant",
        "content": "",
        "thinking": "I should look up the weather.",
        "tool_calls": [{"function": {"name": "get_weather", "arguments": {"city": "Tokyo"}}}],
    }
    assert sent[2] == {"role": "tool", "content": "22°C", "tool_name": "get_weather"}


def test_chat_sends_images_as_bare_base64_from_bytes_paths_and_data_urls(tmp_path: Any) -> None:
    image_file = tmp_path / "pig.png"
    image_file.write_bytes(PNG)
    server = chat_server(load_fixture("ollama/chat_images.json"))
    server.provider().chat(
        "llava",
        [
            {
                "role": "user",
                "content": "what is in this image?",
                "images": [PNG, image_file, str(image_file), f"data:image/png;base64,{PNG_B64}"],
            }
        ],
    )
    assert server.bodies("/api/chat")[0]["messages"] == [
        {"role": "user", "content": "what is in this image?", "images": [PNG_B64] * 4}
    ]


def test_chat_sends_think_as_given_bool_or_level() -> None:
    server = chat_server()
    provider = server.provider()
    provider.chat("qwen3", "hi", think=False)
    provider.chat("gpt-oss", "hi", think="high")
    assert [body["think"] for body in server.bodies("/api/chat")] == [False, "high"]


@pytest.mark.parametrize(
    ("keep_alive", "sent"),
    [(300, 300), (1.5, 1.5), ("10", 10), ("-1", -1), ("5m", "5m"), ("1h30m", "1h30m"), (0, 0)],
)
def test_chat_sends_keep_alive_numbers_as_json_numbers(keep_alive: Any, sent: Any) -> None:
    server = chat_server()
    server.provider().chat("llama3.2", "hi", keep_alive=keep_alive)
    value = server.bodies("/api/chat")[0]["keep_alive"]
    assert value == sent
    assert type(value) is type(sent)


def test_chat_maps_generation_options_into_ollama_options() -> None:
    server = chat_server()
    server.provider().chat(
        "llama3.2",
        "hi",
        context_length=8192,
        max_tokens=100,
        temperature=0.2,
        top_p=0.9,
        stop=["\n", "user:"],
        seed=42,
        options={"top_k": 20, "min_p": 0.05},
    )
    assert server.bodies("/api/chat")[0]["options"] == {
        "num_ctx": 8192,
        "num_predict": 100,
        "temperature": 0.2,
        "top_p": 0.9,
        "stop": ["\n", "user:"],
        "seed": 42,
        "top_k": 20,
        "min_p": 0.05,
    }


def test_raw_options_override_the_mapped_ones() -> None:
    server = chat_server()
    server.provider().chat("llama3.2", "hi", context_length=8192, options={"num_ctx": 2048})
    assert server.bodies("/api/chat")[0]["options"] == {"num_ctx": 2048}


def test_tool_choice_none_sends_no_tools_and_other_choices_are_not_sent() -> None:
    tools = load_fixture("ollama/requests/chat_tools_request.json")["tools"]
    server = chat_server()
    provider = server.provider()
    provider.chat("llama3.2", "hi", tools=tools, tool_choice="none")
    provider.chat("llama3.2", "hi", tools=tools, tool_choice="required")
    first, second = server.bodies("/api/chat")
    assert "tools" not in first
    assert second["tools"] == tools
    assert "tool_choice" not in first and "tool_choice" not in second


def test_chat_refuses_an_image_url_before_sending_anything() -> None:
    server = chat_server()
    with pytest.raises(CapabilityError) as caught:
        server.provider().chat(
            "llava", [{"role": "user", "content": "x", "images": ["https://example.com/a.png"]}]
        )
    assert server.sent == []
    assert "needs the image data" in str(caught.value)


# ---------------------------------------------------------------------------- replies


def test_chat_reads_usage_and_timings_from_the_documented_reply() -> None:
    body = load_fixture("ollama/chat_nonstream.json")
    reply_ = chat_server(body).provider().chat("llama3.2", "hi")
    assert reply_.text == "Hello! How are you today?"
    assert reply_.model == "llama3.2"
    assert reply_.service == "ollama"
    assert reply_.usage == Usage(prompt_tokens=26, completion_tokens=298, total_tokens=324)
    timings = reply_.timings
    assert timings is not None
    assert timings.tokens_per_second == pytest.approx(298 / 4799921000 * 1e9)
    assert timings.prompt_tokens_per_second == pytest.approx(26 / 383809000 * 1e9)
    assert timings.load_ms == pytest.approx(2.154458)
    assert timings.prompt_ms == pytest.approx(383.809)
    assert timings.generation_ms == pytest.approx(4799.921)
    assert timings.total_ms == pytest.approx(5191.566416)
    assert reply_.raw == body


def test_chat_reply_without_metrics_has_no_usage_or_timings_rather_than_zeros() -> None:
    body = {
        "model": "llama3.2",
        "created_at": "2024-09-12T21:17:29.110811Z",
        "message": {"role": "assistant", "content": "ok"},
        "done_reason": "stop",
        "done": True,
    }
    reply_ = chat_server(body).provider().chat("llama3.2", "hi")
    assert reply_.usage is None
    assert reply_.timings is None
    assert reply_.finish_reason == "stop"


def test_chat_reply_with_only_an_output_count_leaves_the_prompt_count_unknown() -> None:
    body = {**load_fixture("ollama/chat_nonstream.json")}
    del body["prompt_eval_count"]
    reply_ = chat_server(body).provider().chat("llama3.2", "hi")
    assert reply_.usage == Usage(prompt_tokens=None, completion_tokens=298, total_tokens=None)


def test_chat_reply_with_tool_calls_reports_finish_reason_tool_calls_and_dict_arguments() -> None:
    reply_ = chat_server(load_fixture("ollama/chat_tools.json")).provider().chat("llama3.2", "hi")
    assert reply_.finish_reason == "tool_calls"
    assert reply_.tool_calls == (
        ToolCall(
            name="get_current_weather", arguments={"format": "celsius", "location": "Paris, FR"}
        ),
    )
    assert reply_.message.tool_calls == reply_.tool_calls


def test_chat_reply_keeps_tool_call_ids_sent_by_newer_servers() -> None:
    body = load_fixture("ollama/chat_tools_nonstream.json")
    body["message"]["tool_calls"] = [
        {
            "id": "call_p7o2gz50",
            "function": {"index": 0, "name": "get_weather", "arguments": {"city": "Tokyo"}},
        }
    ]
    reply_ = chat_server(body).provider().chat("llama3.2", "hi")
    assert reply_.tool_calls == (
        ToolCall(name="get_weather", arguments={"city": "Tokyo"}, id="call_p7o2gz50"),
    )


def test_chat_maps_done_reason_length_to_finish_reason_length() -> None:
    body = {**load_fixture("ollama/chat_nonstream.json"), "done_reason": "length"}
    assert chat_server(body).provider().chat("llama3.2", "hi").finish_reason == "length"


def test_chat_reply_keeps_the_thinking_text() -> None:
    body = load_fixture("ollama/chat_nonstream.json")
    body["message"]["thinking"] = "The user greets me."
    reply_ = chat_server(body).provider().chat("qwen3", "hi")
    assert reply_.thinking == "The user greets me."
    assert reply_.message.thinking == "The user greets me."


def test_chat_reply_without_a_message_or_done_field_raises_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        chat_server({"model": "llama3.2", "unexpected": True}).provider().chat("llama3.2", "hi")


# ---------------------------------------------------------------------------- streaming


def _line(content: str = "", thinking: str | None = None, **extra: Any) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if thinking is not None:
        message["thinking"] = thinking
    return {
        "model": "qwen3",
        "created_at": "2025-06-01T10:00:00.1Z",
        "message": message,
        "done": False,
        **extra,
    }


THINKING_STREAM = [
    _line(thinking="The user"),
    _line(thinking=" greets me."),
    _line("Hello"),
    _line("! "),
    _line("Hi there."),
    {
        "model": "qwen3",
        "created_at": "2025-06-01T10:00:01.5Z",
        "message": {"role": "assistant", "content": ""},
        "done": True,
        "done_reason": "stop",
        "total_duration": 1500000000,
        "load_duration": 100000000,
        "prompt_eval_count": 12,
        "prompt_eval_duration": 200000000,
        "eval_count": 9,
        "eval_duration": 1000000000,
    },
]


def test_stream_sends_stream_true_and_asks_for_ndjson() -> None:
    server = FakeOllama({"/api/chat": stream_reply(THINKING_STREAM)})
    with server.provider().chat_stream("qwen3", "hi") as stream:
        list(stream)
    assert server.bodies("/api/chat")[0]["stream"] is True
    assert server.sent[0].headers["accept"] == "application/x-ndjson"


def test_stream_yields_thinking_and_content_deltas_then_one_done_chunk_with_usage() -> None:
    server = FakeOllama({"/api/chat": stream_reply(THINKING_STREAM)})
    with server.provider().chat_stream("qwen3", "hi") as stream:
        chunks = list(stream)
    assert [(c.thinking, c.text) for c in chunks[:-1]] == [
        ("The user", ""),
        (" greets me.", ""),
        ("", "Hello"),
        ("", "! "),
        ("", "Hi there."),
    ]
    final = chunks[-1]
    assert final.done and [c.done for c in chunks].count(True) == 1
    assert final.finish_reason == "stop"
    assert final.usage == Usage(prompt_tokens=12, completion_tokens=9, total_tokens=21)
    assert final.timings is not None and final.timings.tokens_per_second == pytest.approx(9.0)
    response = stream.response
    assert response.text == "Hello! Hi there."
    assert response.thinking == "The user greets me."
    assert response.raw == THINKING_STREAM[-1]


def test_stream_delivers_tool_calls_whole_in_the_chunk_they_arrive_in() -> None:
    lines = [
        load_fixture("ollama/chat_tools_stream_chunk.json"),
        load_fixture("ollama/chat_tools_stream_final.json"),
    ]
    server = FakeOllama({"/api/chat": stream_reply(lines)})
    with server.provider().chat_stream("llama3.2", "weather in tokyo?") as stream:
        chunks = list(stream)
    assert chunks[0] == ChatChunk(
        tool_calls=(ToolCall(name="get_weather", arguments={"city": "Tokyo"}),)
    )
    assert chunks[-1].done and chunks[-1].finish_reason == "tool_calls"
    assert stream.response.tool_calls == chunks[0].tool_calls
    assert stream.response.usage == Usage(prompt_tokens=169, completion_tokens=15, total_tokens=184)


def test_stream_final_chunk_without_a_message_key_is_accepted() -> None:
    lines = [
        load_fixture("ollama/chat_history_stream_chunk.json"),
        load_fixture("ollama/chat_history_stream_final.json"),
    ]
    server = FakeOllama({"/api/chat": stream_reply(lines)})
    with server.provider().chat_stream("llama3.2", "hi") as stream:
        chunks = list(stream)
    assert "".join(c.text for c in chunks) == "The"
    assert chunks[-1].usage == Usage(prompt_tokens=61, completion_tokens=468, total_tokens=529)


class _ByteAtATime(httpx.SyncByteStream):
    def __init__(self, data: bytes) -> None:
        self.data = data

    def __iter__(self) -> Iterator[bytes]:
        for i in range(len(self.data)):
            yield self.data[i : i + 1]


def test_stream_decodes_the_same_when_split_at_every_byte() -> None:
    lines = [_line("Grüße, "), _line("世界 "), _line("🙂"), THINKING_STREAM[-1]]
    data = b"".join(json.dumps(line, ensure_ascii=False).encode() + b"\n" for line in lines)

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=_ByteAtATime(data), headers=NDJSON)

    provider = OllamaProvider("http://127.0.0.1:11434", transport=httpx.MockTransport(handler))
    with provider.chat_stream("qwen3", "hi") as stream:
        chunks = list(stream)
    assert [c.text for c in chunks[:-1]] == ["Grüße, ", "世界 ", "🙂"]
    assert stream.response.text == "Grüße, 世界 🙂"


def test_stream_error_line_after_output_raises_stream_error_keeping_the_partial_text() -> None:
    lines = [
        _line("The answer "),
        _line("is"),
        {"error": "an error was encountered while running the model"},
    ]
    server = FakeOllama({"/api/chat": stream_reply(lines)})
    received = []
    with pytest.raises(StreamError) as caught:
        with server.provider().chat_stream("qwen3", "hi") as stream:
            for chunk in stream:
                received.append(chunk.text)
    assert received == ["The answer ", "is"]
    assert caught.value.partial == "The answer is"
    assert "an error was encountered while running the model" in str(caught.value)
    assert caught.value.status_code == 200  # the HTTP status the stream really had


def test_stream_error_line_before_any_output_raises_the_mapped_error() -> None:
    overflow = {
        "error": "the prompt is longer than the context length currently available to the model"
    }
    server = FakeOllama({"/api/chat": stream_reply([overflow])})
    with pytest.raises(ContextLengthExceededError):
        with server.provider().chat_stream("qwen3", "hi") as stream:
            list(stream)

    crash = FakeOllama(
        {"/api/chat": stream_reply([{"error": "llama runner process has terminated"}])}
    )
    with pytest.raises(ServerError) as caught:
        with crash.provider().chat_stream("qwen3", "hi") as stream:
            list(stream)
    assert caught.value.retriable
    assert not isinstance(caught.value, StreamError)


def test_stream_that_ends_without_done_raises_stream_error_keeping_the_partial_text() -> None:
    server = FakeOllama({"/api/chat": stream_reply([_line("Once upon "), _line("a time")])})
    with pytest.raises(StreamError) as caught:
        with server.provider().chat_stream("qwen3", "hi") as stream:
            list(stream)
    assert caught.value.partial == "Once upon a time"


def test_stream_with_a_line_that_is_not_json_raises_stream_error_not_a_json_error() -> None:
    server = FakeOllama(
        {"/api/chat": stream_reply([_line("Hello")], tail=b'{"model": "qwen3", "mess\n')}
    )
    with pytest.raises(StreamError) as caught:
        with server.provider().chat_stream("qwen3", "hi") as stream:
            list(stream)
    assert caught.value.partial == "Hello"
    assert not isinstance(caught.value.__cause__, json.JSONDecodeError)


def test_stream_of_a_model_that_does_not_support_tools_raises_capability_error() -> None:
    server = FakeOllama(
        {
            "/api/chat": reply(
                400, {"error": "registry.ollama.ai/library/gemma3:latest does not support tools"}
            )
        }
    )
    tools = load_fixture("ollama/requests/chat_tools_request.json")["tools"]
    with pytest.raises(CapabilityError):
        with server.provider().chat_stream("gemma3", "hi", tools=tools) as stream:
            list(stream)


@pytest.mark.anyio
async def test_async_chat_and_stream_send_and_parse_the_same_as_sync() -> None:
    server = FakeOllama(
        {
            "POST /api/chat": lambda request, body: (
                stream_reply(THINKING_STREAM)(request, body)
                if body.get("stream")
                else reply(200, load_fixture("ollama/chat_nonstream.json"))(request, body)
            )
        }
    )
    provider = server.provider()
    reply_ = await provider.achat("llama3.2", "hi", keep_alive="10")
    assert reply_.usage == Usage(prompt_tokens=26, completion_tokens=298, total_tokens=324)
    async with provider.achat_stream("qwen3", "hi") as stream:
        texts = [chunk.text async for chunk in stream]
    assert "".join(texts) == "Hello! Hi there."
    assert server.bodies("/api/chat")[0]["keep_alive"] == 10
    assert server.bodies("/api/chat")[0]["stream"] is False
    await provider.aclose()

"""The openai_chat dialect: the exact JSON sent, and parsing of real bodies and streams."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from modelport import (
    ChatChunk,
    Message,
    OpenAICompatibleProvider,
    ProtocolError,
    StreamError,
    ToolCall,
)
from modelport._http.mapping import ErrorContext
from modelport._wire import openai_chat as wire
from modelport._wire.common import build_chat_request
from tests.conftest import fixture_bytes, load_fixture

CTX = ErrorContext(
    service="srv", base_url="http://127.0.0.1:8000", server="OpenAI-compatible server"
)


def body(model: str = "m", messages: Any = "hi", *, stream: bool = False, **options: Any) -> dict:
    return wire.build_chat_body(build_chat_request(model, messages, options), stream=stream)


class Recorder:
    """A MockTransport handler that records requests and replays one response."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.response

    @property
    def json(self) -> Any:
        return json.loads(self.requests[-1].content)


# ---------------------------------------------------------------------------- request JSON


def test_chat_body_for_a_prompt_string_is_one_user_message() -> None:
    assert body("llama", "Why is the sky blue?") == {
        "model": "llama",
        "messages": [{"role": "user", "content": "Why is the sky blue?"}],
    }


def test_chat_body_maps_every_sampling_option() -> None:
    assert body(
        "m",
        "hi",
        system="be brief",
        temperature=0.2,
        top_p=0.9,
        max_tokens=64,
        stop=["\n\n"],
        seed=7,
        options={"top_k": 20, "repeat_penalty": 1.1},
    ) == {
        "model": "m",
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "hi"},
        ],
        "temperature": 0.2,
        "top_p": 0.9,
        "max_tokens": 64,
        "stop": ["\n\n"],
        "seed": 7,
        "top_k": 20,
        "repeat_penalty": 1.1,
    }


def test_streaming_body_always_asks_for_usage() -> None:
    sent = body(stream=True)
    assert sent["stream"] is True
    assert sent["stream_options"] == {"include_usage": True}


def test_tools_and_tool_choice_are_sent_in_openai_form() -> None:
    tool = {
        "type": "function",
        "function": {"name": "get_weather", "parameters": {"type": "object"}},
    }
    short = {"name": "add", "description": "Add", "parameters": {"type": "object"}}
    sent = body(tools=[tool, short], tool_choice="get_weather")
    assert sent["tools"] == [
        tool,
        {"type": "function", "function": short},
    ]
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert body(tools=[tool], tool_choice="required")["tool_choice"] == "required"


@pytest.mark.parametrize(
    "choice", ["get_weather", {"type": "function", "function": {"name": "get_weather"}}]
)
def test_llamacpp_gets_a_named_tool_choice_as_required_with_only_that_tool(choice: Any) -> None:
    """llama-server takes ``tool_choice`` only as "auto", "none" or "required": an object
    naming a function is ignored with a warning ("Wrong type supplied for parameter
    'tool_choice', using default value"), so the model may answer in text. instructor's
    default mode names its tool this way. "required" with only that tool is the same
    request in a form llama.cpp's grammar enforces."""
    from modelport.providers.llamacpp.provider import LlamaCppProvider

    tool = {"type": "function", "function": {"name": "get_weather", "parameters": {}}}
    other = {"type": "function", "function": {"name": "add", "parameters": {}}}
    request = build_chat_request("m", "hi", {"tools": [other, tool], "tool_choice": choice})
    sent = wire.build_chat_body(request, stream=False, dialect=LlamaCppProvider.dialect)
    assert sent["tool_choice"] == "required"
    assert sent["tools"] == [tool]
    elsewhere = wire.build_chat_body(request, stream=False)  # other servers: as the caller said
    assert elsewhere["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert elsewhere["tools"] == [other, tool]


def test_llamacpp_keeps_a_named_tool_choice_whose_tool_is_not_offered() -> None:
    """Nothing to narrow to: the request goes on as the caller wrote it (the server decides)."""
    from modelport.providers.llamacpp.provider import LlamaCppProvider

    tool = {"type": "function", "function": {"name": "add", "parameters": {}}}
    request = build_chat_request("m", "hi", {"tools": [tool], "tool_choice": "get_weather"})
    sent = wire.build_chat_body(request, stream=False, dialect=LlamaCppProvider.dialect)
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert sent["tools"] == [tool]


def test_python_functions_become_tool_schemas_from_signature_and_docstring() -> None:
    def get_weather(city: str, days: int = 1, units: str | None = None) -> str:
        """Get the weather forecast.

        Args:
            city: The city name.
            days: How many days ahead.
        """
        return ""

    (tool,) = body(tools=[get_weather])["tools"]
    assert tool == {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Get the weather forecast.",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {"type": "string", "description": "The city name."},
                    "days": {"type": "integer", "description": "How many days ahead."},
                    "units": {"type": "string"},
                },
                "required": ["city"],
            },
        },
    }


def test_assistant_tool_calls_are_sent_back_with_arguments_as_a_json_string() -> None:
    history = [
        {"role": "user", "content": "weather?"},
        Message(
            role="assistant",
            tool_calls=[ToolCall(name="get_weather", arguments={"city": "Paris"}, id="call_1")],
        ),
        {"role": "tool", "content": "sunny", "tool_call_id": "call_1", "name": "get_weather"},
    ]
    sent = body(messages=history)["messages"]
    assert sent[1] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
            }
        ],
    }
    assert sent[2] == {
        "role": "tool",
        "content": "sunny",
        "tool_call_id": "call_1",
        "name": "get_weather",
    }


def test_http_image_urls_are_passed_through_as_urls() -> None:
    message = {
        "role": "user",
        "content": [
            {"type": "text", "text": "describe"},
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
        ],
    }
    sent = body(messages=[message])["messages"][0]["content"]
    assert sent[1] == {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}


def test_images_are_sent_as_data_url_content_parts() -> None:
    png = b"\x89PNG\r\n\x1a\n0000"
    sent = body(messages=[Message(role="user", content="what is this?", images=[png])])
    assert sent["messages"][0]["content"] == [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgowMDAw"}},
    ]


def test_openai_content_parts_in_a_dict_message_are_understood() -> None:
    message = {
        "role": "user",
        "content": [
            {"type": "text", "text": "describe"},
            {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4A=="}},
        ],
    }
    sent = body(messages=[message])["messages"][0]["content"]
    assert sent[1] == {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4A=="}}


def test_response_format_schema_dict_is_sent_as_strict_json_schema() -> None:
    schema = {"title": "City", "type": "object", "properties": {"name": {"type": "string"}}}
    assert body(response_format=schema)["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "City", "strict": True, "schema": schema},
    }


def test_response_format_accepts_a_class_with_model_json_schema() -> None:
    class Answer:
        @classmethod
        def model_json_schema(cls) -> dict:
            return {"title": "Answer", "type": "object", "properties": {"n": {"type": "integer"}}}

    sent = body(response_format=Answer)["response_format"]
    assert sent["json_schema"]["schema"]["properties"] == {"n": {"type": "integer"}}


def test_json_mode_is_json_object_or_a_permissive_schema_by_dialect() -> None:
    req = build_chat_request("m", "hi", {"response_format": "json"})
    assert wire.build_chat_body(req, stream=False)["response_format"] == {"type": "json_object"}
    strict = wire.OpenAIDialect(json_mode_as_schema=True)
    assert wire.build_chat_body(req, stream=False, dialect=strict)["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "response", "strict": True, "schema": {"type": "object"}},
    }


def test_think_levels_go_as_reasoning_effort_and_booleans_by_dialect() -> None:
    assert body(think="high")["reasoning_effort"] == "high"
    assert "chat_template_kwargs" not in body(think=False)
    llama = wire.OpenAIDialect(think_as_template_kwarg=True)
    req = build_chat_request("m", "hi", {"think": False})
    assert wire.build_chat_body(req, stream=False, dialect=llama)["chat_template_kwargs"] == {
        "enable_thinking": False
    }


# ---------------------------------------------------------------------------- responses


def test_parse_chat_completion_reads_text_finish_reason_and_usage() -> None:
    data = load_fixture("lmstudio/v0_chat.json")
    reply = wire.parse_chat_completion(data, CTX)
    assert reply.text.startswith("Greetings, I'm a helpful AI")
    assert reply.finish_reason == "stop"
    assert reply.usage is not None and reply.usage.total_tokens == 77
    assert reply.model == "granite-3.0-2b-instruct"
    assert reply.service == "srv"
    assert reply.raw is data


def test_parse_chat_completion_parses_tool_call_arguments_and_keeps_ids() -> None:
    data = load_fixture("lmstudio/v1_chat_tool_calls.json")
    reply = wire.parse_chat_completion(data, CTX)
    assert reply.tool_calls, "fixture has tool calls"
    call = reply.tool_calls[0]
    assert isinstance(call.arguments, dict)
    assert call.id is not None
    assert reply.message.tool_calls == reply.tool_calls


def test_unparseable_tool_arguments_are_kept_raw_not_lost() -> None:
    data = {
        "choices": [
            {
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "1",
                            "type": "function",
                            "function": {"name": "f", "arguments": '{"city": "Par'},
                        }
                    ],
                },
                "finish_reason": "tool_calls",
            }
        ]
    }
    (call,) = wire.parse_chat_completion(data, CTX).tool_calls
    assert call.arguments == {}
    assert call.raw_arguments == '{"city": "Par'


def test_reasoning_content_and_reasoning_fields_fill_thinking() -> None:
    for key in ("reasoning_content", "reasoning"):
        data = {
            "choices": [
                {"message": {"content": "42", key: "let me think"}, "finish_reason": "stop"}
            ]
        }
        reply = wire.parse_chat_completion(data, CTX)
        assert (reply.text, reply.thinking) == ("42", "let me think")


def test_think_tags_are_split_out_when_the_dialect_asks() -> None:
    data = {
        "choices": [{"message": {"content": "<think>hmm</think>\n\n42"}, "finish_reason": "stop"}]
    }
    reply = wire.parse_chat_completion(data, CTX, dialect=wire.OpenAIDialect(split_think=True))
    assert (reply.text, reply.thinking) == ("42", "hmm")


def test_llamacpp_timings_fill_timings() -> None:
    data = {
        "choices": [{"message": {"content": "hi"}, "finish_reason": "stop"}],
        "timings": {
            "prompt_n": 32,
            "prompt_ms": 112.4,
            "prompt_per_second": 284.6,
            "predicted_n": 8,
            "predicted_ms": 58.4,
            "predicted_per_second": 119.8,
        },
    }
    timings = wire.parse_chat_completion(data, CTX).timings
    assert timings is not None
    assert (timings.prompt_ms, timings.generation_ms, timings.tokens_per_second) == (
        112.4,
        58.4,
        119.8,
    )


def test_missing_usage_is_none_not_zeros() -> None:
    data = {"choices": [{"message": {"content": "hi"}, "finish_reason": "stop"}]}
    assert wire.parse_chat_completion(data, CTX).usage is None
    data["usage"] = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    assert wire.parse_chat_completion(data, CTX).usage is None


@pytest.mark.parametrize(
    "data", [{"choices": []}, {"nope": 1}, [1, 2], {"choices": [{"message": {"content": 5}}]}]
)
def test_wrong_shaped_chat_body_raises_protocol_error(data: Any) -> None:
    with pytest.raises(ProtocolError):
        wire.parse_chat_completion(data, CTX)


def test_embeddings_are_returned_in_index_order_and_base64_is_decoded() -> None:
    import base64
    import struct

    packed = base64.b64encode(struct.pack("<3f", 1.0, 2.0, 3.0)).decode()
    data = {
        "data": [
            {"index": 1, "embedding": [0.5, 0.25]},
            {"index": 0, "embedding": packed},
        ],
        "model": "e",
        "usage": {"prompt_tokens": 0, "total_tokens": 0},
    }
    result = wire.parse_embeddings(data, CTX, model="e")
    assert result.vectors == [[1.0, 2.0, 3.0], [0.5, 0.25]]
    assert result.usage is None  # reported as zeros: unknown, not zero


def test_lmstudio_embeddings_fixture_parses() -> None:
    # The documented body elides the middle of the vector; drop that line.
    text = fixture_bytes("lmstudio/v0_embeddings.json").decode()
    text = "\n".join(line for line in text.splitlines() if "truncated for brevity" not in line)
    result = wire.parse_embeddings(json.loads(text), CTX, model="x")
    assert result.vectors and all(isinstance(v, float) for v in result.vectors[0])


# ---------------------------------------------------------------------------- streaming


def feed_all(decoder: wire.OpenAIChatStream, data: bytes, step: int = 0) -> list[ChatChunk]:
    chunks: list[ChatChunk] = []
    pieces = [data] if not step else [data[i : i + step] for i in range(0, len(data), step)]
    for piece in pieces:
        chunks.extend(decoder.feed(piece))
        if decoder.error:
            raise decoder.error
    chunks.extend(decoder.finish())
    if decoder.error:
        raise decoder.error
    return chunks


def sse(events: list[Any], done: bool = True) -> bytes:
    out = b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events)
    return out + (b"data: [DONE]\n\n" if done else b"")


def delta(content: str | None = None, finish: str | None = None, **extra: Any) -> dict:
    d: dict[str, Any] = dict(extra)
    if content is not None:
        d["content"] = content
    return {"choices": [{"index": 0, "delta": d, "finish_reason": finish}]}


def jsonl_events(name: str) -> list[Any]:
    """Captured stream payloads, one per line (the captures end with a bare [DONE])."""
    lines = fixture_bytes(name).decode().splitlines()
    return [json.loads(line) for line in lines if line.strip() and line.strip() != "[DONE]"]


def test_observed_lmstudio_stream_joins_to_the_full_text() -> None:
    events = jsonl_events("lmstudio/v1_chat_stream_observed_0_3_x.jsonl")
    raw = sse(events)
    expected = "".join(
        (e["choices"][0]["delta"].get("content") or "") for e in events if e.get("choices")
    )
    for step in (0, 1, 7, 64):
        decoder = wire.OpenAIChatStream(CTX, "m")
        chunks = feed_all(decoder, raw, step)
        assert "".join(c.text for c in chunks) == expected
        assert decoder.response().text == expected
        assert chunks[-1].done


def test_reasoning_content_stream_fills_thinking_deltas() -> None:
    events = jsonl_events("lmstudio/v1_chat_stream_reasoning_content_0_3_9.jsonl")
    decoder = wire.OpenAIChatStream(CTX, "m")
    feed_all(decoder, sse(events))
    assert decoder.response().thinking


def test_a_new_tool_call_id_at_an_index_already_used_starts_a_new_call() -> None:
    # Ollama's OpenAI endpoint has sent index 0 for every call (ollama #15457), and
    # no index at all (#7881): a new id means a new call.
    events = [
        delta(tool_calls=[{"index": 0, "id": "a", "function": {"name": "f", "arguments": "{}"}}]),
        delta(tool_calls=[{"index": 0, "id": "b", "function": {"name": "g", "arguments": '{"x"'}}]),
        delta(tool_calls=[{"index": 0, "function": {"arguments": ": 1}"}}]),
        delta(tool_calls=[{"id": "c", "function": {"name": "h", "arguments": "{}"}}]),
        delta(finish="tool_calls"),
    ]
    decoder = wire.OpenAIChatStream(CTX, "m")
    final = feed_all(decoder, sse(events))[-1]
    assert final.tool_calls == (
        ToolCall(name="f", arguments={}, id="a"),
        ToolCall(name="g", arguments={"x": 1}, id="b"),
        ToolCall(name="h", arguments={}, id="c"),
    )


def test_tool_call_fragments_are_assembled_by_index_into_whole_calls() -> None:
    events = [
        delta(
            tool_calls=[
                {
                    "index": 0,
                    "id": "814890118",
                    "type": "function",
                    "function": {"name": "get_current_weather", "arguments": ""},
                }
            ]
        ),
        delta(tool_calls=[{"index": 0, "function": {"arguments": '{"'}}]),
        delta(tool_calls=[{"index": 0, "function": {"arguments": "location"}}]),
        delta(tool_calls=[{"index": 0, "function": {"arguments": '":"'}}]),
        delta(
            tool_calls=[{"index": 1, "id": "2", "function": {"name": "other", "arguments": "{}"}}]
        ),
        delta(tool_calls=[{"index": 0, "function": {"arguments": 'San Francisco"}'}}]),
        delta(finish="tool_calls"),
    ]
    decoder = wire.OpenAIChatStream(CTX, "m")
    chunks = feed_all(decoder, sse(events))
    final = chunks[-1]
    assert final.done and final.finish_reason == "tool_calls"
    assert final.tool_calls == (
        ToolCall(
            name="get_current_weather", arguments={"location": "San Francisco"}, id="814890118"
        ),
        ToolCall(name="other", arguments={}, id="2"),
    )
    assert decoder.response().tool_calls == final.tool_calls


def test_usage_chunk_after_finish_is_reported_on_the_final_chunk() -> None:
    events = [
        delta("Hi"),
        delta(finish="stop"),
        {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}},
    ]
    chunks = feed_all(wire.OpenAIChatStream(CTX, "m"), sse(events))
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 4
    assert chunks[-1].finish_reason == "stop"


def test_stream_without_usage_reports_none() -> None:
    decoder = wire.OpenAIChatStream(CTX, "m")
    feed_all(decoder, sse([delta("Hi"), delta(finish="stop")]))
    assert decoder.response().usage is None


def test_stream_ending_after_a_finish_reason_without_done_is_complete() -> None:
    decoder = wire.OpenAIChatStream(CTX, "m")
    chunks = feed_all(decoder, sse([delta("Hi"), delta(finish="length")], done=False))
    assert chunks[-1].done and chunks[-1].finish_reason == "length"


def test_stream_ending_without_done_or_finish_reason_raises_stream_error_with_partial() -> None:
    decoder = wire.OpenAIChatStream(CTX, "m")
    with pytest.raises(StreamError) as caught:
        feed_all(decoder, sse([delta("Half "), delta("answer")], done=False))
    assert caught.value.partial == "Half answer"


def test_in_band_error_event_delivers_earlier_chunks_then_raises_stream_error() -> None:
    raw = sse([delta("Hello "), {"error": {"message": "boom", "type": "server_error"}}], done=False)
    decoder = wire.OpenAIChatStream(CTX, "m")
    chunks = decoder.feed(raw)
    assert [c.text for c in chunks] == ["Hello "]
    assert isinstance(decoder.error, StreamError)
    assert decoder.error.partial == "Hello "
    assert "boom" in str(decoder.error)


def test_invalid_json_in_a_stream_raises_protocol_error_before_output() -> None:
    decoder = wire.OpenAIChatStream(CTX, "m")
    decoder.feed(b"data: {not json\n\n")
    assert isinstance(decoder.error, ProtocolError)


def test_think_tags_split_in_a_stream_across_chunk_boundaries() -> None:
    events = [
        delta("<thi"),
        delta("nk>weigh"),
        delta("ing</th"),
        delta("ink>\n\nYes"),
        delta(finish="stop"),
    ]
    decoder = wire.OpenAIChatStream(CTX, "m", wire.OpenAIDialect(split_think=True))
    feed_all(decoder, sse(events))
    assert decoder.response().text == "Yes"
    assert decoder.response().thinking == "weighing"


# ---------------------------------------------------------------------------- through the provider


def test_provider_posts_the_exact_json_to_v1_chat_completions() -> None:
    recorder = Recorder(httpx.Response(200, json=load_fixture("lmstudio/v0_chat.json")))
    provider = OpenAICompatibleProvider(
        "http://127.0.0.1:8000/v1", api_key="k", transport=httpx.MockTransport(recorder)
    )
    reply = provider.chat("granite", "hi", temperature=0)
    request = recorder.requests[0]
    assert request.method == "POST"
    assert str(request.url) == "http://127.0.0.1:8000/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer k"
    assert request.headers["content-type"] == "application/json"
    assert recorder.json == {
        "model": "granite",
        "messages": [{"role": "user", "content": "hi"}],
        "temperature": 0.0,
    }
    assert reply.text.startswith("Greetings")


def test_error_in_a_200_body_is_raised_not_returned() -> None:
    recorder = Recorder(
        httpx.Response(
            200, json={"error": "Unexpected endpoint or method. (POST /v1/chat/completions)"}
        )
    )
    provider = OpenAICompatibleProvider(
        "http://127.0.0.1:8000", transport=httpx.MockTransport(recorder)
    )
    from modelport import CapabilityError

    with pytest.raises(CapabilityError) as caught:
        provider.chat("m", "hi")
    assert caught.value.status_code == 200

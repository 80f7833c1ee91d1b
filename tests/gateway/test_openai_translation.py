"""The OpenAI surface's translation, pure: request bodies in, response bodies and SSE out."""

from __future__ import annotations

import base64
import json
import struct
from typing import Any

import pytest

from modelport import (
    ChatChunk,
    ChatResponse,
    EmbedResponse,
    InvalidRequestError,
    ModelInfo,
    ToolCall,
    Usage,
)
from modelport.gateway import _openai as oa


def chat(**body: Any) -> oa.ChatCall:
    return oa.parse_chat_request(
        {"model": "m", "messages": [{"role": "user", "content": "hi"}], **body}
    )


def events(raw: bytes) -> list[Any]:
    """The data of each SSE event ([DONE] as the string)."""
    out = []
    for block in raw.decode().split("\n\n"):
        if not block:
            continue
        assert block.startswith("data: "), block
        data = block[len("data: ") :]
        out.append(data if data == "[DONE]" else json.loads(data))
    return out


# ---------------------------------------------------------------------------- requests


def test_a_plain_request_maps_to_model_messages_and_no_options() -> None:
    call = chat()
    assert call.model == "m"
    assert call.messages == [{"role": "user", "content": "hi"}]
    assert call.options == {}
    assert (call.stream, call.include_usage) == (False, False)


def test_sampling_options_tools_and_formats_map_to_client_options() -> None:
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    schema = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}
    call = chat(
        temperature=0.2,
        top_p=0.9,
        max_completion_tokens=12,
        stop="END",
        seed=7,
        tools=tools,
        tool_choice="auto",
        response_format=schema,
        presence_penalty=0.5,
    )
    assert call.options == {
        "temperature": 0.2,
        "top_p": 0.9,
        "max_tokens": 12,
        "stop": "END",
        "seed": 7,
        "tools": tools,
        "tool_choice": "auto",
        "response_format": schema,
        "options": {"presence_penalty": 0.5},
    }


def test_max_tokens_is_accepted_and_max_completion_tokens_wins() -> None:
    assert chat(max_tokens=5).options == {"max_tokens": 5}
    assert chat(max_tokens=5, max_completion_tokens=9).options == {"max_tokens": 9}


def test_json_object_and_text_response_formats() -> None:
    assert chat(response_format={"type": "json_object"}).options == {
        "response_format": {"type": "json_object"}
    }
    assert chat(response_format={"type": "text"}).options == {}


def test_stream_with_include_usage() -> None:
    call = chat(stream=True, stream_options={"include_usage": True})
    assert (call.stream, call.include_usage) == (True, True)
    assert chat(stream=True).include_usage is False


def test_unknown_fields_are_ignored() -> None:
    assert chat(user="u-1", logprobs=False, metadata={"a": 1}, store=False).options == {}


@pytest.mark.parametrize("n", [2, 5])
def test_more_than_one_choice_is_refused_clearly(n: int) -> None:
    with pytest.raises(InvalidRequestError, match="n="):
        chat(n=n)
    assert chat(n=1).options == {}


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"messages": [{"role": "user", "content": "x"}]},
        {"model": "", "messages": []},
        {"model": "m"},
        {"model": "m", "messages": "hi"},
        {"model": 3, "messages": [{"role": "user", "content": "x"}]},
    ],
)
def test_a_request_without_model_or_messages_is_invalid(body: Any) -> None:
    with pytest.raises(InvalidRequestError):
        oa.parse_chat_request(body)


def test_content_parts_pass_through_for_the_client_to_read() -> None:
    parts = [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
    ]
    call = oa.parse_chat_request({"model": "m", "messages": [{"role": "user", "content": parts}]})
    assert call.messages[0]["content"] == parts


# ---------------------------------------------------------------------------- replies


def test_a_reply_has_openais_shape_with_the_callers_model_id() -> None:
    reply = ChatResponse(
        text="Hello",
        model="smollm2:135m",
        service="ollama",
        finish_reason="stop",
        usage=Usage(5, 2, 7),
    )
    body = oa.completion_body(reply, model="ollama/smollm2", id="chatcmpl-1", created=100)
    assert body == {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 100,
        "model": "ollama/smollm2",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello"},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
    }


def test_a_reply_with_tool_calls_and_thinking() -> None:
    reply = ChatResponse(
        text="",
        model="m",
        thinking="let me see",
        tool_calls=(
            ToolCall(name="f", arguments={"a": 1}, id="call_9"),
            ToolCall(name="g", arguments={}, raw_arguments="{broken"),
        ),
        finish_reason="tool_calls",
    )
    body = oa.completion_body(reply, model="m", id="x", created=1)
    message = body["choices"][0]["message"]
    assert message["content"] is None
    assert message["reasoning_content"] == "let me see"
    assert message["tool_calls"][0] == {
        "id": "call_9",
        "type": "function",
        "function": {"name": "f", "arguments": '{"a": 1}'},
    }
    second = message["tool_calls"][1]
    assert second["id"].startswith("call_") and second["id"] != "call_9"
    assert second["function"] == {"name": "g", "arguments": "{broken"}
    assert body["choices"][0]["finish_reason"] == "tool_calls"
    assert "usage" not in body


@pytest.mark.parametrize(
    ("given", "sent"), [(None, "stop"), ("length", "length"), ("load", "stop")]
)
def test_finish_reasons_are_openais(given: str | None, sent: str) -> None:
    body = oa.completion_body(
        ChatResponse(text="x", model="m", finish_reason=given), model="m", id="x", created=1
    )
    assert body["choices"][0]["finish_reason"] == sent


# ---------------------------------------------------------------------------- streams


def encoder(include_usage: bool = False) -> oa.ChunkEncoder:
    return oa.ChunkEncoder(
        model="ollama/m", id="chatcmpl-7", created=42, include_usage=include_usage
    )


def test_a_stream_carries_the_role_first_the_finish_last_then_done() -> None:
    enc = encoder()
    raw = enc.chunk(ChatChunk(text="Hel")) + enc.chunk(ChatChunk(text="lo"))
    raw += enc.chunk(ChatChunk(finish_reason="stop", usage=Usage(3, 2, 5), done=True)) + enc.end()
    got = events(raw)
    assert got[-1] == "[DONE]"
    chunks = got[:-1]
    for chunk in chunks:
        assert chunk["id"] == "chatcmpl-7"
        assert chunk["object"] == "chat.completion.chunk"
        assert chunk["created"] == 42
        assert chunk["model"] == "ollama/m"
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": "Hel"}
    assert chunks[1]["choices"][0]["delta"] == {"content": "lo"}
    assert [c["choices"][0]["finish_reason"] for c in chunks] == [None, None, "stop"]
    assert all("usage" not in c for c in chunks)  # not asked for


def test_the_usage_chunk_comes_only_when_asked_for() -> None:
    enc = encoder(include_usage=True)
    raw = enc.chunk(ChatChunk(text="a"))
    raw += enc.chunk(ChatChunk(finish_reason="stop", usage=Usage(3, 2, 5), done=True)) + enc.end()
    got = events(raw)
    assert got[-1] == "[DONE]"
    usage = got[-2]
    assert usage["choices"] == []
    assert usage["usage"] == {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    assert got[-3]["choices"][0]["finish_reason"] == "stop"


def test_asked_for_usage_the_server_did_not_report_is_zeros_not_missing() -> None:
    enc = encoder(include_usage=True)
    got = events(
        enc.chunk(ChatChunk(text="a"))
        + enc.chunk(ChatChunk(done=True, finish_reason="stop"))
        + enc.end()
    )
    assert got[-2]["usage"] == {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}


def test_thinking_streams_as_reasoning_content() -> None:
    enc = encoder()
    got = events(enc.chunk(ChatChunk(thinking="hmm")) + enc.chunk(ChatChunk(text="ok")))
    assert got[0]["choices"][0]["delta"] == {"role": "assistant", "reasoning_content": "hmm"}
    assert got[1]["choices"][0]["delta"] == {"content": "ok"}


def test_tool_calls_stream_as_indexed_deltas_with_ids_then_arguments() -> None:
    enc = encoder()
    calls = (
        ToolCall(name="get_weather", arguments={"city": "Paris"}),
        ToolCall(name="get_time", arguments={}, id="abc"),
    )
    got = events(
        enc.chunk(ChatChunk(tool_calls=calls, finish_reason="tool_calls", done=True)) + enc.end()
    )
    deltas = [g["choices"][0]["delta"] for g in got[:-1] if g["choices"][0]["delta"]]
    fragments = [f for d in deltas for f in d.get("tool_calls", [])]
    first, second = [f for f in fragments if "id" in f]
    assert first["index"] == 0 and first["type"] == "function"
    assert first["function"]["name"] == "get_weather"
    assert first["id"].startswith("call_")
    assert second == {
        "index": 1,
        "id": "abc",
        "type": "function",
        "function": {"name": "get_time", "arguments": ""},
    }
    args = {
        i: "".join(f["function"].get("arguments", "") for f in fragments if f["index"] == i)
        for i in (0, 1)
    }
    assert json.loads(args[0]) == {"city": "Paris"} and json.loads(args[1]) == {}
    assert deltas[0]["role"] == "assistant"
    assert got[-2]["choices"][0]["finish_reason"] == "tool_calls"


def test_an_error_event_after_the_stream_started() -> None:
    from modelport import StreamError
    from modelport.gateway._errors import failure_for

    enc = encoder()
    raw = enc.chunk(ChatChunk(text="a")) + oa.error_event(failure_for(StreamError("it broke")))
    got = events(raw)
    assert got[-1]["error"]["message"].startswith("it broke")
    assert got[-1]["error"]["type"] == "upstream_error"
    assert "[DONE]" not in got


# ---------------------------------------------------------------------------- models, embeddings


def test_the_model_list_uses_the_clients_ids() -> None:
    models = [
        ModelInfo(
            id="ollama/llama3.2:latest",
            name="llama3.2:latest",
            service="ollama",
            kind="ollama",
            context_length=8192,
            loaded=True,
        ),
        ModelInfo(
            id="lmstudio/qwen/qwen3-8b", name="qwen/qwen3-8b", service="lmstudio", kind="lmstudio"
        ),
    ]
    body = oa.models_body(models)
    assert body["object"] == "list"
    assert [m["id"] for m in body["data"]] == ["ollama/llama3.2:latest", "lmstudio/qwen/qwen3-8b"]
    first = body["data"][0]
    assert (first["object"], first["owned_by"], first["context_length"], first["loaded"]) == (
        "model",
        "ollama",
        8192,
        True,
    )


def test_embedding_requests_take_a_string_or_strings() -> None:
    assert oa.parse_embed_request({"model": "e", "input": "x"}) == oa.EmbedCall("e", ["x"])
    assert oa.parse_embed_request(
        {"model": "e", "input": ["a", "b"], "encoding_format": "base64"}
    ) == oa.EmbedCall("e", ["a", "b"], base64=True)
    for bad in (
        {"model": "e", "input": []},
        {"model": "e", "input": 7},
        {"model": "e"},
        {"input": "x"},
        {"model": "e", "input": "x", "encoding_format": "int8"},
    ):
        with pytest.raises(InvalidRequestError):
            oa.parse_embed_request(bad)


def test_embedding_requests_pass_token_ids_on_as_given() -> None:
    """LangChain's OpenAIEmbeddings sends token ids by default; llama-server takes them
    (issue 23), so the gateway is not stricter than the server."""
    assert oa.parse_embed_request({"model": "e", "input": [1, 2, 3]}) == oa.EmbedCall(
        "e", [1, 2, 3]
    )
    assert oa.parse_embed_request({"model": "e", "input": [[1, 2], [3]]}) == oa.EmbedCall(
        "e", [[1, 2], [3]]
    )


def test_embeddings_as_floats_or_base64() -> None:
    reply = EmbedResponse(
        vectors=[[0.5, -1.0], [2.0, 0.25]], model="e", usage=Usage(prompt_tokens=4, total_tokens=4)
    )
    body = oa.embeddings_body(reply, model="svc/e", base64_out=False)
    assert body["object"] == "list" and body["model"] == "svc/e"
    assert body["data"][1] == {"object": "embedding", "index": 1, "embedding": [2.0, 0.25]}
    assert body["usage"] == {"prompt_tokens": 4, "total_tokens": 4}
    packed = oa.embeddings_body(reply, model="svc/e", base64_out=True)["data"][0]["embedding"]
    assert list(struct.unpack("<2f", base64.b64decode(packed))) == [0.5, -1.0]

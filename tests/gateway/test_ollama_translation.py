"""The Ollama surface's translation, pure: request bodies in, Ollama's JSON and NDJSON out."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from typing import Any

import pytest

import modelport
from modelport import (
    Capabilities,
    ChatChunk,
    ChatResponse,
    EmbedResponse,
    InvalidRequestError,
    ModelInfo,
    Timings,
    ToolCall,
    Usage,
)
from modelport.gateway import _ollama as ol
from modelport.gateway._toolcalls import RAW_ARGUMENTS_KEY


def lines(raw: bytes) -> list[Any]:
    assert raw.endswith(b"\n")
    return [json.loads(line) for line in raw.decode().splitlines()]


# ---------------------------------------------------------------------------- requests


def test_a_chat_request_maps_ollamas_options_to_client_options() -> None:
    call = ol.parse_chat_request(
        {
            "model": "llama3.2",
            "messages": [{"role": "user", "content": "hi", "images": ["iVBORw0KGgo="]}],
            "format": "json",
            "options": {
                "num_predict": 64,
                "temperature": 0.1,
                "top_p": 0.8,
                "top_k": 20,
                "seed": 3,
                "stop": ["\n"],
                "num_ctx": 4096,
                "num_gpu": 99,
            },
            "keep_alive": "10m",
            "think": "high",
        }
    )
    assert call.model == "llama3.2"
    assert call.stream is True  # Ollama streams unless told not to
    assert call.messages[0]["images"] == ["iVBORw0KGgo="]
    assert call.options == {
        "response_format": "json",
        "max_tokens": 64,
        "temperature": 0.1,
        "top_p": 0.8,
        "seed": 3,
        "stop": ["\n"],
        "context_length": 4096,
        "keep_alive": "10m",
        "think": "high",
        "options": {"top_k": 20},
    }


def test_a_schema_format_tools_and_no_stream() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    call = ol.parse_chat_request(
        {
            "model": "m",
            "messages": [{"role": "user", "content": "x"}],
            "format": schema,
            "tools": tools,
            "stream": False,
        }
    )
    assert call.options == {"response_format": schema, "tools": tools}
    assert call.stream is False


@pytest.mark.parametrize("predict", [-1, -2, 0])
def test_unlimited_num_predict_sets_no_limit(predict: int) -> None:
    call = ol.parse_chat_request(
        {
            "model": "m",
            "messages": [{"role": "user", "content": "x"}],
            "options": {"num_predict": predict},
        }
    )
    assert "max_tokens" not in call.options


def test_tool_arguments_kept_raw_come_back_as_the_text_received() -> None:
    call = ol.parse_chat_request(
        {
            "model": "m",
            "messages": [
                {"role": "user", "content": "x"},
                {
                    "role": "assistant",
                    "content": "",
                    "tool_calls": [
                        {"function": {"name": "f", "arguments": {RAW_ARGUMENTS_KEY: "{oops"}}}
                    ],
                },
                {"role": "tool", "content": "42", "tool_name": "f"},
            ],
        }
    )
    assert call.messages[1]["tool_calls"][0]["function"]["arguments"] == "{oops"
    assert call.messages[2] == {"role": "tool", "content": "42", "tool_name": "f"}


@pytest.mark.parametrize(
    "body",
    [
        {"messages": [{"role": "user", "content": "x"}]},
        {"model": "", "messages": []},
        {"model": "m", "messages": "x"},
        {"model": "m", "messages": [], "options": "hot"},
        {"model": "m", "messages": [], "format": 3},
    ],
)
def test_bad_chat_requests_are_invalid(body: Any) -> None:
    with pytest.raises(InvalidRequestError):
        ol.parse_chat_request(body)


def test_no_messages_means_load_or_unload() -> None:
    assert ol.parse_chat_request({"model": "m", "messages": []}).messages == []
    assert ol.parse_chat_request({"model": "m"}).messages == []


def test_a_generate_request_is_a_chat_of_system_and_prompt() -> None:
    call = ol.parse_generate_request(
        {
            "model": "m",
            "prompt": "Why?",
            "system": "Be brief.",
            "images": ["AAAA"],
            "raw": True,
            "context": [1, 2],
            "stream": False,
        }
    )
    assert call.messages == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Why?", "images": ["AAAA"]},
    ]
    assert call.stream is False
    assert call.generate is True


def test_fill_in_the_middle_is_refused_clearly() -> None:
    with pytest.raises(InvalidRequestError, match="suffix"):
        ol.parse_generate_request({"model": "m", "prompt": "def f(", "suffix": "return 1"})


def test_embed_requests() -> None:
    assert ol.parse_embed_request({"model": "e", "input": "x"}) == ol.EmbedCall("e", ["x"])
    assert ol.parse_embed_request(
        {"model": "e", "input": ["a", "b"], "dimensions": 2}
    ) == ol.EmbedCall("e", ["a", "b"], dimensions=2)
    assert ol.parse_embed_request({"model": "e"}) == ol.EmbedCall("e", [])
    assert ol.parse_embed_request({"model": "e", "prompt": "x"}, legacy=True) == ol.EmbedCall(
        "e", ["x"]
    )
    with pytest.raises(InvalidRequestError):
        ol.parse_embed_request({"model": "e", "input": [1]})


# ---------------------------------------------------------------------------- replies


def test_a_whole_chat_reply_in_ollamas_shape_with_nanosecond_timings() -> None:
    reply = ChatResponse(
        text="Hi!",
        model="x",
        thinking="hmm",
        finish_reason="length",
        usage=Usage(12, 3, 15),
        timings=Timings(prompt_ms=5.0, generation_ms=30.0, load_ms=1.5, total_ms=40.0),
    )
    body = ol.chat_body(reply, model="svc/m", elapsed=0.25)
    assert body["model"] == "svc/m"
    assert body["created_at"].endswith("Z")
    assert body["message"] == {"role": "assistant", "content": "Hi!", "thinking": "hmm"}
    assert body["done"] is True and body["done_reason"] == "length"
    assert body["prompt_eval_count"] == 12 and body["eval_count"] == 3
    assert body["prompt_eval_duration"] == 5_000_000
    assert body["eval_duration"] == 30_000_000
    assert body["load_duration"] == 1_500_000
    assert body["total_duration"] == 40_000_000


def test_timings_the_server_did_not_report_are_left_out_and_total_is_measured() -> None:
    body = ol.chat_body(ChatResponse(text="x", model="m"), model="m", elapsed=0.5)
    assert body["total_duration"] == 500_000_000
    for key in ("prompt_eval_count", "eval_count", "eval_duration", "load_duration"):
        assert key not in body


def test_tool_calls_have_arguments_as_objects_and_done_reason_stop() -> None:
    reply = ChatResponse(
        text="",
        model="m",
        tool_calls=(ToolCall("f", {"a": 1}, id="call_1"), ToolCall("g", {}, raw_arguments="{bad")),
        finish_reason="tool_calls",
    )
    body = ol.chat_body(reply, model="m", elapsed=0.1)
    calls = body["message"]["tool_calls"]
    assert calls[0] == {
        "id": "call_1",
        "function": {"index": 0, "name": "f", "arguments": {"a": 1}},
    }
    assert calls[1]["function"] == {
        "index": 1,
        "name": "g",
        "arguments": {RAW_ARGUMENTS_KEY: "{bad"},
    }
    assert calls[1]["id"].startswith("call_")
    assert body["done_reason"] == "stop"  # the native API has no "tool_calls" reason


def test_a_generate_reply_uses_response() -> None:
    body = ol.generate_body(
        ChatResponse(text="42", model="m", finish_reason="stop"), model="m", elapsed=0.1
    )
    assert body["response"] == "42" and "message" not in body and body["done"] is True


# ---------------------------------------------------------------------------- streams


def test_a_stream_is_ndjson_deltas_then_a_done_line_with_counts() -> None:
    enc = ol.StreamEncoder(model="m", generate=False)
    raw = (
        enc.chunk(ChatChunk(thinking="hm"))
        + enc.chunk(ChatChunk(text="Hel"))
        + enc.chunk(ChatChunk(text="lo"))
    )
    raw += enc.chunk(ChatChunk(done=True, finish_reason="stop", usage=Usage(4, 2, 6)))
    got = lines(raw)
    assert [g["done"] for g in got] == [False, False, False, True]
    assert got[0]["message"] == {"role": "assistant", "content": "", "thinking": "hm"}
    assert "".join(g["message"]["content"] for g in got) == "Hello"
    assert got[-1]["done_reason"] == "stop" and got[-1]["eval_count"] == 2
    assert got[-1]["total_duration"] > 0
    assert enc.end() == b""  # the done line was already sent


def test_a_stream_without_a_done_chunk_still_ends_with_done() -> None:
    enc = ol.StreamEncoder(model="m", generate=True)
    got = lines(enc.chunk(ChatChunk(text="a")) + enc.end())
    assert got[0]["response"] == "a" and got[-1]["done"] is True


def test_tool_calls_in_the_last_chunk_come_in_their_own_line_before_done() -> None:
    enc = ol.StreamEncoder(model="m", generate=False)
    calls = (ToolCall("f", {"x": 1}), ToolCall("g", {}, id="abc"))
    got = lines(enc.chunk(ChatChunk(tool_calls=calls, finish_reason="tool_calls", done=True)))
    assert [g["done"] for g in got] == [False, True]
    sent = got[0]["message"]["tool_calls"]
    assert [c["function"]["index"] for c in sent] == [0, 1]
    assert sent[1]["id"] == "abc" and sent[0]["function"]["arguments"] == {"x": 1}
    assert "tool_calls" not in got[1]["message"]


def test_an_error_line() -> None:
    from modelport import StreamError
    from modelport.gateway._errors import failure_for

    assert lines(ol.error_line(failure_for(StreamError("it broke")))) == [{"error": "it broke"}]


# ---------------------------------------------------------------------------- models


LLAMA = ModelInfo(
    id="llamacpp/SmolLM2.gguf",
    name="SmolLM2.gguf",
    service="llamacpp",
    kind="llamacpp",
    context_length=8192,
    loaded_context_length=2048,
    loaded=True,
    capabilities=Capabilities(chat=True, tools=True, vision=False, embedding=False),
    family="llama",
    parameter_size="135M",
    quantization="Q8_0",
    format="gguf",
    size_bytes=1234,
)


def test_tags_digests_change_when_what_the_server_reports_changes() -> None:
    """A server restarted with another file, quantization or context is a new model to
    clients that cache capabilities by digest (llm-ollama, issue 23)."""
    (same,) = ol.tags_body([LLAMA])["models"]
    assert ol.tags_body([LLAMA])["models"][0]["digest"] == same["digest"]
    for changed in (
        replace(LLAMA, quantization="Q4_1"),
        replace(LLAMA, context_length=4096),
        replace(LLAMA, size_bytes=999),
    ):
        assert ol.tags_body([changed])["models"][0]["digest"] != same["digest"]
    assert same["digest"] == modelport.model_digest(LLAMA)


def test_tags_list_each_model_by_the_clients_id() -> None:
    (entry,) = ol.tags_body([LLAMA])["models"]
    assert entry["name"] == entry["model"] == "llamacpp/SmolLM2.gguf"
    assert entry["size"] == 1234
    assert len(entry["digest"]) == 64
    assert entry["modified_at"].endswith("Z")
    assert entry["details"] == {
        "parent_model": "",
        "format": "gguf",
        "family": "llama",
        "families": ["llama"],
        "parameter_size": "135M",
        "quantization_level": "Q8_0",
    }


def test_show_has_the_context_length_under_the_architecture_and_capabilities() -> None:
    body = ol.show_body(LLAMA)
    assert body["model_info"]["general.architecture"] == "llama"
    assert body["model_info"]["llama.context_length"] == 8192
    assert body["capabilities"] == ["completion", "tools"]
    assert body["details"]["family"] == "llama"


@pytest.mark.parametrize(
    ("caps", "names"),
    [
        (Capabilities(chat=True, vision=True, thinking=True), ["completion", "vision", "thinking"]),
        (Capabilities(embedding=True), ["embedding"]),
        (Capabilities(), ["completion"]),
    ],
)
def test_capabilities_as_ollama_names_them(caps: Capabilities, names: list[str]) -> None:
    info = ModelInfo(id="s/m", name="m", service="s", kind="openai", capabilities=caps)
    assert ol.show_body(info)["capabilities"] == names
    assert "general.architecture" in ol.show_body(info)["model_info"]


def test_ps_lists_loaded_models_with_their_context() -> None:
    idle = ModelInfo(id="s/idle", name="idle", service="s", kind="openai", loaded=False)
    (entry,) = ol.ps_body([LLAMA, idle])["models"]
    assert entry["name"] == "llamacpp/SmolLM2.gguf"
    assert entry["context_length"] == 2048 and entry["size"] == 1234


def test_embed_bodies_pass_vectors_on_and_cut_to_dimensions() -> None:
    reply = EmbedResponse(vectors=[[3.0, 4.0, 12.0]], model="e", usage=Usage(prompt_tokens=2))
    body = ol.embed_body(reply, model="svc/e", dimensions=None, elapsed=0.01)
    assert body["model"] == "svc/e" and body["prompt_eval_count"] == 2
    assert body["embeddings"][0] == [3.0, 4.0, 12.0]
    cut = ol.embed_body(reply, model="e", dimensions=2, elapsed=0.01)["embeddings"][0]
    assert cut == pytest.approx([0.6, 0.8]) and math.isclose(sum(x * x for x in cut), 1.0)
    assert ol.legacy_embedding_body(reply) == {"embedding": [3.0, 4.0, 12.0]}

"""Property tests of every body parser (issue 11, "Fuzzing"; defect 1).

Arbitrary bytes through the JSON boundary, and arbitrary JSON (any shape, and shapes
close to what each server sends) through both dialects' parsers, error-body
extraction, status mapping and tool-call arguments: each gives a result or a
ModelportError, and nothing else (no RecursionError, TypeError, struct.error,
OverflowError, ValueError...). The issue's repros are explicit examples.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from modelport import ChatResponse, EmbedResponse, ModelportError, ProtocolError

from . import targets
from .checks import outcome
from .strategies import (
    json_values,
    ollama_chat_shape,
    ollama_embed_shape,
    ollama_show_shape,
    ollama_tags_shape,
    openai_chat_shape,
    openai_embeddings_shape,
    openai_models_shape,
    tool_call_shape,
)

DEPTH = 100_000
DEEP = b"[" * DEPTH + b"]" * DEPTH
DEEP_TEXT = DEEP.decode()
FIVE_BYTES = base64.b64encode(b"12345").decode()
HUGE = 10**400


def shaped_or_any(shape: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(shape, json_values)


# ------------------------------------------------------------------ the JSON boundary


@given(body=st.one_of(st.binary(), json_values.map(lambda v: json.dumps(v).encode())))
@example(body=DEEP)
@example(body=b'{"a": ' * 50_000 + b"1" + b"}" * 50_000)
@example(body=b"9" * 5_000)  # past the int-to-str digit limit
@example(body=b"\xff\xfe{}")
def test_any_body_gives_json_or_a_protocol_error(body: bytes) -> None:
    result = outcome(lambda: targets.body_json(body))
    if isinstance(result, ModelportError):
        assert isinstance(result, ProtocolError), repr(result)


# ------------------------------------------------------------------ OpenAI dialect


@given(data=shaped_or_any(openai_chat_shape))
@example(data={"choices": [{"message": {"content": "x", "tool_calls": "nope"}}]})
@example(
    data={
        "choices": [
            {
                "message": {
                    "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": DEEP_TEXT}}]
                }
            }
        ]
    }
)
@example(data={"choices": [{"message": {"content": "x"}}], "usage": {"prompt_tokens": HUGE}})
def test_openai_chat_bodies_give_a_reply_or_a_typed_error(data: Any) -> None:
    for split_think in (False, True):
        result = outcome(lambda s=split_think: targets.parse_openai_chat(data, split_think=s))
        assert isinstance(result, (ChatResponse, ModelportError))


@given(data=shaped_or_any(openai_embeddings_shape))
@example(data={"data": [{"index": 0, "embedding": FIVE_BYTES}]})
@example(data={"data": [{"index": 0, "embedding": [0.5, HUGE]}]})
@example(data={"data": [{"index": HUGE, "embedding": [0.5]}, {"index": "a", "embedding": [1]}]})
@example(data={"data": [{"index": 0, "embedding": "!!not base64!!"}]})
def test_openai_embedding_bodies_give_vectors_or_a_typed_error(data: Any) -> None:
    result = outcome(lambda: targets.parse_openai_embeddings(data))
    if isinstance(result, EmbedResponse):
        for vector in result.vectors:
            assert all(isinstance(x, float) for x in vector)


@given(data=shaped_or_any(openai_models_shape))
@example(data={"data": [5]})
@example(data={"data": [{"id": None}]})
def test_openai_model_lists_give_entries_or_a_typed_error(data: Any) -> None:
    result = outcome(lambda: targets.parse_openai_models(data))
    if not isinstance(result, ModelportError):
        assert all(isinstance(entry["id"], str) for entry in result)


# ------------------------------------------------------------------ Ollama dialect


@given(data=shaped_or_any(ollama_chat_shape))
@example(data={"message": {"content": "x", "tool_calls": [{"function": {"name": 5}}]}})
@example(data={"message": {"content": ""}, "done": True, "eval_count": HUGE})
@example(data={"message": {"tool_calls": [{"function": {"name": "f", "arguments": DEEP_TEXT}}]}})
def test_ollama_chat_bodies_give_a_reply_or_a_typed_error(data: Any) -> None:
    result = outcome(lambda: targets.parse_ollama_chat(data))
    assert isinstance(result, (ChatResponse, ModelportError))


@given(data=shaped_or_any(ollama_embed_shape), count=st.integers(min_value=0, max_value=3))
@example(data={"embeddings": [[0.5, HUGE]]}, count=1)
@example(data={"embeddings": [["x"]]}, count=1)
def test_ollama_embed_bodies_give_vectors_or_a_typed_error(data: Any, count: int) -> None:
    result = outcome(lambda: targets.parse_ollama_embed(data, count))
    if isinstance(result, EmbedResponse):
        assert len(result.vectors) == count


@given(data=shaped_or_any(ollama_tags_shape))
@example(data={"models": [{"name": "a", "details": {"context_length": HUGE}}]})
def test_ollama_model_lists_give_entries_or_a_typed_error(data: Any) -> None:
    for parse in (targets.parse_ollama_tags, targets.parse_ollama_ps):
        result = outcome(lambda p=parse: p(data))
        if not isinstance(result, ModelportError):
            assert all(isinstance(entry["name"], str) for entry in result)


@given(data=shaped_or_any(ollama_show_shape))
@example(data={"model_info": {"general.architecture": "llama", "llama.context_length": HUGE}})
@example(data={"model_info": {"general.parameter_count": float("inf")}})
@example(data={"capabilities": [{"a": 1}], "model_info": {}})
def test_ollama_show_bodies_give_facts_or_a_typed_error(data: Any) -> None:
    outcome(lambda: targets.parse_ollama_show(data))


# ------------------------------------------------------------------ error bodies


@given(
    body=st.one_of(
        st.binary(),
        json_values.map(lambda v: json.dumps(v).encode()),
        json_values.map(lambda v: json.dumps({"error": v}).encode()),
        json_values.map(lambda v: json.dumps({"error": {"message": v, "type": v}}).encode()),
        st.text().map(lambda t: f"<html><body><h1>{t}</h1></body></html>".encode()),
    ),
    content_type=st.sampled_from(["", "application/json", "text/html", "text/plain"]),
)
@example(body=DEEP, content_type="application/json")
@example(body=b'{"error": ' + DEEP + b"}", content_type="application/json")
@example(body=b'{"error": {"message": ' + b"9" * 5_000 + b"}}", content_type="application/json")
def test_error_bodies_give_a_message_or_a_typed_error(body: bytes, content_type: str) -> None:
    result = outcome(lambda: targets.error_message(body, content_type))
    if not isinstance(result, ModelportError):
        message, codes = result
        assert isinstance(message, str)
        assert isinstance(codes, list)
        assert all(isinstance(code, str) for code in codes)


@given(
    status=st.integers(min_value=100, max_value=599),
    body=st.one_of(
        st.binary(max_size=200),
        json_values.map(lambda v: json.dumps({"error": v}).encode()),
    ),
    retry_after=st.one_of(st.none(), st.text(max_size=30), st.sampled_from(["1e400", "nan", "-5"])),
)
@example(status=500, body=DEEP, retry_after=None)
@example(status=429, body=b"{}", retry_after="1e400")
@example(status=503, body=b"{}", retry_after="Wed, 21 Oct 99999 07:28:00 GMT")
def test_every_status_and_body_map_to_a_modelport_error(
    status: int, body: bytes, retry_after: str | None
) -> None:
    headers = {} if retry_after is None else {"retry-after": retry_after}
    result = outcome(lambda: targets.error_from_response(status, body, headers))
    assert isinstance(result, ModelportError), repr(result)
    assert result.status_code == status
    retry = getattr(result, "retry_after", None)
    if retry is not None:
        assert retry == retry and retry >= 0, retry  # a number of seconds, not nan


# ------------------------------------------------------------------ tool calls


@given(value=st.one_of(json_values, json_values.map(json.dumps), st.text()))
@example(value=DEEP_TEXT)
@example(value='{"a": ' * 50_000 + "1" + "}" * 50_000)
@example(value={"city": "Paris"})
def test_tool_call_arguments_parse_or_are_kept_raw(value: Any) -> None:
    result = outcome(lambda: targets.parse_arguments(value))
    if not isinstance(result, ModelportError):
        arguments, raw = result
        assert isinstance(arguments, dict)
        assert raw is None or isinstance(raw, str)


@given(data=st.one_of(tool_call_shape, json_values))
@example(data={})
@example(data={"function": {"name": "f", "arguments": DEEP_TEXT}})
@example(data={"function": "f"})
def test_tool_calls_from_the_wire_give_a_call_or_a_typed_error(data: Any) -> None:
    outcome(lambda: targets.tool_call(data))

"""Property tests of every incremental decoder (issue 11, "Fuzzing"; defects 1 and 2).

(a) Arbitrary bytes give a result or a ModelportError, and nothing else.
(b) The same bytes split anywhere give the same items (or the same error type, and
    for a stream error the same partial text) as in one piece.

Covered: the SSE, NDJSON and line decoders (default cap and a small one), the
OpenAI-dialect chat stream (plain and with ``<think>`` splitting), the Ollama chat
stream and the Ollama pull stream. The issue's repros are explicit examples.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from modelport import ModelportError, StreamError

from . import targets
from .checks import outcome
from .strategies import ndjson_streams, pull_streams, split, sse_streams

DEEP = b"[" * 100_000 + b"]" * 100_000
SMALL_CAP = 64


def same(whole: Any, pieces: Any) -> None:
    assert summary(whole) == summary(pieces)


def summary(result: Any) -> Any:
    """What must not depend on how the bytes were cut."""
    if isinstance(result, ModelportError):
        return ("error", type(result).__name__, getattr(result, "partial", None))
    if isinstance(result, targets.StreamResult):
        chunks = result.chunks
        calls = [
            (call.name, repr(dict(call.arguments)), call.raw_arguments)
            for chunk in chunks
            for call in chunk.tool_calls
        ]
        finished = [c.finish_reason for c in chunks if c.done]
        error = result.error
        response = result.response
        return (
            "".join(c.text for c in chunks),
            "".join(c.thinking for c in chunks),
            calls,
            finished,
            (type(error).__name__, getattr(error, "partial", None)) if error else None,
            (response.text, response.thinking, response.finish_reason) if response else None,
        )
    return ("items", repr(result))


def check_stream(result: Any) -> None:
    """A stream result is consistent with itself: an error after output keeps it."""
    if isinstance(result, targets.StreamResult) and result.error is not None:
        text = "".join(c.text for c in result.chunks)
        if isinstance(result.error, StreamError):
            assert result.error.partial == text


# ------------------------------------------------------------------ byte decoders


BYTE_DECODERS: dict[str, Callable[..., Any]] = {
    "sse": targets.decode_sse,
    "ndjson": targets.decode_ndjson,
    "lines": targets.decode_lines,
}


@given(body=st.one_of(st.binary(), sse_streams, ndjson_streams))
@example(body=DEEP + b"\n")
@example(body=b"data: " + DEEP + b"\n\n")
@example(body=b"data: x\n" * 200)  # data lines that never end their event
def test_byte_decoders_give_items_or_a_typed_error(body: bytes) -> None:
    for decode in BYTE_DECODERS.values():
        outcome(lambda decode=decode: decode([body]))
        outcome(lambda decode=decode: decode([body], max_bytes=SMALL_CAP))


@given(body=st.one_of(st.binary(), sse_streams, ndjson_streams), data=st.data())
def test_byte_decoders_give_the_same_items_however_the_bytes_are_cut(
    body: bytes, data: st.DataObject
) -> None:
    chunks = data.draw(split(body))
    for decode in BYTE_DECODERS.values():
        same(outcome(lambda d=decode: d([body])), outcome(lambda d=decode: d(chunks)))


@given(body=st.one_of(st.binary(), sse_streams, ndjson_streams), data=st.data())
def test_capped_byte_decoders_give_the_same_items_however_the_bytes_are_cut(
    body: bytes, data: st.DataObject
) -> None:
    chunks = data.draw(split(body))
    for decode in BYTE_DECODERS.values():
        whole = outcome(lambda d=decode: d([body], max_bytes=SMALL_CAP))
        pieces = outcome(lambda d=decode: d(chunks, max_bytes=SMALL_CAP))
        same(whole, pieces)


# ------------------------------------------------------------------ chat stream decoders


STREAMS: dict[str, Callable[[list[bytes]], Any]] = {
    "openai": targets.chat_stream_openai,
    "openai-split-think": lambda chunks: targets.chat_stream_openai(chunks, dialect="split_think"),
}


@given(body=st.one_of(sse_streams, st.binary()))
@example(body=b"data: " + DEEP + b"\n\n")
@example(body=DEEP)
@example(
    body=b'data: {"choices": [{"delta": {"tool_calls": [{"index": 0, "function": '
    b'{"name": "f", "arguments": {"city": "Paris"}}}]}}]}\n\ndata: [DONE]\n\n'
)
@example(
    body=b'data: {"choices": [{"delta": {"tool_calls": [{"index": 0, "function": '
    b'{"name": "f", "arguments": "' + b"[" * 100_000 + b'"}}]}}]}\n\ndata: [DONE]\n\n'
)
def test_openai_chat_streams_give_chunks_or_a_typed_error(body: bytes) -> None:
    for decode in STREAMS.values():
        result = outcome(lambda d=decode: d([body]))
        assert isinstance(result, targets.StreamResult)
        check_stream(result)


@given(body=st.one_of(sse_streams, st.binary()), data=st.data())
def test_openai_chat_streams_are_the_same_however_the_bytes_are_cut(
    body: bytes, data: st.DataObject
) -> None:
    chunks = data.draw(split(body))
    for decode in STREAMS.values():
        whole = outcome(lambda d=decode: d([body]))
        pieces = outcome(lambda d=decode, c=chunks: d(c))
        check_stream(pieces)
        same(whole, pieces)


@given(body=st.one_of(ndjson_streams, st.binary()))
@example(body=DEEP + b"\n")
@example(body=b'{"message": {"content": "hi"}, "done": false}\n' + DEEP + b"\n")
@example(
    body=b'{"message": {"content": "", "tool_calls": [{"function": {"name": "f", '
    b'"arguments": "' + b"[" * 100_000 + b'"}}]}, "done": true}\n'
)
def test_ollama_chat_streams_give_chunks_or_a_typed_error(body: bytes) -> None:
    result = outcome(lambda: targets.chat_stream_ollama([body]))
    assert isinstance(result, targets.StreamResult)
    check_stream(result)


@given(body=st.one_of(ndjson_streams, st.binary()), data=st.data())
def test_ollama_chat_streams_are_the_same_however_the_bytes_are_cut(
    body: bytes, data: st.DataObject
) -> None:
    chunks = data.draw(split(body))
    whole = outcome(lambda: targets.chat_stream_ollama([body]))
    pieces = outcome(lambda: targets.chat_stream_ollama(chunks))
    check_stream(pieces)
    same(whole, pieces)


@given(body=st.one_of(pull_streams, st.binary()))
@example(body=DEEP + b"\n")
@example(body=b'{"status": "downloading", "total": 1e400, "completed": 5}\n')
def test_pull_streams_give_progress_or_a_typed_error(body: bytes) -> None:
    result = outcome(lambda: targets.pull_stream([body]))
    assert isinstance(result, targets.StreamResult)


@given(body=st.one_of(pull_streams, st.binary()), data=st.data())
def test_pull_streams_are_the_same_however_the_bytes_are_cut(
    body: bytes, data: st.DataObject
) -> None:
    chunks = data.draw(split(body))
    whole = outcome(lambda: targets.pull_stream([body]))
    pieces = outcome(lambda: targets.pull_stream(chunks))
    assert isinstance(whole, targets.StreamResult) and isinstance(pieces, targets.StreamResult)
    assert repr(whole.chunks) == repr(pieces.chunks)
    assert type(whole.error) is type(pieces.error)

"""The Anthropic surface's stream encoder: one state machine per message that turns the
client's chunks into exactly Anthropic's event grammar.

Checked by a strict reader of the grammar (``anthropic_events.replay``): by exact event
sequences, by a property over any chunk sequence (the blocks streamed equal the blocks
of the same reply unstreamed), and by recorded OpenAI-style and Ollama-style upstream
streams cut at every byte, decoded by modelport's real stream decoders.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelport import ChatChunk, ServerError, ToolCall, Usage
from modelport._http.mapping import ErrorContext
from modelport._wire import ollama_native, openai_chat
from modelport._wire.stream import ChatAccumulator, ChatStreamDecoder
from modelport.gateway import _anthropic as an
from tests.conftest import FIXTURES

from .anthropic_events import Replayed, events, merged, replay, without_fresh_ids

CTX = ErrorContext(service="srv", base_url="http://127.0.0.1:8080", server="a server")


def encode(chunks: Sequence[ChatChunk], *, pings: int = 0, **kwargs: Any) -> bytes:
    encoder = an.StreamEncoder(model="m", id="msg_test", **kwargs)
    out = b"".join(encoder.ping() for _ in range(pings))
    for chunk in chunks:
        out += encoder.chunk(chunk)
    return out + encoder.end()


# ---------------------------------------------------------------------------- exact


def test_a_text_reply_streams_in_anthropics_grammar() -> None:
    raw = encode(
        [
            ChatChunk(text="Hi t"),
            ChatChunk(text="here!"),
            ChatChunk(done=True, finish_reason="stop", usage=Usage(12, 2, 14)),
        ]
    )
    assert events(raw) == [
        (
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": "msg_test",
                    "type": "message",
                    "role": "assistant",
                    "model": "m",
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {"input_tokens": 0, "output_tokens": 0},
                },
            },
        ),
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": "Hi t"},
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": "here!"},
            },
        ),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"input_tokens": 12, "output_tokens": 2},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]


def test_thinking_then_text_then_tools() -> None:
    raw = encode(
        [
            ChatChunk(thinking="The user "),
            ChatChunk(thinking="wants weather."),
            ChatChunk(text="Checking."),
            ChatChunk(
                tool_calls=(
                    ToolCall("get_weather", {"city": "Paris"}, id="call_1"),
                    ToolCall("get_time", {}),
                ),
                done=True,
                finish_reason="tool_calls",
            ),
        ],
        input_tokens=40,
    )
    assert [name for name, _ in events(raw)] == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_delta",  # the signature
        "content_block_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    signature = events(raw)[4][1]["delta"]
    assert signature == {
        "type": "signature_delta",
        "signature": an.thinking_signature("The user wants weather."),
    }
    replayed = replay(raw)
    assert replayed.message is not None and replayed.stopped
    assert replayed.message["usage"]["input_tokens"] == 40
    content = replayed.message["content"]
    assert content[:3] == [
        {
            "type": "thinking",
            "thinking": "The user wants weather.",
            "signature": signature["signature"],
        },
        {"type": "text", "text": "Checking."},
        {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}},
    ]
    assert content[3]["id"].startswith("toolu_") and content[3]["input"] == {}
    assert replayed.message["stop_reason"] == "tool_use"


def test_tool_arguments_stream_as_one_json_delta_and_raw_text_is_kept() -> None:
    raw = encode(
        [
            ChatChunk(
                tool_calls=(
                    ToolCall("f", {"q": 'caf\u00e9 "x"'}, id="a"),
                    ToolCall("g", {}, id="b", raw_arguments="{not json"),
                ),
                done=True,
            )
        ]
    )
    deltas = [d["delta"] for n, d in events(raw) if n == "content_block_delta"]
    assert [json.loads(d["partial_json"]) for d in deltas] == [
        {"q": 'caf\u00e9 "x"'},
        {"raw_arguments": "{not json"},
    ]


def test_pings_before_the_first_chunk_start_the_message_once() -> None:
    raw = encode([ChatChunk(text="x"), ChatChunk(done=True)], pings=3)
    names = [name for name, _ in events(raw)]
    assert names[:4] == ["message_start", "ping", "ping", "ping"]
    assert names.count("message_start") == 1
    assert replay(raw).pings == 3


def test_start_is_sent_once_whatever_asks_for_it() -> None:
    encoder = an.StreamEncoder(model="m", id="msg_1")
    first = encoder.start()
    assert [n for n, _ in events(first)] == ["message_start"]
    assert encoder.start() == b""
    assert [n for n, _ in events(encoder.ping())] == ["ping"]


def test_a_stream_with_no_output_still_has_a_content_block() -> None:
    # Claude Code falls back to a second, unstreamed request when content_block_start
    # never comes (docs/records/agent-clients.md).
    replayed = replay(encode([ChatChunk(done=True, finish_reason="stop")]))
    assert replayed.message is not None and replayed.message["content"] == [
        {"type": "text", "text": ""}
    ]
    assert replay(encode([])).message["content"] == [{"type": "text", "text": ""}]  # type: ignore[index]


def test_end_is_idempotent_and_nothing_follows_message_stop() -> None:
    encoder = an.StreamEncoder(model="m", id="msg_1")
    out = encoder.chunk(ChatChunk(text="a")) + encoder.chunk(
        ChatChunk(done=True, finish_reason="length")
    )
    assert out.endswith(b'event: message_stop\ndata: {"type":"message_stop"}\n\n')
    assert encoder.end() == b"" and encoder.end() == b""
    assert encoder.chunk(ChatChunk(text="late")) == b""
    assert replay(out).message["stop_reason"] == "max_tokens"  # type: ignore[index]


def test_a_failure_after_the_start_is_an_error_event() -> None:
    encoder = an.StreamEncoder(model="m", id="msg_1")
    out = encoder.chunk(ChatChunk(text="partial"))
    out += encoder.error(ServerError("the service went away"))
    replayed = replay(out)
    assert replayed.error == {"type": "api_error", "message": "the service went away"}
    assert not replayed.stopped
    assert encoder.end() == b""


def test_interleaved_thinking_opens_a_new_block() -> None:
    replayed = replay(
        encode(
            [
                ChatChunk(text="a"),
                ChatChunk(thinking="b"),
                ChatChunk(text="c"),
                ChatChunk(done=True),
            ]
        )
    )
    assert replayed.message is not None
    assert [b["type"] for b in replayed.message["content"]] == ["text", "thinking", "text"]


# ---------------------------------------------------------------------------- property


_ids = st.sampled_from([None, None, "call_1", "call_2", "dup", "dup"])
_args = st.dictionaries(
    st.text(max_size=5),
    st.one_of(st.integers(), st.text(max_size=8), st.booleans(), st.none()),
    max_size=3,
)
_calls = st.builds(
    lambda name, args, call_id, raw: ToolCall(
        name, {} if raw is not None else args, id=call_id, raw_arguments=raw
    ),
    st.text(min_size=1, max_size=6),
    _args,
    _ids,
    st.one_of(st.none(), st.none(), st.text(max_size=8)),
)
_chunks = st.builds(
    ChatChunk,
    text=st.one_of(st.just(""), st.text(max_size=6)),
    thinking=st.one_of(st.just(""), st.just(""), st.text(max_size=6)),
    tool_calls=st.lists(_calls, max_size=2).map(tuple),
)
_finals = st.builds(
    lambda reason, usage, calls: ChatChunk(
        finish_reason=reason, usage=usage, done=True, tool_calls=tuple(calls)
    ),
    st.sampled_from([None, "stop", "length", "tool_calls", "content_filter"]),
    st.one_of(st.none(), st.builds(Usage, st.integers(0, 10**6), st.integers(0, 10**6))),
    st.lists(_calls, max_size=1),
)

RANK = {"thinking": 0, "text": 1, "tool_use": 2}


def accumulated(chunks: Sequence[ChatChunk]) -> Any:
    """The reply the client builds from the same chunks (its own accumulator)."""
    acc = ChatAccumulator(CTX, "m")
    for chunk in chunks:
        acc.add(chunk)
        if chunk.done:
            acc.finish_reason, acc.usage = chunk.finish_reason, chunk.usage
    return acc.response()


def kinds(chunks: Sequence[ChatChunk]) -> list[str]:
    out = []
    for chunk in chunks:
        out += ["thinking"] * bool(chunk.thinking) + ["text"] * bool(chunk.text)
        out += ["tool_use"] * len(chunk.tool_calls)
    return out


def check_same_as_unstreamed(chunks: Sequence[ChatChunk], replayed: Replayed) -> None:
    """The streamed blocks are the unstreamed body's: the same content always, and the
    very same blocks when the chunks come in the usual order (thinking, text, tools)."""
    assert replayed.message is not None and replayed.stopped
    body = an.message_body(accumulated(chunks), model="m", id="msg_test")
    streamed = replayed.message["content"]
    assert merged(streamed) == merged(body["content"])
    for block in streamed:  # each thinking block signed for its own text
        if block["type"] == "thinking":
            assert block["signature"] == an.thinking_signature(block["thinking"])
    given_ids = {c.id for chunk in chunks for c in chunk.tool_calls if c.id}
    got = [b["id"] for b in streamed if b["type"] == "tool_use"]
    assert len(set(got)) == len(got), "tool_use ids must be unique"
    order = kinds(chunks)
    if order == sorted(order, key=RANK.__getitem__):
        assert without_fresh_ids(streamed, given_ids) == without_fresh_ids(
            body["content"], given_ids
        )
    for key in ("stop_reason", "stop_sequence", "usage", "model", "id"):
        assert replayed.message[key] == body[key], key


@settings(
    max_examples=300,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(st.lists(_chunks, max_size=6), _finals, st.integers(0, 2))
def test_any_chunks_stream_in_grammar_and_equal_the_unstreamed_message(
    chunks: list[ChatChunk], final: ChatChunk, pings: int
) -> None:
    sequence = [*chunks, final]
    check_same_as_unstreamed(sequence, replay(encode(sequence, pings=pings)))


@settings(max_examples=100, deadline=None, database=None, derandomize=True)
@given(st.lists(_chunks, max_size=6))
def test_a_stream_that_ended_without_a_done_chunk_is_closed_by_end(chunks: list[ChatChunk]) -> None:
    replayed = replay(encode(chunks))
    assert replayed.stopped and replayed.message is not None
    assert merged(replayed.message["content"])[:2] == (
        "".join(c.thinking for c in chunks),
        "".join(c.text for c in chunks),
    )


# ---------------------------------------------------------------------------- recorded upstreams


def _sse(*events: Any) -> bytes:
    return (
        b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events) + b"data: [DONE]\n\n"
    )


def _delta(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-9",
        "object": "chat.completion.chunk",
        "created": 1738343241,
        "model": "deepseek-r1-distill-llama-8b",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }


# LM Studio 0.3.9's reasoning_content events, recorded (tests/fixtures/lmstudio/), then
# text, then tool calls in the shape LM Studio and llama.cpp stream them: two calls in
# one event (the second without an id), arguments cut inside a \u escape and inside an
# escaped quote, a third call without an id, the finish event and the usage event.
REASONING = (FIXTURES / "lmstudio/v1_chat_stream_reasoning_content_0_3_9.jsonl").read_bytes()
OPENAI_STREAM = b"".join(b"data: " + line + b"\n\n" for line in REASONING.splitlines()) + _sse(
    _delta({"content": "Let me "}),
    _delta({"content": "check."}),
    _delta(
        {
            "tool_calls": [
                {
                    "index": 0,
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "search", "arguments": ""},
                },
                {
                    "index": 1,
                    "type": "function",
                    "function": {"name": "get_time", "arguments": '{"tz":"CET"}'},
                },
            ]
        }
    ),
    _delta({"tool_calls": [{"index": 0, "function": {"arguments": '{"q": "caf\\u00'}}]}),
    _delta({"tool_calls": [{"index": 0, "function": {"arguments": "e9 \\"}}]}),
    _delta({"tool_calls": [{"index": 0, "function": {"arguments": '"x\\""}'}}]}),
    _delta({"tool_calls": [{"index": 2, "function": {"name": "noid", "arguments": '{"a": 1}'}}]}),
    _delta({}, "tool_calls"),
    {
        "id": "chatcmpl-9",
        "object": "chat.completion.chunk",
        "choices": [],
        "usage": {"prompt_tokens": 9, "completion_tokens": 7, "total_tokens": 16},
    },
)
OPENAI_BLOCKS = [
    {"type": "thinking", "thinking": "le? An", "signature": an.thinking_signature("le? An")},
    {"type": "text", "text": "Let me check."},
    {"type": "tool_use", "id": "call_1", "name": "search", "input": {"q": 'caf\u00e9 "x"'}},
    {"type": "tool_use", "id": "<fresh>", "name": "get_time", "input": {"tz": "CET"}},
    {"type": "tool_use", "id": "<fresh>", "name": "noid", "input": {"a": 1}},
]


def _ollama(message: dict[str, Any]) -> dict[str, Any]:
    return {
        "model": "qwen3",
        "created_at": "2025-07-07T20:22:19.1Z",
        "message": message,
        "done": False,
    }


def _lines(*objects: Any) -> bytes:
    return b"".join(json.dumps(o).encode() + b"\n" for o in objects)


# Ollama: thinking and content deltas, two calls in one line without ids (servers before
# v0.12.10), the documented tool-call line and the documented final line, verbatim.
OLLAMA_STREAM = (
    _lines(
        _ollama({"role": "assistant", "content": "", "thinking": "Two cities, "}),
        _ollama({"role": "assistant", "content": "", "thinking": "one call each."}),
        _ollama({"role": "assistant", "content": "On it"}),
        _ollama(
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [
                    {"function": {"name": "get_weather", "arguments": {"city": "Paris"}}},
                    {"function": {"name": "get_weather", "arguments": {"city": 'Ro\u0301me "x"'}}},
                ],
            }
        ),
    )
    + json.dumps(
        json.loads((FIXTURES / "ollama/chat_tools_stream_chunk.json").read_text())
    ).encode()
    + b"\n"
    + json.dumps(
        json.loads((FIXTURES / "ollama/chat_tools_stream_final.json").read_text())
    ).encode()
    + b"\n"
)
OLLAMA_BLOCKS = [
    {
        "type": "thinking",
        "thinking": "Two cities, one call each.",
        "signature": an.thinking_signature("Two cities, one call each."),
    },
    {"type": "text", "text": "On it"},
    {"type": "tool_use", "id": "<fresh>", "name": "get_weather", "input": {"city": "Paris"}},
    {
        "type": "tool_use",
        "id": "<fresh>",
        "name": "get_weather",
        "input": {"city": 'Ro\u0301me "x"'},
    },
    {"type": "tool_use", "id": "<fresh>", "name": "get_weather", "input": {"city": "Tokyo"}},
]


def _decoder(kind: str) -> ChatStreamDecoder:
    if kind == "openai":
        return openai_chat.OpenAIChatStream(CTX, "m")
    return ollama_native.OllamaChatStream(CTX, "m")


def through(kind: str, pieces: list[bytes]) -> tuple[bytes, list[ChatChunk]]:
    """The pieces through the real decoder, each chunk straight into the encoder."""
    decoder = _decoder(kind)
    encoder = an.StreamEncoder(model="m", id="msg_test")
    out, chunks = b"", []
    for piece in pieces:
        for chunk in decoder.feed(piece):
            chunks.append(chunk)
            out += encoder.chunk(chunk)
    for chunk in decoder.finish():
        chunks.append(chunk)
        out += encoder.chunk(chunk)
    assert decoder.error is None, decoder.error
    return out + encoder.end(), chunks


def cuts(raw: bytes) -> list[list[bytes]]:
    """The stream whole, byte by byte, and cut in two at every position."""
    return [
        [raw],
        [raw[i : i + 1] for i in range(len(raw))],
        *([raw[:k], raw[k:]] for k in range(1, len(raw))),
    ]


@pytest.mark.parametrize(
    ("kind", "raw", "blocks", "stop", "usage"),
    [
        (
            "openai",
            OPENAI_STREAM,
            OPENAI_BLOCKS,
            "tool_use",
            {"input_tokens": 9, "output_tokens": 7},
        ),
        (
            "ollama",
            OLLAMA_STREAM,
            OLLAMA_BLOCKS,
            "tool_use",
            {"input_tokens": 169, "output_tokens": 15},
        ),
    ],
)
def test_recorded_upstream_streams_cut_at_every_byte(
    kind: str, raw: bytes, blocks: list[dict[str, Any]], stop: str, usage: dict[str, int]
) -> None:
    for pieces in cuts(raw):
        encoded, chunks = through(kind, pieces)
        replayed = replay(encoded)
        assert replayed.message is not None and replayed.stopped, pieces
        assert without_fresh_ids(replayed.message["content"], {"call_1"}) == blocks, pieces
        assert replayed.message["stop_reason"] == stop
        assert {k: replayed.message["usage"][k] for k in usage} == usage
        check_same_as_unstreamed(chunks, replayed)


def test_a_stop_sequence_the_server_names_ends_the_stream_as_stop_sequence() -> None:
    """vLLM names the stop string that ended a stream; the client carries it on the last
    chunk, and the message_delta says stop_sequence with the string."""
    raw = encode(
        [ChatChunk(text="x"), ChatChunk(done=True, finish_reason="stop", stop_sequence="END")]
    )
    (delta,) = [data for name, data in events(raw) if name == "message_delta"]
    assert delta["delta"] == {"stop_reason": "stop_sequence", "stop_sequence": "END"}


def test_a_stream_cut_by_length_is_max_tokens_whatever_it_names() -> None:
    raw = encode([ChatChunk(done=True, finish_reason="length", stop_sequence="END")])
    (delta,) = [data for name, data in events(raw) if name == "message_delta"]
    assert delta["delta"] == {"stop_reason": "max_tokens", "stop_sequence": None}

"""Recorded OpenAI-style and Ollama-style upstream streams, cut at every byte
boundary, through modelport's real stream decoders and then the Responses encoder:
whatever the cut, the events follow the grammar, the final response is what the
deltas said, and it equals the unstreamed body of the same reply. Then the same
invariants for any sequence of chunks (hypothesis)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelport import ChatChunk, ChatResponse, StreamError, ToolCall, Usage
from modelport._http.mapping import ErrorContext
from modelport._wire import ollama_native, openai_chat
from modelport.errors import ModelportError
from modelport.gateway import _responses as rs
from tests.conftest import fixture_bytes

from .responses_helpers import check_grammar, counter, sse_events
from .test_toolcall_streams import OLLAMA_STREAM, OPENAI_STREAM, _delta, cuts

CTX = ErrorContext(service="srv", base_url="http://127.0.0.1:8080", server="the server")
LLAMACPP = openai_chat.OpenAIDialect(split_think=True, think_as_template_kwarg=True)
CREATED = 1_796_289_285
TOOLS = [
    {"type": "function", "name": name, "parameters": {"type": "object"}}
    for name in ("get_weather", "get_time", "broken", "noid")
]
CALL = rs.parse_request({"model": "m", "input": "hi", "stream": True, "tools": TOOLS})


def _sse(lines: list[bytes]) -> bytes:
    return b"".join(b"data: " + line.strip() + b"\n\n" for line in lines if line.strip())


def _ndjson(*objects: Any) -> bytes:
    return b"".join(json.dumps(o).encode() + b"\n" for o in objects)


def _lines(name: str) -> list[bytes]:
    return fixture_bytes(name).splitlines()


def _json(name: str) -> Any:
    return json.loads(fixture_bytes(name))


# LM Studio's recorded reasoning_content deltas, then its recorded content and finish.
OPENAI_THINKING = _sse(
    _lines("lmstudio/v1_chat_stream_reasoning_content_0_3_9.jsonl")
    + _lines("lmstudio/v1_chat_stream_observed_0_3_x.jsonl")
)
# Thinking, text and tools in one stream, with llama.cpp's <think> tags split across
# events (documented shapes, as the tool-call streams of test_toolcall_streams).
OPENAI_EVERYTHING = (
    b"".join(
        b"data: " + json.dumps(event).encode() + b"\n\n"
        for event in (
            {"choices": [{"index": 0, "delta": {"content": "<thi"}, "finish_reason": None}]},
            {
                "choices": [
                    {"index": 0, "delta": {"content": "nk>Paris, then"}, "finish_reason": None}
                ]
            },
            {
                "choices": [
                    {"index": 0, "delta": {"content": " Rome.</think>On it"}, "finish_reason": None}
                ]
            },
            {
                "choices": [
                    {"index": 0, "delta": {"content": " \u00e9\u00e9."}, "finish_reason": None}
                ]
            },
            _delta(
                [
                    {
                        "index": 0,
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"Par'},
                    }
                ]
            ),
            _delta([{"index": 0, "function": {"arguments": 'is \\"FR\\""}'}}]),
            _delta(finish="tool_calls"),
            {
                "choices": [],
                "usage": {"prompt_tokens": 9, "completion_tokens": 7, "total_tokens": 16},
            },
        )
    )
    + b"data: [DONE]\n\n"
)
OLLAMA_TEXT = _ndjson(
    _json("ollama/chat_stream_chunk.json"), _json("ollama/chat_stream_final.json")
)
OLLAMA_TOOLS = _ndjson(
    _json("ollama/chat_tools_stream_chunk.json"), _json("ollama/chat_tools_stream_final.json")
)
# A recorded mid-stream error line after recorded output.
OLLAMA_ERROR = _ndjson(
    _json("ollama/chat_stream_chunk.json"),
    json.loads(fixture_bytes("ollama/error_midstream.ndjson").splitlines()[-1]),
)
# llama.cpp's router, its model unloaded mid-stream: the connection ends with a proxy error.
ROUTER_CUT = fixture_bytes("llamacpp/router/chat_stream_cut_by_unload.sse")

STREAMS = {
    "openai-thinking": ("openai", OPENAI_THINKING, openai_chat.DEFAULT_DIALECT),
    "openai-everything": ("openai", OPENAI_EVERYTHING, LLAMACPP),
    "openai-tools": ("openai", OPENAI_STREAM, openai_chat.DEFAULT_DIALECT),
    "ollama-text": ("ollama", OLLAMA_TEXT, None),
    "ollama-tools": ("ollama", OLLAMA_TOOLS, None),
    "ollama-tool-ids": ("ollama", OLLAMA_STREAM, None),
    "ollama-error": ("ollama", OLLAMA_ERROR, None),
}


def decode(
    kind: str, pieces: list[bytes], dialect: Any
) -> tuple[list[ChatChunk], ChatResponse, ModelportError | None]:
    """What the client hands the gateway for a stream that arrived in these pieces."""
    decoder: Any = (
        openai_chat.OpenAIChatStream(CTX, "m", dialect)
        if kind == "openai"
        else ollama_native.OllamaChatStream(CTX, "m")
    )
    chunks: list[ChatChunk] = []
    for piece in pieces:
        chunks.extend(decoder.feed(piece))
        if decoder.error is not None:
            break
    else:
        chunks.extend(decoder.finish())
    return chunks, decoder.response(), decoder.error


def relay(chunks: list[ChatChunk], error: ModelportError | None) -> tuple[bytes, rs.EventEncoder]:
    """What the surface's handler writes: the events of each chunk, then the end."""
    enc = rs.EventEncoder(
        CALL, id="resp_1", created_at=CREATED, ids=counter(), clock=lambda: CREATED
    )
    out = enc.start() + b"".join(enc.chunk(chunk) for chunk in chunks)
    out += enc.fail(rs.failure_for(error)) if error is not None else enc.end()
    return out, enc


def unstreamed(reply: ChatResponse) -> dict[str, Any]:
    return rs.response_body(
        reply, CALL, id="resp_1", created_at=CREATED, completed_at=CREATED, ids=counter()
    )


def outcome(kind: str, raw: bytes, dialect: Any, pieces: list[bytes]) -> dict[str, Any]:
    chunks, reply, error = decode(kind, pieces, dialect)
    out, enc = relay(chunks, error)
    final = check_grammar(sse_events(out))
    assert enc.response == final
    texts = [p["text"] for i in final["output"] if i["type"] == "message" for p in i["content"]]
    if error is None:
        assert final == unstreamed(reply)  # the stream gives what the plain body gives
        assert "".join(texts) == reply.text
    else:
        assert final["status"] == "failed" and isinstance(error, StreamError)
        assert "".join(texts) == error.partial  # nothing received is lost
    return final


@pytest.mark.parametrize("name", sorted(STREAMS))
def test_a_recorded_stream_gives_the_same_response_however_it_is_cut(name: str) -> None:
    kind, raw, dialect = STREAMS[name]
    whole = outcome(kind, raw, dialect, [raw])
    for pieces in cuts(raw):
        assert outcome(kind, raw, dialect, pieces) == whole, pieces


def _some_cuts(raw: bytes) -> Iterator[list[bytes]]:
    yield [raw[i : i + 1] for i in range(len(raw))]
    for k in range(1, len(raw), 97):
        yield [raw[:k], raw[k:]]


def test_llama_cpp_routers_stream_cut_by_an_unload_fails_with_its_partial_text() -> None:
    whole = outcome("openai", ROUTER_CUT, LLAMACPP, [ROUTER_CUT])
    assert whole["status"] == "failed"
    assert whole["output"][0]["content"][0]["text"].startswith("In the end,")
    for pieces in _some_cuts(ROUTER_CUT):
        assert outcome("openai", ROUTER_CUT, LLAMACPP, pieces) == whole


def test_what_each_recorded_stream_becomes() -> None:
    shapes = {
        name: [
            (item["type"], item.get("name"))
            for item in outcome(kind, raw, dialect, [raw])["output"]
        ]
        for name, (kind, raw, dialect) in STREAMS.items()
    }
    assert shapes == {
        "openai-thinking": [("reasoning", None), ("message", None)],
        "openai-everything": [
            ("reasoning", None),
            ("message", None),
            ("function_call", "get_weather"),
        ],
        "openai-tools": [
            ("function_call", n) for n in ("get_weather", "get_time", "broken", "noid")
        ],
        "ollama-text": [("message", None)],
        "ollama-tools": [("function_call", "get_weather")],
        "ollama-tool-ids": [
            ("function_call", n) for n in ("get_weather", "get_time", "get_weather", "broken")
        ],
        "ollama-error": [("message", None)],
    }
    everything = outcome("openai", OPENAI_EVERYTHING, LLAMACPP, [OPENAI_EVERYTHING])
    assert everything["output"][0]["content"][0]["text"] == "Paris, then Rome."
    assert everything["output"][2]["arguments"] == '{"city": "Paris \\"FR\\""}'
    ids = outcome("ollama", OLLAMA_STREAM, None, [OLLAMA_STREAM])["output"]
    assert len({item["call_id"] for item in ids}) == 4


# ---------------------------------------------------------------------------- any chunks


CALLS = st.builds(
    ToolCall,
    name=st.sampled_from(["get_weather", "get_time", "broken"]),
    arguments=st.dictionaries(st.sampled_from(["a", "b"]), st.integers(), max_size=2),
    id=st.sampled_from([None, "call_1", "call_2"]),
)
CHUNKS = st.lists(
    st.builds(
        ChatChunk,
        text=st.text(max_size=6),
        thinking=st.sampled_from(["", "", "hm", "so"]),
        tool_calls=st.lists(CALLS, max_size=2).map(tuple),
    ),
    max_size=8,
)
ENDINGS = st.sampled_from(["stop", "length", "tool_calls", None, "end", "fail"])
USAGES = st.none() | st.builds(Usage, st.integers(0, 99), st.integers(0, 99))


def _phase(chunk: ChatChunk) -> list[int]:
    return [
        p for p, present in enumerate((chunk.thinking, chunk.text, chunk.tool_calls)) if present
    ]


@settings(max_examples=400, deadline=None)
@given(CHUNKS, ENDINGS, USAGES)
def test_any_chunks_keep_the_grammar_and_lose_nothing(
    chunks: list[ChatChunk], ending: str | None, usage: Usage | None
) -> None:
    enc = rs.EventEncoder(
        CALL, id="resp_1", created_at=CREATED, ids=counter(), clock=lambda: CREATED
    )
    out = b"".join(enc.chunk(chunk) for chunk in chunks)
    if ending == "end":
        out += enc.end()
    elif ending == "fail":
        out += enc.fail(rs.failure_for(StreamError("broke")))
    else:
        out += enc.chunk(ChatChunk(finish_reason=ending, usage=usage, done=True))
    out += enc.end() + enc.fail(rs.failure_for(StreamError("late")))  # both no-ops now
    final = check_grammar(sse_events(out))
    items = final["output"]
    text = "".join(p["text"] for i in items if i["type"] == "message" for p in i["content"])
    thinking = "".join(p["text"] for i in items if i["type"] == "reasoning" for p in i["content"])
    calls = [c for chunk in chunks for c in chunk.tool_calls]
    assert text == "".join(c.text for c in chunks)
    assert thinking == "".join(c.thinking for c in chunks)
    assert [i["name"] for i in items if i["type"] == "function_call"] == [c.name for c in calls]
    call_ids = [i["call_id"] for i in items if i["type"] == "function_call"]
    assert len(set(call_ids)) == len(call_ids)
    phases = [p for chunk in chunks for p in _phase(chunk)]
    if ending not in ("end", "fail") and phases == sorted(phases):
        reply = ChatResponse(
            text=text,
            model="m",
            thinking=thinking or None,
            tool_calls=tuple(calls),
            finish_reason=ending,
            usage=usage,
        )
        assert final == unstreamed(reply)

"""An SSE chat stream decodes the same however the network cuts it.

Servers send one event per network chunk; tests often hand the decoder a whole body;
a slow link can cut anywhere. The chunks, the final response and any error must be
identical in every case.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from modelport._http.mapping import ErrorContext
from modelport._wire import openai_chat as wire
from modelport.errors import ModelportError
from tests.conftest import fixture_bytes

CTX = ErrorContext(service="srv", base_url="http://127.0.0.1:8080", server="llama.cpp server")
LLAMACPP = wire.OpenAIDialect(split_think=True, think_as_template_kwarg=True)


def event(data: Any) -> bytes:
    return b"data: " + json.dumps(data, separators=(",", ":")).encode() + b"\n\n"


def delta(content: str | None = None, finish: str | None = None, **extra: Any) -> dict:
    d: dict[str, Any] = dict(extra)
    if content is not None:
        d["content"] = content
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "model": "smollm2",
        "choices": [{"index": 0, "delta": d, "logprobs": None, "finish_reason": finish}],
    }


def per_event(raw: bytes) -> list[bytes]:
    """One piece per event, cut after each blank line, as servers send them."""
    return [piece for piece in re.split(rb"(?<=\n\n)|(?<=\r\n\r\n)", raw) if piece]


def run(raw_pieces: list[bytes], dialect: wire.OpenAIDialect) -> tuple[Any, ...]:
    decoder = wire.OpenAIChatStream(CTX, "smollm2", dialect)
    chunks = []
    for piece in raw_pieces:
        chunks.extend(decoder.feed(piece))
        if decoder.error is not None:
            break
    else:
        chunks.extend(decoder.finish())
    error = decoder.error
    if error is None:
        return tuple(chunks), decoder.response(), None
    return tuple(chunks), None, _describe(error)


def _describe(error: ModelportError) -> tuple[Any, ...]:
    return type(error), str(error), getattr(error, "partial", None), error.status_code


def in_pairs(pieces: list[bytes], offset: int) -> list[bytes]:
    """Two events per network chunk (a server that flushes late), starting at offset."""
    head, rest = pieces[:offset], pieces[offset:]
    return head + [b"".join(rest[i : i + 2]) for i in range(0, len(rest), 2)]


def same_every_way(raw: bytes, dialect: wire.OpenAIDialect = wire.DEFAULT_DIALECT) -> Any:
    whole = run([raw], dialect)
    events = per_event(raw)
    assert run(events, dialect) == whole
    assert run(in_pairs(events, 0), dialect) == whole
    assert run(in_pairs(events, 1), dialect) == whole
    assert run([raw[i : i + 1] for i in range(len(raw))], dialect) == whole
    assert run([raw[i : i + 7] for i in range(0, len(raw), 7)], dialect) == whole
    return whole


def test_a_plain_text_stream_is_the_same_however_it_is_cut() -> None:
    raw = b"".join(event(delta(w)) for w in ["The", " sky", " is", " blue."])
    raw += event(delta(finish="stop"))
    raw += event(
        {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}}
    )
    raw += b"data: [DONE]\n\n"
    chunks, response, error = same_every_way(raw)
    assert error is None
    assert [c.text for c in chunks] == ["The", " sky", " is", " blue.", ""]
    assert response.text == "The sky is blue."
    assert response.usage.total_tokens == 7


def test_an_observed_lmstudio_stream_is_the_same_however_it_is_cut() -> None:
    lines = fixture_bytes("lmstudio/v1_chat_stream_observed_0_3_x.jsonl").decode().splitlines()
    payloads = [json.loads(line) for line in lines if line.strip() and line.strip() != "[DONE]"]
    raw = b"".join(event(p) for p in payloads) + b"data: [DONE]\n\n"
    _, response, error = same_every_way(raw)
    assert error is None and response.text


def test_think_tags_and_timings_from_llamacpp_are_the_same_however_cut() -> None:
    pieces = ["<thi", "nk>plan", " more</th", "ink>\n\nAns", "wer"]
    raw = b"".join(event(delta(p)) for p in pieces)
    final = delta(finish="stop")
    final["timings"] = {"predicted_per_second": 110.5, "prompt_ms": 12.0, "predicted_ms": 80.0}
    raw += event(final) + b"data: [DONE]\n\n"
    _, response, error = same_every_way(raw, LLAMACPP)
    assert error is None
    assert (response.text, response.thinking) == ("Answer", "plan more")
    assert response.timings.tokens_per_second == 110.5


def test_tool_call_fragments_are_the_same_however_cut() -> None:
    call = {"index": 0, "id": "c1", "type": "function", "function": {"name": "f", "arguments": ""}}
    raw = event(delta(tool_calls=[call]))
    for part in ['{"', "city", '":"', 'Paris"}']:
        raw += event(delta(tool_calls=[{"index": 0, "function": {"arguments": part}}]))
    raw += event(delta(finish="tool_calls")) + b"data: [DONE]\n\n"
    _, response, error = same_every_way(raw)
    assert error is None
    assert response.tool_calls[0].arguments == {"city": "Paris"}


def test_an_error_event_after_text_is_the_same_however_cut() -> None:
    raw = event(delta("Hello ")) + event(delta("wor"))
    raw += event({"error": {"message": "the model crashed", "type": "server_error"}})
    chunks, _, error = same_every_way(raw)
    assert [c.text for c in chunks] == ["Hello ", "wor"]
    assert error is not None and error[2] == "Hello wor"


def test_an_error_event_first_is_the_same_however_cut() -> None:
    raw = event({"error": {"message": "the request exceeds the available context size"}})
    chunks, _, error = same_every_way(raw)
    assert chunks == () and error is not None


@pytest.mark.parametrize(
    "bad",
    [
        b"data: {nope}\n\n",
        b"data: [1, 2]\n\n",
        b'data: {"choices": [{"delta": {"content": 5}}]}\n\n',
        b'data: "caf\xff"\n\n',
        b'data: {"choices": [{"delta": {"content": "caf\xff"}}]}\n\n',
    ],
)
def test_a_bad_event_after_text_fails_the_same_however_cut(bad: bytes) -> None:
    raw = event(delta("Hello")) + bad + event(delta(" more"))
    chunks, _, error = same_every_way(raw)
    assert [c.text for c in chunks] == ["Hello"]
    assert error is not None


def test_other_sse_framing_is_the_same_however_cut() -> None:
    raw = b": keep-alive comment\n\n"
    raw += b'data: {"choices":[{"index":0,"delta":{"content":"a"}}]}\r\n\r\n'
    raw += b'event: message\ndata: {"choices":[{"index":0,"delta":{"content":"b"}}]}\n\n'
    raw += b'id: 7\ndata: {"choices":[{"index":0,\ndata: "delta":{"content":"c"}}]}\n\n'
    raw += b'data:{"choices":[{"index":0,"delta":{"content":"d"}}]}\n\n'
    raw += b'data: {"choices":[{"index":0,"delta":{"content":"e"}}]}\n\n\n\n'
    raw += event(delta(finish="stop")) + b"data: [DONE]\n\n"
    raw += event(delta("ignored after DONE"))
    _, response, error = same_every_way(raw)
    assert error is None
    assert response.text == "abcde"


def test_an_event_named_error_is_the_same_however_cut() -> None:
    raw = event(delta("Hi")) + b'event: error\ndata: {"message": "overloaded"}\n\n'
    chunks, _, error = same_every_way(raw)
    assert [c.text for c in chunks] == ["Hi"] and error is not None

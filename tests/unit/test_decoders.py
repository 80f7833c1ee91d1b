"""The pure stream decoders: any chunking gives the same result, and lines are bounded."""

from __future__ import annotations

import json

import pytest

from modelport._http.decoders import (
    LineDecoder,
    LineTooLongError,
    MalformedLineError,
    NDJSONDecoder,
    SSEDecoder,
    SSEEvent,
)

SSE_BODY = (
    'data: {"choices":[{"delta":{"content":"caf\u00e9 \u2615"}}]}\n\n'
    ": keep-alive comment\n\n"
    "event: message\r\n"
    'data: {"x": 1}\r\n'
    "\r\n"
    "data: line one\n"
    "data: line two\n\n"
    "data: [DONE]\n\n"
).encode()

NDJSON_BODY = (
    '{"message":{"content":"h\u00e9llo"},"done":false}\n'
    "\n"
    '{"message":{"content":"\U0001f600"},"done":false}\r\n'
    '{"done":true,"eval_count":2}\n'
).encode()


def _feed_split(decoder, body: bytes, cuts: list[int]) -> list:
    items = []
    start = 0
    for cut in [*cuts, len(body)]:
        items.extend(decoder.feed(body[start:cut]))
        start = cut
    items.extend(decoder.finish())
    return items


def test_sse_decoder_gives_the_same_events_for_every_single_split_point() -> None:
    expected = _feed_split(SSEDecoder(), SSE_BODY, [])
    assert [e.data for e in expected] == [
        '{"choices":[{"delta":{"content":"caf\u00e9 \u2615"}}]}',
        '{"x": 1}',
        "line one\nline two",
        "[DONE]",
    ]
    assert expected[1].event == "message"
    for cut in range(1, len(SSE_BODY)):
        assert _feed_split(SSEDecoder(), SSE_BODY, [cut]) == expected, cut


def test_sse_decoder_handles_byte_by_byte_delivery_inside_utf8_and_data_prefix() -> None:
    expected = _feed_split(SSEDecoder(), SSE_BODY, [])
    one_by_one = _feed_split(SSEDecoder(), SSE_BODY, list(range(1, len(SSE_BODY))))
    assert one_by_one == expected


def test_ndjson_decoder_gives_the_same_objects_for_every_split_point() -> None:
    expected = _feed_split(NDJSONDecoder(), NDJSON_BODY, [])
    assert expected == [
        {"message": {"content": "h\u00e9llo"}, "done": False},
        {"message": {"content": "\U0001f600"}, "done": False},
        {"done": True, "eval_count": 2},
    ]
    for cut in range(1, len(NDJSON_BODY)):
        assert _feed_split(NDJSONDecoder(), NDJSON_BODY, [cut]) == expected, cut
    for a in range(1, len(NDJSON_BODY), 7):
        for b in range(a + 1, len(NDJSON_BODY), 5):
            assert _feed_split(NDJSONDecoder(), NDJSON_BODY, [a, b]) == expected


def test_ndjson_decoder_delivers_a_final_line_without_newline() -> None:
    decoder = NDJSONDecoder()
    assert decoder.feed(b'{"done": true}') == []
    assert decoder.finish() == [{"done": True}]


def test_sse_decoder_delivers_a_final_event_without_blank_line() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: [DONE]") == []
    assert decoder.finish() == [SSEEvent("[DONE]")]


def test_sse_decoder_ignores_retry_id_with_nul_and_unknown_fields() -> None:
    events = SSEDecoder().feed(b"retry: 100\nfoo: bar\nid: a\0b\nid: 7\ndata:x\n\n")
    assert events == [SSEEvent("x", None, "7")]


def test_line_decoder_refuses_a_line_longer_than_the_bound() -> None:
    decoder = LineDecoder(max_line_bytes=16)
    decoder.feed(b"0123456789")
    with pytest.raises(LineTooLongError):
        decoder.feed(b"0123456789")


def test_line_decoder_refuses_a_long_complete_line_in_one_chunk() -> None:
    with pytest.raises(LineTooLongError):
        LineDecoder(max_line_bytes=8).feed(b"0123456789abcdef\nok\n")


def test_line_decoder_bound_keeps_memory_flat_for_an_endless_line() -> None:
    decoder = LineDecoder(max_line_bytes=1024)
    with pytest.raises(LineTooLongError):
        for _ in range(10_000):
            decoder.feed(b"x" * 100)
    assert decoder._size == 0  # the buffer was dropped, not kept growing
    assert decoder._parts == []


def test_ndjson_decoder_reports_invalid_json_with_the_line() -> None:
    decoder = NDJSONDecoder()
    assert decoder.feed(b'{"ok": 1}\n{"broken": \n') == [{"ok": 1}]
    with pytest.raises(MalformedLineError) as caught:
        decoder.finish()
    assert b'{"broken": ' in caught.value.line
    with pytest.raises(MalformedLineError):
        NDJSONDecoder().feed(b'{"broken": \n')


def test_sse_decoder_reports_invalid_utf8() -> None:
    with pytest.raises(MalformedLineError):
        SSEDecoder().feed(b"data: \xff\xfe\n\n")


def test_sse_event_json_parses_and_reports_bad_json() -> None:
    assert SSEEvent('{"a": [1]}').json() == {"a": [1]}
    with pytest.raises(MalformedLineError):
        SSEEvent("{nope").json()


def test_ndjson_decoder_handles_a_large_line_under_the_bound() -> None:
    big = {"context": list(range(200_000))}
    body = json.dumps(big).encode() + b"\n"
    decoder = NDJSONDecoder()
    items = []
    for i in range(0, len(body), 4096):
        items.extend(decoder.feed(body[i : i + 4096]))
    assert items == [big]


def test_ndjson_values_before_a_bad_line_in_the_same_chunk_are_delivered_first() -> None:
    decoder = NDJSONDecoder()
    assert decoder.feed(b'{"a": 1}\n{"b": 2}\n{broken\n{"c": 3}\n') == [{"a": 1}, {"b": 2}]
    with pytest.raises(MalformedLineError):
        decoder.feed(b"")
    with pytest.raises(MalformedLineError):
        decoder.finish()


def test_sse_events_before_a_bad_line_in_the_same_chunk_are_delivered_first() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: one\n\ndata: \xff\n\n") == [SSEEvent("one")]
    with pytest.raises(MalformedLineError):
        decoder.finish()

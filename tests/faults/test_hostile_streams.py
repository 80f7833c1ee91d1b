"""Waits that must end, and streams that must end at their end (issue 11, defects 6
(deadlines) and 7).

Defect 6: a non-streaming call ends within its deadline whatever the server's pace
(default: twice the read timeout; ``deadline=`` per call and on the Client), and a
stream that delivers no content for ``timeout`` seconds times out, however many SSE
comments, blank keep-alives or content-free chunks arrive meanwhile: before the first
chunk as a RequestTimeoutError (so a Client fails over), after it as a StreamError.

Defect 7: after ``data: [DONE]`` or a ``"done": true`` line the client stops reading,
closes the response and returns ``.response``, whatever the server does next (keeps
the connection open, sends garbage), and nothing counts against the service's health.

Hangs are bounded by the ``bounded()`` guard (a few seconds); nothing here asserts how
fast anything is.
"""

from __future__ import annotations

import json

import pytest

from modelport import RequestTimeoutError, ServiceStatus, StreamError

from .conftest import TIMEOUT, Lab
from .hostile import HEALTH_KINDS, health_routes, typed, wait_until
from .kinds import OLLAMA, OPENAI, Kind
from .servers import Script, answer, drip, slow_headers, stream, trickle

pytestmark = pytest.mark.socket

PIECES = ["Hello", ", wor", "ld!"]
TEXT = "".join(PIECES)
GUARD = 6.0
"""The hang guard for a call that must time out after about a second."""


def pieces(kind: Kind) -> list[bytes]:
    return [kind.piece(p) for p in PIECES]


# ------------------------------------------------------------------ defect 6: deadlines


def slowloris(kind: Kind, *, delay: float = 0.1) -> Script:
    """A whole reply, one byte every ``delay`` seconds: each read comes well within the
    read timeout, but the whole would take over half an hour."""
    body = b" " * 20_000 + kind.reply("too slow")
    return trickle([body[i : i + 1] for i in range(len(body))], delay=delay)


def test_a_slowloris_reply_ends_within_the_default_deadline(lab: Lab, kind: Kind) -> None:
    """The read timeout is 0.5 s; bytes come every 0.1 s. The default deadline (twice
    the read timeout) ends the call with a RequestTimeoutError. Before the fix a
    slowloris chat with timeout=2 was still running at 20 s."""
    server = lab.serve({kind.chat_path: slowloris(kind)})
    provider = lab.provider(kind, server.url)
    with pytest.raises(RequestTimeoutError) as caught:
        lab.chat(provider, kind.model, guard=GUARD)
    error = typed(caught.value, RequestTimeoutError, provider)
    assert error.retriable
    assert server.wait_settled()
    lab.assert_no_leak(provider)


def test_a_per_call_deadline_ends_a_slowloris_reply(lab: Lab, kind: Kind) -> None:
    server = lab.serve({kind.chat_path: slowloris(kind)})
    provider = lab.provider(kind, server.url, timeout=5.0)  # the deadline, not the timeout
    with pytest.raises(RequestTimeoutError) as caught:
        lab.chat(provider, kind.model, guard=GUARD, deadline=1.0)
    typed(caught.value, RequestTimeoutError, provider)
    lab.assert_no_leak(provider)


def test_a_client_deadline_ends_a_slowloris_reply(lab: Lab, kind: Kind) -> None:
    server = lab.serve({kind.chat_path: slowloris(kind)})
    provider = lab.provider(kind, server.url, timeout=5.0)
    client = lab.client([provider], deadline=1.0, max_retries=0)
    with pytest.raises(RequestTimeoutError) as caught:
        lab.chat(client, kind.model, guard=GUARD)
    typed(caught.value, RequestTimeoutError, provider)


def test_a_server_that_trickles_its_headers_is_ended_by_the_deadline(lab: Lab, kind: Kind) -> None:
    """The headers come one byte every 0.1 s (each read within the 0.5 s read timeout,
    the whole over three minutes). The deadline bounds the wait for the headers too, in
    the sync client as in the async one: the error says the deadline was passed."""
    server = lab.serve({kind.chat_path: slow_headers(kind.reply("late"), delay=0.1)})
    provider = lab.provider(kind, server.url)
    with pytest.raises(RequestTimeoutError) as caught:
        lab.chat(provider, kind.model, guard=GUARD, deadline=1.0)
    error = typed(caught.value, RequestTimeoutError, provider)
    assert "within 1 s" in error.message
    assert server.wait_settled()
    lab.assert_no_leak(provider)


def test_a_deadline_bounds_each_read_of_a_slow_body_not_only_the_gaps_between_them(
    lab: Lab, kind: Kind
) -> None:
    """A body whose second half comes after a pause shorter than the read timeout but
    past the deadline: the call ends at the deadline with the deadline's error, not a
    read timeout's."""
    body = kind.reply("half and half")
    half = len(body) // 2
    server = lab.serve({kind.chat_path: trickle([body[:half], body[half:]], delay=2.5)})
    provider = lab.provider(kind, server.url, timeout=4.0)
    with pytest.raises(RequestTimeoutError) as caught:
        lab.chat(provider, kind.model, guard=GUARD, deadline=1.0)
    error = typed(caught.value, RequestTimeoutError, provider)
    assert "within 1 s" in error.message
    lab.assert_no_leak(provider)


def test_a_deadline_does_not_cut_a_reply_that_arrives_in_time(lab: Lab, kind: Kind) -> None:
    """A regression guard for the fix: a reply slower than the read timeout in total
    but within the deadline still succeeds."""
    body = kind.reply("slow but in time")
    step = max(1, len(body) // 4)
    parts = [body[i : i + step] for i in range(0, len(body), step)]
    server = lab.serve({kind.chat_path: trickle(parts, delay=0.1)})
    provider = lab.provider(kind, server.url, timeout=5.0)
    reply = lab.chat(provider, kind.model, guard=GUARD, deadline=30.0)
    assert reply.text == "slow but in time"
    lab.assert_no_leak(provider)


def idle_fillers(kind: Kind) -> dict[str, bytes]:
    """What a server can send that keeps the connection busy but carries no content."""
    if kind is OLLAMA:
        empty_line = {
            "model": kind.model,
            "created_at": "2025-07-07T20:22:19.184789Z",
            "message": {"role": "assistant", "content": ""},
            "done": False,
        }
        return {"blank-line": b"\n", "content-free": json.dumps(empty_line).encode() + b"\n"}
    empty_delta = {
        "id": "chatcmpl-fault",
        "object": "chat.completion.chunk",
        "model": kind.model,
        "choices": [{"index": 0, "delta": {}, "finish_reason": None}],
    }
    return {
        "comment": b": ping\n\n",
        "blank-line": b"\n",
        "content-free": kind.frame(json.dumps(empty_delta).encode()),
    }


FILLER_CASES = [(kind, name) for kind in (OPENAI, OLLAMA) for name in idle_fillers(kind)]


@pytest.mark.parametrize(("kind", "filler"), FILLER_CASES, ids=lambda v: str(v))
def test_keep_alives_alone_time_out_before_the_first_chunk(
    lab: Lab, kind: Kind, filler: str
) -> None:
    """Keep-alives every 0.1 s, never content: a RequestTimeoutError after the read
    timeout (0.5 s), not a wait forever (before the fix failover never happened)."""
    server = lab.serve(
        {
            kind.chat_path: drip(
                [], idle_fillers(kind)[filler], delay=0.1, content_type=kind.stream_type
            )
        }
    )
    provider = lab.provider(kind, server.url)
    outcome = lab.stream(provider, kind.model, guard=GUARD)
    assert outcome.chunks == []
    error = typed(outcome.error, RequestTimeoutError, provider)
    assert error.retriable
    lab.assert_no_leak(provider)


@pytest.mark.parametrize(("kind", "filler"), FILLER_CASES, ids=lambda v: str(v))
def test_keep_alives_after_some_text_become_a_stream_error(
    lab: Lab, kind: Kind, filler: str
) -> None:
    server = lab.serve(
        {
            kind.chat_path: drip(
                pieces(kind), idle_fillers(kind)[filler], delay=0.1, content_type=kind.stream_type
            )
        }
    )
    provider = lab.provider(kind, server.url)
    outcome = lab.stream(provider, kind.model, guard=GUARD)
    assert outcome.texts == PIECES
    error = typed(outcome.error, StreamError, provider)
    assert error.partial == TEXT
    lab.assert_no_leak(provider)


def test_a_client_fails_over_from_a_stream_of_comments_to_a_working_service(lab: Lab) -> None:
    kind = OPENAI
    first = lab.serve(
        {
            **health_routes(kind),
            kind.chat_path: drip(
                [], b": ping\n\n", delay=0.1, content_type=kind.stream_type, limit=10.0
            ),
        }
    )
    body = [kind.piece("from "), kind.piece("second"), kind.finish()]
    second = lab.serve(
        {**health_routes(kind), kind.chat_path: stream(body, content_type=kind.stream_type)}
    )
    client = lab.client(
        [
            lab.provider(kind, first.url, name="first"),
            lab.provider(kind, second.url, name="second"),
        ],
        max_retries=0,
    )
    try:
        outcome = lab.stream(client, kind.model, guard=GUARD)  # shorter than the drip limit
    except pytest.fail.Exception:
        # The hang (the defect): end it, and let the call finish on the second service
        # before teardown closes the providers under it.
        first.stop()
        wait_until(lambda: f"POST {kind.chat_path}" in second.paths())
        raise
    assert outcome.error is None, repr(outcome.error)
    assert outcome.text == "from second"
    assert f"POST {kind.chat_path}" in first.paths()


# ------------------------------------------------------------------ defect 7: the end is the end


def test_a_stream_left_open_after_its_end_returns_the_response(lab: Lab, kind: Kind) -> None:
    """After ``[DONE]`` / ``done: true`` the server keeps the connection open and says
    nothing: the stream is complete, so the client closes it and returns normally.
    Before the fix it read on until the read timeout and raised StreamError."""
    body = [*pieces(kind), kind.finish()]
    server = lab.serve({kind.chat_path: stream(body, content_type=kind.stream_type, then="hold")})
    provider = lab.provider(kind, server.url)
    outcome = lab.stream(provider, kind.model)
    assert outcome.error is None, repr(outcome.error)
    assert outcome.texts == PIECES
    assert outcome.response is not None and outcome.response.text == TEXT
    assert server.wait_settled()
    assert server.closed_by_client() == [True]  # the client hung up the finished stream
    lab.assert_no_leak(provider)


GARBAGE = {
    "invalid-utf8-event": b"data: \xff\xfe\n\nevent: error\ndata: {}\n\n\xff\n",
    "error-event": b'data: {"error": {"message": "late failure"}}\n\n{"error": "late"}\n',
    "line-past-the-cap": b"\xff" * (17 * 1024 * 1024),
}


@pytest.mark.parametrize("garbage", list(GARBAGE))
@pytest.mark.parametrize("then", ["end", "hold"])
def test_garbage_after_the_end_of_a_stream_is_ignored(
    lab: Lab, kind: Kind, garbage: str, then: str
) -> None:
    body = [*pieces(kind), kind.finish()]
    server = lab.serve(
        {
            kind.chat_path: stream(
                body,
                content_type=kind.stream_type,
                tail=GARBAGE[garbage],
                then=then,  # type: ignore[arg-type]
            )
        }
    )
    provider = lab.provider(kind, server.url)
    outcome = lab.stream(provider, kind.model)
    assert outcome.error is None, repr(outcome.error)
    assert outcome.texts == PIECES
    assert outcome.response is not None and outcome.response.text == TEXT
    assert server.wait_settled()
    lab.assert_no_leak(provider)


@pytest.mark.parametrize("kind", HEALTH_KINDS, ids=str)
def test_a_finished_stream_left_open_does_not_count_against_health(lab: Lab, kind: Kind) -> None:
    body = [*pieces(kind), kind.finish()]
    server = lab.serve(
        {
            **health_routes(kind),
            kind.chat_path: stream(body, content_type=kind.stream_type, then="hold"),
        }
    )
    provider = lab.provider(kind, server.url)
    client = lab.client([provider], failure_threshold=3)
    [before] = lab.services(client)
    assert before.status is ServiceStatus.AVAILABLE, before
    for _ in range(3):  # as many as it takes to mark a failing service unavailable
        outcome = lab.stream(client, kind.model)
        assert outcome.error is None, repr(outcome.error)
        assert outcome.response is not None and outcome.response.text == TEXT
    [after] = lab.services(client)  # no refresh: the router's view of the service
    assert after.status is ServiceStatus.AVAILABLE, after
    assert after.error is None, after.error


def test_the_read_timeout_still_applies_between_content_chunks(lab: Lab, kind: Kind) -> None:
    """A regression guard: a stream that goes fully silent still times out (the
    existing behaviour the keep-alive rule extends)."""
    server = lab.serve(
        {kind.chat_path: stream(pieces(kind), content_type=kind.stream_type, then="hold")}
    )
    provider = lab.provider(kind, server.url)
    outcome = lab.stream(provider, kind.model, guard=GUARD)
    assert outcome.texts == PIECES
    typed(outcome.error, StreamError, provider)
    assert TIMEOUT < GUARD
    lab.assert_no_leak(provider)


@pytest.mark.parametrize("kind", [OPENAI], ids=str)
def test_a_reply_of_the_right_shape_after_keep_alives_within_the_timeout_succeeds(
    lab: Lab, kind: Kind
) -> None:
    """A regression guard: a few keep-alives within the read timeout are harmless."""
    body = [kind.piece("Hi"), b": ping\n\n", b": ping\n\n", kind.piece("!"), kind.finish()]
    server = lab.serve({kind.chat_path: stream(body, content_type=kind.stream_type, delay=0.05)})
    provider = lab.provider(kind, server.url)
    outcome = lab.stream(provider, kind.model)
    assert outcome.error is None, repr(outcome.error)
    assert outcome.text == "Hi!"
    lab.assert_no_leak(provider)


def test_an_answer_without_content_length_or_chunks_still_works(lab: Lab, kind: Kind) -> None:
    """A regression guard for the deadline: a quick reply is unaffected."""
    server = lab.serve({kind.chat_path: answer(200, kind.reply("quick"))})
    provider = lab.provider(kind, server.url)
    assert lab.chat(provider, kind.model).text == "quick"
    lab.assert_no_leak(provider)

"""Streams that break part-way: reset, stalled, cut off, corrupted, in-band errors, a
line far past the decoder's bound. Every chunk sent before the failure is delivered,
then one typed error is raised whose ``.partial`` is exactly the text delivered. And
streams that are only slow or noisy, which must succeed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import httpx
import pytest

from modelport import (
    ModelportError,
    ProtocolError,
    RequestTimeoutError,
    ServerError,
    ServiceUnavailableError,
    StreamError,
)
from modelport._http.decoders import DEFAULT_MAX_LINE_BYTES
from modelport.providers.base import Provider

from .conftest import Lab, StreamOutcome, check_error
from .kinds import Kind
from .servers import Conn, Received, html_error_page, huge_line, stream

pytestmark = pytest.mark.socket

PIECES = ["Hello", ", wor", "ld!"]
TEXT = "".join(PIECES)


def pieces(kind: Kind) -> list[bytes]:
    return [kind.piece(p) for p in PIECES]


def release_after(server: object, count: int = len(PIECES)):  # type: ignore[no-untyped-def]
    """An ``on_chunk`` callback that lets the server misbehave once ``count`` chunks
    have reached the caller (so the failure cannot overtake them)."""

    def on_chunk(chunks: list[object]) -> None:
        if len(chunks) == count:
            server.release()  # type: ignore[attr-defined]

    return on_chunk


def check_partial(outcome: StreamOutcome, provider: object, **kwargs: object) -> StreamError:
    """The stream delivered every piece, then failed with a StreamError holding them."""
    assert outcome.texts == PIECES
    assert outcome.response is None
    kwargs.setdefault("status", 200)  # the stream's response was a 200
    error = check_error(outcome.error, StreamError, provider, **kwargs)  # type: ignore[arg-type]
    assert error.partial == TEXT == outcome.text
    assert str(len(TEXT)) in error.message  # says how much was received
    assert ".partial" in (error.hint or "")
    return error  # type: ignore[no-any-return]


# ---------------------------------------------------------------------- the connection breaks


def test_a_reset_mid_stream_keeps_the_partial_text(lab: Lab, kind: Kind) -> None:
    server = lab.serve(
        {
            kind.chat_path: stream(
                pieces(kind), content_type=kind.stream_type, then="reset", gate=True
            )
        }
    )
    provider = lab.provider(kind, server.url)
    outcome = lab.stream(provider, kind.model, on_chunk=release_after(server))
    error = check_partial(outcome, provider, cause=httpx.ReadError)
    assert "broke off" in error.message
    lab.assert_no_leak(provider)


def test_a_stream_that_goes_silent_times_out_and_keeps_the_partial_text(
    lab: Lab, kind: Kind
) -> None:
    server = lab.serve(
        {kind.chat_path: stream(pieces(kind), content_type=kind.stream_type, then="hold")}
    )
    provider = lab.provider(kind, server.url)
    outcome = lab.stream(provider, kind.model)
    error = check_partial(outcome, provider, cause=httpx.ReadTimeout)
    assert "did not answer in time" in error.message
    assert server.wait_settled()
    assert server.closed_by_client() == [True]  # the client hung up the stalled stream
    lab.assert_no_leak(provider)


def test_a_connection_closed_mid_stream_keeps_the_partial_text(lab: Lab, kind: Kind) -> None:
    server = lab.serve(
        {
            kind.chat_path: stream(
                pieces(kind), content_type=kind.stream_type, then="close", gate=True
            )
        }
    )
    provider = lab.provider(kind, server.url, timeout=10.0)  # the close, not a timeout
    outcome = lab.stream(provider, kind.model, on_chunk=release_after(server))
    check_partial(outcome, provider, cause=httpx.RemoteProtocolError)
    lab.assert_no_leak(provider)


def test_a_chunked_encoding_error_mid_stream_keeps_the_partial_text(lab: Lab, kind: Kind) -> None:
    server = lab.serve(
        {
            kind.chat_path: stream(
                pieces(kind), content_type=kind.stream_type, then="bad-chunk", gate=True
            )
        }
    )
    provider = lab.provider(kind, server.url)
    outcome = lab.stream(provider, kind.model, on_chunk=release_after(server))
    check_partial(outcome, provider, cause=httpx.RemoteProtocolError)
    assert server.wait_settled()
    assert server.closed_by_client() == [True]
    lab.assert_no_leak(provider)


def test_a_stream_that_ends_without_finishing_keeps_the_partial_text(lab: Lab, kind: Kind) -> None:
    server = lab.serve({kind.chat_path: stream(pieces(kind), content_type=kind.stream_type)})
    provider = lab.provider(kind, server.url)
    outcome = lab.stream(provider, kind.model)
    error = check_partial(outcome, provider)
    assert "ended before the reply finished" in error.message
    lab.assert_no_leak(provider)


# ---------------------------------------------------------------------- the server says so


def test_an_in_band_error_mid_stream_keeps_the_partial_text_and_the_servers_words(
    lab: Lab, kind: Kind
) -> None:
    body = [*pieces(kind), kind.error("CUDA error: out of memory")]
    server = lab.serve({kind.chat_path: stream(body, content_type=kind.stream_type)})
    provider = lab.provider(kind, server.url)
    outcome = lab.stream(provider, kind.model)
    error = check_partial(outcome, provider)  # status 200: the stream's response
    assert "CUDA error: out of memory" in error.message
    lab.assert_no_leak(provider)


# ---------------------------------------------------------------------- unreadable bytes


def test_a_line_longer_than_the_bound_is_refused_without_buffering_it(lab: Lab, kind: Kind) -> None:
    """20 MB with no newline, past the 16 MiB bound: a ProtocolError, not 20 MB (or
    unbounded) of memory. The server stops sending when the client hangs up."""
    assert DEFAULT_MAX_LINE_BYTES < 20_000_000
    server = lab.serve(
        {kind.chat_path: huge_line([], content_type=kind.stream_type, prefix=kind.line_prefix())}
    )
    provider = lab.provider(kind, server.url, timeout=10.0)  # the bound, not a timeout
    outcome = lab.stream(provider, kind.model)
    assert outcome.chunks == []
    error = check_error(outcome.error, ProtocolError, provider)
    assert f"longer than {DEFAULT_MAX_LINE_BYTES} bytes" in error.message
    assert server.wait_settled()
    assert server.closed_by_client() == [True]
    lab.assert_no_leak(provider)


def test_a_line_longer_than_the_bound_after_some_chunks_keeps_the_partial_text(
    lab: Lab, kind: Kind
) -> None:
    server = lab.serve(
        {
            kind.chat_path: huge_line(
                pieces(kind), content_type=kind.stream_type, prefix=kind.line_prefix()
            )
        }
    )
    provider = lab.provider(kind, server.url, timeout=10.0)  # the bound, not a timeout
    outcome = lab.stream(provider, kind.model)
    error = check_partial(outcome, provider)
    assert f"longer than {DEFAULT_MAX_LINE_BYTES} bytes" in error.message
    assert server.wait_settled()
    lab.assert_no_leak(provider)


def test_invalid_utf8_mid_stream_keeps_the_partial_text(lab: Lab, kind: Kind) -> None:
    bad = kind.piece("BAD").replace(b"BAD", b"\xff\xfe\xc3(")
    server = lab.serve(
        {kind.chat_path: stream([*pieces(kind), bad], content_type=kind.stream_type)}
    )
    provider = lab.provider(kind, server.url)
    outcome = lab.stream(provider, kind.model)
    error = check_partial(outcome, provider)
    assert "unreadable" in error.message
    lab.assert_no_leak(provider)


def test_invalid_utf8_before_any_chunk_is_a_protocol_error(lab: Lab, kind: Kind) -> None:
    bad = kind.piece("BAD").replace(b"BAD", b"\xff\xfe\xc3(")
    server = lab.serve({kind.chat_path: stream([bad], content_type=kind.stream_type)})
    provider = lab.provider(kind, server.url)
    outcome = lab.stream(provider, kind.model)
    assert outcome.chunks == []
    check_error(outcome.error, ProtocolError, provider)
    lab.assert_no_leak(provider)


def test_a_payload_that_is_not_json_mid_stream_keeps_the_partial_text(lab: Lab, kind: Kind) -> None:
    junk = kind.frame(b"<html><body>upstream timed out</body></html>")
    server = lab.serve(
        {kind.chat_path: stream([*pieces(kind), junk], content_type=kind.stream_type)}
    )
    provider = lab.provider(kind, server.url)
    outcome = lab.stream(provider, kind.model)
    error = check_partial(outcome, provider)
    assert "upstream timed out" in error.message  # shows what came instead
    lab.assert_no_leak(provider)


def test_noise_between_sse_events_is_ignored(lab: Lab, sse_kind: Kind) -> None:
    """Comments, unknown fields, retry hints, stray blank lines and data-less events
    are legal SSE and carry no text: the stream reads through them."""
    kind = sse_kind
    noise = [
        b": keep-alive comment\n\n",
        b"garbage-without-a-colon\n",
        b"retry: 1000\n\n\n\n",
        b"event: ping\n\n",
        b"id: 42\nx-vendor-field: whatever\n\n",
        b"event: ping\ndata: {}\n\n",
    ]
    body: list[bytes] = []
    for piece, junk in zip(pieces(kind), noise, strict=False):
        body += [junk, piece]
    body += [*noise[len(PIECES) :], kind.finish()]
    server = lab.serve({kind.chat_path: stream(body, content_type=kind.stream_type)})
    provider = lab.provider(kind, server.url)
    outcome = lab.stream(provider, kind.model)
    assert outcome.error is None, repr(outcome.error)
    assert outcome.texts == PIECES
    assert outcome.response is not None and outcome.response.text == TEXT
    lab.assert_no_leak(provider)


# ---------------------------------------------------------------------- slow but fine


def test_a_stream_slower_in_total_than_the_read_timeout_succeeds(lab: Lab, kind: Kind) -> None:
    """The read timeout (0.5 s) counts between chunks, not over the whole stream:
    this one trickles for about twice the timeout and must be read whole."""
    words = [f"w{i} " for i in range(8)]
    body = [kind.piece(w) for w in words] + [kind.finish()]
    server = lab.serve({kind.chat_path: stream(body, content_type=kind.stream_type, delay=0.12)})
    provider = lab.provider(kind, server.url)
    outcome = lab.stream(provider, kind.model)
    assert outcome.error is None, repr(outcome.error)
    assert outcome.texts == words
    assert outcome.response is not None and outcome.response.text == "".join(words)
    lab.assert_no_leak(provider)


def test_a_consumer_that_stops_early_closes_the_connection(lab: Lab, kind: Kind) -> None:
    server = lab.serve(
        {
            kind.chat_path: stream(
                pieces(kind), content_type=kind.stream_type, then="hold", gate=True
            )
        }
    )
    provider = lab.provider(kind, server.url)

    class Enough(Exception):
        pass

    def stop(chunks: list[object]) -> None:
        if len(chunks) == 1:
            raise Enough

    outcome = lab.stream(provider, kind.model, on_chunk=stop)
    assert isinstance(outcome.error, Enough)
    assert outcome.texts == PIECES[:1]
    assert server.wait_settled()
    assert server.closed_by_client() == [True]
    lab.assert_no_leak(provider)


# ---------------------------------------------------------------------- error statuses on streams


def test_an_error_status_whose_body_breaks_off_is_a_typed_error(lab: Lab, kind: Kind) -> None:
    def broken_502(conn: Conn, request: Received) -> None:
        headers = {"content-type": "text/html", "content-length": "5000"}
        if conn.head(502, headers) and conn.send(b"<html><body><h1>502 Bad"):
            conn.close()

    server = lab.serve({kind.chat_path: broken_502})
    provider = lab.provider(kind, server.url)
    outcome = lab.stream(provider, kind.model)
    assert outcome.chunks == []
    error = check_error(
        outcome.error, ServiceUnavailableError, provider, cause=httpx.RemoteProtocolError
    )
    assert error.retriable
    with pytest.raises(ServiceUnavailableError):
        lab.chat(provider, kind.model)  # the same as without streaming
    lab.assert_no_leak(provider)


def test_an_error_status_whose_body_stalls_times_out(lab: Lab, kind: Kind) -> None:
    def stalled_503(conn: Conn, request: Received) -> None:
        headers = {"content-type": "application/json", "content-length": "5000"}
        if conn.head(503, headers) and conn.send(b'{"error": "loa'):
            conn.hold()

    server = lab.serve({kind.chat_path: stalled_503})
    provider = lab.provider(kind, server.url)
    outcome = lab.stream(provider, kind.model)
    assert outcome.chunks == []
    check_error(outcome.error, RequestTimeoutError, provider, cause=httpx.ReadTimeout)
    assert server.wait_settled()
    assert server.closed_by_client() == [True]
    lab.assert_no_leak(provider)


# ---------------------------------------------------------------------- cancellation


def test_a_cancelled_async_stream_closes_its_connection(lab: Lab, kind: Kind) -> None:
    """Cancelling the task that reads a stream (a timeout in the app, a user who
    navigated away) must close the connection, not leave it open to a silent server."""
    if lab.mode != "async":
        pytest.skip("cancellation is an asyncio matter; the sync twin is tested above")
    server = lab.serve(
        {kind.chat_path: stream(pieces(kind), content_type=kind.stream_type, then="hold")}
    )
    provider = lab.provider(kind, server.url, timeout=10.0)  # the cancel, not a timeout
    got: list[object] = []

    async def consume() -> None:
        async with provider.achat_stream(kind.model, "hi") as chat:
            async for chunk in chat:
                got.append(chunk)

    async def main() -> None:
        task = asyncio.create_task(consume())
        while len(got) < len(PIECES) and not task.done():
            await asyncio.sleep(0.01)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    lab.call(lambda: None, main)
    assert len(got) == len(PIECES)
    assert server.wait_settled()
    assert server.closed_by_client() == [True]
    lab.assert_no_leak(provider)


# ---------------------------------------------------------------------- model downloads


def pull_until_error(lab: Lab, provider: Provider, model: str) -> tuple[list[Any], BaseException]:
    steps: list[Any] = []

    def run_sync() -> None:
        steps.extend(provider.pull(model))

    async def run_async() -> None:
        async for step in provider.apull(model):
            steps.append(step)

    with pytest.raises(ModelportError) as caught:
        lab.call(run_sync, run_async)
    return steps, caught.value


def test_an_ollama_pull_reset_part_way_delivers_the_progress_then_a_stream_error(
    lab: Lab, ndjson_kind: Kind
) -> None:
    kind = ndjson_kind
    progress = [
        {"status": "pulling manifest"},
        {"status": "pulling 6a0746a1ec1a", "digest": "sha256:6a07", "total": 1000, "completed": 10},
        {
            "status": "pulling 6a0746a1ec1a",
            "digest": "sha256:6a07",
            "total": 1000,
            "completed": 500,
        },
    ]
    body = [json.dumps(p).encode() + b"\n" for p in progress]
    server = lab.serve({"/api/pull": stream(body, content_type=kind.stream_type, then="reset")})
    provider = lab.provider(kind, server.url)
    steps, error = pull_until_error(lab, provider, "llama3.2")
    assert [s.completed for s in steps] == [None, 10, 500]
    assert type(error) is StreamError
    assert error.service == provider.name and server.url in str(error)
    assert isinstance(error.__cause__, httpx.ReadError)
    lab.assert_no_leak(provider)


def test_an_ollama_pull_behind_a_broken_proxy_is_a_server_error(
    lab: Lab, ndjson_kind: Kind
) -> None:
    server = lab.serve({"/api/pull": html_error_page(502)})
    provider = lab.provider(ndjson_kind, server.url)
    steps, error = pull_until_error(lab, provider, "llama3.2")
    assert steps == []
    check_error(error, ServerError, provider, status=502)
    lab.assert_no_leak(provider)


def test_keep_alive_comments_are_not_progress_once_the_read_timeout_has_passed(
    lab: Lab, sse_kind: Kind
) -> None:
    """SSE comments keep a connection open, not a stream alive: a stream that sends
    nothing but comments for longer than the read timeout fails, keeping what came."""
    kind = sse_kind
    body = [kind.piece("Thinking done: ")]
    body += [b": ping\n\n"] * 8  # about twice the read timeout of silence, in comments
    body += [kind.piece("42"), kind.finish()]
    server = lab.serve({kind.chat_path: stream(body, content_type=kind.stream_type, delay=0.12)})
    provider = lab.provider(kind, server.url)
    outcome = lab.stream(provider, kind.model)
    error = check_error(outcome.error, StreamError, provider, status=200)
    assert error.partial == outcome.text == "Thinking done: "
    assert "keep-alive" in str(error)
    lab.assert_no_leak(provider)


def test_an_in_band_server_error_before_any_text_is_a_retriable_server_error(
    lab: Lab, kind: Kind
) -> None:
    """Nothing was delivered, so nothing can be lost: like an HTTP 500, the error is
    retriable and lets a Client fail over (every provider, SSE and NDJSON alike)."""
    server = lab.serve(
        {
            kind.chat_path: stream(
                [kind.error("CUDA error: out of memory")], content_type=kind.stream_type
            )
        }
    )
    provider = lab.provider(kind, server.url)
    outcome = lab.stream(provider, kind.model)
    assert outcome.chunks == []
    error = outcome.error
    assert type(error) is ServerError, repr(error)
    assert error.retriable
    assert "CUDA error: out of memory" in error.message

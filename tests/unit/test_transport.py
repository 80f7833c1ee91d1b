"""The I/O twins: client defaults, the one safe immediate retry, and the sync deadline
kept on every socket read by modelport's own connection pool."""

from __future__ import annotations

import json
import time
from typing import Any

import httpcore
import httpx
import pytest

from modelport import LlamaCppProvider, RequestTimeoutError, ServiceUnavailableError
from modelport._http.deadline import READ_DEADLINE
from modelport._http.pool import PoolTransport

REPLY = {"choices": [{"message": {"content": "ok"}, "finish_reason": "stop"}]}


def _stale_then_ok(calls: list[int], stale_on: set[int]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) in stale_on:
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a response.", request=request
            )
        return httpx.Response(200, json=REPLY)

    return httpx.MockTransport(handler)


def test_a_kept_alive_connection_the_server_closed_is_retried_once_at_once() -> None:
    calls: list[int] = []
    provider = LlamaCppProvider(transport=_stale_then_ok(calls, stale_on={2}))
    assert provider.chat("m", "first").text == "ok"
    assert provider.chat("m", "second").text == "ok"  # the stale connection is invisible
    assert len(calls) == 3


@pytest.mark.anyio
async def test_the_async_twin_retries_a_stale_connection_too() -> None:
    calls: list[int] = []
    provider = LlamaCppProvider(transport=_stale_then_ok(calls, stale_on={2}))
    assert (await provider.achat("m", "first")).text == "ok"
    assert (await provider.achat("m", "second")).text == "ok"
    assert len(calls) == 3


def test_a_server_that_never_answered_is_not_sent_the_request_twice() -> None:
    calls: list[int] = []
    provider = LlamaCppProvider(transport=_stale_then_ok(calls, stale_on={1, 2}))
    with pytest.raises(ServiceUnavailableError):
        provider.chat("m", "hi")
    assert len(calls) == 1


def test_headers_and_timeouts_are_client_defaults_not_per_request() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=REPLY)

    provider = LlamaCppProvider(
        api_key="k", timeout=7.0, connect_timeout=2.0, transport=httpx.MockTransport(handler)
    )
    provider.chat("m", "hi")
    provider.chat("m", "hi", timeout=30.0)
    first, second = seen
    assert first.headers["authorization"] == "Bearer k"
    assert first.headers["content-type"] == "application/json"
    assert first.extensions["timeout"] == {"connect": 2.0, "read": 7.0, "write": 7.0, "pool": 7.0}
    assert second.extensions["timeout"]["read"] == 30.0


# ------------------------------------------------------- the sync deadline on each read

BODY = json.dumps(REPLY).encode()
ANSWER = [
    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
    + f"content-length: {len(BODY)}\r\n\r\n".encode(),
    BODY,
]


class _RecordingStream(httpcore.MockStream):
    """A connection that replays an answer and records when each read started, with
    its timeout (no socket)."""

    def __init__(self, chunks: list[bytes], reads: list[tuple[float, float | None]]) -> None:
        super().__init__(chunks)
        self.reads = reads
        self.stall_first_read = False

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        self.reads.append((time.monotonic(), timeout))
        if self.stall_first_read and len(self.reads) == 1:
            # The server takes all the time the request had for its headers; the
            # deadline is the one the sync transport set for this request.
            end = READ_DEADLINE.get()
            assert end is not None, "the request runs without a deadline"
            time.sleep(max(0.0, end - time.monotonic()) + 0.01)
        return super().read(max_bytes, timeout)


class _RecordingBackend(httpcore.NetworkBackend):
    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks
        self.reads: list[tuple[float, float | None]] = []
        self.streams: list[_RecordingStream] = []

    def connect_tcp(self, host: str, port: int, *args: object, **kwargs: object) -> Any:
        stream = _RecordingStream(list(self.chunks), self.reads)
        self.streams.append(stream)
        return stream


def _pool(backend: httpcore.NetworkBackend) -> PoolTransport:
    return PoolTransport(limits=httpx.Limits(max_connections=4), network_backend=backend)


def test_a_provider_without_a_transport_sends_through_modelports_own_pool() -> None:
    with LlamaCppProvider() as provider:
        assert isinstance(provider._io.pooled, PoolTransport)
        assert provider._io.pooled.connections == []


def test_a_provider_given_a_transport_uses_it_and_no_pool_of_modelports() -> None:
    mock = httpx.MockTransport(lambda r: httpx.Response(200, json=REPLY))
    with LlamaCppProvider(transport=mock) as provider:
        assert provider.chat("m", "hi").text == "ok"
        assert provider._io.pooled is None


def test_each_read_of_a_sync_request_waits_no_longer_than_its_deadline_leaves() -> None:
    """The read timeout is 30 s and the deadline 2 s: no read may wait past the
    deadline (before the fix, a read could wait the whole read timeout, so a server
    that trickled its headers kept a request alive for as long as it liked)."""
    backend = _RecordingBackend(ANSWER)
    provider = LlamaCppProvider(transport=_pool(backend), timeout=30.0, deadline=2.0)
    assert provider.chat("m", "hi").text == "ok"
    assert backend.reads, "the answer was not read through the backend"
    # The deadline started before the first read (how long before depends on the
    # machine's load), so it ends no later than 2 s after that read: every read must
    # end by then too.
    first_read = backend.reads[0][0]
    for when, timeout in backend.reads:
        assert timeout is not None and 0 < timeout <= 2.0
        assert when + timeout <= first_read + 2.0 + 1e-6
    provider.close()


def test_reads_outside_a_modelport_request_keep_the_read_timeout() -> None:
    backend = _RecordingBackend(ANSWER)
    with httpx.Client(transport=_pool(backend), timeout=5.0) as client:
        assert client.get("http://127.0.0.1:9/").status_code == 200
    assert [timeout for _, timeout in backend.reads] == [5.0] * len(backend.reads)


def test_a_read_that_would_start_after_the_deadline_is_never_started() -> None:
    """The server spends the whole deadline on its first answer bytes: the next read
    fails at once, and the request ends with the deadline's own error."""
    backend = _RecordingBackend([ANSWER[0][:20], ANSWER[0][20:], ANSWER[1]])
    pool = _pool(backend)
    provider = LlamaCppProvider(transport=pool, timeout=30.0, deadline=0.2)
    original = backend.connect_tcp

    def stalling(host: str, port: int, *args: object, **kwargs: object) -> Any:
        stream = original(host, port, *args, **kwargs)
        stream.stall_first_read = True
        return stream

    backend.connect_tcp = stalling  # type: ignore[method-assign]
    with pytest.raises(RequestTimeoutError, match=r"within 0\.2 s"):
        provider.chat("m", "hi")
    assert len(backend.streams) == 1
    assert len(backend.reads) == 1, backend.reads  # the stalled read, and no other
    assert pool.connections == [], "the timed-out connection was kept"
    provider.close()

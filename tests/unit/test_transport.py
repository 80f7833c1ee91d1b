"""The I/O twins: client defaults, and the one safe immediate retry."""

from __future__ import annotations

import time
from typing import Any

import httpcore
import httpx
import pytest

from modelport import LlamaCppProvider, ServiceUnavailableError
from modelport._http.deadline import bound_reads, reading_until

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


class _RecordingStream(httpcore.NetworkStream):
    """A connection that records the timeout of each read (no socket)."""

    def __init__(self) -> None:
        self.timeouts: list[float | None] = []

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        self.timeouts.append(timeout)
        return b"x"


class _RecordingBackend(httpcore.NetworkBackend):
    def __init__(self) -> None:
        self.stream = _RecordingStream()

    def connect_tcp(self, host: str, port: int, *args: object, **kwargs: object) -> Any:
        return self.stream


def _bound_stream() -> tuple[httpx.Client, _RecordingStream, httpcore.NetworkStream]:
    client = httpx.Client()
    backend = _RecordingBackend()
    client._transport._pool._network_backend = backend  # type: ignore[attr-defined]
    assert bound_reads(client)
    wrapped = client._transport._pool._network_backend  # type: ignore[attr-defined]
    return client, backend.stream, wrapped.connect_tcp("127.0.0.1", 1)


def test_a_default_sync_client_gets_reads_bounded_by_the_deadline() -> None:
    """The guard on httpcore's internals: if httpx stops keeping its pool's network
    backend where bound_reads looks, this fails (and the sync deadline only holds
    between body chunks)."""
    with httpx.Client() as client:
        assert bound_reads(client)
        assert bound_reads(client)  # idempotent: wrapped once


def test_a_client_on_a_mock_transport_is_left_alone() -> None:
    with httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(200))) as client:
        assert not bound_reads(client)


def test_reads_outside_a_deadline_keep_their_timeout() -> None:
    client, recorded, stream = _bound_stream()
    stream.read(10, 5.0)
    stream.read(10, None)
    assert recorded.timeouts == [5.0, None]
    client.close()


def test_a_read_inside_a_deadline_waits_no_longer_than_the_time_left() -> None:
    client, recorded, stream = _bound_stream()
    with reading_until(time.monotonic() + 2.0):
        stream.read(10, 30.0)
        stream.read(10, None)
        stream.read(10, 0.5)
    first, second, third = recorded.timeouts
    assert first is not None and 0 < first <= 2.0
    assert second is not None and 0 < second <= 2.0
    assert third == 0.5
    client.close()


def test_a_read_after_the_deadline_fails_at_once_with_a_read_timeout() -> None:
    client, recorded, stream = _bound_stream()
    with reading_until(time.monotonic() - 0.001), pytest.raises(httpcore.ReadTimeout):
        stream.read(10, 30.0)
    assert recorded.timeouts == []
    stream.read(10, 30.0)  # the deadline ended with its block
    assert recorded.timeouts == [30.0]
    client.close()

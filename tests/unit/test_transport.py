"""The I/O twins: client defaults, and the one safe immediate retry."""

from __future__ import annotations

import httpx
import pytest

from modelport import LlamaCppProvider, ServiceUnavailableError

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

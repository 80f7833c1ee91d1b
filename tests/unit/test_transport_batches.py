"""A batch of requests (an operation yielding a list) is sent concurrently, but bounded."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import httpx
import pytest

from modelport._classify import classify, facts_from_response
from modelport._drive import arun, run
from modelport._http.mapping import ErrorContext
from modelport._http.ops import Op, Request, Response, gather
from modelport._http.transport import AsyncTransport, SyncTransport

BASE = "http://127.0.0.1:11434"
CTX = ErrorContext("ollama", BASE)


def _on_error(response: Response) -> Any:
    return classify(
        facts_from_response(response.status, response.content, response.headers, CTX), CTX
    )


KWARGS: dict[str, Any] = {"on_error": _on_error, "timeout": 5.0, "connect_timeout": 5.0}


def batch(count: int) -> Op[list[int]]:
    outcomes = yield from gather([Request("POST", "/api/show", {"n": i}) for i in range(count)])
    return [o.status for o in outcomes if isinstance(o, Response)]


class Gauge:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = 0
        self.most = 0

    def enter(self) -> None:
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)

    def leave(self) -> None:
        with self.lock:
            self.now -= 1


def test_a_large_sync_batch_runs_thirty_two_threads_at_a_time_and_answers_every_request() -> None:
    gauge = Gauge()
    met = threading.Event()

    def handler(request: httpx.Request) -> httpx.Response:
        gauge.enter()
        if gauge.now >= 32:
            met.set()
        met.wait(10.0)  # the first 32 meet here, however slowly their threads start
        gauge.leave()
        return httpx.Response(200, json={})

    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        statuses = run(batch(40), SyncTransport(client, BASE, CTX, **KWARGS))
    assert statuses == [200] * 40
    assert gauge.most == 32


@pytest.mark.anyio
async def test_a_large_async_batch_runs_sixteen_at_a_time_and_answers_every_request() -> None:
    gauge = Gauge()

    async def handler(request: httpx.Request) -> httpx.Response:
        gauge.enter()
        await asyncio.sleep(0.05)
        gauge.leave()
        return httpx.Response(200, json={})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        statuses = await arun(batch(40), AsyncTransport(client, BASE, CTX, **KWARGS))
    assert statuses == [200] * 40
    assert gauge.most == 16


@pytest.mark.anyio
async def test_a_small_async_batch_is_sent_all_at_once() -> None:
    gauge = Gauge()

    async def handler(request: httpx.Request) -> httpx.Response:
        gauge.enter()
        await asyncio.sleep(0.05)
        gauge.leave()
        return httpx.Response(200, json={})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        statuses = await arun(batch(5), AsyncTransport(client, BASE, CTX, **KWARGS))
    assert statuses == [200] * 5
    assert gauge.most == 5

"""Balancing replicas through the gateway: requests in flight, and fast failures."""

from __future__ import annotations

import asyncio

import pytest

import modelport
from modelport import ServiceUnavailableError
from modelport.testing import FakeProvider

from .conftest import gateway

pytestmark = pytest.mark.anyio

HELLO = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


@pytest.mark.parametrize("stream", [False, True], ids=["chat", "stream"])
async def test_eight_concurrent_requests_split_evenly_over_two_slow_replicas(stream: bool) -> None:
    first = FakeProvider(models=["m"], name="first", latency=0.2, chunk_delay=0.01)
    second = FakeProvider(models=["m"], name="second", latency=0.2, chunk_delay=0.01)
    async with gateway([first, second]) as (_, http):
        responses = await asyncio.gather(
            *(http.post("/v1/chat/completions", json={**HELLO, "stream": stream}) for _ in range(8))
        )
    assert [r.status_code for r in responses] == [200] * 8
    split = sorted((len(first.requests), len(second.requests)))
    assert split == [4, 4], split  # as docs/gateway.md promises


async def test_a_replica_that_answers_503_at_once_gets_fewer_requests() -> None:
    failing = FakeProvider(models=["m"], name="failing")
    healthy = FakeProvider(models=["m"], name="healthy", latency=0.05)
    failing.fail_next(*[ServiceUnavailableError("503 Service Unavailable") for _ in range(200)])
    client = modelport.AsyncClient(services=[failing, healthy])
    async with gateway(client) as (_, http):
        for _ in range(2):  # two waves: the second sees the first one's failures
            responses = await asyncio.gather(
                *(http.post("/v1/chat/completions", json=HELLO) for _ in range(8))
            )
            assert [r.status_code for r in responses] == [200] * 8
    assert len(failing.requests) < len(healthy.requests)

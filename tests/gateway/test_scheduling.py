"""The scheduler behind the gateway: a scripted backend with slots, 429 with
``Retry-After`` in each surface's shape beyond the queue's bounds, and ``/health``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import modelport
from modelport._schedule import ServiceLimits, StaticLimits

from ..unit.schedule_fakes import SlotProvider
from .conftest import gateway

pytestmark = pytest.mark.anyio

PATIENT = 30.0


def client_with(backend: SlotProvider, **service: Any) -> modelport.AsyncClient:
    limits = StaticLimits(services={backend.name: ServiceLimits(**service)})
    return modelport.AsyncClient(services=[backend], _limits=limits)


async def until(condition: Any, timeout: float = PATIENT) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not condition():
        if loop.time() > end:
            raise AssertionError("the condition did not come true")
        await asyncio.sleep(0.005)


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
async def test_twenty_callers_against_two_slots_get_an_answer_or_a_429_after_max_wait(
    stream: bool,
) -> None:
    backend = SlotProvider(hold=0.2)
    client = client_with(backend, max_in_flight=2, max_wait=0.5)
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": stream}
    async with gateway(client) as (_, http):
        responses = await asyncio.gather(
            *(http.post("/v1/chat/completions", json=body) for _ in range(20))
        )
        snapshot = client._schedule_snapshot()
    assert backend.peak == 2  # the backend never saw more than two at once
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {200, 429}, statuses
    assert 200 in statuses
    for response in responses:
        if response.status_code == 429:
            assert int(response.headers["retry-after"]) >= 1
            assert response.json()["error"]["type"] == "rate_limit_error"
    assert snapshot is not None
    rejected = [w for w in snapshot.waits if w.outcome == "rejected"]
    assert len(rejected) == statuses.count(429)
    assert all(w.waited >= 0.5 for w in rejected)  # each after max_wait, not before
    assert len(backend.started) == statuses.count(200)


SURFACES = {
    "openai": (
        "/v1/chat/completions",
        {"model": "m", "messages": [{"role": "user", "content": "hi"}]},
        lambda body: body["error"]["type"] == "rate_limit_error",
    ),
    "ollama": (
        "/api/chat",
        {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": False},
        lambda body: isinstance(body["error"], str) and "queue" in body["error"],
    ),
    "anthropic": (
        "/v1/messages",
        {"model": "m", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]},
        lambda body: body["type"] == "error" and body["error"]["type"] == "rate_limit_error",
    ),
    "responses": (
        "/v1/responses",
        {"model": "m", "input": "hi"},
        lambda body: body["error"]["code"] == "rate_limit_exceeded",
    ),
}


@pytest.mark.parametrize("surface", sorted(SURFACES))
async def test_a_full_queue_answers_429_with_retry_after_in_each_surfaces_shape(
    surface: str,
) -> None:
    path, body, shaped = SURFACES[surface]
    backend = SlotProvider(hold=60.0)
    client = client_with(backend, max_in_flight=1, max_queue=0)
    async with gateway(client) as (_, http):
        first = asyncio.ensure_future(http.post(path, json=body))
        await until(lambda: backend.running == 1)
        refused = await http.post(path, json=body)
        first.cancel()
        await asyncio.gather(first, return_exceptions=True)
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) >= 1
    assert shaped(refused.json()), refused.json()


async def test_health_shows_each_services_load_limit_queue_and_models() -> None:
    backend = SlotProvider(["m", "n"], loaded=["m"], hold=60.0)
    client = client_with(backend, max_in_flight=1)
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    async with gateway(client, api_keys=["k"]) as (_, http):
        first = asyncio.ensure_future(
            http.post("/v1/chat/completions", json=body, headers={"x-api-key": "k"})
        )
        await until(lambda: backend.running == 1)
        second = asyncio.ensure_future(
            http.post("/v1/chat/completions", json=body, headers={"x-api-key": "k"})
        )
        await until(lambda: client._schedule_snapshot().services[0].queued == 1)
        health = (await http.get("/health", headers={"x-api-key": "k"})).json()
        anonymous = (await http.get("/health")).json()
        for task in (first, second):
            task.cancel()
        await asyncio.gather(first, second, return_exceptions=True)
    assert anonymous == {"status": "ok"}
    [service] = health["services"]
    assert service["name"] == "slots"
    assert (service["in_flight"], service["max_in_flight"], service["queued"]) == (1, 1, 1)
    assert service["loaded_models"] == ["slots/m"]
    models = {m["id"]: m for m in service["models"]}
    assert models["slots/m"] == {
        "id": "slots/m",
        "in_flight": 1,
        "max_in_flight": None,
        "queued": 1,
        "state": "loaded",
    }
    assert models["slots/n"]["state"] == "unloaded"
    assert models["slots/n"]["in_flight"] == 0


async def test_health_without_limits_keeps_the_shape_with_no_limit_and_an_empty_queue() -> None:
    backend = SlotProvider(["m"], hold=0.0)
    async with gateway([backend]) as (_, http):
        await http.post(
            "/v1/chat/completions",
            json={"model": "m", "messages": [{"role": "user", "content": "hi"}]},
        )
        await http.get("/v1/models")  # models and their states are the last listing's
        health = (await http.get("/health")).json()
    [service] = health["services"]
    assert (service["max_in_flight"], service["queued"]) == (None, 0)
    assert service["loaded_models"] == ["slots/m"]
    assert service["models"] == [
        {"id": "slots/m", "in_flight": 0, "max_in_flight": None, "queued": 0, "state": "loaded"}
    ]

"""Live: swap-aware scheduling in front of a real llama-server router with room for one
model (``--models-max 1``), serving ``alpha``, ``beta`` and ``gamma`` (three names for
the SmolLM2 file).

The trace A B A A C (alpha beta alpha alpha gamma), B A A C each sent while A streams,
goes straight to a fresh router, then through the gateway (served by uvicorn in this
process, its scheduler reading the router's ``max_instances``) to another. The gateway serves it
as A A A B C: at most three loads, nothing fails, and no request waited longer than
``max_wait`` by the scheduler's own record. Both load counts are printed.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

import modelport
from modelport._schedule import ServiceLimits, StaticLimits
from modelport.gateway import create_app
from tests.gateway.conftest import served

from .conftest import LlamaServer

pytestmark = pytest.mark.anyio

MAX_WAIT = 600.0
"""Generous: what is checked is the scheduler's record against it, not the clock."""
TRACE = ["alpha", "beta", "alpha", "alpha", "gamma"]
LOAD_LINE = re.compile(r"spawning server instance with name=(\w+)", re.IGNORECASE)
PROMPT = "Count from one to two hundred in words, separated by commas."


def _router_with_three(llama_paths: tuple[str, str], tmp: Path) -> LlamaServer:
    binary, model = llama_paths
    folder = tmp / "models"
    folder.mkdir()
    for name in ("alpha", "beta", "gamma"):
        (folder / f"{name}.gguf").symlink_to(model)
    command = ["--models-dir", str(folder), "--models-max", "1", "-c", "1024"]
    return LlamaServer(binary, None, command, tmp)


def loads_in_log(server: LlamaServer) -> list[str]:
    """The models the router started, in order, from its own log."""
    return LOAD_LINE.findall(server.log.read_text(errors="replace"))


def _body(model: str) -> dict[str, Any]:
    return {
        "model": model,
        "messages": [{"role": "user", "content": PROMPT}],
        "max_tokens": 160,
        "temperature": 0,
    }


async def run_trace(
    http: httpx.AsyncClient, prefix: str, arrived: Callable[[int], Awaitable[None]]
) -> list[int]:
    """Send A streamed; once its first chunk is here, send B A A C one after another
    while it runs (``arrived(n)`` returns once request ``n`` is in). The statuses."""
    running = asyncio.Event()

    async def streamed(model: str) -> int:
        body = {**_body(prefix + model), "stream": True}
        async with http.stream("POST", "/v1/chat/completions", json=body) as response:
            async for line in response.aiter_lines():
                if line.startswith("data:"):
                    running.set()
            return response.status_code

    async def whole(model: str) -> int:
        response = await http.post("/v1/chat/completions", json=_body(prefix + model))
        return response.status_code

    tasks = [asyncio.ensure_future(streamed(TRACE[0]))]
    await asyncio.wait_for(running.wait(), MAX_WAIT)
    for n, model in enumerate(TRACE[1:], start=1):
        tasks.append(asyncio.ensure_future(whole(model)))
        await arrived(n)
    return list(await asyncio.gather(*tasks))


async def test_trace_a_b_a_a_c_through_the_gateway_loads_at_most_three_times(
    llama_paths: tuple[str, str], tmp_path_factory: pytest.TempPathFactory
) -> None:
    # Straight to a router of its own: the router's order.
    direct = _router_with_three(llama_paths, tmp_path_factory.mktemp("direct-router"))
    try:
        async with httpx.AsyncClient(base_url=direct.url, timeout=MAX_WAIT) as http:
            direct_statuses = await run_trace(http, "", lambda n: asyncio.sleep(0.3))
        direct_loads = loads_in_log(direct)
    finally:
        direct.stop()

    # Through the gateway: the scheduler's order.
    routed = _router_with_three(llama_paths, tmp_path_factory.mktemp("sched-router"))
    try:
        limits = StaticLimits(services={"router": ServiceLimits(max_wait=MAX_WAIT)})
        client = modelport.AsyncClient(
            services=[f"router={routed.url}"], timeout=MAX_WAIT, _limits=limits
        )
        app = create_app(client)
        overlapped: list[int] = []

        async def arrived(n: int) -> None:
            await _until(lambda: _submitted(client) >= n + 1)
            snapshot = client._schedule_snapshot()
            overlapped.append(snapshot.services[0].in_flight if snapshot else 0)

        # Served for real (uvicorn, in a thread): httpx's in-process transport would hand
        # over A's stream only once it ended, and nothing would overlap.
        with served(app) as url:
            async with httpx.AsyncClient(base_url=url, timeout=MAX_WAIT) as http:
                statuses = await run_trace(http, "router/", arrived)
            snapshot = client._schedule_snapshot()
        gateway_loads = loads_in_log(routed)
    finally:
        routed.stop()

    print(
        "\ntrace A B A A C:",
        json.dumps(
            {
                "direct_to_router": {"loads": direct_loads, "statuses": direct_statuses},
                "through_gateway": {
                    "loads": gateway_loads,
                    "statuses": statuses,
                    "scheduler_loads": dict(snapshot.loads) if snapshot else None,
                    "in_flight_as_each_arrived": overlapped,
                    "waits": [(w.id, round(w.waited, 2), w.outcome) for w in snapshot.waits]
                    if snapshot
                    else None,
                },
            }
        ),
    )
    assert statuses == [200] * 5
    assert min(overlapped) >= 1  # each of B A A C arrived while a request ran
    assert snapshot is not None
    assert sum(snapshot.loads.values()) <= 3
    assert len(gateway_loads) <= 3, gateway_loads
    assert [w.outcome for w in snapshot.waits] == ["started"] * 5
    assert all(w.waited <= MAX_WAIT for w in snapshot.waits)
    order = [w.id for w in snapshot.waits]
    assert order == ["router/alpha"] * 3 + ["router/beta", "router/gamma"]


def _submitted(client: modelport.AsyncClient) -> int:
    snapshot = client._schedule_snapshot()
    return 0 if snapshot is None else snapshot.submitted


async def _until(condition: Any, timeout: float = MAX_WAIT) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise AssertionError("the condition did not come true")
        await asyncio.sleep(0.05)

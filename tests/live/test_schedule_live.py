"""Live: swap-aware scheduling in front of a real llama-server router with room for one
model (``--models-max 1``), serving ``alpha``, ``beta`` and ``gamma`` (three names for
the SmolLM2 file).

The trace A B A A C (alpha beta alpha alpha gamma), each request sent while the previous
one runs, goes through the gateway (in-process, with the scheduler reading the router's
``max_instances``), then straight to a fresh router of its own. The gateway serves it
as A A A B C: at most three loads, nothing fails, and no request waited longer than
``max_wait`` by the scheduler's own record. Both load counts are printed.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

import modelport
from modelport._schedule import ServiceLimits, StaticLimits
from modelport.gateway import create_app

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
        "max_tokens": 96,
        "temperature": 0,
    }


async def test_trace_a_b_a_a_c_through_the_gateway_loads_at_most_three_times(
    llama_paths: tuple[str, str], tmp_path_factory: pytest.TempPathFactory
) -> None:
    # Straight to a router of its own: the router's order.
    direct = _router_with_three(llama_paths, tmp_path_factory.mktemp("direct-router"))
    try:
        async with httpx.AsyncClient(base_url=direct.url, timeout=MAX_WAIT) as http:
            tasks = []
            for model in TRACE:
                tasks.append(
                    asyncio.ensure_future(http.post("/v1/chat/completions", json=_body(model)))
                )
                await asyncio.sleep(0.5)
            direct_statuses = [r.status_code for r in await asyncio.gather(*tasks)]
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
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://localhost", timeout=MAX_WAIT
        ) as http:
            tasks = []
            for n, model in enumerate(TRACE):
                tasks.append(
                    asyncio.ensure_future(
                        http.post("/v1/chat/completions", json=_body(f"router/{model}"))
                    )
                )
                await _until(lambda n=n: _submitted(client) >= n + 1)
            responses = await asyncio.gather(*tasks)
            snapshot = client._schedule_snapshot()
        await client.aclose()
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
                    "scheduler_loads": dict(snapshot.loads) if snapshot else None,
                    "waits": [(w.id, round(w.waited, 2), w.outcome) for w in snapshot.waits]
                    if snapshot
                    else None,
                },
            }
        ),
    )
    assert [r.status_code for r in responses] == [200] * 5, [r.text[:200] for r in responses]
    assert snapshot is not None
    assert sum(snapshot.loads.values()) <= 3
    assert len(gateway_loads) <= 3, gateway_loads
    assert [w.outcome for w in snapshot.waits] == ["started"] * 5
    assert all(w.waited <= MAX_WAIT for w in snapshot.waits)
    served = [w.id for w in snapshot.waits]
    assert served == ["router/alpha"] * 3 + ["router/beta", "router/gamma"]


def _submitted(client: modelport.AsyncClient) -> int:
    snapshot = client._schedule_snapshot()
    return 0 if snapshot is None else snapshot.submitted


async def _until(condition: Any, timeout: float = MAX_WAIT) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise AssertionError("the condition did not come true")
        await asyncio.sleep(0.05)

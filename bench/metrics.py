"""What the gateway's metrics cost per request: ``python bench/metrics.py [N]``.

Two apps over the same in-memory service (``FakeProvider``: no sockets, no upstream
time, so the gateway's own work is all there is to see), one with ``/metrics`` on
and one with it off, each driven straight through ASGI with sequential chat
requests (``POST /v1/chat/completions``, whole and streamed). Runs alternate in
blocks so that drift on a shared machine falls on both alike; the p50 of each
request's wall time is compared, and the difference is what metrics add (target:
at most 20 µs at p50, issue 22). ``Metrics.record`` alone is timed too.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
from typing import Any

import modelport
from modelport.gateway import create_app
from modelport.testing import FakeProvider

BLOCK = 200


def scope(path: str, body: bytes) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"host", b"localhost"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 11435),
    }


async def one(app: Any, body: bytes) -> float:
    sent = False
    done = asyncio.Event()

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body" and not message.get("more_body"):
            done.set()

    began = time.perf_counter()
    await app(scope("/v1/chat/completions", body), receive, send)
    return time.perf_counter() - began


def app(metrics: bool) -> Any:
    client = modelport.AsyncClient(
        services=[FakeProvider(models=["m"], name="mem", reply="one two three four")]
    )
    return create_app(client, metrics=metrics)


async def run(count: int, stream: bool) -> tuple[float, float]:
    body = json.dumps(
        {"model": "m", "stream": stream, "messages": [{"role": "user", "content": "hi"}]}
    ).encode()
    on, off = app(True), app(False)
    for gateway in (on, off):
        await gateway.client.models()  # "m" is a known model name
        for _ in range(BLOCK):  # warm-up
            await one(gateway, body)
    times: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(count // BLOCK):
        for flag, gateway in ((True, on), (False, off)):
            times[flag] += [await one(gateway, body) for _ in range(BLOCK)]
    return statistics.median(times[True]) * 1e6, statistics.median(times[False]) * 1e6


def record_alone(count: int) -> float:
    """µs per ``Metrics.record`` of a finished streamed chat, at p50."""
    from modelport.gateway._exchange import Exchange
    from modelport.types import Usage

    gateway = app(True)
    asyncio.run(gateway.client.models())
    metrics = gateway.metrics
    assert metrics is not None
    surface = gateway.routes.surfaces[0]
    ex = Exchange(
        scope("/v1/chat/completions", b""),
        None,
        None,
        "/v1/chat/completions",
        surface,
        gateway.stamp,
    )  # type: ignore[arg-type]
    ex.status, ex.model, ex.service, ex.operation = 200, "m", "mem", "chat"
    ex.usage, ex.first_token, ex.upstream = Usage(5, 20, 25), ex.started + 0.01, 0.05
    times = []
    for _ in range(count):
        began = time.perf_counter()
        metrics.record(ex, "/v1/chat/completions")
        times.append(time.perf_counter() - began)
    return statistics.median(times) * 1e6


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 4000
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    print(f"{count} sequential requests per variant, in blocks of {BLOCK}, p50 wall time")
    for stream in (False, True):
        on, off = asyncio.run(run(count, stream))
        label = "streamed" if stream else "whole"
        print(f"  chat ({label:8}) metrics off {off:7.1f} us   on {on:7.1f} us", end="")
        print(f"   added {on - off:+6.1f} us")
    print(f"  Metrics.record alone: {record_alone(count * 5):.1f} us per request")


if __name__ == "__main__":
    main()

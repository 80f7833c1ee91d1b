"""What each gateway surface's translation costs, against the OpenAI surface on the same
backend: one in-process gateway (``create_app`` over ``httpx.ASGITransport``, no socket,
no HTTP server) in front of one in-memory service (``modelport.testing.FakeProvider``,
a 20-chunk reply), so the only thing that differs between rows is the surface.

    .venv/bin/python bench/surfaces.py [--requests 400] [--rounds 5]

Each round sends ``--requests`` requests per surface and mode (whole, streamed), the
surfaces taking turns request by request; the table gives each row's p50 and p99 over
all rounds, and the added p50/p99 against the OpenAI surface's row of the same mode.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Callable
from typing import Any

import httpx

import modelport
from modelport.gateway import create_app
from modelport.testing import FakeProvider

MODEL = "fake-model"
SAY = "Say hi"


def _openai(stream: bool) -> tuple[str, dict[str, Any]]:
    body = {"model": MODEL, "messages": [{"role": "user", "content": SAY}], "stream": stream}
    return "/v1/chat/completions", body


def _anthropic(stream: bool) -> tuple[str, dict[str, Any]]:
    body = {
        "model": MODEL,
        "max_tokens": 64,
        "messages": [{"role": "user", "content": SAY}],
        "stream": stream,
    }
    return "/v1/messages", body


def _responses(stream: bool) -> tuple[str, dict[str, Any]]:
    return "/v1/responses", {"model": MODEL, "input": SAY, "stream": stream, "store": False}


def _ollama(stream: bool) -> tuple[str, dict[str, Any]]:
    body = {"model": MODEL, "messages": [{"role": "user", "content": SAY}], "stream": stream}
    return "/api/chat", body


SURFACES: dict[str, Callable[[bool], tuple[str, dict[str, Any]]]] = {
    "openai": _openai,
    "anthropic": _anthropic,
    "responses": _responses,
    "ollama": _ollama,
}


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _one(http: httpx.AsyncClient, path: str, body: dict[str, Any]) -> float:
    started = time.perf_counter()
    if body["stream"]:
        async with http.stream("POST", path, json=body) as answer:
            async for _ in answer.aiter_raw():
                pass
            status = answer.status_code
    else:
        answer = await http.post(path, json=body)
        status = answer.status_code
    took = time.perf_counter() - started
    if status != 200:
        raise SystemExit(f"{path} answered {status}")
    return took


async def main(requests: int, rounds: int) -> None:
    client = modelport.AsyncClient(services=[FakeProvider([MODEL], stream_pieces=20)])
    app = create_app(client)
    times: dict[tuple[str, bool], list[float]] = {
        (name, stream): [] for name in SURFACES for stream in (False, True)
    }
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:
        for make in SURFACES.values():  # warm-up: imports, listings, caches
            for stream in (False, True):
                for _ in range(20):
                    await _one(http, *make(stream))
        for _ in range(rounds):
            for _ in range(requests):
                for name, make in SURFACES.items():
                    for stream in (False, True):
                        times[name, stream].append(await _one(http, *make(stream)))
    await client.aclose()
    print(
        f"in-process gateway, FakeProvider (20 chunks), {rounds} rounds x {requests} "
        "requests per row, times in ms\n"
    )
    print("| surface | mode | p50 | p99 | added p50 vs OpenAI | added p99 vs OpenAI | p50 ratio |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for stream in (False, True):
        base = times["openai", stream]
        b50, b99 = _percentile(base, 0.5), _percentile(base, 0.99)
        for name in SURFACES:
            got = times[name, stream]
            p50, p99 = _percentile(got, 0.5), _percentile(got, 0.99)
            print(
                f"| {name} | {'stream' if stream else 'whole'} | {p50 * 1e3:.3f} | "
                f"{p99 * 1e3:.3f} | {(p50 - b50) * 1e3:+.3f} | {(p99 - b99) * 1e3:+.3f} | "
                f"{p50 / b50:.2f} |"
            )
    spread = statistics.pstdev(times["openai", False]) * 1e3
    print(f"\n(OpenAI whole: standard deviation {spread:.3f} ms, the noise to judge rows by)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.requests, args.rounds))

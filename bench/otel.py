"""What OpenTelemetry tracing costs a chat: ``python bench/otel.py [URL|-|fake] [N]``
(URL: a running ``bench/server.py``; ``-``: one is started for the run; ``fake``: only
the in-memory table; ``ab``: off and no-op taking turns in one process).

Sequential ``AsyncClient.chat`` calls against the benchmark server, each mode in a
fresh process (the import state is what differs), the modes interleaved over
``ROUNDS`` rounds and the median kept:

- ``absent``: ``opentelemetry`` cannot be imported (the ``otel`` extra not installed);
- ``disabled``: installed, ``MODELPORT_OTEL=off``;
- ``no-op``: installed, no tracer provider set (the API's no-op: an application that
  does not trace);
- ``sdk``: the SDK's ``TracerProvider`` with a ``SimpleSpanProcessor`` into an
  ``InMemorySpanExporter`` (every span recorded and exported inline).

The same again over modelport's in-memory ``FakeProvider`` (no HTTP: only modelport's
own work, so the difference is not lost in the transport's noise). Each row is process
CPU per chat (``time.process_time``) and wall time per chat.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from layers import _bench_server  # noqa: E402

ROUNDS = 5
MODES = ("absent", "disabled", "no-op", "sdk")

_CHILD = r"""
import asyncio, json, os, sys, time

mode, upstream, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
# "fake": modelport's in-memory FakeProvider, no HTTP: only modelport's own work.


class Absent:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "opentelemetry":
            raise ModuleNotFoundError(name)
        return None


if mode == "absent":
    sys.meta_path.insert(0, Absent())
if mode == "sdk":
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)

import modelport

MESSAGES = [{"role": "user", "content": "Why is the sky blue?"}]


async def main():
    if upstream == "fake":
        from modelport.testing import FakeProvider

        provider = FakeProvider(models=["bench"], name="fake")
    else:
        provider = modelport.OpenAICompatibleProvider(upstream, timeout=60.0)
    async with modelport.AsyncClient(services=[provider]) as client:
        for _ in range(200):
            await client.chat("bench", MESSAGES)
        if mode == "sdk":
            exporter.clear()
        cpu, wall = time.process_time(), time.perf_counter()
        for _ in range(n):
            await client.chat("bench", MESSAGES)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    if mode == "sdk":
        assert len(exporter.get_finished_spans()) == n
    traced = any(m.split(".")[0] == "opentelemetry" for m in sys.modules)
    print(json.dumps({"cpu": cpu / n * 1e6, "wall": wall / n * 1e6, "imported": traced}))


try:
    import uvloop
except ImportError:
    asyncio.run(main())
else:
    uvloop.run(main())
"""


def one(mode: str, upstream: str, n: int) -> dict[str, float]:
    import json
    import os

    env = {**os.environ, "MODELPORT_OTEL": "off" if mode == "disabled" else ""}
    result = subprocess.run(
        [sys.executable, "-c", _CHILD, mode, upstream, str(n)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return dict(json.loads(result.stdout))


def measure(upstream: str, n: int) -> None:
    table("the benchmark server", upstream, n)
    table("an in-memory service (FakeProvider, no HTTP)", "fake", n * 5)


def table(what: str, upstream: str, n: int) -> None:
    runs: dict[str, list[dict[str, float]]] = {mode: [] for mode in MODES}
    for _ in range(ROUNDS):
        for mode in MODES:
            runs[mode].append(one(mode, upstream, n))
    base = statistics.median(r["cpu"] for r in runs["absent"])
    print(f"\n{what}: {n} sequential chats per run, median of {ROUNDS} interleaved runs")
    print("| mode | opentelemetry imported | CPU per chat | vs absent | wall per chat |")
    print("|---|---|---|---|---|")
    for mode in MODES:
        cpu = statistics.median(r["cpu"] for r in runs[mode])
        wall = statistics.median(r["wall"] for r in runs[mode])
        imported = "yes" if runs[mode][0]["imported"] else "no"
        print(f"| {mode} | {imported} | {cpu:,.1f} µs | {cpu - base:+,.1f} µs | {wall:,.1f} µs |")


def alternating(n: int, rounds: int = 20) -> None:
    """Off and no-op in one process, taking turns (``modelport._trace``'s cached import
    state switched): the no-op's cost without the noise between processes."""
    import asyncio

    import modelport
    from modelport import _trace
    from modelport.testing import FakeProvider

    async def main() -> dict[str, list[float]]:
        fake = FakeProvider(models=["bench"], name="fake")
        async with modelport.AsyncClient(services=[fake]) as client:
            for _ in range(500):
                await client.chat("bench", "hi")
            _trace.tracer()
            api = _trace._api
            found: dict[str, list[float]] = {"off": [], "no-op": []}
            for _ in range(rounds):
                for mode in found:
                    _trace._api = False if mode == "off" else api
                    started = time.process_time()
                    for _ in range(n):
                        await client.chat("bench", "hi")
                    found[mode].append((time.process_time() - started) / n * 1e6)
            _trace._api = api
            return found

    found = asyncio.run(main())
    for mode, values in found.items():
        print(f"{mode}: {statistics.median(values):,.1f} µs per chat ({rounds} turns of {n})")


def main() -> None:
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    if len(sys.argv) > 1 and sys.argv[1] == "ab":  # off and no-op in one process
        alternating(n)
        return
    if len(sys.argv) > 1 and sys.argv[1] == "fake":  # the in-memory table only
        table("an in-memory service (FakeProvider, no HTTP)", "fake", n)
        return
    if len(sys.argv) > 1 and sys.argv[1] != "-":
        measure(sys.argv[1], n)
        return
    upstream, proc = _bench_server()
    try:
        measure(upstream, n)
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        proc.terminate()
        proc.wait(15)


if __name__ == "__main__":
    main()

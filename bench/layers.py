"""Where a gateway request's CPU goes, layer by layer: ``python bench/layers.py [URL]``
(URL: a running ``bench/server.py``; without it one is started for the run). Needs
``wrk`` and the ``serve`` extra (the bench venv: ``.cache/bench-venv/bin/python``).

Each variant serves sequential chats from wrk (one connection, ``SECONDS`` each);
the CPU the serving process used (utime + stime from ``/proc``) divided by the
requests it answered is its cost per request, with no profiler in the way. The
differences between variants are the layers:

- ``server``: uvicorn + httptools + modelport's guard, answering a fixed JSON;
- ``guard``: the same server without the guard, subtracted;
- ``gateway``: the gateway over an in-memory service (plumbing, a surface, the
  client's routing; no upstream request), minus ``server``;
- ``upstream hop``: the gateway over the benchmark server, minus the in-memory one;
- ``httpx.AsyncClient``, ``modelport.AsyncClient``: sequential POSTs to the benchmark
  server from one process each (process CPU per request): what the upstream hop costs
  with httpx, and with modelport's own transport;
- ``bare protocol``: the same POSTs from a bare uvloop protocol (one write, the
  response read by its ``Content-Length``): the floor of a Python HTTP/1.1 client.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from gateway_load import cpu_seconds  # noqa: E402
from load import wrk  # noqa: E402

SECONDS = 8.0
BODY = {"model": "bench", "messages": [{"role": "user", "content": "Why is the sky blue?"}]}


def served(kind: str, upstream: str, server: str) -> float:
    """µs of the serving process's CPU per request under wrk."""
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "gateway.py"), kind, upstream, server],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    port = int(proc.stdout.readline().split()[1])
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    try:
        wrk(url, BODY, connections=1, seconds=2)  # warm-up
        before = cpu_seconds(proc.pid)
        result = wrk(url, BODY, connections=1, seconds=SECONDS)
        used = cpu_seconds(proc.pid) - before
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        proc.wait(15)
    return used / result["requests"] * 1e6


class _Bare(asyncio.Protocol):
    """Sequential POSTs on one kept-alive connection, each response read by its
    ``Content-Length``: the least a Python client can do per request."""

    def __init__(self, request: bytes, count: int, done: asyncio.Future[None]) -> None:
        self.request, self.left, self.done = request, count, done
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        transport.write(self.request)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = self.buffer[:end].lower() + b"\r\n"
        start = head.index(b"content-length:") + 15
        length = int(head[start : head.index(b"\r\n", start)])
        if len(self.buffer) < end + 4 + length:
            return
        json.loads(self.buffer[end + 4 : end + 4 + length])
        self.buffer = self.buffer[end + 4 + length :]
        self.left -= 1
        if self.left and self.transport is not None:
            self.transport.write(self.request)
        elif not self.done.done():
            self.done.set_result(None)


async def _bare(upstream: str, n: int) -> float:
    parts = urlsplit(upstream)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    body = json.dumps(BODY).encode()
    request = (
        f"POST /v1/chat/completions HTTP/1.1\r\nhost: {host}:{port}\r\n"
        f"content-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n"
    ).encode() + body
    loop = asyncio.get_running_loop()
    result = 0.0
    for count in (200, n):  # a warm-up, then the measured run
        done: asyncio.Future[None] = loop.create_future()
        started = time.process_time()
        transport, _ = await loop.create_connection(
            lambda c=count, d=done: _Bare(request, c, d), host, port
        )
        await done
        result = (time.process_time() - started) / count * 1e6
        transport.close()
    return result


def client(upstream: str, which: str, n: int = 3000) -> float:
    """µs of CPU per sequential request of one async client in this process."""

    async def main() -> float:
        if which == "bare":
            return await _bare(upstream, n)
        if which == "httpx":
            import httpx

            async with httpx.AsyncClient() as http:
                body = json.dumps(BODY).encode()
                headers = {"content-type": "application/json"}
                for _ in range(200):
                    await http.post(
                        upstream + "/v1/chat/completions", content=body, headers=headers
                    )
                started = time.process_time()
                for _ in range(n):
                    response = await http.post(
                        upstream + "/v1/chat/completions", content=body, headers=headers
                    )
                    json.loads(response.content)
                return (time.process_time() - started) / n * 1e6
        import modelport

        provider = modelport.OpenAICompatibleProvider(upstream, timeout=60.0)
        async with modelport.AsyncClient(services=[provider]) as mp:
            for _ in range(200):
                await mp.chat("bench", BODY["messages"])
            started = time.process_time()
            for _ in range(n):
                await mp.chat("bench", BODY["messages"])
            return (time.process_time() - started) / n * 1e6

    import uvloop

    return uvloop.run(main())


def _bench_server() -> tuple[str, subprocess.Popen[str]]:
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "server.py"), "--port", "0"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().split()
    if not line or line[0] != "READY":
        proc.kill()
        raise SystemExit("bench/server.py did not start")
    return f"http://127.0.0.1:{line[1]}", proc


def main() -> None:
    if len(sys.argv) > 1:
        measure(sys.argv[1])
        return
    upstream, proc = _bench_server()
    try:
        measure(upstream)
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        proc.terminate()
        proc.wait(15)


def measure(upstream: str) -> None:
    rows = {
        "server (uvicorn, httptools, guard): fixed answer": served("static", upstream, "modelport"),
        "server without the guard: fixed answer": served(
            "static", upstream, "uvicorn-httptools-bare"
        ),
        "gateway over an in-memory service": served("fake", upstream, "modelport"),
        "gateway over the benchmark server": served("openai", upstream, "modelport"),
        "httpx.AsyncClient alone, sequential POSTs": client(upstream, "httpx"),
        "modelport.AsyncClient.chat alone": client(upstream, "modelport"),
        "a bare uvloop protocol, the same POSTs": client(upstream, "bare"),
    }
    for name, value in rows.items():
        print(f"| {name} | {value:,.0f} µs |")
    v = list(rows.values())
    for name, value in (
        ("the guard", v[0] - v[1]),
        ("the gateway's own work (plumbing, surface, routing)", v[2] - v[0]),
        ("the upstream hop (client, provider, transport)", v[3] - v[2]),
        ("modelport's client over bare httpx", v[5] - v[4]),
        ("modelport's client over the bare protocol", v[5] - v[6]),
    ):
        print(f"| = {name} | {value:,.0f} µs |")


if __name__ == "__main__":
    main()

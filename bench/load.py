"""Load generators for the gateway benchmarks: wrk for requests, and a paced-stream
client for many concurrent SSE streams.

- :func:`wrk` runs Debian's ``wrk`` (compiled, so the load generator is not the
  bottleneck: a Python client tops out near 450 requests/s here) with a Lua script that
  POSTs a chat and prints its own summary: requests/s and latency percentiles in µs.
- :func:`paced_streams` opens N SSE chat streams at once against a benchmark server
  whose ``pace-<chunks>-<ms>`` model sends each chunk ``ms`` apart with its send time
  (``time.monotonic_ns()``, one clock for every process on the machine) as its text.
  For every chunk it records when it arrived, so the latency a path adds to each
  chunk is measured directly, not guessed from throughput. The client is
  ``bench/paced.c`` (epoll; about 20 µs of CPU per chunk here), built on first use;
  without a C compiler, a bare asyncio protocol does the same at about twice the CPU.
  The direct run (no gateway) shows what the client and the server add themselves.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

__all__ = ["paced_streams", "wrk", "wrk_path"]

_LUA = """
wrk.method = "POST"
wrk.body = %(body)s
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer bench"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %%d %%d %%d %%d %%.1f %%.1f %%.1f %%.1f\\n",
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout,
    e.status, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max))
end
"""


def wrk_path() -> str | None:
    return shutil.which("wrk")


def wrk(
    url: str, body: dict[str, Any], *, connections: int, seconds: float, threads: int = 1
) -> dict[str, float]:
    """POST ``body`` to ``url`` for ``seconds`` over ``connections`` kept-alive
    connections; requests/s, errors, and latency p50/p90/p99/max in seconds."""
    binary = wrk_path()
    if binary is None:
        raise RuntimeError("wrk is not installed (apt-get install wrk)")
    script = _LUA % {"body": json.dumps(json.dumps(body, separators=(",", ":")))}
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as file:
        file.write(script)
    try:
        done = subprocess.run(
            [
                binary,
                f"-t{max(1, min(threads, connections))}",
                f"-c{connections}",
                f"-d{max(1, round(seconds))}s",
                "--timeout",
                "30s",
                "-s",
                file.name,
                url,
            ],
            capture_output=True,
            text=True,
            timeout=seconds + 120,
        )
    finally:
        Path(file.name).unlink(missing_ok=True)
    found = re.search(r"^RESULT (.*)$", done.stdout, re.M)
    if found is None:
        raise RuntimeError(f"wrk gave no result: {done.stdout[-500:]} {done.stderr[-500:]}")
    requests, duration_us, errors, bad, p50, p90, p99, most = (
        float(v) for v in found.group(1).split()
    )
    return {
        "rps": requests / (duration_us / 1e6),
        "requests": requests,
        "errors": errors,
        "non_2xx": bad,
        "p50": p50 / 1e6,
        "p90": p90 / 1e6,
        "p99": p99 / 1e6,
        "max": most / 1e6,
    }


class _Stream(asyncio.Protocol):
    """One SSE chat stream read off the socket: each chunk's send and arrival times."""

    _CONTENT = re.compile(rb'"content":\s*"(\d+)"')

    def __init__(self, request: bytes, done: asyncio.Future[None]) -> None:
        self.request = request
        self.done = done
        self.buffer = b""
        self.times: list[tuple[int, int]] = []  # (sent, arrived), in ns
        self.transport: asyncio.Transport | None = None
        self.status = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        transport.write(self.request)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        now = time.monotonic_ns()
        if not self.status:
            self.status = int(data[9:12]) if data.startswith(b"HTTP/1.1 ") else -1
        *events, self.buffer = (self.buffer + data).split(b"\n\n")
        for event in events:  # complete events only: a chunk split by TCP counts once
            for sent in self._CONTENT.findall(event):
                self.times.append((int(sent), now))
            if b"[DONE]" in event or b'"error"' in event:
                self._finish()

    def connection_lost(self, exc: Exception | None) -> None:
        self._finish()

    def _finish(self) -> None:
        if not self.done.done():
            self.done.set_result(None)
        if self.transport is not None:
            self.transport.close()


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def _compiled_client() -> str | None:
    """``bench/paced.c`` built once (``cc -O2``) into the results folder, or ``None``."""
    here = Path(__file__).resolve().parent
    source, binary = here / "paced.c", here / "results" / "paced"
    if binary.exists() and binary.stat().st_mtime >= source.stat().st_mtime:
        return str(binary)
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        return None
    binary.parent.mkdir(parents=True, exist_ok=True)
    built = subprocess.run(
        [compiler, "-O2", "-o", str(binary), str(source)], capture_output=True, timeout=120
    )
    return str(binary) if built.returncode == 0 else None


def paced_streams(
    url: str, *, streams: int, chunks: int, interval_ms: int, deadline: float
) -> dict[str, float]:
    """``streams`` concurrent SSE streams of ``chunks`` chunks ``interval_ms`` apart,
    through ``url`` (a benchmark server, or a gateway in front of one): the compiled
    client where a C compiler is found, else its Python twin below."""
    binary = _compiled_client()
    if binary is not None:
        parts = urlsplit(url)
        done = subprocess.run(
            [
                binary,
                parts.hostname or "127.0.0.1",
                str(parts.port or 80),
                parts.path.rstrip("/"),
                str(streams),
                str(chunks),
                str(interval_ms),
                str(deadline),
            ],
            capture_output=True,
            text=True,
            timeout=deadline + 60,
        )
        if done.returncode != 0:
            raise RuntimeError(f"the paced client failed: {done.stderr[-500:]}")
        result: dict[str, float] = json.loads(done.stdout)
        result["client"] = 1.0
        return result
    result = _paced_in_python(url, streams, chunks, interval_ms, deadline)
    result["client"] = 0.0
    return result


def _paced_in_python(
    url: str, streams: int, chunks: int, interval_ms: int, deadline: float
) -> dict[str, float]:

    async def main() -> dict[str, float]:
        parts = urlsplit(url)
        host, port = parts.hostname or "127.0.0.1", parts.port or 80
        body = json.dumps(
            {
                "model": f"pace-{chunks}-{interval_ms}",
                "messages": [{"role": "user", "content": "hi"}],
                "stream": True,
            }
        ).encode()
        request = (
            f"POST {parts.path.rstrip('/')}/v1/chat/completions HTTP/1.1\r\n"
            f"host: {host}:{port}\r\ncontent-type: application/json\r\n"
            f"authorization: Bearer bench\r\ncontent-length: {len(body)}\r\n\r\n"
        ).encode() + body
        loop = asyncio.get_running_loop()
        protocols = []
        waits = []
        cpu = time.process_time()
        for _ in range(streams):
            done: asyncio.Future[None] = loop.create_future()
            protocol = _Stream(request, done)
            await loop.create_connection(lambda p=protocol: p, host, port)
            protocols.append(protocol)
            waits.append(done)
        await asyncio.wait(waits, timeout=deadline)
        cpu = time.process_time() - cpu
        for protocol in protocols:
            if protocol.transport is not None:
                protocol.transport.close()
        latencies = [(arrived - sent) / 1e9 for p in protocols for sent, arrived in p.times]
        gaps = [
            abs((b[1] - a[1]) / 1e9 - interval_ms / 1000)
            for p in protocols
            for a, b in zip(p.times, p.times[1:], strict=False)
        ]
        received = sum(len(p.times) for p in protocols)
        return {
            "p50": _percentile(latencies, 0.50),
            "p99": _percentile(latencies, 0.99),
            "max": max(latencies) if latencies else float("nan"),
            "gap_p99": _percentile(gaps, 0.99),
            "lost": streams * chunks - received,
            "received": received,
            "failed_streams": sum(1 for p in protocols if p.status != 200),
            "client_cpu_per_chunk": cpu / received if received else float("nan"),
        }

    try:
        import uvloop

        return uvloop.run(main())
    except ImportError:
        return asyncio.run(main())

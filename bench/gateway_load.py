"""The gateway under load (benchmark 8, issue 18's targets), and the HTTP server
candidates side by side (``--only servers``).

Requests are sent by wrk (compiled; see ``bench/load.py``), streams by the paced
client. Each path is measured in interleaved rounds whose order rotates, against the
same benchmark server; "added" is a path's figure minus the direct one's from the
same run.

- **1 connection**: wrk posts a chat for ``load_seconds``; p50 and p99 of each request.
- **32 connections**: requests/s and p99.
- **500 paced streams**: every stream gets a chunk every 50 ms (20 chunks/s each, as a
  server busy with 500 sessions sends them); the latency each chunk gets on the way
  (arrival minus its send time), p50/p99/max, every chunk counted, and the CPU the
  serving process (with its children) spent per chunk.
- **Idle RSS**: the gateway process after start-up and 20 requests.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

from load import paced_streams, wrk, wrk_path

BODY = {"model": "bench", "messages": [{"role": "user", "content": "Why is the sky blue?"}]}
INTERVAL_MS = 50
ONE = "gateway load, 1 connection (wrk)"
MANY = "gateway load, 32 connections (wrk)"
PACED = "gateway streams (paced)"
SERVERS = "servers"


def _rotated(items: list[Any], shift: int) -> list[Any]:
    shift %= max(1, len(items))
    return items[shift:] + items[:shift]


def _warm(url: str) -> None:
    import urllib.request

    data = __import__("json").dumps(BODY).encode()
    for _ in range(20):
        request = urllib.request.Request(
            url + "/v1/chat/completions",
            data=data,
            headers={"content-type": "application/json", "authorization": "Bearer bench"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            response.read()


def rss_mb(pid: int) -> float:
    """The resident memory of a process and its children (granian's workers), in MB."""
    total = 0
    for each in [pid, *_children(pid)]:
        try:
            with open(f"/proc/{each}/status") as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024.0


def cpu_seconds(pid: int) -> float:
    """The CPU (user + system) a process and its children have used, in seconds."""
    total = 0
    for each in [pid, *_children(pid)]:
        try:
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    found = []
    for path in Path(f"/proc/{pid}/task").glob("*/children"):
        for child in path.read_text().split():
            found += [int(child), *_children(int(child))]
    return found


def requests(bench: Any, targets: list[tuple[str, str]], group_one: str, group_many: str) -> None:
    """wrk at 1 and at 32 connections against each (name, base URL), in rounds."""
    s = bench.sizes
    for r in range(s.load_rounds):
        for name, url in _rotated(targets, r):
            for group, connections in ((group_one, 1), (group_many, 32)):
                row = bench.row(group, name, "s" if connections == 1 else "req/s")
                if row.error:
                    continue
                try:
                    result = wrk(
                        url + "/v1/chat/completions",
                        BODY,
                        connections=connections,
                        seconds=s.load_seconds,
                        threads=2 if connections > 1 else 1,
                    )
                except (RuntimeError, subprocess.TimeoutExpired) as exc:
                    row.error = str(exc)
                    continue
                if result["errors"] or result["non_2xx"]:
                    row.extra.setdefault("failed", []).append(result["errors"] + result["non_2xx"])
                row.samples.append(result["p50"] if connections == 1 else result["rps"])
                for key in ("p50", "p99", "max", "rps"):
                    row.extra.setdefault(key, []).append(result[key])
        bench.log(f"{group_one} / 32 connections: round {r + 1}/{s.load_rounds} done")


def streams(bench: Any, targets: list[tuple[str, str]], group: str, pids: dict[str, int]) -> None:
    """The paced streams through each (name, base URL), in rounds; ``pids``: the
    serving process of each name, whose CPU per chunk is recorded."""
    s = bench.sizes
    deadline = s.paced_chunks * INTERVAL_MS / 1000.0 + 60
    for r in range(s.paced_rounds):
        for name, url in _rotated(targets, r):
            row = bench.row(group, name, "s")
            if row.error:
                continue
            pid = pids.get(name)
            cpu = cpu_seconds(pid) if pid else 0.0
            try:
                result = paced_streams(
                    url,
                    streams=s.paced_streams,
                    chunks=s.paced_chunks,
                    interval_ms=INTERVAL_MS,
                    deadline=deadline,
                )
            except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
                row.error = str(exc)
                continue
            row.samples.append(result["p99"])
            if pid and result["received"]:
                result["server_cpu_per_chunk"] = (cpu_seconds(pid) - cpu) / result["received"]
            for key, value in result.items():
                row.extra.setdefault(key, []).append(value)
            time.sleep(1)  # let the last connections close before the next path
        bench.log(f"{group}: round {r + 1}/{s.paced_rounds} done")


def _median(bench: Any, group: str, name: str, key: str | None = None) -> float | None:
    row = bench.rows.get(f"{group}/{name}")
    if row is None or row.error or not row.samples:
        return None
    values = row.samples if key is None else row.extra.get(key, [])
    return statistics.median(values) if values else None


def _added(bench: Any, group: str, name: str, key: str) -> float | None:
    ours, direct = _median(bench, group, name, key), _median(bench, group, "direct", key)
    return None if ours is None or direct is None else (ours - direct) * 1000.0


def load(bench: Any, gateway: tuple[str, Any], litellm: tuple[str, Any] | None) -> None:
    """Benchmark 8's load rows and the issue's targets for ``gateway`` (url, process)."""
    s = bench.sizes
    url, proc = gateway
    _warm(url)
    bench.row("gateway idle RSS", "modelport gateway", "MB").samples.append(rss_mb(proc.pid))
    targets = [("direct", bench.url), ("modelport gateway", url)]
    if litellm is not None:
        targets.append(("LiteLLM proxy", litellm[0]))
    if wrk_path() is None:
        bench.log("wrk is not installed: the wrk rows are skipped (apt-get install wrk)")
    else:
        requests(bench, targets, ONE, MANY)
    pids = {"direct": bench.server.pid, "modelport gateway": proc.pid}
    if litellm is not None:
        pids["LiteLLM proxy"] = litellm[1].pid
    streams(bench, targets, PACED, pids)
    if not s.judge_load:
        return
    name = "modelport gateway"
    bench.target("gateway: idle RSS (MB)", _median(bench, "gateway idle RSS", name), "<= 80")
    if wrk_path() is not None:
        bench.target(
            "gateway: added latency p50 (ms), 1 connection",
            _added(bench, ONE, name, "p50"),
            "<= 0.5",
        )
        bench.target(
            "gateway: added latency p99 (ms), 1 connection", _added(bench, ONE, name, "p99"), "<= 2"
        )
        bench.target("gateway: requests/s, 32 connections", _median(bench, MANY, name), ">= 1000")
        bench.target(
            "gateway: added p99 (ms), 32 connections", _added(bench, MANY, name, "p99"), "<= 10"
        )
    bench.target(
        f"gateway: added per-chunk latency p99 (ms), {s.paced_streams} streams at 20 chunks/s",
        _added(bench, PACED, name, "p99"),
        "<= 5",
    )
    lost = _median(bench, PACED, name, "lost")
    bench.target(f"gateway: chunks lost of {s.paced_streams * s.paced_chunks}", lost, "<= 0")
    if litellm is not None:
        other = "LiteLLM proxy"
        for group, key, what in ((ONE, "p50", "added p50"), (MANY, "p99", "added p99 at 32")):
            theirs = _added(bench, group, other, key)
            bench.target(f"LiteLLM proxy: {what} (ms)", theirs, "(report)")
        bench.target(
            "LiteLLM proxy: requests/s, 32 connections", _median(bench, MANY, other), "(report)"
        )
        bench.target(
            "LiteLLM proxy: added per-chunk latency p99 (ms)",
            _added(bench, PACED, other, "p99"),
            "(report)",
        )


def servers(bench: Any, start: Any, candidates: tuple[str, ...]) -> None:
    """Every HTTP server candidate serving the same gateway app, side by side."""
    running: list[tuple[str, str, Any]] = []
    for server in candidates:
        try:
            url, proc = start("openai", bench.url, server)
        except Exception as exc:  # a candidate that is not installed: its rows say so
            bench.row(SERVERS + " idle RSS", server, "MB").error = str(exc)
            continue
        _warm(url)
        bench.row(SERVERS + " idle RSS", server, "MB").samples.append(rss_mb(proc.pid))
        running.append((server, url, proc))
    try:
        targets = [("direct", bench.url)] + [(name, url) for name, url, _ in running]
        if wrk_path() is not None:
            requests(
                bench, targets, SERVERS + ", 1 connection (wrk)", SERVERS + ", 32 connections (wrk)"
            )
        pids = {"direct": bench.server.pid, **{name: proc.pid for name, _, proc in running}}
        streams(bench, targets, SERVERS + ", paced streams", pids)
    finally:
        for _, _, proc in running:
            bench._stop(proc)

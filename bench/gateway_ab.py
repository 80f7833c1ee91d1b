"""Two gateways side by side: ``python bench/gateway_ab.py OLD_SRC [STREAMS ...]``.

One gateway process runs modelport from ``OLD_SRC`` (a ``src`` directory put first on
``PYTHONPATH``, for example from ``git archive REV src | tar -x -C /tmp/old``), the
other this checkout; both in front of one benchmark server, measured in interleaved
rounds at the same moment, so that a change's effect shows even on a machine whose
load moves (every wall-clock figure of two separate runs then differs by more than the
change). Needs wrk and a venv with the ``serve`` extra whose ``modelport`` is this
checkout (``.cache/bench-venv/bin/python``, or the checkout's ``.venv``: the "after"
gateway imports whatever ``modelport`` the interpreter has).

Per round and gateway: wrk at 1 and 32 connections (requests/s, p50, p99, the gateway
process's CPU per request from ``/proc``) and the paced streams at each STREAMS count
(default 30 and 100; 40 chunks each at 20 chunks/s: per-chunk latency p50/p99 and CPU
per chunk).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from gateway_load import BODY, cpu_seconds  # noqa: E402
from layers import _bench_server  # noqa: E402
from load import paced_streams, wrk  # noqa: E402

ROUNDS = 2
SECONDS = 5.0
CHUNKS = 40


def _gateway(upstream: str, src: str | None) -> tuple[subprocess.Popen[str], str]:
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = src
    else:
        env.pop("PYTHONPATH", None)
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "gateway.py"), "openai", upstream],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    return proc, f"http://127.0.0.1:{proc.stdout.readline().split()[1]}"


def _load() -> str:
    return Path("/proc/loadavg").read_text().split()[0]


def main() -> None:
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    old = sys.argv[1]
    counts = [int(arg) for arg in sys.argv[2:]] or [30, 100]
    upstream, server = _bench_server()
    gateways = {"before": _gateway(upstream, old), "after": _gateway(upstream, None)}
    try:
        for _, url in gateways.values():
            wrk(url + "/v1/chat/completions", BODY, connections=1, seconds=1)  # warm-up
        for r in range(ROUNDS):
            order = ["before", "after"] if r % 2 == 0 else ["after", "before"]
            for name in order:
                proc, url = gateways[name]
                for connections in (1, 32):
                    cpu = cpu_seconds(proc.pid)
                    result = wrk(
                        url + "/v1/chat/completions",
                        BODY,
                        connections=connections,
                        seconds=SECONDS,
                        threads=2 if connections > 1 else 1,
                    )
                    used = (cpu_seconds(proc.pid) - cpu) / max(result["requests"], 1) * 1e6
                    print(
                        f"round {r + 1} {name}: {connections} connections: "
                        f"{result['rps']:,.0f} req/s, p50 {result['p50'] * 1e3:.2f} ms, "
                        f"p99 {result['p99'] * 1e3:.1f} ms, CPU {used:,.0f} µs/request "
                        f"(load {_load()})",
                        flush=True,
                    )
                for count in counts:
                    cpu = cpu_seconds(proc.pid)
                    result = paced_streams(
                        url, streams=count, chunks=CHUNKS, interval_ms=50, deadline=120
                    )
                    used = (cpu_seconds(proc.pid) - cpu) / max(result["received"], 1) * 1e6
                    print(
                        f"round {r + 1} {name}: {count} paced streams: per-chunk p50 "
                        f"{result['p50'] * 1e3:.2f} ms, p99 {result['p99'] * 1e3:.1f} ms, "
                        f"CPU {used:,.0f} µs/chunk (load {_load()})",
                        flush=True,
                    )
                    time.sleep(1)
    finally:
        for proc, _ in gateways.values():
            if proc.stdin is not None:
                proc.stdin.close()
            proc.wait(15)
        if server.stdin is not None:
            server.stdin.close()
        server.terminate()
        server.wait(15)


if __name__ == "__main__":
    main()

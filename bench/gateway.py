"""Run the gateway for the benchmarks: ``python bench/gateway.py KIND URL [SERVER]``.

It serves ``modelport.gateway.create_app`` over one service (``openai`` or
``llamacpp`` at URL, or ``fake``: an in-memory service, to measure the gateway
without an upstream request; or ``static``: no gateway at all, a fixed answer, to
measure the HTTP server alone), with the access log on, on a free loopback port, and
prints ``READY <port>`` once it listens. The benchmark server answers ``GET /`` like
Ollama, so the service is given as a provider rather than fingerprinted from its URL.
It exits when stdin closes.

SERVER is the HTTP server (the candidates of ``docs/performance.md``):

==================  ===============================================================
``modelport``       what ``modelport serve`` runs (the default): uvicorn, httptools,
                    uvloop, every connection behind modelport's guard
``uvicorn-h11``     the same with uvicorn's h11 parser under the guard
``uvicorn-httptools-bare``, ``uvicorn-h11-bare``   uvicorn alone, as configured before
``granian``         granian (Rust, hyper) with its own limits, one worker
``hypercorn``       hypercorn (h11) on uvloop with its own limits
==================  ===============================================================

``bench/gateway_app.py`` builds the same app for servers that import it by name.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SERVERS = (
    "modelport",
    "uvicorn-h11",
    "uvicorn-httptools-bare",
    "uvicorn-h11-bare",
    "granian",
    "hypercorn",
)


class Static:
    """An ASGI app that answers every request with the same small JSON: what the HTTP
    server alone costs (kind ``static``)."""

    BODY = b'{"choices":[{"message":{"role":"assistant","content":"Hello!"}}]}'

    class client:
        @staticmethod
        async def aclose() -> None:
            return None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        while (await receive()).get("more_body"):
            pass
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", b"%d" % len(self.BODY)),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": self.BODY})


def build_app(kind: str, url: str) -> Any:
    import modelport
    from modelport.gateway import create_app

    if kind == "static":
        return Static()
    provider: Any
    if kind == "llamacpp":
        provider = modelport.LlamaCppProvider(url, timeout=120.0)
    elif kind == "fake":
        from modelport.testing import FakeProvider

        provider = FakeProvider(models=["bench"], reply="Hello! The sky is blue.")
    else:
        provider = modelport.OpenAICompatibleProvider(url, timeout=120.0)
    client = modelport.AsyncClient(services=[provider], timeout=120.0)
    return create_app(client)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _ready_when_listening(port: int) -> None:
    """For servers with no start-up hook: say READY once the port answers."""
    for _ in range(600):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        except OSError:
            time.sleep(0.1)
            continue
        print(f"READY {port}", flush=True)
        return
    os._exit(1)


def _uvicorn(app: Any, port: int, http: str, guarded: bool) -> None:
    from modelport.cli import _serve
    from modelport.gateway import ServerLimits

    if guarded and http == "httptools":

        async def announce(bound: int) -> None:
            print(f"READY {bound}", flush=True)

        _serve.run(app, host="127.0.0.1", port=port, limits=ServerLimits(),
                   log_level="warning", announce=announce)  # fmt: skip
        return
    import uvicorn

    protocol: Any = http
    if guarded:  # the guard over uvicorn's h11 protocol
        from uvicorn.protocols.http.h11_impl import H11Protocol

        from modelport.gateway._guard import Connections, Guard

        connections = Connections(ServerLimits().within_open_files(), [app.stamp])

        def protocol(**kwargs: Any) -> Guard:
            return Guard(H11Protocol(**kwargs), connections)

    threading.Thread(target=_ready_when_listening, args=(port,), daemon=True).start()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, http=protocol, loop="uvloop", ws="none",
        log_level="warning", access_log=False, lifespan="on", server_header=False,
        h11_max_incomplete_event_size=96 * 1024 if guarded else None,
    )  # fmt: skip
    uvicorn.Server(config).run()


def _hypercorn(app: Any, port: int) -> None:
    import uvloop
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.accesslog = None
    config.errorlog = None
    threading.Thread(target=_ready_when_listening, args=(port,), daemon=True).start()
    uvloop.run(serve(app, config))  # type: ignore[arg-type]


_CHILDREN: list[subprocess.Popen[bytes]] = []
"""Server processes of our own (granian's), ended with this one."""


def _granian(kind: str, url: str, port: int) -> None:
    """granian runs its workers in processes of their own: run its command line."""
    env = dict(os.environ, BENCH_KIND=kind, BENCH_URL=url, PYTHONPATH=str(HERE))
    proc = subprocess.Popen(
        [sys.executable, "-m", "granian", "--interface", "asgi", "--host", "127.0.0.1",
         "--port", str(port), "--workers", "1", "--loop", "uvloop", "--http", "1",
         "--no-ws", "--log-level", "warning", "gateway_app:app"],
        env=env,
    )  # fmt: skip
    _CHILDREN.append(proc)
    _ready_when_listening(port)
    try:
        proc.wait()
    finally:
        proc.kill()


def main() -> None:
    from modelport.cli import _serve

    kind, url = sys.argv[1], sys.argv[2]
    server = sys.argv[3] if len(sys.argv) > 3 else "modelport"
    if server not in SERVERS:
        raise SystemExit(f"unknown server {server!r}; one of {', '.join(SERVERS)}")
    port = _free_port()

    def watch_stdin() -> None:
        sys.stdin.read()
        for child in _CHILDREN:  # granian and its workers: terminate, then kill
            child.terminate()
            try:
                child.wait(5)
            except subprocess.TimeoutExpired:
                child.kill()
        os._exit(0)

    threading.Thread(target=watch_stdin, daemon=True).start()
    _serve._setup_logging("info")  # one access-log line per request, as modelport serve
    if server == "granian":
        _granian(kind, url, port)
        return
    app = build_app(kind, url)
    if server == "hypercorn":
        _hypercorn(app, port)
    else:
        parser = "h11" if "h11" in server else "httptools"
        _uvicorn(app, port, parser, guarded=not server.endswith("-bare"))
    asyncio.run(app.client.aclose())


if __name__ == "__main__":
    main()

"""Run the gateway for the benchmarks: ``python bench/gateway.py KIND URL``.

It serves ``modelport.gateway.create_app`` over one service (``openai`` or
``llamacpp`` at URL, or ``fake``: an in-memory service, to measure the gateway
without an upstream request) exactly as ``modelport serve`` does (the same uvicorn settings,
the access log on), on a free loopback port, and prints ``READY <port>`` once it
listens. The benchmark server answers ``GET /`` like Ollama, so the service is given
as a provider rather than fingerprinted from its URL. It exits when stdin closes.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import threading
from typing import Any


def main() -> None:
    import modelport
    from modelport.cli import _serve
    from modelport.gateway import create_app

    kind, url = sys.argv[1], sys.argv[2]
    provider: Any
    if kind == "llamacpp":
        provider = modelport.LlamaCppProvider(url, timeout=120.0)
    elif kind == "fake":
        from modelport.testing import FakeProvider

        provider = FakeProvider(models=["bench"], reply="Hello! The sky is blue.")
    else:
        provider = modelport.OpenAICompatibleProvider(url, timeout=120.0)
    client = modelport.AsyncClient(services=[provider], timeout=120.0)
    app = create_app(client)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    async def announce(bound: int) -> None:
        print(f"READY {bound}", flush=True)

    def watch_stdin() -> None:
        sys.stdin.read()
        os._exit(0)

    threading.Thread(target=watch_stdin, daemon=True).start()
    _serve._setup_logging("info")  # one access-log line per request, as modelport serve
    _serve.run(app, host="127.0.0.1", port=port, log_level="warning", announce=announce)
    asyncio.run(client.aclose())


if __name__ == "__main__":
    main()

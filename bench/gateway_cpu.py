"""The gateway app's own CPU per request and per chunk, in-process:
``python bench/gateway_cpu.py [--profile CASE] [N]``.

The app (``create_app`` over ``OpenAICompatibleProvider`` at a ``bench/server.py`` it
starts, so the upstream hop is the real one: modelport's asyncio pool) is driven
straight through ASGI on uvloop, no HTTP server in front: what is measured is the
gateway's plumbing, a surface, the client and its transport, and nothing of uvicorn or
the guard. Each case runs N sequential requests after a warm-up and reports
``time.process_time()`` per request (or per chunk): CPU time, far less moved by other
work on a shared machine than wall time. The access log is on, as ``modelport serve``
runs it (``info``; its lines written to /dev/null).

Cases: ``chat`` (``POST /v1/chat/completions``), ``api-chat`` (``POST /api/chat``, the
Ollama surface, not streamed), ``stream`` (a streamed chat of 200 chunks that arrive
together: per chunk), ``paced`` (40 streams of 40 chunks one per millisecond each, so
that a chunk is one read: per chunk), ``fake-chat`` (the in-memory service: no
upstream request at all), and the gateway's own work alone: ``null-chat``,
``null-api-chat`` and ``null-stream``, where the client's ``chat`` and ``chat_stream``
return a canned reply at once (no routing, no provider, no transport).

``--profile CASE`` runs one case under cProfile and prints where the time goes
(by own time and by cumulative time).
"""

from __future__ import annotations

import asyncio
import cProfile
import io
import json
import logging
import os
import pstats
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from layers import _bench_server  # noqa: E402
from metrics import scope  # noqa: E402

Message = dict[str, Any]


def _scope(path: str, body: bytes) -> dict[str, Any]:
    """``bench/metrics.py``'s request, with the headers a real caller (wrk) sends too."""
    found = scope(path, body)
    found["headers"] = [*found["headers"], (b"user-agent", b"bench"), (b"accept", b"*/*")]
    return found


async def one(app: Any, path: str, body: bytes) -> int:
    """One request through the app; the number of body pieces it sent."""
    unread = [{"type": "http.request", "body": body, "more_body": False}]
    done = asyncio.Event()
    pieces = 0

    async def receive() -> Message:
        if unread:  # the body, then nothing until the response is complete
            return unread.pop()
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        nonlocal pieces
        if message["type"] == "http.response.start":
            if message["status"] != 200:
                raise RuntimeError(f"status {message['status']}")
        elif message["type"] == "http.response.body":
            if message.get("body"):
                pieces += 1
            if not message.get("more_body"):
                done.set()

    await app(_scope(path, body), receive, send)
    return pieces


def _body(model: str, stream: bool, **extra: object) -> bytes:
    messages = [{"role": "user", "content": "Why is the sky blue?"}]
    return json.dumps({"model": model, "messages": messages, "stream": stream, **extra}).encode()


Case = Callable[[Any, int], Awaitable[int]]
"""Runs ``n`` units of a case; returns the units done (requests or chunks)."""


async def _chat(app: Any, n: int) -> int:
    body = _body("bench", False)
    for _ in range(n):
        await one(app, "/v1/chat/completions", body)
    return n


async def _api_chat(app: Any, n: int) -> int:
    body = _body("bench", False)
    for _ in range(n):
        await one(app, "/api/chat", body)
    return n


async def _stream(app: Any, n: int) -> int:
    body = _body("bench-200", True)
    chunks = 0
    for _ in range(max(1, n // 200)):
        chunks += await one(app, "/v1/chat/completions", body)
    return chunks


async def _paced(app: Any, n: int) -> int:
    body = _body("pace-40-1", True)
    streams = max(1, n // 40)
    chunks = 0
    for start in range(0, streams, 40):
        counts = await asyncio.gather(
            *(one(app, "/v1/chat/completions", body) for _ in range(min(40, streams - start)))
        )
        chunks += sum(counts)
    return chunks


CASES: dict[str, tuple[str, Case]] = {
    "chat": ("openai", _chat),
    "api-chat": ("openai", _api_chat),
    "stream": ("openai", _stream),
    "paced": ("openai", _paced),
    "fake-chat": ("fake", _chat),
    "null-chat": ("null", _chat),
    "null-api-chat": ("null", _api_chat),
    "null-stream": ("null", _stream),
}


class _Canned:
    """A chat stream of canned chunks, as ``AsyncClient.chat_stream`` returns one."""

    def __init__(self, chunks: list[Any], response: Any) -> None:
        self._chunks = iter(chunks)
        self.response = response
        self.done = False
        self.warnings: tuple[str, ...] = ()

    def __aiter__(self) -> _Canned:
        return self

    async def __anext__(self) -> Any:
        for chunk in self._chunks:
            return chunk
        self.done = True
        raise StopAsyncIteration

    async def aclose(self) -> None:
        return None


def _null(client: Any) -> None:
    """Make ``client`` answer every chat at once with a canned reply (no work of its own)."""
    from modelport.types import ChatChunk, ChatResponse, Usage

    usage = Usage(12, 7, 19)
    response = ChatResponse(
        "Hello! The sky is blue.", "bench", service="mem", finish_reason="stop", usage=usage
    )
    chunks = [ChatChunk(text=f" word{i}") for i in range(200)]
    chunks.append(ChatChunk(finish_reason="stop", usage=usage, done=True))

    async def chat(model: str, messages: object, **options: object) -> Any:
        return response

    def chat_stream(model: str, messages: object, **options: object) -> Any:
        return _Canned(chunks, response)

    client.chat, client.chat_stream = chat, chat_stream


def _app(kind: str, upstream: str) -> Any:
    import modelport
    from modelport.gateway import create_app

    if kind in ("fake", "null"):
        from modelport.testing import FakeProvider

        provider: Any = FakeProvider(models=["bench"], reply="Hello! The sky is blue.")
    else:
        provider = modelport.OpenAICompatibleProvider(upstream, timeout=120.0)
    client = modelport.AsyncClient(services=[provider], timeout=120.0)
    if kind == "null":
        _null(client)
    return create_app(client)


def run(upstream: str, names: list[str], n: int, profile: bool) -> None:
    import uvloop

    from modelport.cli import _serve

    _serve._setup_logging("info")  # the access log as ``modelport serve`` writes it
    sys.stderr = open(os.devnull, "w")  # noqa: SIM115  (its lines go nowhere)
    for handler in logging.getLogger("modelport.gateway").handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(sys.stderr)

    async def main() -> None:
        apps = {kind: _app(kind, upstream) for kind in ("openai", "fake", "null")}
        for name in names:
            kind, case = CASES[name]
            app = apps[kind]
            await case(app, max(200, n // 10))  # warm-up: connections, routing, caches
            profiler = cProfile.Profile() if profile else None
            started = time.process_time()
            if profiler is not None:
                profiler.enable()
            units = await case(app, n)
            if profiler is not None:
                profiler.disable()
            used = time.process_time() - started
            unit = "chunk" if name.endswith(("stream", "paced")) else "request"
            print(f"{name:10} {used / units * 1e6:8.1f} µs CPU per {unit} ({units} {unit}s)")
            if profiler is not None:
                if os.environ.get("PROFILE_OUT"):
                    profiler.dump_stats(os.environ["PROFILE_OUT"])
                out = io.StringIO()
                stats = pstats.Stats(profiler, stream=out)
                stats.sort_stats("tottime").print_stats(45)
                stats.sort_stats("cumulative").print_stats(70)
                print(out.getvalue())
        for app in apps.values():
            await app.client.aclose()

    uvloop.run(main())


def main() -> None:
    args = sys.argv[1:]
    profile = False
    names = list(CASES)
    if args[:1] == ["--profile"]:
        profile, names, args = True, [args[1]], args[2:]
    n = int(args[0]) if args else 3000
    upstream, server = _bench_server()
    try:
        run(upstream, names, n, profile)
    finally:
        if server.stdin is not None:
            server.stdin.close()
        server.terminate()
        server.wait(15)
        _ = subprocess  # the server is a child process of this one


if __name__ == "__main__":
    main()

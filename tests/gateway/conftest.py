"""Helpers for the gateway tests: an app over fake services, driven in-process through
``httpx.ASGITransport`` (no sockets), or served by uvicorn on a loopback port."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import httpx
import pytest

import modelport
from modelport.gateway import Gateway, create_app

BASE = "http://localhost"
"""A loopback name: a gateway without keys answers only those (DNS rebinding)."""


@asynccontextmanager
async def gateway(
    services: Sequence[Any] | modelport.AsyncClient, **app_kwargs: Any
) -> AsyncIterator[tuple[Gateway, httpx.AsyncClient]]:
    """An app in front of ``services`` (providers, or a ready AsyncClient), and an
    httpx client that calls it in-process."""
    client = (
        services
        if isinstance(services, modelport.AsyncClient)
        else modelport.AsyncClient(services=list(services))
    )
    app = create_app(client, **app_kwargs)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
        try:
            yield app, http
        finally:
            await client.aclose()


@contextmanager
def served(app: Any) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free 127.0.0.1 port in a thread; yield its URL."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


class Records(logging.Handler):
    """Every log record of the gateway, and everything logged at all (for leaks)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def text(self) -> str:
        return "\n".join(r.getMessage() for r in self.records)


@pytest.fixture
def gateway_records() -> Iterator[Records]:
    """Every record of the ``modelport.gateway`` logger, at every level."""
    handler = Records()
    gateway_log = logging.getLogger("modelport.gateway")
    saved = (gateway_log.level, gateway_log.propagate)
    gateway_log.addHandler(handler)
    gateway_log.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        gateway_log.removeHandler(handler)
        gateway_log.setLevel(saved[0])
        gateway_log.propagate = saved[1]


SSE_HI = (
    b'data: {"choices":[{"index":0,"delta":{"content":"hi"}}]}\n\n'
    b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
    b"data: [DONE]\n\n"
)


def recording_backend(
    name: str = "up",
) -> tuple[modelport.OpenAICompatibleProvider, list[httpx.Request]]:
    """An OpenAI-compatible service over ``httpx.MockTransport`` that serves model
    ``m`` (one reply, or a stream) and records every request it gets."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path.endswith("/models"):
            return httpx.Response(200, json={"data": [{"id": "m"}]})
        if request.content and json.loads(request.content).get("stream"):
            return httpx.Response(
                200, content=SSE_HI, headers={"content-type": "text/event-stream"}
            )
        return httpx.Response(
            200, json={"choices": [{"message": {"content": "hi"}, "finish_reason": "stop"}]}
        )

    provider = modelport.OpenAICompatibleProvider(
        "http://127.0.0.1:9/v1", name=name, transport=httpx.MockTransport(handler)
    )
    return provider, seen

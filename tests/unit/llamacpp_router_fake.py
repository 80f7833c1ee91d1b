"""A scripted fake llama-server in router mode, for unit and CLI tests (no sockets).

Routes answer with the bodies recorded from a real router
(``tests/fixtures/llamacpp/router``, see its ``SOURCES.md``). Like the real server, a
route it does not know answers 404 with llama-server's ``File Not Found`` error object.
A route may be a path (``/props``) or a path with its query
(``/props?model=alpha&autoload=false``); the exact one wins.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from modelport import LlamaCppProvider
from tests.conftest import fixture_bytes

__all__ = ["BASE_URL", "FakeRouter", "no_autoload", "plain", "recorded", "router"]

BASE_URL = "http://127.0.0.1:8080"
JSON = "application/json; charset=utf-8"

Reply = Callable[[httpx.Request], httpx.Response]


def recorded(name: str, status: int = 200, content_type: str = JSON) -> Reply:
    """A recorded body with the status it came with; a fresh response each time."""
    content = fixture_bytes(f"llamacpp/router/{name}")

    def make(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=content, headers={"content-type": content_type})

    return make


def not_found(request: httpx.Request) -> httpx.Response:
    """llama-server's answer to a path it does not have (``plain_models_load.json``)."""
    return recorded("plain_models_load.json", 404)(request)


@dataclass
class FakeRouter:
    """Routes ``(METHOD, target)`` to replies; a list of replies is served in order and
    its last one repeats. Every request is recorded in ``calls``."""

    routes: dict[tuple[str, str], list[Reply]] = field(default_factory=dict)
    calls: list[httpx.Request] = field(default_factory=list)

    def on(self, method: str, target: str, *replies: Reply) -> FakeRouter:
        self.routes[(method, target)] = list(replies)
        return self

    def handler(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.calls.append(request)
        target = _target(request)
        queue = self.routes.get((request.method, target)) or self.routes.get(
            (request.method, request.url.path)
        )
        if not queue:
            return not_found(request)
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        return answer(request)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handler)

    def provider(self, base_url: str = BASE_URL, **kwargs: Any) -> LlamaCppProvider:
        kwargs.setdefault("poll_interval", 0)
        return LlamaCppProvider(base_url, transport=self.transport(), **kwargs)

    # ---- what was sent ----------------------------------------------------------

    def paths(self) -> list[str]:
        """Every request as ``METHOD /path?query``, in order."""
        return [f"{c.method} {_target(c)}" for c in self.calls]

    def sent_to(self, method: str, path: str) -> list[Any]:
        """The JSON bodies sent to one route, in order."""
        return [
            json.loads(c.content) if c.content else None
            for c in self.calls
            if c.method == method and c.url.path == path
        ]

    def read_timeout(self, method: str, path: str) -> float:
        """The read timeout of the last request to one route."""
        call = [c for c in self.calls if c.method == method and c.url.path == path][-1]
        return float(call.extensions["timeout"]["read"])


def _target(request: httpx.Request) -> str:
    query = request.url.query.decode()
    return request.url.path + (f"?{query}" if query else "")


def router(*lists: str) -> FakeRouter:
    """``llama-server --models-dir DIR --models-max 1`` with ``alpha`` and ``beta``.

    ``lists`` are the ``GET /v1/models`` bodies to serve in order (the last repeats);
    by default both models are unloaded.
    """
    return (
        FakeRouter()
        .on("GET", "/health", recorded("health_router.json"))
        .on("GET", "/props", recorded("props_router.json"))
        .on("GET", "/props?model=alpha&autoload=false", recorded("props_model_alpha.json"))
        .on(
            "GET",
            "/props?model=beta&autoload=false",
            recorded("props_model_unloaded_autoload_false.json", 400),
        )
        .on(
            "GET", "/v1/models", *[recorded(name) for name in lists or ["models_all_unloaded.json"]]
        )
    )


def no_autoload(*lists: str) -> FakeRouter:
    """The same router started with ``--no-models-autoload``."""
    fake = router(*lists)
    return fake.on("GET", "/props", recorded("noautoload_props_router.json"))


def plain() -> FakeRouter:
    """A plain ``llama-server -m MODEL``: no router, no ``/models/load``."""
    return FakeRouter().on("GET", "/props", recorded("plain_props.json"))

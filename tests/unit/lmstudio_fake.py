"""A scripted fake LM Studio for the LM Studio unit tests (no sockets).

Routes answer with bodies from ``tests/fixtures/lmstudio`` (LM Studio's own docs and
user captures). Like the real server, a route it does not know answers **HTTP 200**
with ``{"error": "Unexpected endpoint or method. (METHOD /path)"}``.
"""

from __future__ import annotations

__all__ = ["FakeLMStudio", "LMStudioProvider", "find_lmstudio_home", "server_port_from_config"]

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from modelport.providers.lmstudio import (
    LMStudioProvider,
    find_lmstudio_home,
    server_port_from_config,
)
from tests.conftest import fixture_bytes, load_fixture

BASE_URL = "http://127.0.0.1:1234"

Reply = httpx.Response | Callable[[httpx.Request], httpx.Response]


def reply(
    status: int = 200,
    *,
    json_body: Any = None,
    content: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> Callable[[httpx.Request], httpx.Response]:
    """A fresh response each time it is used (an httpx.Response can be read only once)."""

    def make(request: httpx.Request) -> httpx.Response:
        if content is not None:
            return httpx.Response(status, content=content, headers=headers)
        return httpx.Response(status, json=json_body, headers=headers)

    return make


def fixture_reply(name: str, status: int = 200) -> Callable[[httpx.Request], httpx.Response]:
    return reply(
        status,
        content=fixture_bytes(f"lmstudio/{name}"),
        headers={"content-type": "application/json"},
    )


def sse_reply(
    payloads: list[Any], *, done: bool = True
) -> Callable[[httpx.Request], httpx.Response]:
    """An SSE body: each payload is a dict (dumped) or a raw JSON line."""
    body = b""
    for payload in payloads:
        line = payload if isinstance(payload, str) else json.dumps(payload)
        body += b"data: " + line.encode() + b"\n\n"
    if done:
        body += b"data: [DONE]\n\n"
    return reply(200, content=body, headers={"content-type": "text/event-stream"})


def jsonl_fixture_as_sse(name: str) -> list[str]:
    """The chunk lines of a captured stream (captured with ``data: `` stripped)."""
    lines = fixture_bytes(f"lmstudio/{name}").decode().splitlines()
    return [line for line in lines if line.strip() and line.strip() != "[DONE]"]


def unexpected_endpoint(request: httpx.Request) -> httpx.Response:
    return httpx.Response(
        200, json={"error": f"Unexpected endpoint or method. ({request.method} {request.url.path})"}
    )


def not_found_404(request: httpx.Request) -> httpx.Response:
    """What llama.cpp (and most servers) answer for a path they do not have."""
    return httpx.Response(
        404, json={"error": {"message": "File Not Found", "type": "not_found_error", "code": 404}}
    )


def embeddings_fixture() -> dict[str, Any]:
    """``v0_embeddings.json`` with its ``... (truncated for brevity) ...`` line removed."""
    text = fixture_bytes("lmstudio/v0_embeddings.json").decode()
    kept = [line for line in text.splitlines() if "truncated for brevity" not in line]
    return json.loads("\n".join(kept))  # type: ignore[no-any-return]


def chat_completion(content: str | None = "Hello!", **message: Any) -> dict[str, Any]:
    """``v0_chat.json`` reduced to the OpenAI-compatible shape, with a chosen message."""
    body = load_fixture("lmstudio/v0_chat.json")
    for key in ("stats", "model_info", "runtime"):
        body.pop(key)
    body["choices"][0]["message"] = {"role": "assistant", "content": content, **message}
    return body  # type: ignore[no-any-return]


def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-um3b2l9t12bzrtha63q8",
        "object": "chat.completion.chunk",
        "created": 1747835957,
        "model": "qwen/qwen3-8b",
        "system_fingerprint": "qwen/qwen3-8b",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        **extra,
    }


@dataclass
class FakeLMStudio:
    """Routes ``(METHOD, path)`` to replies; a list of replies is served in order and
    its last one repeats. Every request is recorded in ``calls``."""

    routes: dict[tuple[str, str], list[Reply]] = field(default_factory=dict)
    calls: list[httpx.Request] = field(default_factory=list)
    fallback: Callable[[httpx.Request], httpx.Response] = unexpected_endpoint

    def on(self, method: str, path: str, *replies: Reply) -> FakeLMStudio:
        self.routes[(method, path)] = list(replies)
        return self

    def handler(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.calls.append(request)
        queue = self.routes.get((request.method, request.url.path))
        if not queue:
            return self.fallback(request)
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        return answer(request) if callable(answer) else answer

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handler)

    def provider(self, base_url: str = BASE_URL, **kwargs: Any) -> Any:
        kwargs.setdefault("home", Path("/nonexistent-lmstudio-home"))
        return LMStudioProvider(base_url, transport=self.transport(), **kwargs)

    # ---- what was sent ----------------------------------------------------------

    def paths(self) -> list[str]:
        return [f"{c.method} {c.url.path}" for c in self.calls]

    def sent(self, index: int = -1) -> Any:
        return json.loads(self.calls[index].content)

    def sent_to(self, method: str, path: str) -> list[Any]:
        return [
            json.loads(c.content) if c.content else None
            for c in self.calls
            if c.method == method and c.url.path == path
        ]

    def read_timeout(self, index: int = -1) -> float:
        return float(self.calls[index].extensions["timeout"]["read"])


def lmstudio_04() -> FakeLMStudio:
    """LM Studio 0.4+: the native v1 API, REST v0, and the OpenAI-compatible API."""
    return (
        FakeLMStudio()
        .on("GET", "/lmstudio-greeting", reply(json_body={"lmstudio": True}))
        .on("GET", "/api/v1/models", fixture_reply("api_v1_models.json"))
        .on("GET", "/api/v0/models", fixture_reply("v0_models.json"))
        .on("GET", "/v1/models", fixture_reply("v1_models.json"))
    )


def lmstudio_03() -> FakeLMStudio:
    """LM Studio 0.3.6..0.3.x: REST v0 but no native v1 (an "unexpected endpoint")."""
    return (
        FakeLMStudio()
        .on("GET", "/lmstudio-greeting", reply(json_body={"lmstudio": True}))
        .on("GET", "/api/v0/models", fixture_reply("v0_models.json"))
        .on("GET", "/v1/models", fixture_reply("v1_models.json"))
    )

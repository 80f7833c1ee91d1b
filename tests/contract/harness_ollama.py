"""A fake Ollama server: the contract harness, and a scripted server for the unit tests.

:class:`FakeOllama` answers whatever routes a test gives it and records every request
(method, path, JSON body, headers), so tests can pin the exact JSON modelport sends.
Unknown paths get gin's plain-text ``404 page not found``, as a real Ollama answers.
:class:`OllamaHarness` is the contract suite's fake server, built on the same wire
format (NDJSON streams, ``{"error": ...}`` bodies, the documented status codes).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from modelport.providers.base import Provider
from modelport.providers.ollama import OllamaProvider

from .harness import EMBED_VECTOR, MODELS, USAGE, Call, Harness, ndjson

BASE_URL = "http://127.0.0.1:11434"
NDJSON = {"content-type": "application/x-ndjson"}

Handler = Callable[[httpx.Request, Any], httpx.Response]


# --------------------------------------------------------------------------- scripted server


def reply(status: int = 200, body: Any = None, headers: Mapping[str, str] | None = None) -> Handler:
    """A route answering ``status`` with ``body``: a dict/list is JSON, str is text, bytes raw."""

    def handler(request: httpx.Request, sent: Any) -> httpx.Response:
        if isinstance(body, (dict, list)):
            return httpx.Response(status, json=body, headers=headers)
        if isinstance(body, str):
            return httpx.Response(
                status, text=body, headers=headers or {"content-type": "text/plain; charset=utf-8"}
            )
        return httpx.Response(status, content=body or b"", headers=headers)

    return handler


def stream_reply(lines: list[Any], *, status: int = 200, tail: bytes = b"") -> Handler:
    """A route answering an NDJSON stream of ``lines`` (plus raw ``tail`` bytes)."""

    def handler(request: httpx.Request, sent: Any) -> httpx.Response:
        return httpx.Response(status, content=ndjson(lines) + tail, headers=NDJSON)

    return handler


def not_found_text() -> httpx.Response:
    return httpx.Response(404, text="404 page not found", headers={"content-type": "text/plain"})


class FakeOllama:
    """A scripted Ollama behind :class:`httpx.MockTransport` that records every request.

    ``routes`` maps ``"/api/chat"`` or ``"POST /api/chat"`` to a handler
    (``(request, json_body) -> httpx.Response``), such as :func:`reply`.
    """

    def __init__(self, routes: Mapping[str, Handler] | None = None) -> None:
        self.routes: dict[str, Handler] = dict(routes or {})
        self.sent: list[Call] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        self.sent.append(Call(request.method, request.url.path, body, request.headers))
        route = self.routes.get(f"{request.method} {request.url.path}") or self.routes.get(
            request.url.path
        )
        if route is None:
            return not_found_text()
        return route(request, body)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handler)

    def provider(self, base_url: str = BASE_URL, **kwargs: Any) -> OllamaProvider:
        return OllamaProvider(base_url, transport=self.transport(), **kwargs)

    def bodies(self, path: str) -> list[Any]:
        """The JSON bodies sent to ``path``, in order."""
        return [call.json for call in self.sent if call.path == path]

    def paths(self) -> list[str]:
        return [f"{call.method} {call.path}" for call in self.sent]


# --------------------------------------------------------------------------- contract harness


def _tag(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "model": name,
        "modified_at": "2025-05-04T17:37:44.706015396-07:00",
        "size": 2019393189,
        "digest": hashlib.sha256(name.encode()).hexdigest(),
        "details": {
            "parent_model": "",
            "format": "gguf",
            "family": "llama",
            "families": ["llama"],
            "parameter_size": "3.2B",
            "quantization_level": "Q4_K_M",
        },
    }


def _show(name: str) -> dict[str, Any]:
    capabilities = ["embedding"] if name == "embedder" else ["completion", "tools"]
    return {
        "details": _tag(name)["details"],
        "model_info": {"general.architecture": "llama", "llama.context_length": 131072},
        "capabilities": capabilities,
        "modified_at": "2025-05-04T17:37:44.706015396-07:00",
    }


@dataclass
class OllamaHarness(Harness):
    """Ollama's native API: ``/api/tags`` + ``/api/show``, NDJSON chat, ``{"error": ...}``."""

    kind: str = "ollama"
    base_url: str = BASE_URL

    def make_provider(self, transport: httpx.MockTransport, **kwargs: Any) -> Provider:
        return OllamaProvider(self.base_url, transport=transport, **kwargs)

    def route(self, request: httpx.Request, body: Any) -> tuple[str, str | None]:
        path = request.url.path
        if path in ("/", "/api/version"):
            return "health", None
        if path in ("/api/tags", "/api/show", "/api/ps"):
            return "models", None
        if path == "/api/chat":
            return ("chat" if body.get("stream") is False else "stream"), body.get("model")
        if path == "/api/embed":
            return "embed", body.get("model")
        return "other", None

    def health_response(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/":
            return httpx.Response(200, text="Ollama is running")
        return httpx.Response(200, json={"version": "0.12.6"})

    def models_response(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/api/tags":
            return httpx.Response(200, json={"models": [_tag(m) for m in MODELS]})
        if path == "/api/ps":
            return httpx.Response(200, json={"models": []})
        name = json.loads(request.content).get("model", "")
        if name.removesuffix(":latest") not in MODELS:
            return httpx.Response(404, json={"error": f"model '{name}' not found"})
        return httpx.Response(200, json=_show(name.removesuffix(":latest")))

    def _final(self, model: str, text: str = "") -> dict[str, Any]:
        return {
            "model": model,
            "created_at": "2025-07-07T20:22:19.19314Z",
            "message": {"role": "assistant", "content": text},
            "done_reason": "stop",
            "done": True,
            "total_duration": 182242375,
            "load_duration": 41295167,
            "prompt_eval_count": USAGE["prompt"],
            "prompt_eval_duration": 24573166,
            "eval_count": USAGE["completion"],
            "eval_duration": 115959084,
        }

    def chat_response(self, model: str, text: str) -> httpx.Response:
        return httpx.Response(200, json=self._final(model, text))

    def stream_response(
        self, model: str, pieces: list[str], *, finish: bool = True, error: str | None = None
    ) -> httpx.Response:
        lines: list[Any] = [
            {
                "model": model,
                "created_at": "2025-07-07T20:22:19.184789Z",
                "message": {"role": "assistant", "content": piece},
                "done": False,
            }
            for piece in pieces
        ]
        if error is not None:
            lines.append({"error": error})
        elif finish:
            lines.append(self._final(model))
        return httpx.Response(200, content=ndjson(lines), headers=NDJSON)

    def embed_response(self, model: str, count: int) -> httpx.Response:
        return httpx.Response(
            200,
            json={
                "model": model,
                "embeddings": [EMBED_VECTOR] * count,
                "total_duration": 14143917,
                "load_duration": 1019500,
                "prompt_eval_count": 2 * count,
            },
        )

    def error_response(self, scenario: str, model: str) -> httpx.Response:
        if scenario == "missing":
            return httpx.Response(404, json={"error": f"model '{model}' not found"})
        if scenario == "overflow":
            return httpx.Response(
                400,
                json={
                    "error": "the prompt is longer than the context length currently available "
                    "to the model; increase num_ctx or shorten the prompt"
                },
            )
        if scenario == "busy":
            return httpx.Response(
                503,
                json={"error": "server busy, please try again.  maximum pending requests exceeded"},
            )
        return httpx.Response(
            500, json={"error": "llama runner process has terminated: exit status 2"}
        )

"""Fake model servers for the command-line tests.

Every fake is a real provider class over ``httpx.MockTransport`` (or a real socket
on 127.0.0.1), replaying the servers' own wire formats from the contract harnesses,
so the CLI is exercised through the public API exactly as a user's server would be.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from modelport._http.decoders import NDJSONDecoder
from modelport._http.ops import ItemOp, Op, Request, send, stream
from modelport.errors import ModelportError, StreamError
from modelport.providers import LlamaCppProvider
from modelport.types import PullProgress
from tests.conftest import load_fixture
from tests.contract.harness import Harness, ndjson
from tests.contract.harness_openai import LlamaCppHarness, OpenAIHarness

__all__ = [
    "LlamaCppHarness",
    "LoopbackServer",
    "ManagedHarness",
    "ManagingProvider",
    "OpenAIHarness",
    "ThinkingHarness",
    "ollama_pull_lines",
]


def ollama_pull_lines() -> list[dict[str, Any]]:
    """Ollama's documented pull stream: manifest, two layers downloading, then the
    final statuses (tests/fixtures/ollama/pull_stream_*)."""
    layer = load_fixture("ollama/pull_stream_2_downloading.json")
    total = layer["total"]
    lines: list[dict[str, Any]] = [load_fixture("ollama/pull_stream_1_manifest.json")]
    for digest, size in (("sha256:aaaa1111bbbb2222", total), ("sha256:cccc3333dddd4444", 4096)):
        for done in (0, size // 2, size):
            lines.append(
                {
                    "status": f"pulling {digest[7:19]}",
                    "digest": digest,
                    "total": size,
                    "completed": done,
                }
            )
    lines += [
        {"status": "verifying sha256 digest"},
        {"status": "writing manifest"},
        {"status": "removing any unused layers"},
        {"status": "success"},
    ]
    return lines


class _PullDecoder:
    """Ollama-shaped NDJSON pull progress, with its in-band ``{"error": ...}`` line."""

    done = False

    def __init__(self) -> None:
        self.error: ModelportError | None = None
        self._lines = NDJSONDecoder()

    def feed(self, data: bytes) -> list[PullProgress]:
        return self._items(self._lines.feed(data))

    def finish(self) -> list[PullProgress]:
        return self._items(self._lines.finish())

    def interrupted(self, error: ModelportError) -> ModelportError:
        return StreamError(f"The download broke off: {error.message}")

    def _items(self, lines: list[Any]) -> list[PullProgress]:
        out: list[PullProgress] = []
        for line in lines:
            if "error" in line:
                self.error = StreamError(f"Pull failed: {line['error']}", service="managed")
                break
            out.append(
                PullProgress(
                    status=line["status"],
                    completed=line.get("completed"),
                    total=line.get("total"),
                    digest=line.get("digest"),
                )
            )
        return out


class ManagingProvider(LlamaCppProvider):
    """A llama.cpp provider that can also pull, load and unload (as Ollama and LM Studio
    can), so the management commands are exercised through a real provider."""

    can_pull = True

    def _op_load(self, model: str, context_length: int | None, ttl: float | None) -> Op[None]:
        yield from send(
            Request(
                "POST",
                "/manage/load",
                {"model": model, "context_length": context_length, "ttl": ttl},
            )
        )

    def _op_unload(self, model: str) -> Op[None]:
        yield from send(Request("POST", "/manage/unload", {"model": model}))

    def _op_pull(self, model: str) -> ItemOp[PullProgress]:
        request = Request("POST", "/api/pull", {"model": model, "stream": True})
        yield from stream(request, _PullDecoder())


@dataclass
class ManagedHarness(LlamaCppHarness):
    """The llama.cpp fake plus the management endpoints of :class:`ManagingProvider`.

    ``loaded`` holds what is loaded; ``pull_lines`` is the pull stream to send
    (``pull_error`` cuts it short with Ollama's in-band error line).
    """

    loaded: dict[str, dict[str, Any]] = field(default_factory=dict)
    pull_lines: list[dict[str, Any]] = field(default_factory=ollama_pull_lines)
    pull_error: str | None = None

    def make_provider(self, transport: httpx.MockTransport, **kwargs: Any) -> ManagingProvider:
        kwargs.setdefault("name", "managed")
        return ManagingProvider(self.base_url, transport=transport, **kwargs)

    def handler(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.startswith("/manage/") or path == "/api/pull":
            body = json.loads(request.content)
            self.calls.append(_call(request, body))
            if body["model"] in ("missing", "crash"):
                return self.error_response(body["model"], body["model"])
            if path == "/manage/load":
                self.loaded[body["model"]] = body
                return httpx.Response(200, json={"status": "loaded"})
            if path == "/manage/unload":
                self.loaded.pop(body["model"], None)
                return httpx.Response(200, json={"status": "unloaded"})
            lines: list[Any] = list(self.pull_lines)
            if self.pull_error is not None:  # fails after the manifest and the first progress
                lines = [*lines[:2], {"error": self.pull_error}]
            return httpx.Response(
                200, content=ndjson(lines), headers={"content-type": "application/x-ndjson"}
            )
        return super().handler(request)


def _call(request: httpx.Request, body: Any) -> Any:
    from tests.contract.harness import Call

    return Call(request.method, request.url.path, body, request.headers)


@dataclass
class ThinkingHarness(LlamaCppHarness):
    """A llama.cpp server whose model reasons first (``reasoning_content`` deltas)."""

    def stream_events(self, model: str, pieces: list[str], finish: bool) -> list[Any]:
        events = super().stream_events(model, pieces, finish)
        thought = {
            "id": "chatcmpl-1",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": model,
            "choices": [
                {"index": 0, "delta": {"reasoning_content": "Let me think."}, "finish_reason": None}
            ],
        }
        return [events[0], thought, *events[1:]]


class LoopbackServer:
    """A real HTTP server on 127.0.0.1 (port 0) that answers with a harness's handler."""

    def __init__(self, harness: Harness) -> None:
        self.harness = harness
        handler = _make_handler(harness)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> LoopbackServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def _make_handler(harness: Harness) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            content = self.rfile.read(length) if length else b""
            request = httpx.Request(
                self.command,
                f"http://127.0.0.1{self.path}",
                headers=dict(self.headers.items()),
                content=content,
            )
            if self.path == "/":
                response = httpx.Response(200, text="<html>llama.cpp</html>")
            else:
                response = harness.handler(request)
            body = response.read()
            self.send_response(response.status_code)
            for key, value in response.headers.items():
                if key.lower() not in ("content-length", "transfer-encoding", "connection"):
                    self.send_header(key, value)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_DELETE = _answer

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def lines_of(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def rows(text: str) -> Iterator[list[str]]:
    """The whitespace-separated cells of each non-empty line of plain table output."""
    for line in lines_of(text):
        yield line.split()


@dataclass
class InterruptingHarness(LlamaCppHarness):
    """Model ``interrupt`` streams two pieces, then the user presses Ctrl-C
    (``KeyboardInterrupt`` raised while the body is being read)."""

    def stream_response(
        self, model: str, pieces: list[str], *, finish: bool = True, error: str | None = None
    ) -> httpx.Response:
        if model != "interrupt":
            return super().stream_response(model, pieces, finish=finish, error=error)
        from tests.contract.harness import STREAM_PIECES_BEFORE_FAILURE, sse

        head = sse(self.stream_events(model, STREAM_PIECES_BEFORE_FAILURE, False), done=False)

        def body() -> Iterator[bytes]:
            yield head
            raise KeyboardInterrupt

        return httpx.Response(200, content=body(), headers={"content-type": "text/event-stream"})


@dataclass
class RouterHarness(LlamaCppHarness):
    """llama-server in router mode: ``alpha`` is loaded, ``beta`` and ``embedder`` are not."""

    def models_response(self, request: httpx.Request) -> httpx.Response:
        response = super().models_response(request)
        data = json.loads(response.content)
        for entry in data["data"]:
            entry["status"] = {"value": "loaded" if entry["id"] == "alpha" else "unloaded"}
        return httpx.Response(200, json=data)


class MemoryReportingProvider(LlamaCppProvider):
    """A provider that reports memory use and expiry of loaded models in ``details``,
    as the Ollama provider does from ``/api/ps`` (fixtures/ollama/openapi/ps.json)."""

    def _model(self, entry: Any, props: Any, **options: Any) -> Any:
        from dataclasses import replace

        info = super()._model(entry, props, **options)
        ps = load_fixture("ollama/openapi/ps.json")["models"][0]
        extra = {"size_vram": ps["size_vram"], "expires_at": ps["expires_at"]}
        return replace(info, details={**info.details, **extra})


@dataclass
class TimedHarness(LlamaCppHarness):
    """llama-server with its ``timings`` block on the last chunk (as the real one sends)."""

    def stream_events(self, model: str, pieces: list[str], finish: bool) -> list[Any]:
        events = super().stream_events(model, pieces, finish)
        if finish:
            events[-2]["timings"] = {
                "prompt_n": 7,
                "prompt_ms": 53.221,
                "prompt_per_second": 131.5,
                "predicted_n": 3,
                "predicted_ms": 45.2,
                "predicted_per_second": 66.3559845441599,
            }
        return events

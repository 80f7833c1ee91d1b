"""The Ollama surface's routes and handlers; its answers to unknown paths and methods
are Ollama's own plain-text 404 and 405.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterable
from typing import Any

from ..._version import __version__
from ...errors import CapabilityError, ModelportError
from ...types import ChatResponse, PullProgress
from .. import _errors as errors
from .._errors import Failure
from .._exchange import NDJSON, TEXT, Exchange
from .._json import dumps
from .._pipeline import Encoder, Framing, call, chat
from .._surface import App, ErrorShape, Route, Surface
from ._models import embed_body, legacy_embedding_body, ps_body, show_body, tags_body
from ._replies import StreamEncoder, chat_body, error_line, generate_body, load_body
from ._requests import (
    parse_chat_request,
    parse_embed_request,
    parse_generate_request,
    parse_pull_request,
)

__all__ = ["VERSION", "OllamaSurface"]

VERSION = "0.12.10"
"""The Ollama API version the surface answers like (tool-call ids, ``context_length``
in ``/api/ps``, ``capabilities`` in ``/api/show``)."""


class OllamaSurface(Surface):
    """Ollama's API: chat, generate, embeddings, model lists, pull."""

    name = "ollama"

    def __init__(self, app: App) -> None:
        super().__init__(app)
        refused = {"HEAD": self.not_supported, "POST": self.not_supported}
        self._blobs = Route("/api/blobs/{digest}", refused)

    def routes(self) -> Iterable[Route]:
        yield Route("/", {"GET": self.root, "HEAD": self.root}, public=True)
        yield Route("/api/version", {"GET": self.version, "HEAD": self.version}, public=True)
        yield Route("/api/tags", {"GET": self.tags, "HEAD": self.tags})
        yield Route("/api/ps", {"GET": self.ps})
        for path, handler in (
            ("/api/show", self.show),
            ("/api/chat", self.chat),
            ("/api/generate", self.chat),
            ("/api/embed", self.embed),
            ("/api/embeddings", self.embeddings),
            ("/api/pull", self.pull),
        ):
            yield Route(path, {"POST": handler}, body=True)
        for path in ("/api/create", "/api/copy", "/api/push"):
            yield Route(path, {"POST": self.not_supported})
        yield Route("/api/delete", {"DELETE": self.not_supported})

    def route_with_parameter(self, path: str) -> tuple[Route, str] | None:
        if path.startswith("/api/blobs/"):
            return self._blobs, path[len("/api/blobs/") :]
        return None

    def claims(self, path: str) -> bool:
        return path == "/" or path.startswith("/api/")

    def error(self, failure: Failure) -> ErrorShape:
        return failure.status, errors.headers_for(failure), errors.ollama_body(failure)

    async def no_route(self, ex: Exchange) -> None:
        await ex.raw(404, b"404 page not found", TEXT)  # as Ollama answers: no such route

    async def bad_method(self, ex: Exchange, route: Route) -> None:
        await ex.raw(405, b"405 method not allowed", TEXT, [(b"allow", route.allow())])

    # ------------------------------------------------------------------ handlers

    async def root(self, ex: Exchange, _: object) -> None:
        await ex.raw(200, b"Ollama is running", TEXT)

    async def version(self, ex: Exchange, _: object) -> None:
        await ex.json(200, {"version": VERSION, "modelport": __version__})

    async def tags(self, ex: Exchange, _: object) -> None:
        await ex.json(200, tags_body(await self.client.models()))

    async def ps(self, ex: Exchange, _: object) -> None:
        await ex.json(200, ps_body(await self.client.models()))

    async def show(self, ex: Exchange, body: object) -> None:
        model, _ = parse_pull_request(body)
        ex.model = model
        info = await self.client.model_info(model)
        ex.note(info.service)
        await ex.json(200, show_body(info))

    async def chat(self, ex: Exchange, body: object) -> None:
        """``/api/chat`` and ``/api/generate`` (a chat of its prompt)."""
        generate = ex.path == "/api/generate"
        request = parse_generate_request(body) if generate else parse_chat_request(body)
        if not request.messages:  # Ollama's way to load (or unload) a model
            ex.model = request.model
            if request.unload:
                try:
                    await self.client.unload(request.model)
                except CapabilityError:
                    pass  # servers that cannot unload keep the model: nothing to do
            await ex.json(200, load_body(request.model, generate=generate, unload=request.unload))
            return

        def reply(response: ChatResponse, elapsed: float) -> dict[str, Any]:
            build = generate_body if generate else chat_body
            return build(response, model=request.model, elapsed=elapsed)

        def stream() -> tuple[Encoder, Framing]:
            encoder = StreamEncoder(model=request.model, generate=generate)
            return encoder, Framing(NDJSON, error_line)

        await chat(ex, self.client, request, request.messages, reply=reply, stream=stream)

    async def embed(self, ex: Exchange, body: object) -> None:
        request = parse_embed_request(body)
        if not request.inputs:
            ex.model = request.model
            await ex.json(200, {"model": request.model, "embeddings": []})
            return
        started = time.perf_counter()
        result = await call(
            ex, request.model, self.client.embed(request.model, request.inputs), "embeddings"
        )
        elapsed = time.perf_counter() - started
        await ex.json(
            200,
            embed_body(result, model=request.model, dimensions=request.dimensions, elapsed=elapsed),
        )

    async def embeddings(self, ex: Exchange, body: object) -> None:
        request = parse_embed_request(body, legacy=True)
        if not request.inputs:
            ex.model = request.model
            await ex.json(200, {"embedding": []})
            return
        result = await call(
            ex, request.model, self.client.embed(request.model, request.inputs), "embeddings"
        )
        await ex.json(200, legacy_embedding_body(result))

    async def pull(self, ex: Exchange, body: object) -> None:
        model, stream = parse_pull_request(body)
        ex.model = model
        progress: AsyncIterator[PullProgress] = self.client.pull(model)
        try:
            try:
                first = await progress.__anext__()  # errors before any output get a status
            except StopAsyncIteration:  # nothing to report: done, as Ollama ends a pull
                first = PullProgress(status="success")
            if not stream:
                last = first
                async for step in progress:
                    last = step
                await ex.json(200, _progress(last))
                return
            await ex.open_stream(NDJSON)
            await ex.write(_progress_line(first))
            try:
                async for step in progress:
                    await ex.write(_progress_line(step))
            except ModelportError as exc:
                await ex.write(error_line(self.failure_for(exc)))
        finally:
            await progress.aclose()  # type: ignore[attr-defined]

    async def not_supported(self, ex: Exchange, _: object) -> None:
        await ex.fail(
            errors.not_implemented(
                f"{ex.method} {ex.path} is not supported by the modelport gateway: it serves "
                "models from several servers and does not manage them. Create, copy, push "
                "and delete models on the Ollama server itself."
            )
        )


def _progress(step: PullProgress) -> dict[str, Any]:
    out: dict[str, Any] = {"status": step.status}
    for key in ("digest", "total", "completed"):
        value = getattr(step, key)
        if value is not None:
            out[key] = value
    return out


def _progress_line(step: PullProgress) -> bytes:
    return dumps(_progress(step)) + b"\n"

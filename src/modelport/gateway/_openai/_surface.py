"""The OpenAI surface's routes and handlers (its translation is ``_translate``)."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable
from typing import Any

from ...types import ChatResponse
from .._exchange import SSE, Exchange
from .._pipeline import Encoder, Framing, call, chat, relay
from .._surface import Route, Surface
from . import _stream
from . import _translate as oa

__all__ = ["OpenAISurface"]

_MODEL = "/v1/models/"
_SSE = Framing(SSE, _stream.error_event)
"""How OpenAI's streams are framed: SSE, a failure after the start its error event."""


class OpenAISurface(Surface):
    """OpenAI's chat completions, legacy completions, embeddings and model list,
    reranking (Jina/Cohere's shape), and ``/health``.
    """

    name = "openai"

    def routes(self) -> Iterable[Route]:
        yield Route("/health", {"GET": self.health}, public=True)
        yield Route("/v1/models", {"GET": self.models})
        yield Route("/v1/chat/completions", {"POST": self.chat}, body=True)
        yield Route("/v1/completions", {"POST": self.completions}, body=True)
        yield Route("/v1/embeddings", {"POST": self.embeddings}, body=True)
        yield Route("/v1/rerank", {"POST": self.rerank}, body=True)
        yield Route("/rerank", {"POST": self.rerank}, body=True)

    def route_with_parameter(self, path: str) -> tuple[Route, str] | None:
        if path.startswith(_MODEL) and len(path) > len(_MODEL):
            return self._model, path[len(_MODEL) :]
        return None

    @property
    def _model(self) -> Route:
        return Route(_MODEL + "{id}", {"GET": self.model})

    async def health(self, ex: Exchange, _: object) -> None:
        if not ex.authorized:  # liveness for probes without a key: nothing about services
            await ex.json(200, {"status": "ok"})
            return
        services = await self.client.services()
        loads = self.client._service_loads()
        await ex.json(
            200,
            {
                "status": "ok",
                "gateway": self.app.id,
                "services": [
                    {
                        "name": s.name,
                        "kind": s.kind,
                        "base_url": s.base_url,
                        "status": s.status.value,
                        "in_flight": s.in_flight,
                        "model_count": s.model_count,
                        "error": s.error,
                        **oa.load_fields(loads.get(s.name)),
                    }
                    for s in services
                ],
            },
        )

    async def models(self, ex: Exchange, _: object) -> None:
        await ex.json(200, oa.models_body(await self.client.models()))

    async def model(self, ex: Exchange, model: str) -> None:
        ex.model = model
        info = await self.client.model_info(model)
        ex.note(info.service)
        await ex.json(200, oa.model_body(info, model))

    async def chat(self, ex: Exchange, body: object) -> None:
        request = oa.parse_chat_request(body)
        created = int(time.time())
        completion = f"chatcmpl-{secrets.token_hex(12)}"

        def reply(response: ChatResponse, _: float) -> dict[str, Any]:
            return oa.completion_body(response, model=request.model, id=completion, created=created)

        def stream() -> tuple[Encoder, Framing]:
            encoder = _stream.ChunkEncoder(
                model=request.model,
                id=completion,
                created=created,
                include_usage=request.include_usage,
            )
            return encoder, _SSE

        await chat(ex, self.client, request, request.messages, reply=reply, stream=stream)

    async def embeddings(self, ex: Exchange, body: object) -> None:
        request = oa.parse_embed_request(body)
        result = await call(
            ex, request.model, self.client.embed(request.model, request.inputs), "embeddings"
        )
        await ex.json(
            200, oa.embeddings_body(result, model=request.model, base64_out=request.base64)
        )

    async def completions(self, ex: Exchange, body: object) -> None:
        request = oa.parse_completion_request(body)
        created = int(time.time())
        completion = f"cmpl-{secrets.token_hex(12)}"
        ex.model = request.model
        ex.operation = "text_completion"
        if request.stream:
            encoder = _stream.TextChunkEncoder(
                model=request.model,
                id=completion,
                created=created,
                include_usage=request.include_usage,
            )
            chunks = self.client.complete_stream(
                request.model, request.prompts[0], **request.options
            )
            await relay(ex, chunks, encoder, _SSE)
            return
        response = await call(
            ex,
            request.model,
            self.client.complete(request.model, request.prompts, **request.options),
            "text_completion",
        )
        await ex.json(
            200,
            oa.text_completion_body(response, model=request.model, id=completion, created=created),
        )

    async def rerank(self, ex: Exchange, body: object) -> None:
        request = oa.parse_rerank_request(body)
        result = await call(
            ex,
            request.model,
            self.client.rerank(request.model, request.query, request.documents, request.top_n),
            "rerank",
        )
        await ex.json(
            200, oa.rerank_body(result, model=request.model, documents=request.return_documents)
        )

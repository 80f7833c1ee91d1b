"""Any server that speaks the OpenAI Chat Completions API: vLLM, LocalAI, Jan,
llamafile, KoboldCpp, or a hosted endpoint.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from .._capabilities import guess_capabilities
from .._http.transport import ChatDecoder, Op, Request, Response, in_band_error
from .._http.urls import normalize_base_url
from .._wire import openai_chat as wire
from .._wire.common import ChatRequest
from ..types import ChatResponse, EmbedResponse, ModelInfo, ProviderKind, Service, ServiceStatus
from .base import Provider

__all__ = ["OpenAICompatibleProvider"]


class OpenAICompatibleProvider(Provider):
    """A provider for any OpenAI-compatible server.

    ``base_url`` may be given with or without the trailing ``/v1``
    (``http://127.0.0.1:8000`` and ``http://127.0.0.1:8000/v1`` are the same).

    >>> OpenAICompatibleProvider("http://127.0.0.1:8000/v1", api_key="sk-secret")
    OpenAICompatibleProvider('http://127.0.0.1:8000', name='openai')
    """

    kind: ClassVar[ProviderKind] = "openai"
    server_name: ClassVar[str] = "OpenAI-compatible server"
    start_hint: ClassVar[str] = "Is the server running, and is this its URL?"
    dialect: ClassVar[wire.OpenAIDialect] = wire.DEFAULT_DIALECT
    api_prefix: ClassVar[str] = "/v1"

    def _normalize_url(self, url: str) -> str:
        normalized = normalize_base_url(url)
        if normalized.endswith(self.api_prefix):
            normalized = normalized[: -len(self.api_prefix)]
        return normalized

    @property
    def auth_hint(self) -> str:
        if self._api_key:
            return "Check the api_key passed to the provider."
        return "This server needs an API key: pass api_key=... to the provider."

    # ------------------------------------------------------------------ listing

    def _op_health(self) -> Op[Service]:
        response = yield Request("GET", f"{self.api_prefix}/models")
        entries = wire.parse_model_list(self._json(response), self.ctx)
        return self._service(status=ServiceStatus.AVAILABLE, model_count=len(entries))

    def _op_models(self) -> Op[list[ModelInfo]]:
        response = yield Request("GET", f"{self.api_prefix}/models")
        entries = wire.parse_model_list(self._json(response), self.ctx)
        return [self._model_from_entry(entry) for entry in entries]

    def _model_from_entry(self, entry: Mapping[str, Any]) -> ModelInfo:
        name = entry["id"]
        return ModelInfo(
            id=self._model_id(name),
            name=name,
            service=self.name,
            kind=self.kind,
            capabilities=guess_capabilities(name),
            details={k: v for k, v in entry.items() if k not in ("id", "object")},
        )

    # ------------------------------------------------------------------ chat & embeddings

    def _chat_request(self, req: ChatRequest, *, stream: bool) -> Request:
        return Request(
            "POST",
            f"{self.api_prefix}/chat/completions",
            wire.build_chat_body(req, stream=stream, dialect=self.dialect),
            timeout=req.timeout,
            model=req.model,
            headers={"accept": "text/event-stream"} if stream else {},
        )

    def _op_chat(self, req: ChatRequest) -> Op[ChatResponse]:
        response = yield self._chat_request(req, stream=False)
        data = self._json(response)
        self._raise_in_band(response, data)
        return wire.parse_chat_completion(data, self.ctx, dialect=self.dialect, model=req.model)

    def _stream_chat(self, req: ChatRequest) -> tuple[Request, ChatDecoder]:
        return (
            self._chat_request(req, stream=True),
            wire.OpenAIChatStream(self.ctx, req.model, self.dialect),
        )

    def _op_embed(self, model: str, inputs: list[str]) -> Op[EmbedResponse]:
        response = yield Request(
            "POST",
            f"{self.api_prefix}/embeddings",
            wire.build_embed_body(model, inputs),
            model=model,
        )
        data = self._json(response)
        self._raise_in_band(response, data)
        return wire.parse_embeddings(data, self.ctx, model=model)

    def _raise_in_band(self, response: Response, data: Any) -> None:
        error = in_band_error(response, data, self.ctx, self._classify)
        if error is not None:
            raise error

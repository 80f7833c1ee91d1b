"""Any server that speaks the OpenAI Chat Completions API: vLLM, LocalAI, Jan,
llamafile, KoboldCpp, or a hosted endpoint.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from .._capabilities import guess_capabilities
from .._http.ops import Op, Request, send
from .._http.urls import normalize_base_url
from .._wire import openai_chat as wire
from .._wire.common import ChatRequest, EmbedInputs
from ..types import ChatResponse, EmbedResponse, ModelInfo, ProviderKind, Service, ServiceStatus
from .base import Provider

__all__ = ["OpenAICompatibleProvider", "model_from_entry"]


def model_from_entry(
    entry: Mapping[str, Any], *, service: str, kind: ProviderKind, **details: object
) -> ModelInfo:
    """A :class:`ModelInfo` from one ``/v1/models`` entry, which says little more than
    the id: capabilities are what the name makes near-certain, ``details`` keep the rest.
    Every provider that falls back to ``/v1/models`` builds its models here.
    """
    name = entry["id"]
    return ModelInfo(
        id=f"{service}/{name}",
        name=name,
        service=service,
        kind=kind,
        capabilities=guess_capabilities(name),
        details={**details, **{k: v for k, v in entry.items() if k not in ("id", "object")}},
    )


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
        return (
            "This server needs an API key: pass api_key=... to the provider, or set "
            "MODELPORT_API_KEY_<SERVICE NAME>."
        )

    # ------------------------------------------------------------------ listing

    def _op_health(self) -> Op[Service]:
        response = yield from send(Request("GET", f"{self.api_prefix}/models"))
        entries = wire.parse_model_list(self._body(response), self.ctx)
        return self._service(status=ServiceStatus.AVAILABLE, model_count=len(entries))

    def _op_models(self, refresh: bool = False) -> Op[list[ModelInfo]]:
        response = yield from send(Request("GET", f"{self.api_prefix}/models"))
        entries = wire.parse_model_list(self._body(response), self.ctx)
        return [model_from_entry(entry, service=self.name, kind=self.kind) for entry in entries]

    # ------------------------------------------------------------------ chat & embeddings

    def _chat_request(self, req: ChatRequest, *, stream: bool, path: str | None = None) -> Request:
        return Request(
            "POST",
            path or f"{self.api_prefix}/chat/completions",
            wire.build_chat_body(req, stream=stream, dialect=self.dialect),
            timeout=self._timeout_for(req.timeout, req.model),
            model=req.model,
            headers={"accept": "text/event-stream"} if stream else {},
            deadline=req.deadline,
        )

    def _timeout_for(self, requested: float | None, model: str) -> float | None:
        """The read timeout of a request about ``model``: the caller's, else the
        provider's (``None``).
        """
        return requested

    def _op_chat(self, req: ChatRequest) -> Op[ChatResponse]:
        response = yield from send(self._chat_request(req, stream=False))
        data = self._body(response)
        return wire.parse_chat_completion(data, self.ctx, dialect=self.dialect, model=req.model)

    def _stream_chat(self, req: ChatRequest) -> tuple[Request, wire.OpenAIChatStream]:
        decoder = wire.OpenAIChatStream(
            self.ctx,
            req.model,
            self.dialect,
            rules=self.rules,
            max_event_bytes=self.max_event_bytes,
        )
        return self._chat_request(req, stream=True), decoder

    def _op_embed(self, model: str, inputs: EmbedInputs) -> Op[EmbedResponse]:
        response = yield from send(
            Request(
                "POST",
                f"{self.api_prefix}/embeddings",
                wire.build_embed_body(model, inputs),
                model=model,
                timeout=self._timeout_for(None, model),
            )
        )
        return wire.parse_embeddings(self._body(response), self.ctx, model=model)

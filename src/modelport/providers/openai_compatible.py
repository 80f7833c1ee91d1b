"""Any server that speaks the OpenAI Chat Completions API: vLLM, LocalAI, Jan,
llamafile, KoboldCpp, or a hosted endpoint.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any, ClassVar

from .._capabilities import guess_capabilities
from .._http.ops import ItemOp, Op, Request, send
from .._http.urls import normalize_base_url
from .._streams import StreamItem
from .._wire import openai_chat as wire
from .._wire.common import ChatRequest, CompletionRequest, EmbedInputs, RerankRequest
from ..errors import CapabilityError, ModelportError
from ..types import (
    ChatResponse,
    CompletionResponse,
    EmbedResponse,
    ModelInfo,
    ProviderKind,
    RerankResult,
    Service,
    ServiceStatus,
    TokenCount,
)
from .base import Provider

__all__ = ["OpenAICompatibleProvider", "count_of", "model_from_entry", "with_rerank"]


def count_of(data: object, key: str) -> int:
    """A token count in a body: ``data[key]``, a non-negative integer, or ``TypeError``."""
    value = data[key] if isinstance(data, Mapping) else None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise TypeError(f"{key!r} is not a token count")
    return value


def with_rerank(info: ModelInfo, said: bool | None) -> ModelInfo:
    """``info`` with what the server said about reranking (nothing when it said nothing)."""
    if said is None:
        return info
    return replace(info, capabilities=replace(info.capabilities, rerank=said))


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
    may_be_vllm: ClassVar[bool] = True
    """Whether the server may be vLLM, told from its ``/v1/models`` (``owned_by:
    "vllm"``) before a request that only vLLM takes (a thinking budget, reasoning sent
    back); a generic server never gets those fields, which a strict one may refuse."""

    _vllm: bool | None = None
    """What ``/v1/models`` said: vLLM or not (``None``: not asked yet)."""

    @property
    def _dialect(self) -> wire.OpenAIDialect:
        return wire.VLLM_DIALECT if self._vllm else self.dialect

    def _note_entries(self, entries: list[Mapping[str, Any]]) -> None:
        if self.may_be_vllm:
            self._vllm = any(entry.get("owned_by") == "vllm" for entry in entries)

    def _op_know_server(self, req: ChatRequest, *, always: bool = False) -> Op[None]:
        """Ask ``/v1/models`` whether this is vLLM, once, and only when ``req`` has a
        field that only vLLM takes (or ``always``); a failed look leaves it generic.
        """
        if not self.may_be_vllm or self._vllm is not None:
            return
        if (
            not always
            and req.think_budget is None
            and not any(m.role == "assistant" and m.thinking for m in req.messages)
        ):
            return
        try:
            response = yield from send(Request("GET", f"{self.api_prefix}/models"))
            self._note_entries(wire.parse_model_list(self._body(response), self.ctx))
        except ModelportError:
            pass

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
        self._note_entries(entries)
        return self._service(status=ServiceStatus.AVAILABLE, model_count=len(entries))

    def _op_models(self, refresh: bool = False) -> Op[list[ModelInfo]]:
        response = yield from send(Request("GET", f"{self.api_prefix}/models"))
        entries = wire.parse_model_list(self._body(response), self.ctx)
        self._note_entries(entries)
        models = [model_from_entry(entry, service=self.name, kind=self.kind) for entry in entries]
        if self._vllm:  # vLLM registers /v1/rerank only for a model that can score
            said = yield from self._op_rerank_probe()
            models = [with_rerank(info, said) for info in models]
        return models

    def _op_rerank_probe(self) -> Op[bool | None]:
        """Whether the server reranks, from its answer to ``POST /v1/rerank {}``."""
        response = yield from send(self._rerank_probe())
        return wire.rerank_said(response.status)

    def _rerank_probe(self) -> Request:
        return Request("POST", f"{self.api_prefix}/rerank", {}, check=False)

    # ------------------------------------------------------------------ chat & embeddings

    def _chat_request(self, req: ChatRequest, *, stream: bool, path: str | None = None) -> Request:
        return Request(
            "POST",
            path or f"{self.api_prefix}/chat/completions",
            wire.build_chat_body(req, stream=stream, dialect=self._dialect),
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
        yield from self._op_know_server(req)
        response = yield from send(self._chat_request(req, stream=False))
        data = self._body(response)
        return wire.parse_chat_completion(data, self.ctx, dialect=self._dialect, model=req.model)

    def _op_chat_stream(self, req: ChatRequest) -> ItemOp[StreamItem]:
        yield from self._op_know_server(req)
        yield from super()._op_chat_stream(req)

    def _stream_chat(self, req: ChatRequest) -> tuple[Request, wire.OpenAIChatStream]:
        decoder = wire.OpenAIChatStream(
            self.ctx,
            req.model,
            self._dialect,
            rules=self.rules,
            max_event_bytes=self.max_event_bytes,
        )
        return self._chat_request(req, stream=True), decoder

    def _completion_request(self, req: CompletionRequest, *, stream: bool) -> Request:
        return Request(
            "POST",
            f"{self.api_prefix}/completions",
            wire.build_completion_body(req, stream=stream),
            timeout=self._timeout_for(req.timeout, req.model),
            model=req.model,
            headers={"accept": "text/event-stream"} if stream else {},
            deadline=req.deadline,
        )

    def _op_complete(self, req: CompletionRequest) -> Op[CompletionResponse]:
        response = yield from send(self._completion_request(req, stream=False))
        return wire.parse_text_completion(self._body(response), self.ctx, model=req.model)

    def _stream_complete(self, req: CompletionRequest) -> tuple[Request, wire.OpenAIChatStream]:
        decoder = wire.OpenAIChatStream(
            self.ctx,
            req.model,
            replace(self._dialect, split_think=False),  # raw text: nothing is split out
            rules=self.rules,
            max_event_bytes=self.max_event_bytes,
        )
        return self._completion_request(req, stream=True), decoder

    def _op_count_tokens(self, req: ChatRequest) -> Op[TokenCount]:
        """VLLM counts with ``POST /tokenize`` (the model's chat template applied, as a
        chat would); any other server gets the estimate.
        """
        yield from self._op_know_server(req, always=True)
        if not self._vllm:
            return self._estimated(req)
        chat = wire.build_chat_body(req, stream=False, dialect=self._dialect)
        body = {"model": req.model, "messages": chat["messages"], "add_generation_prompt": True}
        if "tools" in chat:
            body["tools"] = chat["tools"]
        try:
            response = yield from send(Request("POST", "/tokenize", body, model=req.model))
        except CapabilityError:
            return self._estimated(req)
        data = self._body(response)
        return self._counted(req, self._parse("a token count", lambda: count_of(data, "count")))

    def _op_rerank(self, req: RerankRequest) -> Op[RerankResult]:
        response = yield from send(
            Request(
                "POST",
                f"{self.api_prefix}/rerank",
                wire.build_rerank_body(req),
                model=req.model,
                timeout=self._timeout_for(None, req.model),
            )
        )
        return wire.parse_rerank(self._body(response), self.ctx, req)

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

"""Ollama, through its native ``/api/*`` API (default ``http://127.0.0.1:11434``).

The native API says more than Ollama's OpenAI-compatible ``/v1`` surface: each
model's capabilities and trained context (``/api/show``), what is loaded and with
which context (``/api/ps``), per-request ``num_ctx``/``keep_alive``/``think``, the
nanosecond timings of every reply, and model management (pull, load, unload,
delete). The translation lives in :mod:`modelport._wire.ollama_native`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, ClassVar

from .._capabilities import guess_capabilities, merge_capabilities
from .._classify import Rules
from .._classify import ollama as ollama_rules
from .._coerce import opt_int, opt_str
from .._http.ops import ItemOp, Op, Outcome, Request, Response, gather, response_of, send, stream
from .._http.urls import normalize_base_url, parse_ollama_host
from .._naming import close_names, normalize_ollama_name
from .._streams import CompletionItem, StreamItem
from .._wire import ollama_models as models_wire
from .._wire import ollama_native as wire
from .._wire.common import ChatRequest, CompletionRequest, EmbedInputs, completion_from_replies
from ..errors import (
    CapabilityError,
    InvalidRequestError,
    ModelNotFoundError,
    ModelportError,
    ProtocolError,
)
from ..types import (
    Capabilities,
    ChatResponse,
    CompletionResponse,
    EmbedResponse,
    ModelInfo,
    ProviderKind,
    PullProgress,
    Service,
    ServiceStatus,
)
from .base import Provider, ProviderOptions

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["OllamaProvider"]

_NDJSON = {"accept": "application/x-ndjson"}
_LONG_READ = 300.0
"""Read timeout floor for loads and pulls: a cold load or a digest check can be silent
for minutes, and Ollama aborts a load when the client hangs up."""


class OllamaProvider(Provider):
    """A provider for Ollama's native API.

    Args:
        base_url: the server; defaults to ``OLLAMA_HOST`` parsed as Ollama parses it
            (``0.0.0.0``/``::`` mean this machine), else ``http://127.0.0.1:11434``.
            A bare host gets port 11434; a trailing ``/api`` or ``/v1`` is dropped.
        api_key: sent as a bearer token (for ollama.com); defaults to ``OLLAMA_API_KEY``.
        show_cache_ttl: how long the ``/api/show`` facts of a model (keyed by name and
            digest) are reused by :meth:`models`; ``models(refresh=True)`` bypasses it.

    >>> OllamaProvider("gpu-box")
    OllamaProvider('http://gpu-box:11434', name='ollama')
    """

    kind: ClassVar[ProviderKind] = "ollama"
    can_pull: ClassVar[bool] = True
    server_name: ClassVar[str] = "Ollama"
    default_base_url: ClassVar[str] = "http://127.0.0.1:11434"
    start_hint: ClassVar[str] = "Is `ollama serve` running?"

    def __init__(
        self,
        base_url: str | None = None,
        *,
        show_cache_ttl: float = 300.0,
        **options: Unpack[ProviderOptions],
    ) -> None:
        super().__init__(base_url, **options)
        self.show_cache_ttl = float(show_cache_ttl)
        self._show_cache: dict[tuple[str, str], tuple[float, models_wire.ShowFacts]] = {}

    # ------------------------------------------------------------------ configuration

    def _default_url(self) -> str:
        url = parse_ollama_host(os.environ.get("OLLAMA_HOST"))
        return normalize_base_url(url, what="address in OLLAMA_HOST")

    def _normalize_url(self, url: str) -> str:
        text = url.strip()
        if "://" not in text:
            text = parse_ollama_host(text)  # a bare host means Ollama's port, 11434
        normalized = normalize_base_url(text)
        for suffix in ("/api", "/v1"):
            if normalized.endswith(suffix):
                normalized = normalized[: -len(suffix)]
        return normalized

    def _api_key_from_env(self) -> str | None:
        return os.environ.get("OLLAMA_API_KEY") or None

    @property
    def auth_hint(self) -> str:
        return (
            "Set OLLAMA_API_KEY (or pass api_key=...) with a key from ollama.com; "
            "a local Ollama needs no key."
        )

    @property
    def rules(self) -> Rules:
        return ollama_rules.rules

    # ------------------------------------------------------------------ health

    def _op_health(self) -> Op[Service]:
        outcomes = yield from gather(
            [Request("GET", "/"), Request("GET", "/api/version"), Request("GET", "/api/tags")]
        )
        root, version, tags = response_of(outcomes[0]), outcomes[1], outcomes[2]
        number = _field(version, "version")
        number = number if isinstance(number, str) else None
        if "ollama is running" not in root.text.lower() and number is None:
            raise ProtocolError(
                f"{self.ctx.where()} answered GET / with {root.text[:60]!r} and has no "
                "/api/version, so it does not look like Ollama.",
                hint="Check the URL; LM Studio, llama.cpp and vLLM have their own providers.",
                **self.ctx.kwargs(root.status),
            )
        if isinstance(tags, ModelportError):
            return self._service(status=ServiceStatus.DEGRADED, version=number, error=str(tags))
        models = _field(tags, "models")
        return self._service(
            status=ServiceStatus.AVAILABLE,
            version=number,
            model_count=len(models) if isinstance(models, list) else None,
        )

    # ------------------------------------------------------------------ models

    def ps(self) -> list[ModelInfo]:
        """The models loaded in memory now (``/api/ps``), with their allocated context."""
        return self._run_op(self._op_ps())

    async def aps(self) -> list[ModelInfo]:
        """Async :meth:`ps`."""
        return await self._arun_op(self._op_ps())

    def _op_models(self, refresh: bool = False) -> Op[list[ModelInfo]]:
        """Every installed model, with capabilities and context from ``/api/show``.

        The ``/api/show`` lookups run concurrently and are cached per name and digest;
        ``refresh=True`` asks again.
        """
        tags, ps = yield from gather([Request("GET", "/api/tags"), Request("GET", "/api/ps")])
        entries = models_wire.parse_tags(self._body(response_of(tags)), self.ctx)
        loaded = self._loaded(ps)
        facts = yield from self._op_show_all(entries, refresh)
        return [
            self._info(entry["name"], entry, facts.get(entry["name"]), loaded) for entry in entries
        ]

    def _op_show_all(
        self, entries: Sequence[Mapping[str, Any]], refresh: bool
    ) -> Op[dict[str, models_wire.ShowFacts]]:
        now = time.monotonic()
        found: dict[str, models_wire.ShowFacts] = {}
        wanted: list[Mapping[str, Any]] = []
        for entry in entries:
            name = entry["name"]
            listed = models_wire.facts_from_tags_entry(entry)
            if listed is not None:
                found[name] = listed
                continue
            cached = self._show_cache.get(_cache_key(entry))
            if cached is not None and not refresh and cached[0] > now:
                found[name] = cached[1]
                continue
            wanted.append(entry)
        if not wanted:
            return found
        outcomes = yield from gather(
            [
                Request("POST", "/api/show", {"model": entry["name"]}, model=entry["name"])
                for entry in wanted
            ]
        )
        for entry, outcome in zip(wanted, outcomes, strict=True):
            if isinstance(outcome, ModelportError):
                continue  # one unreadable model must not sink the list; guesses fill in
            try:
                facts = models_wire.parse_show(self._body(outcome), self.ctx)
            except ModelportError:
                continue
            self._show_cache[_cache_key(entry)] = (now + self.show_cache_ttl, facts)
            found[entry["name"]] = facts
        return found

    def _op_model_info(self, model: str) -> Op[ModelInfo]:
        show, tags, ps = yield from gather(
            [
                Request("POST", "/api/show", {"model": model}, model=model),
                Request("GET", "/api/tags"),
                Request("GET", "/api/ps"),
            ]
        )
        if isinstance(show, ModelNotFoundError):
            raise self._with_suggestions(show, model, tags) from show
        facts = models_wire.parse_show(self._body(response_of(show)), self.ctx)
        entry = None
        if isinstance(tags, Response):
            entries = self._tag_entries(tags)
            wanted = normalize_ollama_name(model)
            entry = next((e for e in entries if normalize_ollama_name(e["name"]) == wanted), None)
        if entry is not None:
            self._show_cache[_cache_key(entry)] = (
                time.monotonic() + self.show_cache_ttl,
                replace(facts, extra={}),
            )
        name = entry["name"] if entry is not None else model
        info = self._info(name, entry, facts, self._loaded(ps))
        return replace(info, details={**info.details, **facts.extra})

    def _op_ps(self) -> Op[list[ModelInfo]]:
        response = yield from send(Request("GET", "/api/ps"))
        entries = models_wire.parse_ps(self._body(response), self.ctx)
        loaded = {normalize_ollama_name(e["name"]): e for e in entries}
        return [self._info(e["name"], e, None, loaded) for e in entries]

    def _loaded(self, ps: Outcome) -> dict[str, Mapping[str, Any]] | None:
        """Loaded models by normalised name; ``None`` when ``/api/ps`` could not say."""
        if not isinstance(ps, Response):
            return None
        try:
            entries = models_wire.parse_ps(self._body(ps), self.ctx)
        except ModelportError:
            return None
        return {normalize_ollama_name(e["name"]): e for e in entries}

    def _info(
        self,
        name: str,
        entry: Mapping[str, Any] | None,
        facts: models_wire.ShowFacts | None,
        loaded: Mapping[str, Mapping[str, Any]] | None,
    ) -> ModelInfo:
        entry = entry or {}
        listed = entry.get("details")
        details: Mapping[str, Any] = listed if isinstance(listed, Mapping) else {}
        if not details and facts is not None:
            details = facts.details
        running = loaded.get(normalize_ollama_name(name)) if loaded is not None else None
        capabilities = self._capabilities(name, facts)
        extra: dict[str, Any] = {
            "digest": entry.get("digest"),
            "modified_at": entry.get("modified_at"),
            "families": details.get("families"),
            "parent_model": details.get("parent_model"),
            "remote_model": entry.get("remote_model"),
            "remote_host": entry.get("remote_host"),
        }
        if facts is not None:
            extra.update(
                capabilities=list(facts.capability_names) or None,
                architecture=facts.architecture,
                embedding_length=facts.embedding_length,
                parameter_count=facts.parameter_count,
            )
        if running is not None:
            extra.update(size_vram=running.get("size_vram"), expires_at=running.get("expires_at"))
        return ModelInfo(
            id=self._model_id(name),
            name=name,
            service=self.name,
            kind=self.kind,
            context_length=facts.context_length if facts is not None else None,
            loaded_context_length=opt_int(running.get("context_length")) if running else None,
            loaded=(running is not None) if loaded is not None else None,
            capabilities=capabilities,
            family=opt_str(details.get("family")),
            parameter_size=opt_str(details.get("parameter_size")),
            quantization=opt_str(details.get("quantization_level")),
            format=opt_str(details.get("format")),
            size_bytes=opt_int(entry.get("size")),
            details={k: v for k, v in extra.items() if v not in (None, "", [])},
        )

    def _capabilities(self, name: str, facts: models_wire.ShowFacts | None) -> Capabilities:
        if facts is not None and facts.capabilities is not None:
            return facts.capabilities
        guessed = guess_capabilities(name)
        if facts is None:
            return guessed
        return merge_capabilities(facts.inferred, guessed)

    # ------------------------------------------------------------------ chat

    def _chat_request(self, req: ChatRequest, *, stream: bool) -> Request:
        return Request(
            "POST",
            "/api/chat",
            wire.build_chat_body(req, stream=stream),
            timeout=req.timeout,
            model=req.model,
            headers=_NDJSON if stream else {},
            deadline=req.deadline,
        )

    def _op_chat(self, req: ChatRequest) -> Op[ChatResponse]:
        try:
            response = yield from send(self._chat_request(req, stream=False))
        except ModelNotFoundError as exc:
            raise (yield from self._op_suggest(exc, req.model)) from exc
        return wire.parse_chat(self._body(response), self.ctx, model=req.model)

    def _stream_chat(self, req: ChatRequest) -> tuple[Request, wire.OllamaChatStream]:
        decoder = wire.OllamaChatStream(
            self.ctx, req.model, rules=self.rules, max_event_bytes=self.max_event_bytes
        )
        return self._chat_request(req, stream=True), decoder

    def _op_chat_stream(self, req: ChatRequest) -> ItemOp[StreamItem]:
        try:
            yield from super()._op_chat_stream(req)
        except ModelNotFoundError as exc:
            if exc.suggestions:
                raise
            raise (yield from self._op_suggest(exc, req.model)) from exc

    # ------------------------------------------------------------------ text completion

    def _generate_request(self, req: CompletionRequest, prompt: str, *, stream: bool) -> Request:
        return Request(
            "POST",
            "/api/generate",
            wire.build_generate_body(req, prompt, stream=stream),
            timeout=req.timeout,
            model=req.model,
            headers=_NDJSON if stream else {},
            deadline=req.deadline,
        )

    def _op_complete(self, req: CompletionRequest) -> Op[CompletionResponse]:
        replies = []
        for prompt in req.prompts:  # /api/generate takes one prompt
            try:
                response = yield from send(self._generate_request(req, prompt, stream=False))
            except ModelNotFoundError as exc:
                raise (yield from self._op_suggest(exc, req.model)) from exc
            replies.append(wire.parse_chat(self._body(response), self.ctx, model=req.model))
        return completion_from_replies(replies)

    def _stream_complete(self, req: CompletionRequest) -> tuple[Request, wire.OllamaChatStream]:
        decoder = wire.OllamaChatStream(
            self.ctx, req.model, rules=self.rules, max_event_bytes=self.max_event_bytes
        )
        return self._generate_request(req, req.prompts[0], stream=True), decoder

    def _op_complete_stream(self, req: CompletionRequest) -> ItemOp[CompletionItem]:
        try:
            yield from super()._op_complete_stream(req)
        except ModelNotFoundError as exc:
            if exc.suggestions:
                raise
            raise (yield from self._op_suggest(exc, req.model)) from exc

    # ------------------------------------------------------------------ embeddings

    def _op_embed(self, model: str, inputs: EmbedInputs) -> Op[EmbedResponse]:
        texts = self._text_only(inputs)  # /api/embed takes no token ids
        try:
            response = yield from send(
                Request("POST", "/api/embed", wire.build_embed_body(model, texts), model=model)
            )
        except ModelNotFoundError as exc:
            raise (yield from self._op_suggest(exc, model)) from exc
        except CapabilityError as exc:
            if exc.status_code != 404:
                raise
            # No /api/embed (Ollama before v0.2.6): one legacy request per input.
            result: EmbedResponse = yield from self._op_legacy_embed(model, texts)
            return result
        data = self._body(response)
        return wire.parse_embed(data, self.ctx, model=model, count=len(texts))

    def _op_legacy_embed(self, model: str, inputs: list[str]) -> Op[EmbedResponse]:
        outcomes = yield from gather(
            [
                Request("POST", "/api/embeddings", {"model": model, "prompt": text}, model=model)
                for text in inputs
            ]
        )
        vectors = []
        for outcome in outcomes:
            if isinstance(outcome, ModelNotFoundError):
                raise (yield from self._op_suggest(outcome, model)) from outcome
            data = self._body(response_of(outcome))
            vectors.append(wire.parse_legacy_embedding(data, self.ctx))
        return EmbedResponse(vectors=vectors, model=model, service=self.name)

    # ------------------------------------------------------------------ management

    def _op_load(self, model: str, context_length: int | None, ttl: float | None) -> Op[None]:
        if context_length is not None and (
            isinstance(context_length, bool)
            or not isinstance(context_length, int)
            or context_length <= 0
        ):
            raise InvalidRequestError(
                f"context_length must be a positive integer, not {context_length!r}."
            )
        if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, (int, float, str))):
            raise InvalidRequestError(
                f"ttl must be seconds (a number) or a duration like '10m', not {ttl!r}."
            )
        body = wire.build_load_body(model, context_length=context_length, keep_alive=ttl)
        try:
            response = yield from send(
                Request("POST", "/api/chat", body, model=model, timeout=self._long())
            )
        except ModelNotFoundError as exc:
            raise (yield from self._op_suggest(exc, model)) from exc
        except CapabilityError as exc:
            if exc.status_code != 400 or "support chat" not in exc.message:
                raise
            # An embedding model cannot chat; an empty /api/embed loads it instead.
            embed_body = {k: v for k, v in body.items() if k != "messages"}
            response = yield from send(
                Request("POST", "/api/embed", embed_body, model=model, timeout=self._long())
            )
        self._body(response)

    def _op_unload(self, model: str) -> Op[None]:
        try:
            response = yield from send(
                Request("POST", "/api/chat", wire.build_load_body(model, keep_alive=0), model=model)
            )
        except ModelNotFoundError as exc:
            raise (yield from self._op_suggest(exc, model)) from exc
        self._body(response)

    def _op_delete(self, model: str) -> Op[None]:
        try:
            yield from send(Request("DELETE", "/api/delete", {"model": model}, model=model))
        except ModelNotFoundError as exc:
            raise (yield from self._op_suggest(exc, model)) from exc
        wanted = normalize_ollama_name(model)
        for key in [k for k in self._show_cache if normalize_ollama_name(k[0]) == wanted]:
            self._show_cache.pop(key, None)

    def _op_pull(self, model: str) -> ItemOp[PullProgress]:
        request = Request(
            "POST",
            "/api/pull",
            {"model": model, "stream": True},
            model=model,
            timeout=self._long(),
            headers=_NDJSON,
        )
        decoder = wire.OllamaPullStream(
            self.ctx, model, rules=self.rules, max_event_bytes=self.max_event_bytes
        )
        yield from stream(request, decoder)

    # ------------------------------------------------------------------ helpers

    def _long(self) -> float:
        return max(self.timeout, _LONG_READ)

    def _tag_entries(self, tags: Response) -> list[Mapping[str, Any]]:
        try:
            return models_wire.parse_tags(self._body(tags), self.ctx)
        except ModelportError:
            return []

    def _op_suggest(self, error: ModelNotFoundError, model: str) -> Op[ModelNotFoundError]:
        """The same error, with close names from the installed models as suggestions."""
        try:
            tags: Outcome = yield from send(Request("GET", "/api/tags"))
        except ModelportError as exc:
            tags = exc
        return self._with_suggestions(error, model, tags)

    def _with_suggestions(
        self, error: ModelNotFoundError, model: str, tags: Outcome
    ) -> ModelNotFoundError:
        names = [e["name"] for e in self._tag_entries(tags)] if isinstance(tags, Response) else []
        return ModelNotFoundError(
            error.message,
            model=error.model or model,
            suggestions=close_names(model, names),
            hint=error.hint,
            retriable=error.retriable,
            **self.ctx.kwargs(error.status_code),
        )


def _cache_key(entry: Mapping[str, Any]) -> tuple[str, str]:
    digest = entry.get("digest")
    return entry["name"], digest if isinstance(digest, str) else ""


def _field(outcome: Outcome, key: str) -> object:
    if not isinstance(outcome, Response):
        return None
    data = outcome.json_or_none()
    return data.get(key) if isinstance(data, dict) else None

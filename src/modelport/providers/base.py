"""The provider interface, written once for sync and async.

A provider owns one server: its base URL, auth, model listing, capabilities, error
rules and model management. A subclass implements *operations*: generators that
yield steps and return a result (see :mod:`modelport._http.ops`), for example::

    def _op_embed(self, model: str, inputs: EmbedInputs) -> Op[EmbedResponse]:
        response = yield from send(Request("POST", "/v1/embeddings", {...}, model=model))
        data = self._body(response)           # JSON, with an in-band error raised
        return parse_embeddings(data, self.ctx, model=model)

This base class turns each operation into a public sync method and its
``a``-prefixed async twin, so no protocol code is written twice.

**The seam.** :meth:`_run_op`, :meth:`_arun_op`, :meth:`_iterate_op` and :meth:`_aiterate_op`
run one of this provider's operations on its own HTTP connections. The public
methods here and the :class:`~modelport.Client` both go through them, with requests
validated once (:func:`~modelport._wire.common.build_chat_request`), so a provider is
called the same way whoever calls it.

**Errors.** An error answer becomes an exception in one place
(:func:`modelport._classify.classify`): the provider's :attr:`rules` (its server
kind's own rows) first, then the generic rows.
"""

from __future__ import annotations

import threading
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Callable,
    Generator,
    Iterator,
    Mapping,
    Sequence,
)
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar, TypedDict, TypeVar

import httpx

from .._classify import Rules, classify, facts_from_data, facts_from_response
from .._drive import aiterate, arun, iterate, run
from .._http.caps import DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_ERROR_BYTES, Caps
from .._http.decoders import DEFAULT_MAX_LINE_BYTES
from .._http.forwarding import forwarded
from .._http.mapping import ErrorContext
from .._http.ops import ItemOp, Op, Request, Response, emit, send, stream
from .._http.pool import AsyncPoolTransport, PoolTransport
from .._http.settings import check_api_key, check_bytes, check_headers, check_seconds
from .._http.transport import AsyncTransport, SyncTransport
from .._http.urls import basic_auth_forms, normalize_base_url, shown_url, url_credentials
from .._streams import (
    AsyncChatStream,
    AsyncCompletionStream,
    ChatStream,
    CompletionItem,
    CompletionStream,
    StreamItem,
)
from .._tokens import estimate_input_tokens
from .._version import __version__
from .._wire.common import (
    ChatRequest,
    CompletionRequest,
    EmbedInputs,
    MessagesInput,
    PromptInput,
    RerankRequest,
    build_chat_request,
    build_completion_request,
    build_rerank_request,
    build_stream_completion_request,
    completion_from_replies,
    is_text,
    normalize_inputs,
    require_model,
)
from .._wire.stream import ChatStreamDecoder, guard_shape
from ..errors import (
    CapabilityError,
    ConfigurationError,
    ModelNotFoundError,
    ModelportError,
)
from ..types import (
    ChatResponse,
    CompletionResponse,
    EmbedInput,
    EmbedResponse,
    ModelInfo,
    ProviderKind,
    PullProgress,
    RerankResult,
    Service,
    ServiceStatus,
    TokenCount,
)

if TYPE_CHECKING:
    import asyncio

    from typing_extensions import Unpack

    from .._schedule.types import ServerHints
    from .._wire.common import ChatOptions, CompleteOptions

__all__ = ["Provider", "ProviderOptions"]

T = TypeVar("T")
I = TypeVar("I")  # noqa: E741

RERANK_HINT = (
    "Rerank on llama-server started with `--reranking` and a reranker model, or on vLLM "
    "serving one (for example BAAI/bge-reranker-base)."
)

DEFAULT_TIMEOUT = 60.0
DEFAULT_CONNECT_TIMEOUT = 5.0
METRICS_TIMEOUT = 5.0
"""Seconds a server's own ``/metrics`` may take before it is left out of a scrape."""
DEFAULT_MAX_EVENT_BYTES = DEFAULT_MAX_LINE_BYTES  # the stream decoders' own bound


class ServiceFields(TypedDict, total=False):
    """What a provider says of its service besides its name, kind and URL."""

    status: ServiceStatus
    version: str | None
    latency_ms: float | None
    model_count: int | None
    error: str | None


class ProviderOptions(TypedDict, total=False):
    """The keyword arguments every provider takes (see :class:`Provider`)."""

    api_key: str | None
    name: str | None
    timeout: float
    connect_timeout: float
    headers: Mapping[str, str] | None
    transport: httpx.BaseTransport | httpx.AsyncBaseTransport | None
    max_body_bytes: int
    max_error_bytes: int
    max_event_bytes: int
    deadline: float | None


class Provider:
    """Base class of every provider. Use a subclass such as :class:`OllamaProvider`.

    Args:
        base_url: the server's URL; each kind has its own default. ``user:password@``
            in it is sent as HTTP Basic auth and never shown.
        api_key: sent as ``Authorization: Bearer``; never shown in repr, errors or logs.
        name: the service name used in model ids (``"name/model"``) and errors.
        timeout: read timeout in seconds for each request (streams: between chunks,
            and the longest a stream may go without content).
        connect_timeout: how long to wait for the connection itself.
        headers: extra headers for every request.
        transport: an httpx transport (for example ``httpx.MockTransport`` in tests),
            used by both the sync and the async client.
        max_body_bytes: the most a non-streamed answer may be, decompressed (128 MiB).
        max_error_bytes: how much of an error answer is read (64 KiB).
        max_event_bytes: the most one stream event or line may be (16 MiB).
        deadline: seconds a non-streamed request may take in all, however the server
            paces its answer (default: twice its read timeout).
    """

    kind: ClassVar[ProviderKind]
    server_name: ClassVar[str] = "the server"
    default_base_url: ClassVar[str] = ""
    start_hint: ClassVar[str] = "Is the server running?"
    can_pull: ClassVar[bool] = False
    """Whether the server can download models (:meth:`pull`)."""

    def __init__(
        self,
        base_url: str | None = None,
        *,
        api_key: str | None = None,
        name: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        headers: Mapping[str, str] | None = None,
        transport: httpx.BaseTransport | httpx.AsyncBaseTransport | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        max_error_bytes: int = DEFAULT_MAX_ERROR_BYTES,
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
        deadline: float | None = None,
    ) -> None:
        url = base_url or self._default_url()
        if not url:
            raise ConfigurationError(f"{type(self).__name__} needs a base_url.")
        self._credentials = url_credentials(url) if isinstance(url, str) else None
        self.base_url = self._normalize_url(url)
        if name is not None and (not isinstance(name, str) or not name or "/" in name):
            raise ConfigurationError(
                f"Invalid service name {name!r}: use a non-empty name without '/'."
            )
        self.name: str = name or self.kind
        self.timeout = check_seconds("timeout", timeout)
        self.connect_timeout = check_seconds("connect_timeout", connect_timeout)
        self.caps = Caps(
            max_body_bytes=check_bytes("max_body_bytes", max_body_bytes),
            max_error_bytes=check_bytes("max_error_bytes", max_error_bytes),
            deadline=None if deadline is None else check_seconds("deadline", deadline),
        )
        self.max_event_bytes = check_bytes("max_event_bytes", max_event_bytes)
        key = api_key if api_key is not None else self._api_key_from_env()
        self._api_key = check_api_key(key)
        if self._api_key and self._credentials:
            raise ConfigurationError(
                f"{type(self).__name__} got both an api_key and a user:password in its URL "
                f"({shown_url(url)}); give one of them."
            )
        self._extra_headers = check_headers(headers)
        self._given_transport = transport
        self._lock = threading.Lock()
        self._sync: SyncTransport | None = None
        self._async: AsyncTransport | None = None
        self._async_loop: asyncio.AbstractEventLoop | None = None

    # ------------------------------------------------------------------ configuration

    def _default_url(self) -> str:
        return self.default_base_url

    def _normalize_url(self, url: str) -> str:
        return normalize_base_url(url)

    def _api_key_from_env(self) -> str | None:
        return None

    @property
    def auth_hint(self) -> str:
        """Where the credentials come from, for authentication errors."""
        return "Check the api_key passed to the provider."

    @property
    def rules(self) -> Rules | None:
        """The server kind's own error rows (:mod:`modelport._classify`); ``None``: only
        the generic ones.
        """
        return None

    @cached_property
    def ctx(self) -> ErrorContext:
        secrets = [self._api_key or ""]
        if self._credentials:
            secrets.extend(basic_auth_forms(*self._credentials))
        return ErrorContext(
            service=self.name,
            base_url=self.base_url,
            server=self.server_name,
            start_hint=self.start_hint,
            auth_hint=self.auth_hint,
            # longest first: a short secret inside a longer one must not spoil its mask
            secrets=tuple(sorted((s for s in secrets if len(s) >= 4), key=len, reverse=True)),
        )

    def _headers(self) -> dict[str, str]:
        headers = {"user-agent": f"modelport/{__version__}", "accept": "application/json"}
        if self._api_key:
            headers["authorization"] = f"Bearer {self._api_key}"
        headers.update(self._extra_headers)
        return headers

    def _set_header(self, name: str, value: str) -> None:
        """Send ``name: value`` on every later request (connections already made too)."""
        self._extra_headers.update(check_headers({name: value}))
        for io in (self._sync, self._async):
            if io is not None:
                io.client.headers[name] = value
                io.headers_changed()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.base_url!r}, name={self.name!r})"

    # ------------------------------------------------------------------ errors

    def _on_error(self, response: Response) -> ModelportError:
        """The error for an error answer (a 3xx, 4xx or 5xx status)."""
        request = response.request
        facts = facts_from_response(
            response.status,
            response.content,
            response.headers,
            self.ctx,
            path=request.path,
            what=request.describe(),
            model=request.model,
        )
        return classify(facts, self.ctx, self.rules)

    def _body(self, response: Response) -> object:
        """The answer's JSON; an ``error`` inside a successful answer (LM Studio sends
        them with HTTP 200) is raised as the error it describes.
        """
        data = response.json(self.ctx)
        if isinstance(data, dict) and data.get("error") is not None:
            request = response.request
            facts = facts_from_data(
                data,
                self.ctx,
                status=response.status,
                arrived="body",
                path=request.path,
                what=request.describe(),
                model=request.model,
            )
            raise classify(facts, self.ctx, self.rules)
        return data

    # ------------------------------------------------------------------ I/O twins

    def _transport_options(self) -> dict[str, Any]:
        return {
            "on_error": self._on_error,
            "timeout": self.timeout,
            "connect_timeout": self.connect_timeout,
            "caps": self.caps,
        }

    def _client_options(self) -> dict[str, Any]:
        """The httpx client's settings: headers and timeouts set once, not per request."""
        return {
            "trust_env": False,
            "headers": {**self._headers(), "content-type": "application/json"},
            "timeout": httpx.Timeout(self.timeout, connect=min(self.connect_timeout, self.timeout)),
            "auth": self._credentials,
            "follow_redirects": False,
        }

    @property
    def _tls(self) -> bool:
        """Whether the server speaks https (a plain-http one gets no TLS set-up: loading
        CA certificates costs ~20 ms).
        """
        return not self.base_url.startswith("http://")

    @property
    def _io(self) -> SyncTransport:
        if self._sync is None:
            with self._lock:
                if self._sync is None:
                    pooled = None
                    if self._given_transport is None:
                        limits = httpx.Limits(max_connections=64, max_keepalive_connections=16)
                        pooled = PoolTransport(limits=limits, tls=self._tls)
                    client = httpx.Client(
                        transport=self._given_transport or pooled,  # type: ignore[arg-type]
                        **self._client_options(),
                    )
                    self._sync = SyncTransport(
                        client, self.base_url, self.ctx, pooled=pooled, **self._transport_options()
                    )
        return self._sync

    @property
    def _aio(self) -> AsyncTransport:
        # An httpx.AsyncClient belongs to the event loop it first runs in; a provider used
        # from a new loop (a second asyncio.run) gets a new one. Outside any loop (a
        # stream built before it is iterated) the client is made now and belongs to the
        # loop that first uses the provider.
        import asyncio

        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if self._async is None or (loop is not None and self._async_loop is not loop):
            with self._lock:
                if self._async is not None and self._async_loop is None:
                    self._async_loop = loop  # made outside a loop: this one is its loop
                elif self._async is None or (loop is not None and self._async_loop is not loop):
                    apooled = None
                    if self._given_transport is None:
                        limits = httpx.Limits(max_connections=512, max_keepalive_connections=64)
                        apooled = AsyncPoolTransport(limits=limits, tls=self._tls)
                    client = httpx.AsyncClient(
                        transport=self._given_transport or apooled,  # type: ignore[arg-type]
                        **self._client_options(),
                    )
                    self._async = AsyncTransport(
                        client, self.base_url, self.ctx, pooled=apooled, **self._transport_options()
                    )
                    self._async_loop = loop
        return self._async

    def close(self) -> None:
        """Close the sync HTTP connections (the async ones need :meth:`aclose`)."""
        sync, self._sync = self._sync, None
        if sync is not None:
            sync.client.close()

    async def aclose(self) -> None:
        """Close every HTTP connection this provider opened."""
        import asyncio

        self.close()
        aio, self._async = self._async, None
        loop, self._async_loop = self._async_loop, None
        if aio is not None and loop in (None, asyncio.get_running_loop()):
            await aio.client.aclose()

    def __enter__(self) -> Provider:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    async def __aenter__(self) -> Provider:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # ------------------------------------------------------------------ the seam

    # A request served by a gateway that came through other gateways first carries
    # their chain (:mod:`modelport._http.forwarding`) on everything sent for it.

    def _run_op(self, op: Op[T]) -> T:
        """Run one of this provider's operations (sync)."""
        return run(op, self._io, added=forwarded())

    async def _arun_op(self, op: Op[T]) -> T:
        """Run one of this provider's operations (async)."""
        return await arun(op, self._aio, added=forwarded())

    def _iterate_op(self, op: ItemOp[I]) -> Generator[I, None, None]:
        """Run one of this provider's item operations, yielding its items (sync)."""
        return iterate(op, self._io, added=forwarded())

    def _aiterate_op(self, op: ItemOp[I]) -> AsyncGenerator[I, None]:
        """Run one of this provider's item operations, yielding its items (async; the
        consumer closes it, as :class:`~modelport.AsyncChatStream` does).
        """
        return aiterate(op, self._aio, added=forwarded())

    # ------------------------------------------------------------------ operations (override)

    def _op_health(self) -> Op[Service]:
        """Check the server answers; return it as a :class:`Service`."""
        raise NotImplementedError

    def _op_metrics(self) -> Op[str]:
        """The server's own Prometheus metrics (``GET /metrics``: llama.cpp's with
        ``--metrics``, vLLM's, SGLang's), as text; for the gateway's ``/metrics/upstream``.
        """
        response = yield from send(
            Request("GET", "/metrics", timeout=METRICS_TIMEOUT, deadline=METRICS_TIMEOUT)
        )
        return response.text

    def _op_models(self, refresh: bool = False) -> Op[list[ModelInfo]]:
        """Every model the server offers (``refresh``: bypass the provider's own caches)."""
        raise NotImplementedError

    def _op_model_info(self, model: str) -> Op[ModelInfo]:
        """One model, looked up live. The default searches the model list."""
        models = yield from self._op_models()
        return self._find_model(model, models)

    def _op_chat(self, req: ChatRequest) -> Op[ChatResponse]:
        raise NotImplementedError

    def _stream_chat(self, req: ChatRequest) -> tuple[Request, ChatStreamDecoder]:
        """The streaming request for a chat, and the decoder of its answer."""
        raise NotImplementedError

    def _op_chat_stream(self, req: ChatRequest) -> ItemOp[StreamItem]:
        """The chunks of a streamed chat, then the whole :class:`ChatResponse`."""
        request, decoder = self._stream_chat(req)
        yield from stream(request, decoder)
        yield from emit(decoder.response())

    def _op_embed(self, model: str, inputs: EmbedInputs) -> Op[EmbedResponse]:
        raise self._unsupported("embeddings")

    def _op_count_tokens(self, req: ChatRequest) -> Op[TokenCount]:
        """The prompt tokens of ``req``: the estimate, unless the server can count them."""
        yield from ()
        return self._estimated(req)

    def _estimated(self, req: ChatRequest) -> TokenCount:
        return TokenCount(
            estimate_input_tokens(req.messages, req.tools), False, req.model, self.name
        )

    def _counted(self, req: ChatRequest, count: int) -> TokenCount:
        return TokenCount(count, True, req.model, self.name)

    def _op_rerank(self, req: RerankRequest) -> Op[RerankResult]:
        """``req``'s documents scored against its query, most relevant first."""
        raise self._unsupported("reranking", hint=RERANK_HINT)

    def _op_complete(self, req: CompletionRequest) -> Op[CompletionResponse]:
        """A legacy text completion of each prompt, as given (no chat template)."""
        raise self._unsupported("text completion")

    def _stream_complete(self, req: CompletionRequest) -> tuple[Request, ChatStreamDecoder]:
        """The streaming request for a completion of ``req``'s one prompt, and its decoder."""
        raise self._unsupported("text completion")

    def _op_complete_stream(self, req: CompletionRequest) -> ItemOp[CompletionItem]:
        """The text deltas of a streamed completion, then the whole completion."""
        request, decoder = self._stream_complete(req)
        yield from stream(request, decoder)
        yield from emit(completion_from_replies([decoder.response()]))

    def _server_hints(self) -> ServerHints | None:
        """What the server said about its capacity in its last listing (its slots, how
        many models it holds): the scheduler's defaults. ``None``: nothing said.
        """
        return None

    def _op_load(self, model: str, context_length: int | None, ttl: float | None) -> Op[None]:
        raise self._unsupported("loading models")

    def _op_unload(self, model: str) -> Op[None]:
        raise self._unsupported("unloading models")

    def _op_delete(self, model: str) -> Op[None]:
        raise self._unsupported("deleting models")

    def _op_pull(self, model: str) -> ItemOp[PullProgress]:
        raise self._unsupported("downloading models")

    # ------------------------------------------------------------------ helpers for subclasses

    def _unsupported(self, what: str, hint: str | None = None) -> CapabilityError:
        return CapabilityError(
            f"{self.server_name} at {self.base_url} does not support {what}.",
            hint=hint,
            **self.ctx.kwargs(),
        )

    def _text_only(self, inputs: EmbedInputs) -> list[str]:
        """``inputs`` as strings, for a server whose embeddings take text only."""
        if is_text(inputs):
            return inputs
        raise self._unsupported(
            "token ids as embedding input (it embeds text only)",
            hint="Send the text instead. LangChain's OpenAIEmbeddings sends token ids by "
            "default: create it with check_embedding_ctx_length=False to send text.",
        )

    def _parse(self, what: str, parse: Callable[[], T]) -> T:
        return guard_shape(self.ctx, what, parse)

    def _find_model(self, model: str, models: Sequence[ModelInfo]) -> ModelInfo:
        for info in models:
            if info.name == model or info.id == model:
                return info
        raise self._model_not_found(model, [m.name for m in models])

    def _model_not_found(self, model: str, known: Sequence[str]) -> ModelNotFoundError:
        from .._naming import close_names

        return ModelNotFoundError(
            f"{self.server_name} at {self.base_url} has no model {model!r}.",
            model=model,
            suggestions=close_names(model, known),
            hint="See what it serves with `modelport models`.",
            **self.ctx.kwargs(),
        )

    def _model_id(self, name: str) -> str:
        return f"{self.name}/{name}"

    def _service(self, **fields: Unpack[ServiceFields]) -> Service:
        return Service(name=self.name, kind=self.kind, base_url=self.base_url, **fields)

    def _op_health_safe(self) -> Op[Service]:
        """Health that reports failures in ``Service.error`` instead of raising."""
        import time

        started = time.perf_counter()
        try:
            service = yield from self._op_health()
        except ModelportError as exc:
            return self._service(status=ServiceStatus.UNAVAILABLE, error=str(exc))
        if service.latency_ms is None:
            from dataclasses import replace

            service = replace(service, latency_ms=(time.perf_counter() - started) * 1000.0)
        return service

    # ------------------------------------------------------------------ public API (sync)

    def health(self) -> Service:
        """Ask the server whether it is up; never raises for an unreachable server."""
        return self._run_op(self._op_health_safe())

    def models(self, refresh: bool = False) -> list[ModelInfo]:
        """Every model this server offers, with what it says about each."""
        return self._run_op(self._op_models(refresh))

    def model_info(self, model: str) -> ModelInfo:
        """One model, with its capabilities read live from the server."""
        return self._run_op(self._op_model_info(require_model(model)))

    def chat(
        self, model: str, messages: MessagesInput, **options: Unpack[ChatOptions]
    ) -> ChatResponse:
        """Send a chat and return the whole reply. See :class:`ChatOptions` for options."""
        return self._run_op(self._op_chat(build_chat_request(model, messages, options)))

    def chat_stream(
        self, model: str, messages: MessagesInput, **options: Unpack[ChatOptions]
    ) -> ChatStream:
        """Send a chat and stream the reply as :class:`ChatChunk` deltas."""
        req = build_chat_request(model, messages, options)
        return ChatStream(self._iterate_op(self._op_chat_stream(req)))

    def complete(
        self, model: str, prompt: PromptInput, **options: Unpack[CompleteOptions]
    ) -> CompletionResponse:
        """Continue a prompt (or each of a list) as given, with no chat template: the
        legacy text completion. See :class:`CompleteOptions` for options.
        """
        return self._run_op(self._op_complete(build_completion_request(model, prompt, options)))

    def complete_stream(
        self, model: str, prompt: str, **options: Unpack[CompleteOptions]
    ) -> CompletionStream:
        """Stream the completion of one prompt as :class:`ChatChunk` text deltas."""
        req = build_stream_completion_request(model, prompt, options)
        return CompletionStream(self._iterate_op(self._op_complete_stream(req)))

    def count_tokens(
        self, model: str, messages: MessagesInput, **options: Unpack[ChatOptions]
    ) -> TokenCount:
        """The prompt tokens this chat would send (its messages, tools and system prompt):
        exact where the server counts them, else an estimate (``TokenCount.exact``).
        """
        req = build_chat_request(model, messages, options)
        return self._run_op(self._op_count_tokens(req))

    def rerank(
        self, model: str, query: str, documents: Sequence[str], top_n: int | None = None
    ) -> RerankResult:
        """Score ``documents`` against ``query``; the most relevant first (at most ``top_n``)."""
        return self._run_op(self._op_rerank(build_rerank_request(model, query, documents, top_n)))

    def embed(self, model: str, input: EmbedInput) -> EmbedResponse:
        """Embed one string, a list of strings, or token ids (servers that take them)."""
        return self._run_op(self._op_embed(require_model(model), normalize_inputs(input)))

    def load(self, model: str, context_length: int | None = None, ttl: float | None = None) -> None:
        """Load a model into memory, where the server supports it."""
        self._run_op(self._op_load(require_model(model), context_length, ttl))

    def unload(self, model: str) -> None:
        """Unload a model from memory, where the server supports it."""
        self._run_op(self._op_unload(require_model(model)))

    def delete(self, model: str) -> None:
        """Delete a downloaded model, where the server supports it."""
        self._run_op(self._op_delete(require_model(model)))

    def pull(self, model: str) -> Iterator[PullProgress]:
        """Download a model, yielding progress; raises if the download fails."""
        return self._iterate_op(self._op_pull(require_model(model)))

    # ------------------------------------------------------------------ public API (async)

    async def ahealth(self) -> Service:
        """Async :meth:`health`."""
        return await self._arun_op(self._op_health_safe())

    async def amodels(self, refresh: bool = False) -> list[ModelInfo]:
        """Async :meth:`models`."""
        return await self._arun_op(self._op_models(refresh))

    async def amodel_info(self, model: str) -> ModelInfo:
        """Async :meth:`model_info`."""
        return await self._arun_op(self._op_model_info(require_model(model)))

    async def achat(
        self, model: str, messages: MessagesInput, **options: Unpack[ChatOptions]
    ) -> ChatResponse:
        """Async :meth:`chat`."""
        return await self._arun_op(self._op_chat(build_chat_request(model, messages, options)))

    def achat_stream(
        self, model: str, messages: MessagesInput, **options: Unpack[ChatOptions]
    ) -> AsyncChatStream:
        """Async :meth:`chat_stream`: use ``async for`` / ``async with``."""
        req = build_chat_request(model, messages, options)
        return AsyncChatStream(self._aiterate_op(self._op_chat_stream(req)))

    async def acomplete(
        self, model: str, prompt: PromptInput, **options: Unpack[CompleteOptions]
    ) -> CompletionResponse:
        """Async :meth:`complete`."""
        req = build_completion_request(model, prompt, options)
        return await self._arun_op(self._op_complete(req))

    def acomplete_stream(
        self, model: str, prompt: str, **options: Unpack[CompleteOptions]
    ) -> AsyncCompletionStream:
        """Async :meth:`complete_stream`: use ``async for`` / ``async with``."""
        req = build_stream_completion_request(model, prompt, options)
        return AsyncCompletionStream(self._aiterate_op(self._op_complete_stream(req)))

    async def acount_tokens(
        self, model: str, messages: MessagesInput, **options: Unpack[ChatOptions]
    ) -> TokenCount:
        """Async :meth:`count_tokens`."""
        req = build_chat_request(model, messages, options)
        return await self._arun_op(self._op_count_tokens(req))

    async def arerank(
        self, model: str, query: str, documents: Sequence[str], top_n: int | None = None
    ) -> RerankResult:
        """Async :meth:`rerank`."""
        req = build_rerank_request(model, query, documents, top_n)
        return await self._arun_op(self._op_rerank(req))

    async def aembed(self, model: str, input: EmbedInput) -> EmbedResponse:
        """Async :meth:`embed`."""
        return await self._arun_op(self._op_embed(require_model(model), normalize_inputs(input)))

    async def aload(
        self, model: str, context_length: int | None = None, ttl: float | None = None
    ) -> None:
        """Async :meth:`load`."""
        await self._arun_op(self._op_load(require_model(model), context_length, ttl))

    async def aunload(self, model: str) -> None:
        """Async :meth:`unload`."""
        await self._arun_op(self._op_unload(require_model(model)))

    async def adelete(self, model: str) -> None:
        """Async :meth:`delete`."""
        await self._arun_op(self._op_delete(require_model(model)))

    def apull(self, model: str) -> AsyncIterator[PullProgress]:
        """Async :meth:`pull`."""
        return self._aiterate_op(self._op_pull(require_model(model)))

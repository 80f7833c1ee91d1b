"""The provider interface, written once for sync and async.

A provider owns one server: its base URL, auth, model listing, capabilities and
model management. Subclasses implement *operations* (``_op_*`` generators that yield
requests and return results) and *stream specs* (``_stream_*``). This base class
turns each into a public sync method and its ``a``-prefixed async twin, so no
protocol code is written twice.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar, TypedDict

import httpx

from .._http.mapping import ErrorContext
from .._http.transport import (
    AsyncTransport,
    ChatDecoder,
    Op,
    Request,
    Response,
    StreamDecoder,
    SyncTransport,
)
from .._http.urls import normalize_base_url
from .._streams import AsyncChatStream, ChatStream, StreamItem
from .._version import __version__
from .._wire.common import (
    ChatRequest,
    MessagesInput,
    build_chat_request,
    normalize_inputs,
)
from .._wire.stream import guard_shape
from ..errors import CapabilityError, ConfigurationError, ModelNotFoundError, ModelportError
from ..types import (
    ChatResponse,
    EmbedResponse,
    ModelInfo,
    ProviderKind,
    PullProgress,
    Service,
)

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from .._wire.common import ChatOptions

__all__ = ["Provider", "ProviderOptions"]

DEFAULT_TIMEOUT = 60.0
DEFAULT_CONNECT_TIMEOUT = 5.0


class ProviderOptions(TypedDict, total=False):
    """The keyword arguments every provider takes (see :class:`Provider`)."""

    api_key: str | None
    name: str | None
    timeout: float
    connect_timeout: float
    headers: Mapping[str, str] | None
    transport: Any


class Provider:
    """Base class of every provider. Use a subclass such as :class:`OllamaProvider`.

    Args:
        base_url: the server's URL; each kind has its own default.
        api_key: sent as ``Authorization: Bearer``; never shown in repr or errors.
        name: the service name used in model ids (``"name/model"``) and errors.
        timeout: read timeout in seconds for each request (streams: between chunks).
        connect_timeout: how long to wait for the connection itself.
        headers: extra headers for every request.
        transport: an httpx transport (for example ``httpx.MockTransport`` in tests),
            used by both the sync and the async client.
    """

    kind: ClassVar[ProviderKind]
    server_name: ClassVar[str] = "the server"
    default_base_url: ClassVar[str] = ""
    start_hint: ClassVar[str] = "Is the server running?"

    def __init__(
        self,
        base_url: str | None = None,
        *,
        api_key: str | None = None,
        name: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        headers: Mapping[str, str] | None = None,
        transport: Any = None,
    ) -> None:
        url = base_url or self._default_url()
        if not url:
            raise ConfigurationError(f"{type(self).__name__} needs a base_url.")
        self.base_url = self._normalize_url(url)
        if name is not None and (not isinstance(name, str) or not name or "/" in name):
            raise ConfigurationError(
                f"Invalid service name {name!r}: use a non-empty name without '/'."
            )
        self.name: str = name or self.kind
        for label, value in (("timeout", timeout), ("connect_timeout", connect_timeout)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ConfigurationError(
                    f"{label} must be a positive number of seconds, not {value!r}."
                )
        self.timeout = float(timeout)
        self.connect_timeout = float(connect_timeout)
        self._api_key = api_key if api_key is not None else self._api_key_from_env()
        self._extra_headers = dict(headers or {})
        self._transport = transport
        self._lock = threading.Lock()
        self._sync: SyncTransport | None = None
        self._async: AsyncTransport | None = None

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

    @cached_property
    def ctx(self) -> ErrorContext:
        return ErrorContext(
            service=self.name,
            base_url=self.base_url,
            server=self.server_name,
            start_hint=self.start_hint,
            auth_hint=self.auth_hint,
        )

    def _headers(self) -> dict[str, str]:
        headers = {"user-agent": f"modelport/{__version__}", "accept": "application/json"}
        if self._api_key:
            headers["authorization"] = f"Bearer {self._api_key}"
        headers.update(self._extra_headers)
        return headers

    def _set_header(self, name: str, value: str) -> None:
        """Send ``name: value`` on every later request (connections already made too)."""
        self._extra_headers[name] = value
        for io in (self._sync, self._async):
            if io is not None:
                io.client.headers[name] = value
                io.headers[name] = value

    def _classify(self, response: Response) -> ModelportError | None:
        """The provider's own error rows, consulted before the generic mapping."""
        return None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.base_url!r}, name={self.name!r})"

    # ------------------------------------------------------------------ I/O twins

    def _transport_kwargs(self) -> dict[str, Any]:
        return {
            "headers": self._headers(),
            "timeout": self.timeout,
            "connect_timeout": self.connect_timeout,
            "classify": self._classify,
        }

    def _client_options(self) -> dict[str, Any]:
        """The httpx client's settings: headers and timeouts set once, not per request;
        no TLS set-up for a plain-http server (loading CA certificates costs ~20 ms).
        """
        return {
            "transport": self._transport,
            "trust_env": False,
            "verify": not self.base_url.startswith("http://"),
            "headers": {**self._headers(), "content-type": "application/json"},
            "timeout": httpx.Timeout(self.timeout, connect=min(self.connect_timeout, self.timeout)),
        }

    @property
    def _io(self) -> SyncTransport:
        if self._sync is None:
            with self._lock:
                if self._sync is None:
                    client = httpx.Client(
                        limits=httpx.Limits(max_connections=64, max_keepalive_connections=16),
                        **self._client_options(),
                    )
                    self._sync = SyncTransport(
                        client, self.base_url, self.ctx, **self._transport_kwargs()
                    )
        return self._sync

    @property
    def _aio(self) -> AsyncTransport:
        if self._async is None:
            with self._lock:
                if self._async is None:
                    client = httpx.AsyncClient(
                        limits=httpx.Limits(max_connections=512, max_keepalive_connections=64),
                        **self._client_options(),
                    )
                    self._async = AsyncTransport(
                        client, self.base_url, self.ctx, **self._transport_kwargs()
                    )
        return self._async

    def close(self) -> None:
        """Close the sync HTTP connections (the async ones need :meth:`aclose`)."""
        sync, self._sync = self._sync, None
        if sync is not None:
            sync.client.close()

    async def aclose(self) -> None:
        """Close every HTTP connection this provider opened."""
        self.close()
        aio, self._async = self._async, None
        if aio is not None:
            await aio.client.aclose()

    def __enter__(self) -> Provider:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    async def __aenter__(self) -> Provider:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # ------------------------------------------------------------------ operations (override)

    def _op_health(self) -> Op[Service]:
        """Check the server answers; return it as a :class:`Service`."""
        raise NotImplementedError

    def _op_models(self) -> Op[list[ModelInfo]]:
        raise NotImplementedError

    def _op_model_info(self, model: str) -> Op[ModelInfo]:
        """One model, looked up live. The default searches the model list."""
        models = yield from self._op_models()
        return self._find_model(model, models)

    def _op_chat(self, req: ChatRequest) -> Op[ChatResponse]:
        raise NotImplementedError

    def _stream_chat(self, req: ChatRequest) -> tuple[Request, ChatDecoder]:
        raise NotImplementedError

    def _op_embed(self, model: str, inputs: list[str]) -> Op[EmbedResponse]:
        raise self._unsupported("embeddings")

    def _op_load(self, model: str, context_length: int | None, ttl: float | None) -> Op[None]:
        raise self._unsupported("loading models")

    def _op_unload(self, model: str) -> Op[None]:
        raise self._unsupported("unloading models")

    def _op_delete(self, model: str) -> Op[None]:
        raise self._unsupported("deleting models")

    def _stream_pull(self, model: str) -> tuple[Request, StreamDecoder[PullProgress]]:
        raise self._unsupported("downloading models")

    # ------------------------------------------------------------------ helpers for subclasses

    def _unsupported(self, what: str, hint: str | None = None) -> CapabilityError:
        return CapabilityError(
            f"{self.server_name} at {self.base_url} does not support {what}.",
            hint=hint,
            **self.ctx.kwargs(),
        )

    def _json(self, response: Response) -> Any:
        return response.json(self.ctx)

    def _parse(self, what: str, parse: Any) -> Any:
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

    def _request(self, method: str, path: str, json: Any = None, **kwargs: Any) -> Request:
        return Request(method, path, json, **kwargs)

    # ------------------------------------------------------------------ public API (sync)

    def health(self) -> Service:
        """Ask the server whether it is up; never raises for an unreachable server."""
        return self._io.run(self._op_health_safe())

    def models(self, refresh: bool = False) -> list[ModelInfo]:
        """Every model this server offers, with what it says about each."""
        return self._io.run(self._op_models())

    def model_info(self, model: str) -> ModelInfo:
        """One model, with its capabilities read live from the server."""
        return self._io.run(self._op_model_info(model))

    def chat(
        self, model: str, messages: MessagesInput, **options: Unpack[ChatOptions]
    ) -> ChatResponse:
        """Send a chat and return the whole reply. See :class:`ChatOptions` for options."""
        return self._io.run(self._op_chat(build_chat_request(model, messages, options)))

    def chat_stream(
        self, model: str, messages: MessagesInput, **options: Unpack[ChatOptions]
    ) -> ChatStream:
        """Send a chat and stream the reply as :class:`ChatChunk` deltas."""
        return ChatStream(self._chat_items(build_chat_request(model, messages, options)))

    def embed(self, model: str, input: str | Sequence[str]) -> EmbedResponse:
        """Embed one string or a list of strings."""
        return self._io.run(self._op_embed(model, self._embed_inputs(model, input)))

    def load(self, model: str, context_length: int | None = None, ttl: float | None = None) -> None:
        """Load a model into memory, where the server supports it."""
        self._io.run(self._op_load(model, context_length, ttl))

    def unload(self, model: str) -> None:
        """Unload a model from memory, where the server supports it."""
        self._io.run(self._op_unload(model))

    def delete(self, model: str) -> None:
        """Delete a downloaded model, where the server supports it."""
        self._io.run(self._op_delete(model))

    def pull(self, model: str) -> Iterator[PullProgress]:
        """Download a model, yielding progress; raises if the download fails."""
        return self._io.stream(*self._stream_pull(model))

    # ------------------------------------------------------------------ public API (async)

    async def ahealth(self) -> Service:
        """Async :meth:`health`."""
        return await self._aio.run(self._op_health_safe())

    async def amodels(self, refresh: bool = False) -> list[ModelInfo]:
        """Async :meth:`models`."""
        return await self._aio.run(self._op_models())

    async def amodel_info(self, model: str) -> ModelInfo:
        """Async :meth:`model_info`."""
        return await self._aio.run(self._op_model_info(model))

    async def achat(
        self, model: str, messages: MessagesInput, **options: Unpack[ChatOptions]
    ) -> ChatResponse:
        """Async :meth:`chat`."""
        return await self._aio.run(self._op_chat(build_chat_request(model, messages, options)))

    def achat_stream(
        self, model: str, messages: MessagesInput, **options: Unpack[ChatOptions]
    ) -> AsyncChatStream:
        """Async :meth:`chat_stream`: use ``async for`` / ``async with``."""
        return AsyncChatStream(self._achat_items(build_chat_request(model, messages, options)))

    async def aembed(self, model: str, input: str | Sequence[str]) -> EmbedResponse:
        """Async :meth:`embed`."""
        return await self._aio.run(self._op_embed(model, self._embed_inputs(model, input)))

    async def aload(
        self, model: str, context_length: int | None = None, ttl: float | None = None
    ) -> None:
        """Async :meth:`load`."""
        await self._aio.run(self._op_load(model, context_length, ttl))

    async def aunload(self, model: str) -> None:
        """Async :meth:`unload`."""
        await self._aio.run(self._op_unload(model))

    async def adelete(self, model: str) -> None:
        """Async :meth:`delete`."""
        await self._aio.run(self._op_delete(model))

    def apull(self, model: str) -> AsyncIterator[PullProgress]:
        """Async :meth:`pull`."""
        return self._aio.stream(*self._stream_pull(model))

    # ------------------------------------------------------------------ shared plumbing

    def _embed_inputs(self, model: str, input: str | Sequence[str]) -> list[str]:
        from ..errors import InvalidRequestError

        if not isinstance(model, str) or not model.strip():
            raise InvalidRequestError(
                "The model name is empty.", hint="Pass an embedding model name."
            )
        return normalize_inputs(input)

    def _op_health_safe(self) -> Op[Service]:
        """Health that reports failures in ``Service.error`` instead of raising."""
        import time

        from ..types import ServiceStatus

        started = time.perf_counter()
        try:
            service = yield from self._op_health()
        except ModelportError as exc:
            return Service(
                name=self.name,
                kind=self.kind,
                base_url=self.base_url,
                status=ServiceStatus.UNAVAILABLE,
                error=str(exc),
            )
        if service.latency_ms is None:
            from dataclasses import replace

            service = replace(service, latency_ms=(time.perf_counter() - started) * 1000.0)
        return service

    def _service(self, **fields: Any) -> Service:
        return Service(name=self.name, kind=self.kind, base_url=self.base_url, **fields)

    def _chat_items(self, req: ChatRequest) -> Iterator[StreamItem]:
        request, decoder = self._stream_chat(req)
        yield from self._io.stream(request, decoder)
        yield decoder.response()

    async def _achat_items(self, req: ChatRequest) -> AsyncIterator[StreamItem]:
        request, decoder = self._stream_chat(req)
        chunks = self._aio.stream(request, decoder)
        try:
            async for chunk in chunks:
                yield chunk
        finally:
            await chunks.aclose()
        yield decoder.response()

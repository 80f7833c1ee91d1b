"""LM Studio: the OpenAI-compatible API plus what LM Studio adds around it.

LM Studio serves three HTTP API families on one port (default 1234):

* ``/v1/*``, OpenAI-compatible: chat, streaming and embeddings go here, through the
  shared ``openai_chat`` dialect with LM Studio's switches (JSON mode sent as a
  schema, ``<think>`` split out, ``keep_alive`` sent as ``ttl``);
* ``/api/v0/*`` (0.3.6+): model listing with type, state and context lengths, and a
  chat endpoint whose replies carry ``stats`` (used with ``native_stats=True``);
* ``/api/v1/*`` (0.4.0+): the richest model list, and model management
  (load, unload, download).

Listing tries them newest first and degrades cleanly: LM Studio answers an unknown
route with HTTP **200** ``{"error": "Unexpected endpoint or method. ..."}``, other
servers with 404; both mean "try the older family". Any body with a top-level
``error`` is an error whatever its status.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import re
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote

from .._http.mapping import ErrorContext, extract_error
from .._http.transport import ChatDecoder, Op, Request, Response
from .._http.urls import normalize_base_url
from .._naming import close_names
from .._wire import openai_chat as wire
from .._wire.common import ChatRequest
from ..errors import (
    CapabilityError,
    ConfigurationError,
    ContextLengthExceededError,
    InvalidRequestError,
    ModelNotFoundError,
    ModelNotLoadedError,
    ModelportError,
    ProtocolError,
    ServerError,
)
from ..types import (
    Capabilities,
    ChatChunk,
    ChatResponse,
    EmbedResponse,
    ModelInfo,
    ProviderKind,
    PullProgress,
    Service,
    ServiceStatus,
    Timings,
)
from .base import ProviderOptions
from .openai_compatible import OpenAICompatibleProvider

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["LMStudioProvider", "duration_seconds", "find_lmstudio_home", "server_port_from_config"]

DEFAULT_PORT = 1234
DEFAULT_JIT_TIMEOUT = 300.0
"""Seconds to wait for the first answer from a model LM Studio may have to load first."""

TOKEN_VARIABLES = ("LM_API_TOKEN", "LMSTUDIO_API_TOKEN")
"""LM Studio's docs and lmstudio-js read the first; lmstudio-python reads the second."""

_WHERE_TOKENS = "Tokens are created in LM Studio under Developer → Server Settings → Manage Tokens."

_LISTINGS: tuple[tuple[str, str], ...] = (
    ("v1", "/api/v1/models"),
    ("v0", "/api/v0/models"),
    ("openai", "/v1/models"),
)

_STOP_REASONS = {
    "eosFound": "stop",
    "stopStringFound": "stop",
    "maxPredictedTokensReached": "length",
    "contextLengthReached": "length",
    "toolCalls": "tool_calls",
    "userStopped": "cancelled",
    "modelUnloaded": "error",
    "failed": "error",
}
"""LM Studio's ``stats.stop_reason`` as an OpenAI-style finish reason."""

_FINISHED_DOWNLOADS = ("completed", "already_downloaded")


# --------------------------------------------------------------------------- configuration


def find_lmstudio_home(user_home: str | os.PathLike[str] | None = None) -> Path:
    """The folder where LM Studio keeps its files, found the way LM Studio's tools do.

    ``~/.lmstudio-home-pointer`` (a file holding a path) wins; then
    ``~/.cache/lm-studio`` when it exists; otherwise ``~/.lmstudio``.

    Args:
        user_home: the user's home folder; defaults to ``Path.home()``.
    """
    home = Path(user_home) if user_home is not None else Path.home()
    try:
        pointed = (home / ".lmstudio-home-pointer").read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        pointed = ""
    if pointed:
        return Path(pointed).expanduser()
    cache = home / ".cache" / "lm-studio"
    if cache.is_dir():
        return cache
    return home / ".lmstudio"


def server_port_from_config(lmstudio_home: str | os.PathLike[str]) -> int | None:
    """The port LM Studio's server last used, from ``.internal/http-server-config.json``.

    ``None`` when the file is missing, unreadable or holds no valid port.
    """
    path = Path(lmstudio_home) / ".internal" / "http-server-config.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    port = data.get("port") if isinstance(data, dict) else None
    if isinstance(port, int) and not isinstance(port, bool) and 0 < port < 65536:
        return port
    return None


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_DURATION = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|s|m|h))+")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def duration_seconds(value: str) -> float:
    """Seconds in a duration written like Ollama's ``keep_alive`` (Go style).

    >>> duration_seconds("5m"), duration_seconds("1h30m"), duration_seconds("45s")
    (300.0, 5400.0, 45.0)
    >>> duration_seconds("90"), duration_seconds("-1")
    (90.0, -1.0)
    >>> duration_seconds("soon")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    modelport.errors.InvalidRequestError: keep_alive 'soon' is not a duration; ...
    """
    text = value.strip().lower()
    try:
        number = float(text)
    except ValueError:
        pass
    else:
        if math.isfinite(number):
            return number
    if not _DURATION.fullmatch(text):
        raise InvalidRequestError(
            f"keep_alive {value!r} is not a duration; use seconds (a number) or a duration "
            "like '5m' or '1h30m'."
        )
    return sum(float(n) * _UNIT_SECONDS[unit] for n, unit in _DURATION_PART.findall(text))


# --------------------------------------------------------------------------- the provider


class LMStudioProvider(OpenAICompatibleProvider):
    """A provider for LM Studio's local server (default ``http://127.0.0.1:1234``).

    Without ``base_url`` the port comes from LM Studio's own server settings file
    (``<LM Studio home>/.internal/http-server-config.json``) when it exists.

    Args:
        base_url: the server's URL, with or without ``/v1``.
        api_key: an LM Studio API token (0.4+, only when "Require Authentication" is
            on); defaults to ``$LM_API_TOKEN``, then ``$LMSTUDIO_API_TOKEN``.
        name: the service name used in model ids and errors (default ``"lmstudio"``).
        timeout: read timeout in seconds for each request.
        connect_timeout: how long to wait for the connection itself.
        headers: extra headers for every request.
        transport: an httpx transport (for example ``httpx.MockTransport`` in tests).
        jit_timeout: read timeout for the first request to a model that is not known
            to be loaded, and for :meth:`load`: LM Studio loads such a model "just in
            time" and answers only when it is loaded, which can take minutes.
        native_stats: send non-streamed chats to ``/api/v0/chat/completions`` so
            replies carry LM Studio's ``stats`` (tokens/s, time to first token,
            generation time) in ``ChatResponse.timings``; falls back to ``/v1`` on
            servers without it.
        home: LM Studio's home folder, to read the port from (default: found the way
            LM Studio's own tools find it).
        poll_interval: seconds between download status checks in :meth:`pull`.

    >>> LMStudioProvider("http://127.0.0.1:1234/v1", api_key="sk-lm-secret:token")
    LMStudioProvider('http://127.0.0.1:1234', name='lmstudio')
    """

    kind: ClassVar[ProviderKind] = "lmstudio"
    server_name: ClassVar[str] = "LM Studio"
    default_base_url: ClassVar[str] = f"http://127.0.0.1:{DEFAULT_PORT}"
    start_hint: ClassVar[str] = (
        "Is LM Studio's server running? Start it with `lms server start`, or with the "
        "toggle at the top left of LM Studio's Developer page."
    )
    dialect: ClassVar[wire.OpenAIDialect] = wire.OpenAIDialect(
        json_mode_as_schema=True, split_think=True, keep_alive_as_ttl=True
    )

    def __init__(
        self,
        base_url: str | None = None,
        *,
        jit_timeout: float = DEFAULT_JIT_TIMEOUT,
        native_stats: bool = False,
        home: str | os.PathLike[str] | None = None,
        poll_interval: float = 1.0,
        **options: Unpack[ProviderOptions],
    ) -> None:
        self._home = Path(home) if home is not None else None
        given = options.get("api_key") is not None
        self._token_source: str | None = "api_key" if given else None
        super().__init__(base_url, **options)
        self.jit_timeout = _seconds("jit_timeout", jit_timeout, allow_zero=False)
        self.poll_interval = _seconds("poll_interval", poll_interval, allow_zero=True)
        self.native_stats = bool(native_stats)
        self._listing: str | None = None  # the model-list family that worked last
        self._native_chat: bool | None = None  # whether /api/v0/chat/completions exists
        self._loaded: dict[str, bool] = {}
        self._contexts: dict[str, int] = {}

    # ------------------------------------------------------------------ configuration

    def _default_url(self) -> str:
        try:
            home = self._home if self._home is not None else find_lmstudio_home()
        except (OSError, RuntimeError):  # no home folder at all
            return self.default_base_url
        port = server_port_from_config(home)
        return f"http://127.0.0.1:{port}" if port else self.default_base_url

    def _normalize_url(self, url: str) -> str:
        normalized = normalize_base_url(url)
        for suffix in ("/v1", "/api/v0", "/api/v1"):
            if normalized.endswith(suffix):
                return normalized[: -len(suffix)]
        return normalized

    def _api_key_from_env(self) -> str | None:
        for variable in TOKEN_VARIABLES:
            value = os.environ.get(variable, "").strip()
            if value:
                self._token_source = variable
                return value
        return None

    @property
    def auth_hint(self) -> str:
        if self._token_source == "api_key":
            return f"Check the api_key passed to LMStudioProvider. {_WHERE_TOKENS}"
        if self._token_source:
            return f"Check the token in ${self._token_source}. {_WHERE_TOKENS}"
        return (
            "This LM Studio server requires an API token: pass api_key=... or set "
            f"LM_API_TOKEN. {_WHERE_TOKENS}"
        )

    # ------------------------------------------------------------------ errors

    def _classify(self, response: Response) -> ModelportError | None:
        """LM Studio's own error rows; ``None`` leaves the generic mapping to decide."""
        if not 400 <= response.status < 500 or response.status in (401, 403):
            return None
        message, codes = _error_parts(response.content)
        request = response.request
        return self._error_row(message, codes, response.status, request.model, request.describe())

    def _error_row(
        self, message: str, codes: set[str], status: int | None, model: str | None, what: str
    ) -> ModelportError | None:
        ctx = self.ctx
        kw = ctx.kwargs(status)
        lowered = message.lower()
        if "unexpected endpoint or method" in lowered:
            return CapabilityError(
                f"{ctx.where()} does not have {what} ({message}).",
                hint="This LM Studio version lacks that endpoint (the native /api/v1 API needs "
                "0.4.0+, /api/v0 needs 0.3.6+); also check that the base URL has no extra path.",
                **kw,
            )
        if "no models loaded" in lowered:
            name = model or "MODEL"
            return ModelNotLoadedError(
                f"{ctx.where()} has no model loaded"
                + (f" to answer for {model!r}" if model else "")
                + f" ({message.split('. ')[0]}).",
                hint=f"Load it with `modelport load {name}` (or `lms load {name}`), or turn on "
                "Just-in-Time Model Loading in LM Studio's Developer → Server Settings.",
                **kw,
            )
        if (
            "model_not_found" in codes
            or "invalid model identifier" in lowered
            or (_OLD_NOT_FOUND.search(message))
        ):
            return self._not_found_error(message, model, status)
        if _is_overflow(lowered):
            return self._overflow_error(message, model, status)
        if "response_format" in lowered and "must be" in lowered:
            return InvalidRequestError(
                f"{ctx.where()} rejected the response_format ({message}).",
                hint="LM Studio takes structured output only as a JSON schema: pass "
                "response_format=<schema dict> ('json' mode is sent as a schema already).",
                **kw,
            )
        if "not_implemented" in codes:
            return CapabilityError(f"{ctx.where()} cannot do this ({message}).", **kw)
        return None

    def _not_found_error(
        self, message: str, model: str | None, status: int | None
    ) -> ModelNotFoundError:
        listed = _listed_models(message)
        suggestions = close_names(model, listed) if model else []
        suggestions += [name for name in listed if name not in suggestions]
        first = message.split(". ", 1)[0].strip().rstrip(".")
        subject = f"has no model {model!r}" if model else "does not have that model"
        return ModelNotFoundError(
            f"{self.ctx.where()} {subject} ({first}).",
            model=model,
            suggestions=suggestions,
            hint="See what it serves with `modelport models`; download models with `lms get`.",
            **self.ctx.kwargs(status),
        )

    def _overflow_error(
        self, message: str, model: str | None, status: int | None
    ) -> ContextLengthExceededError:
        found = _CONTEXT_NUMBER.search(message)
        context = int(found.group(1) or found.group(2)) if found else None
        if context is None and model:
            context = self._contexts.get(model.lower())
        window = f"{context}-token context" if context else "context"
        name = model or "MODEL"
        which = repr(model) if model else "the model"
        return ContextLengthExceededError(
            f"The prompt does not fit the {window} that {self.ctx.where()} loaded {which} "
            f"with: {message}",
            context_length=context,
            hint="Shorten the conversation, or load the model with a larger context: "
            f"load({name!r}, context_length=N), `modelport load {name} --context-length N` "
            f"or `lms load {name} --context-length N`.",
            **self.ctx.kwargs(status),
        )

    def _stream_error(self, data: Mapping[str, Any], model: str) -> ModelportError | None:
        message, codes = _error_parts_of(data)
        return self._error_row(message, codes, 200, model, "this stream")

    def _needs_native_api(self, what: str, command: str, cause: ModelportError) -> CapabilityError:
        answered = (
            '"Unexpected endpoint or method"'
            if "Unexpected endpoint" in cause.message
            else f"HTTP {cause.status_code}"
        )
        return CapabilityError(
            f"{self.ctx.where()} cannot {what} over HTTP: that needs LM Studio's native REST "
            f"API (/api/v1), added in LM Studio 0.4.0, and this server answered {answered}.",
            hint=f"Update LM Studio, or run `{command}` where LM Studio runs.",
            **self.ctx.kwargs(cause.status_code),
        )

    # ------------------------------------------------------------------ loaded state

    def _mark(self, model: str, loaded: bool, context: int | None = None) -> None:
        key = model.lower()
        self._loaded[key] = loaded
        if context:
            self._contexts[key] = context

    def _remember(self, models: Sequence[ModelInfo]) -> None:
        for info in models:
            if info.loaded is None:
                continue
            for name in (info.name, *_aliases(info)):
                self._mark(name, info.loaded, info.loaded_context_length)

    def _read_timeout(self, requested: float | None, model: str) -> float | None:
        """The per-request read timeout: longer while a model may still be loading."""
        if requested is not None:
            return requested
        if self._loaded.get(model.lower()):
            return None
        return max(self.timeout, self.jit_timeout)

    # ------------------------------------------------------------------ listing

    def _op_health(self) -> Op[Service]:
        models = yield from self._op_models()
        return self._service(status=ServiceStatus.AVAILABLE, model_count=len(models))

    def _op_models(self) -> Op[list[ModelInfo]]:
        names = [family for family, _ in _LISTINGS]
        start = names.index(self._listing) if self._listing in names else 0
        for family, path in _LISTINGS[start:]:
            last = family == _LISTINGS[-1][0]
            try:
                response = yield Request("GET", path)
                data = self._json(response)
                self._raise_in_band(response, data)
                models: list[ModelInfo] = self._parse(
                    "the model list",
                    lambda data=data, family=family: self._listing_of(family, data),
                )
            except (CapabilityError, ProtocolError) as exc:
                if last or not (isinstance(exc, ProtocolError) or _endpoint_missing(exc)):
                    raise
                continue
            self._listing = family
            self._remember(models)
            return models
        raise AssertionError("unreachable: the last listing raises or returns")

    def _listing_of(self, family: str, data: Any) -> list[ModelInfo]:
        if family == "v1":
            entries = data["models"]
            if not isinstance(entries, list):
                raise TypeError("'models' is not a list")
            return [self._from_v1(entry) for entry in entries]
        if family == "v0":
            entries = data["data"]
            if not isinstance(entries, list):
                raise TypeError("'data' is not a list")
            return [self._from_v0(entry) for entry in entries]
        return [self._from_openai(entry) for entry in wire.parse_model_list(data, self.ctx)]

    def _from_v1(self, entry: Mapping[str, Any]) -> ModelInfo:
        key = entry["key"]
        if not isinstance(key, str):
            raise TypeError("a model entry has no key")
        kind = entry.get("type")
        instances = [i for i in entry.get("loaded_instances") or () if isinstance(i, Mapping)]
        contexts = [
            c for i in instances if (c := _positive_int(_get(i.get("config"), "context_length")))
        ]
        caps = entry.get("capabilities") if isinstance(entry.get("capabilities"), Mapping) else {}
        assert isinstance(caps, Mapping)
        if kind == "embedding":
            capabilities = Capabilities(chat=False, embedding=True)
        elif kind == "llm":
            vision = caps.get("vision")
            capabilities = Capabilities(
                chat=True,
                tools=True if caps.get("trained_for_tool_use") is True else None,
                vision=vision if isinstance(vision, bool) else None,
                embedding=False,
                thinking=_thinking(caps.get("reasoning")),
            )
        else:
            capabilities = Capabilities()
        details: dict[str, Any] = {"api": "/api/v1/models", "loaded_instances": instances}
        for field in (
            "type",
            "publisher",
            "display_name",
            "description",
            "variants",
            "selected_variant",
        ):
            if entry.get(field) is not None:
                details[field] = entry[field]
        for field in ("trained_for_tool_use", "reasoning"):
            if field in caps:
                details[field] = caps[field]
        bits = _get(entry.get("quantization"), "bits_per_weight")
        if bits is not None:
            details["bits_per_weight"] = bits
        return ModelInfo(
            id=self._model_id(key),
            name=key,
            service=self.name,
            kind=self.kind,
            context_length=_positive_int(entry.get("max_context_length")),
            loaded_context_length=min(contexts) if contexts else None,
            loaded=bool(instances),
            capabilities=capabilities,
            family=_text(entry.get("architecture")),
            parameter_size=_text(entry.get("params_string")),
            quantization=_text(_get(entry.get("quantization"), "name")),
            format=_text(entry.get("format")),
            size_bytes=_positive_int(entry.get("size_bytes")),
            details=details,
        )

    def _from_v0(self, entry: Mapping[str, Any]) -> ModelInfo:
        name = entry["id"]
        if not isinstance(name, str):
            raise TypeError("a model entry has no id")
        kind = entry.get("type")
        state = entry.get("state")
        if kind in ("embeddings", "embedding"):
            capabilities = Capabilities(chat=False, embedding=True)
        elif kind in ("llm", "vlm"):
            listed = entry.get("capabilities")
            tools = True if isinstance(listed, list) and "tool_use" in listed else None
            capabilities = Capabilities(
                chat=True, tools=tools, vision=kind == "vlm", embedding=False
            )
        else:
            capabilities = Capabilities()
        details: dict[str, Any] = {"api": "/api/v0/models"}
        for field in ("type", "publisher", "state", "capabilities"):
            if entry.get(field) is not None:
                details[field] = entry[field]
        return ModelInfo(
            id=self._model_id(name),
            name=name,
            service=self.name,
            kind=self.kind,
            context_length=_positive_int(entry.get("max_context_length")),
            loaded_context_length=_positive_int(entry.get("loaded_context_length")),
            loaded=state == "loaded" if isinstance(state, str) else None,
            capabilities=capabilities,
            family=_text(entry.get("arch")),
            quantization=_text(entry.get("quantization")),
            format=_text(entry.get("compatibility_type")),
            details=details,
        )

    def _from_openai(self, entry: Mapping[str, Any]) -> ModelInfo:
        name = entry["id"]
        return ModelInfo(
            id=self._model_id(name),
            name=name,
            service=self.name,
            kind=self.kind,
            details={"api": "/v1/models"}
            | {k: v for k, v in entry.items() if k not in ("id", "object")},
        )

    def _find_model(self, model: str, models: Sequence[ModelInfo]) -> ModelInfo:
        for info in models:
            if model in (info.name, info.id):
                return info
        wanted = model.lower()
        for info in models:
            if wanted in (info.name.lower(), info.id.lower()):
                return info
            if any(alias.lower() == wanted for alias in _aliases(info)):
                return info
        raise self._model_not_found(model, [m.name for m in models])

    # ------------------------------------------------------------------ chat & embeddings

    def _prepare(self, req: ChatRequest) -> ChatRequest:
        if isinstance(req.keep_alive, str):
            return replace(req, keep_alive=duration_seconds(req.keep_alive))
        return req

    def _chat_request(self, req: ChatRequest, *, stream: bool, path: str | None = None) -> Request:
        return Request(
            "POST",
            path or f"{self.api_prefix}/chat/completions",
            wire.build_chat_body(req, stream=stream, dialect=self.dialect),
            timeout=self._read_timeout(req.timeout, req.model),
            model=req.model,
            headers={"accept": "text/event-stream"} if stream else {},
        )

    def _op_chat(self, req: ChatRequest) -> Op[ChatResponse]:
        req = self._prepare(req)
        if self.native_stats and self._native_chat is not False:
            try:
                response = yield self._chat_request(
                    req, stream=False, path="/api/v0/chat/completions"
                )
                data = self._json(response)
                self._raise_in_band(response, data)
            except CapabilityError as exc:
                if not _endpoint_missing(exc):
                    raise
                self._native_chat = False
            else:
                self._native_chat = True
                return self._with_stats(self._reply(req, data), data)
        response = yield self._chat_request(req, stream=False)
        data = self._json(response)
        self._raise_in_band(response, data)
        return self._reply(req, data)

    def _reply(self, req: ChatRequest, data: Any) -> ChatResponse:
        reply = wire.parse_chat_completion(data, self.ctx, dialect=self.dialect, model=req.model)
        self._mark(req.model, True)
        return reply

    def _with_stats(self, reply: ChatResponse, data: Mapping[str, Any]) -> ChatResponse:
        """Fill timings (and a missing finish reason) from REST v0's ``stats``."""
        stats = data.get("stats")
        context = _positive_int(_get(data.get("model_info"), "context_length"))
        if context:
            self._contexts[reply.model.lower()] = context
        if not isinstance(stats, Mapping):
            return reply
        timings = Timings(
            time_to_first_token_ms=_ms(stats.get("time_to_first_token")),
            tokens_per_second=_number(stats.get("tokens_per_second")),
            generation_ms=_ms(stats.get("generation_time")),
        )
        finish = reply.finish_reason
        stop = stats.get("stop_reason")
        if finish is None and isinstance(stop, str):
            finish = _STOP_REASONS.get(stop, stop)
        return replace(reply, timings=timings, finish_reason=finish)

    def _stream_chat(self, req: ChatRequest) -> tuple[Request, ChatDecoder]:
        req = self._prepare(req)
        request = self._chat_request(req, stream=True)
        model = req.model
        decoder = _LMStudioChatStream(
            self.ctx,
            model,
            self.dialect,
            classify=lambda data: self._stream_error(data, model),
            on_start=lambda: self._mark(model, True),
        )
        return request, decoder

    def _op_embed(self, model: str, inputs: list[str]) -> Op[EmbedResponse]:
        response = yield Request(
            "POST",
            f"{self.api_prefix}/embeddings",
            wire.build_embed_body(model, inputs),
            model=model,
            timeout=self._read_timeout(None, model),
        )
        data = self._json(response)
        self._raise_in_band(response, data)
        result = wire.parse_embeddings(data, self.ctx, model=model)
        self._mark(model, True)
        return result

    # ------------------------------------------------------------------ model management

    def _op_load(self, model: str, context_length: int | None, ttl: float | None) -> Op[None]:
        model = _model_name(model)
        if context_length is not None and (
            isinstance(context_length, bool)
            or not isinstance(context_length, int)
            or context_length <= 0
        ):
            raise InvalidRequestError(
                f"context_length must be a positive integer, not {context_length!r}."
            )
        if ttl is not None:
            raise CapabilityError(
                f"{self.ctx.where()} cannot set an idle TTL when loading through its REST API "
                "(/api/v1/models/load has no such field).",
                hint="Let the first chat load the model just in time with keep_alive=SECONDS "
                f"(sent as LM Studio's ttl), or run `lms load {model} --ttl SECONDS`.",
                **self.ctx.kwargs(),
            )
        body: dict[str, Any] = {"model": model}
        if context_length is not None:
            body["context_length"] = context_length
        try:
            response = yield Request(
                "POST",
                "/api/v1/models/load",
                body,
                model=model,
                timeout=max(self.timeout, self.jit_timeout),
            )
            data = self._json(response)
            self._raise_in_band(response, data)
        except CapabilityError as exc:
            if _endpoint_missing(exc):
                raise self._needs_native_api("load models", f"lms load {model}", exc) from exc
            raise
        loaded_context = _positive_int(_get(data.get("load_config"), "context_length"))
        self._mark(model, True, loaded_context or context_length)
        instance = data.get("instance_id") if isinstance(data, Mapping) else None
        if isinstance(instance, str):
            self._mark(instance, True, loaded_context or context_length)

    def _op_unload(self, model: str) -> Op[None]:
        model = _model_name(model)
        try:
            response = yield Request("GET", "/api/v1/models")
            data = self._json(response)
            self._raise_in_band(response, data)
        except CapabilityError as exc:
            if _endpoint_missing(exc):
                raise self._needs_native_api("unload models", f"lms unload {model}", exc) from exc
            raise
        models: list[ModelInfo] = self._parse(
            "the model list", lambda: self._listing_of("v1", data)
        )
        self._remember(models)
        instances = _instances_of(model, models)
        if instances is None:
            raise self._model_not_found(model, [m.name for m in models])
        for instance in instances:
            response = yield Request(
                "POST", "/api/v1/models/unload", {"instance_id": instance}, model=model
            )
            self._raise_in_band(response, self._json(response))
            self._mark(instance, False)
        if instances:
            self._mark(model, False)

    def _op_pull_start(self, model: str) -> Op[Mapping[str, Any]]:
        try:
            response = yield Request(
                "POST", "/api/v1/models/download", {"model": model}, model=model
            )
            data = self._json(response)
            self._raise_in_band(response, data)
        except CapabilityError as exc:
            if _endpoint_missing(exc):
                raise self._needs_native_api("download models", f"lms get {model}", exc) from exc
            raise
        return self._download_status(data)

    def _op_pull_status(self, model: str, job: str) -> Op[Mapping[str, Any]]:
        response = yield Request(
            "GET", f"/api/v1/models/download/status/{quote(job, safe='')}", model=model
        )
        data = self._json(response)
        self._raise_in_band(response, data)
        return self._download_status(data)

    def _download_status(self, data: Any) -> Mapping[str, Any]:
        def check() -> Mapping[str, Any]:
            if not isinstance(data, Mapping) or not isinstance(data["status"], str):
                raise TypeError("no download status")
            return data

        result: Mapping[str, Any] = self._parse("a download status", check)
        return result

    def _pull_step(self, model: str, data: Mapping[str, Any]) -> tuple[PullProgress, str | None]:
        """The progress to report, and the download job to poll next (``None``: done)."""
        status = data["status"]
        if status == "failed":
            raise ServerError(
                f"{self.ctx.where()} could not download {model!r} "
                f"(job {data.get('job_id') or '?'} failed).",
                hint=f"See LM Studio's downloads panel, or try `lms get {model}`.",
                **self.ctx.kwargs(),
            )
        progress = PullProgress(
            status=status,
            completed=_int(data.get("downloaded_bytes")),
            total=_int(data.get("total_size_bytes")),
        )
        if status in _FINISHED_DOWNLOADS:
            return progress, None
        job = data.get("job_id")
        if not isinstance(job, str) or not job:
            raise ProtocolError(
                f"{self.ctx.where()} started a download of {model!r} without a job id.",
                **self.ctx.kwargs(),
            )
        return progress, job

    def pull(self, model: str) -> Iterator[PullProgress]:
        """Download a model (0.4+), yielding progress until it is on disk.

        LM Studio downloads in the background; this polls its status every
        ``poll_interval`` seconds. ``model`` is a catalog id (``qwen/qwen3-4b``) or
        a Hugging Face URL.
        """
        model = _model_name(model)
        data = self._io.run(self._op_pull_start(model))
        while True:
            progress, job = self._pull_step(model, data)
            yield progress
            if job is None:
                return
            if self.poll_interval:
                time.sleep(self.poll_interval)
            data = self._io.run(self._op_pull_status(model, job))

    async def apull(self, model: str) -> AsyncIterator[PullProgress]:
        """Async :meth:`pull`."""
        model = _model_name(model)
        data = await self._aio.run(self._op_pull_start(model))
        while True:
            progress, job = self._pull_step(model, data)
            yield progress
            if job is None:
                return
            if self.poll_interval:
                await asyncio.sleep(self.poll_interval)
            data = await self._aio.run(self._op_pull_status(model, job))


# --------------------------------------------------------------------------- streaming


class _LMStudioChatStream(wire.OpenAIChatStream):
    """The OpenAI SSE decoder with LM Studio's error rows, which remembers that the
    model is loaded once output starts (the next request needs no JIT timeout).
    """

    __slots__ = ("_on_start",)

    def __init__(
        self,
        ctx: ErrorContext,
        model: str,
        dialect: wire.OpenAIDialect,
        *,
        classify: Callable[[Mapping[str, Any]], ModelportError | None],
        on_start: Callable[[], None],
    ) -> None:
        super().__init__(ctx, model, dialect, classify=classify)
        self._on_start: Callable[[], None] | None = on_start

    def _feed(self, data: bytes, out: list[ChatChunk]) -> None:
        super()._feed(data, out)
        self._started()

    def _finish(self, out: list[ChatChunk]) -> None:
        super()._finish(out)
        self._started()

    def _started(self) -> None:
        if self._on_start is not None and self.acc.started:
            self._on_start()
            self._on_start = None


# --------------------------------------------------------------------------- helpers

_OLD_NOT_FOUND = re.compile(r"model\s+\"[^\"]*\"\s+not found", re.IGNORECASE)
_OVERFLOW_MARKERS = (
    "tokens to keep",
    "n_keep",
    "context the overflows",
    "greater than the context length",
    "context length of only",
)
_CONTEXT_NUMBER = re.compile(r"n_ctx\W{0,3}(\d+)|context length of only (\d+)", re.IGNORECASE)
_EXAMPLES = re.compile(r"\(e\.g\.,?\s*([^)]*)\)")


def _is_overflow(lowered: str) -> bool:
    return any(marker in lowered for marker in _OVERFLOW_MARKERS)


def _error_parts(body: bytes) -> tuple[str, set[str]]:
    """``(message, codes)`` of an LM Studio error body, whatever its shape."""
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if isinstance(data, Mapping) and data.get("error") is not None:
        return _error_parts_of(data)
    message, code, _ = extract_error(body)
    return message, {code} if code else set()


def _error_parts_of(data: Mapping[str, Any]) -> tuple[str, set[str]]:
    error = data.get("error")
    if isinstance(error, str):
        return error, set()
    if isinstance(error, Mapping):
        message = error.get("message")
        codes = {str(error[k]) for k in ("code", "type") if error.get(k) is not None}
        return (message if isinstance(message, str) else json.dumps(error)), codes
    return json.dumps(data)[:300], set()


def _listed_models(message: str) -> list[str]:
    """The model ids LM Studio lists in its "not found" messages."""
    found = _EXAMPLES.search(message)
    if found:
        return [name.strip() for name in found.group(1).split(",") if name.strip()]
    if "Your models:" in message:
        tail = message.split("Your models:", 1)[1]
        return [line.strip() for line in tail.splitlines() if line.strip()]
    return []


def _endpoint_missing(error: ModelportError) -> bool:
    """Whether an error means "this server has no such endpoint".

    That is a 404/405, or LM Studio's HTTP 200 "Unexpected endpoint or method".
    """
    return isinstance(error, CapabilityError) and (
        error.status_code in (404, 405) or "Unexpected endpoint" in error.message
    )


def _aliases(info: ModelInfo) -> list[str]:
    """Other names LM Studio accepts for a model: its variants and loaded instance ids."""
    names: list[str] = []
    variants = info.details.get("variants")
    if isinstance(variants, list):
        names += [v for v in variants if isinstance(v, str)]
    selected = info.details.get("selected_variant")
    if isinstance(selected, str):
        names.append(selected)
    return names


def _instances_of(model: str, models: Sequence[ModelInfo]) -> list[str] | None:
    """The loaded instance ids to unload for ``model``; ``None`` if no such model."""
    wanted = model.lower()
    for info in models:
        ids = [
            i["id"]
            for i in info.details.get("loaded_instances", ())
            if isinstance(i, Mapping) and isinstance(i.get("id"), str)
        ]
        if wanted == info.name.lower() or wanted in (a.lower() for a in _aliases(info)):
            return ids
        matching = [i for i in ids if i.lower() == wanted]
        if matching:
            return matching
    return None


def _thinking(reasoning: Any) -> bool | None:
    """Whether the model reasons, from ``capabilities.reasoning`` (``None``: not said)."""
    if not isinstance(reasoning, Mapping):
        return None
    options = reasoning.get("allowed_options")
    if isinstance(options, list) and options:
        return any(option != "off" for option in options)
    return True


def _model_name(model: Any) -> str:
    if not isinstance(model, str) or not model.strip():
        raise InvalidRequestError(
            "The model name is empty.", hint="Pass a model id such as 'qwen/qwen3-8b'."
        )
    return model.strip()


def _seconds(label: str, value: Any, *, allow_zero: bool) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < 0
        or (value == 0 and not allow_zero)
    ):
        kind = "a non-negative" if allow_zero else "a positive"
        raise ConfigurationError(f"{label} must be {kind} number of seconds, not {value!r}.")
    return float(value)


def _get(mapping: Any, key: str) -> Any:
    return mapping.get(key) if isinstance(mapping, Mapping) else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _positive_int(value: Any) -> int | None:
    number = _int(value)
    return number if number is not None and number > 0 else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _ms(seconds: Any) -> float | None:
    value = _number(seconds)
    return None if value is None else value * 1000.0


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None

"""The LM Studio provider.

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

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote

from ..._classify import Rules
from ..._classify.lmstudio import make_rules
from ..._coerce import duration_seconds, field_of, opt_float, opt_int, opt_pos_int, seconds_to_ms
from ..._http.mapping import ErrorContext
from ..._http.ops import ItemOp, Op, Request, emit, send, sleep
from ..._http.settings import check_seconds
from ..._http.urls import normalize_base_url
from ..._schedule.hints import lmstudio_hints
from ..._schedule.types import ServerHints
from ..._wire import openai_chat as wire
from ..._wire.common import ChatRequest, EmbedInputs
from ...errors import (
    CapabilityError,
    InvalidRequestError,
    ModelportError,
    ProtocolError,
    ServerError,
)
from ...types import (
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
from ..base import ProviderOptions
from ..openai_compatible import OpenAICompatibleProvider
from .config import DEFAULT_PORT, TOKEN_VARIABLES, find_lmstudio_home, server_port_from_config
from .listing import LISTINGS, aliases, instances_of, listing_of

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["LMStudioProvider"]

DEFAULT_JIT_TIMEOUT = 300.0
"""Seconds to wait for the first answer from a model LM Studio may have to load first."""

_WHERE_TOKENS = "Tokens are created in LM Studio under Developer → Server Settings → Manage Tokens."

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


class LMStudioProvider(OpenAICompatibleProvider):
    """A provider for LM Studio's local server (default ``http://127.0.0.1:1234``).

    Without ``base_url`` the port comes from LM Studio's own server settings file
    (``<LM Studio home>/.internal/http-server-config.json``) when it exists.

    Args:
        base_url: the server's URL, with or without ``/v1``.
        api_key: an LM Studio API token (0.4+, only when "Require Authentication" is
            on); defaults to ``$LM_API_TOKEN``, then ``$LMSTUDIO_API_TOKEN``.
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
        **options: the options every provider takes (see :class:`Provider`).

    >>> LMStudioProvider("http://127.0.0.1:1234/v1", api_key="sk-lm-secret:token")
    LMStudioProvider('http://127.0.0.1:1234', name='lmstudio')
    """

    kind: ClassVar[ProviderKind] = "lmstudio"
    can_pull: ClassVar[bool] = True
    server_name: ClassVar[str] = "LM Studio"
    default_base_url: ClassVar[str] = f"http://127.0.0.1:{DEFAULT_PORT}"
    start_hint: ClassVar[str] = (
        "Is LM Studio's server running? Start it with `lms server start`, or with the "
        "toggle at the top left of LM Studio's Developer page."
    )
    dialect: ClassVar[wire.OpenAIDialect] = wire.OpenAIDialect(
        json_mode_as_schema=True, split_think=True, keep_alive_as_ttl=True, image_urls=False
    )
    may_be_vllm: ClassVar[bool] = False

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
        self._token_source: str | None = "api_key" if options.get("api_key") else None
        super().__init__(base_url, **options)
        self.jit_timeout = check_seconds("jit_timeout", jit_timeout)
        self.poll_interval = check_seconds("poll_interval", poll_interval, allow_zero=True)
        self.native_stats = bool(native_stats)
        self._listing: str | None = None  # the model-list family that worked last
        self._hints: ServerHints | None = None  # parallel slots, from the last listing
        self._native_chat: bool | None = None  # whether /api/v0/chat/completions exists
        self._loaded: dict[str, bool] = {}
        self._contexts: dict[str, int] = {}
        self._rules = make_rules(self._contexts)

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

    @property
    def rules(self) -> Rules:
        return self._rules

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
            for name in (info.name, *aliases(info)):
                self._mark(name, info.loaded, info.loaded_context_length)

    def _timeout_for(self, requested: float | None, model: str) -> float | None:
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

    def _op_models(self, refresh: bool = False) -> Op[list[ModelInfo]]:
        names = [family for family, _ in LISTINGS]
        start = names.index(self._listing) if self._listing in names else 0
        for family, path in LISTINGS[start:]:
            last = family == LISTINGS[-1][0]
            try:
                models = yield from self._op_listing(family, path)
            except (CapabilityError, ProtocolError) as exc:
                if last or not (isinstance(exc, ProtocolError) or _endpoint_missing(exc)):
                    raise
                continue
            self._listing = family
            self._remember(models)
            return models
        raise AssertionError("unreachable: the last listing raises or returns")

    def _op_listing(self, family: str, path: str) -> Op[list[ModelInfo]]:
        response = yield from send(Request("GET", path))
        data = self._body(response)
        models: list[ModelInfo] = self._parse(
            "the model list", lambda: listing_of(family, data, self.name)
        )
        if family == "v1":  # only the native listing says each instance's parallel slots
            self._hints = lmstudio_hints(data)
        return models

    def _server_hints(self) -> ServerHints | None:
        return self._hints

    def _find_model(self, model: str, models: Sequence[ModelInfo]) -> ModelInfo:
        for info in models:
            if model in (info.name, info.id):
                return info
        wanted = model.lower()
        for info in models:
            if wanted in (info.name.lower(), info.id.lower()):
                return info
            if any(alias.lower() == wanted for alias in aliases(info)):
                return info
        raise self._model_not_found(model, [m.name for m in models])

    # ------------------------------------------------------------------ chat & embeddings

    def _prepare(self, req: ChatRequest) -> ChatRequest:
        if isinstance(req.keep_alive, str):
            return replace(req, keep_alive=duration_seconds(req.keep_alive))
        return req

    def _op_chat(self, req: ChatRequest) -> Op[ChatResponse]:
        req = self._prepare(req)
        if self.native_stats and self._native_chat is not False:
            native = self._chat_request(req, stream=False, path="/api/v0/chat/completions")
            try:
                response = yield from send(native)
                data = self._body(response)
            except CapabilityError as exc:
                if not _endpoint_missing(exc):
                    raise
                self._native_chat = False
            else:
                self._native_chat = True
                return self._with_stats(self._reply(req, data), data)
        response = yield from send(self._chat_request(req, stream=False))
        return self._reply(req, self._body(response))

    def _reply(self, req: ChatRequest, data: object) -> ChatResponse:
        reply = wire.parse_chat_completion(data, self.ctx, dialect=self.dialect, model=req.model)
        self._mark(req.model, True)
        return reply

    def _with_stats(self, reply: ChatResponse, data: object) -> ChatResponse:
        """Fill timings (and a missing finish reason) from REST v0's ``stats``."""
        if not isinstance(data, Mapping):  # _reply has refused it already
            return reply
        stats = data.get("stats")
        context = opt_pos_int(field_of(data.get("model_info"), "context_length"))
        if context:
            self._contexts[reply.model.lower()] = context
        if not isinstance(stats, Mapping):
            return reply
        timings = Timings(
            time_to_first_token_ms=seconds_to_ms(stats.get("time_to_first_token")),
            tokens_per_second=opt_float(stats.get("tokens_per_second")),
            generation_ms=seconds_to_ms(stats.get("generation_time")),
        )
        finish = reply.finish_reason
        stop = stats.get("stop_reason")
        if finish is None and isinstance(stop, str):
            finish = _STOP_REASONS.get(stop, stop)
        return replace(reply, timings=timings, finish_reason=finish)

    def _stream_chat(self, req: ChatRequest) -> tuple[Request, wire.OpenAIChatStream]:
        req = self._prepare(req)
        model = req.model
        decoder = _LMStudioChatStream(
            self.ctx,
            model,
            self.dialect,
            rules=self.rules,
            max_event_bytes=self.max_event_bytes,
            on_start=lambda: self._mark(model, True),
        )
        return self._chat_request(req, stream=True), decoder

    def _op_embed(self, model: str, inputs: EmbedInputs) -> Op[EmbedResponse]:
        # LM Studio refuses token ids ("'input' field must be a string or an array of strings").
        result = yield from super()._op_embed(model, self._text_only(inputs))
        self._mark(model, True)
        return result

    # ------------------------------------------------------------------ model management

    def _op_native(self, request: Request, what: str, command: str) -> Op[object]:
        """A request to the native ``/api/v1`` API, which LM Studio before 0.4 lacks."""
        try:
            response = yield from send(request)
            return self._body(response)
        except CapabilityError as exc:
            if _endpoint_missing(exc):
                raise self._needs_native_api(what, command, exc) from exc
            raise

    def _op_load(self, model: str, context_length: int | None, ttl: float | None) -> Op[None]:
        if context_length is not None and opt_pos_int(context_length) is None:
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
        timeout = max(self.timeout, self.jit_timeout)
        request = Request("POST", "/api/v1/models/load", body, model=model, timeout=timeout)
        data = yield from self._op_native(request, "load models", f"lms load {model}")
        loaded_context = opt_pos_int(field_of(field_of(data, "load_config"), "context_length"))
        self._mark(model, True, loaded_context or context_length)
        instance = field_of(data, "instance_id")
        if isinstance(instance, str):
            self._mark(instance, True, loaded_context or context_length)

    def _op_unload(self, model: str) -> Op[None]:
        request = Request("GET", "/api/v1/models")
        data = yield from self._op_native(request, "unload models", f"lms unload {model}")
        models: list[ModelInfo] = self._parse(
            "the model list", lambda: listing_of("v1", data, self.name)
        )
        self._remember(models)
        instances = instances_of(model, models)
        if instances is None:
            raise self._model_not_found(model, [m.name for m in models])
        for instance in instances:
            response = yield from send(
                Request("POST", "/api/v1/models/unload", {"instance_id": instance}, model=model)
            )
            self._body(response)
            self._mark(instance, False)
        if instances:
            self._mark(model, False)

    def _op_pull(self, model: str) -> ItemOp[PullProgress]:
        """Download a model (0.4+), yielding progress until it is on disk.

        LM Studio downloads in the background; this polls its status every
        ``poll_interval`` seconds. ``model`` is a catalog id (``qwen/qwen3-4b``) or
        a Hugging Face URL.
        """
        request = Request("POST", "/api/v1/models/download", {"model": model}, model=model)
        data = yield from self._op_native(request, "download models", f"lms get {model}")
        while True:
            progress, job = self._pull_step(model, self._download_status(data))
            yield from emit(progress)
            if job is None:
                return
            yield from sleep(self.poll_interval)
            status = f"/api/v1/models/download/status/{quote(job, safe='')}"
            response = yield from send(Request("GET", status, model=model))
            data = self._body(response)

    def _download_status(self, data: object) -> Mapping[str, Any]:
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
            completed=opt_int(data.get("downloaded_bytes")),
            total=opt_int(data.get("total_size_bytes")),
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


class _LMStudioChatStream(wire.OpenAIChatStream):
    """The OpenAI SSE decoder, which remembers that the model is loaded once output
    starts (the next request needs no JIT timeout).
    """

    __slots__ = ("_on_start",)

    def __init__(
        self,
        ctx: ErrorContext,
        model: str,
        dialect: wire.OpenAIDialect,
        *,
        rules: Rules,
        max_event_bytes: int,
        on_start: Callable[[], None],
    ) -> None:
        super().__init__(ctx, model, dialect, rules=rules, max_event_bytes=max_event_bytes)
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


def _endpoint_missing(error: ModelportError) -> bool:
    """Whether an error means "this server has no such endpoint".

    That is a 404/405, or LM Studio's HTTP 200 "Unexpected endpoint or method".
    """
    return isinstance(error, CapabilityError) and (
        error.status_code in (404, 405) or "Unexpected endpoint" in error.message
    )

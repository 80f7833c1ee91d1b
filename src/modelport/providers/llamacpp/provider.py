"""The llama.cpp provider: ``llama-server``, serving one model or, in router mode, many.

llama-server speaks the OpenAI API (the shared ``openai_chat`` dialect); this provider
adds what the server says about itself (``/health``, ``/props``, the ``meta`` block of
``/v1/models``, ``timings`` on every reply) and, on a router, model management:
``POST /models/load`` and ``POST /models/unload``, each followed by watching the
model's ``status`` until it says the work is done.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, ClassVar, Literal
from urllib.parse import urlencode

from ..._classify import Rules
from ..._classify import llamacpp as llamacpp_rules
from ..._http.ops import Op, Outcome, Request, Response, gather, response_of, send, sleep
from ..._http.settings import check_seconds
from ..._schedule.hints import llamacpp_hints
from ..._schedule.types import ServerHints
from ..._wire import openai_chat as wire
from ..._wire.common import ChatRequest, EmbedInputs
from ...errors import (
    CapabilityError,
    InvalidRequestError,
    ModelNotLoadedError,
    ModelportError,
    ProtocolError,
    RequestTimeoutError,
    ServiceUnavailableError,
)
from ...types import EmbedResponse, ModelInfo, ProviderKind, Service, ServiceStatus, TokenCount
from ..base import ProviderOptions
from ..openai_compatible import OpenAICompatibleProvider, count_of, with_rerank
from . import listing
from .listing import find_entry, names_of, router_of, status_of

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["LlamaCppProvider"]

DEFAULT_LOAD_TIMEOUT = 300.0
"""Seconds to wait for a router to load a model (and for a request that makes it)."""

ROUTER_HINT = (
    "This llama-server serves the one model it was started with (-m). To load and unload "
    "models, start it in router mode: `llama-server --models-dir DIR` (no -m)."
)

_now = time.monotonic
"""The clock of the waits in load() and unload()."""


class LlamaCppProvider(OpenAICompatibleProvider):
    """A provider for llama.cpp's ``llama-server`` (default ``http://127.0.0.1:8080``).

    A model's ``context_length`` is what it was trained for (``n_ctx_train``);
    ``loaded_context_length`` is the context the server was started with (``-c``).

    In router mode (``llama-server --models-dir DIR``, no ``-m``) every model in the
    folder is listed with ``loaded`` from its status, and :meth:`load` / :meth:`unload`
    start and stop them; on a plain server they raise :class:`CapabilityError`.

    Args:
        base_url: the server's URL, with or without ``/v1``.
        load_timeout: the longest :meth:`load` and :meth:`unload` wait for the router
            to report the model loaded or stopped, and the read timeout of a request to
            a router model not known to be loaded (the router loads it first); the
            provider's ``timeout`` when that is longer.
        poll_interval: seconds between looks at the model's status while waiting.
        **options: the options every provider takes (see :class:`Provider`).
    """

    kind: ClassVar[ProviderKind] = "llamacpp"
    server_name: ClassVar[str] = "llama.cpp server"
    default_base_url: ClassVar[str] = "http://127.0.0.1:8080"
    start_hint: ClassVar[str] = (
        "Is `llama-server` running? Start it with `llama-server -m MODEL.gguf --jinja`, or "
        "with `llama-server --models-dir DIR` to serve every model in a folder."
    )
    dialect: ClassVar[wire.OpenAIDialect] = wire.OpenAIDialect(
        split_think=True,
        think_as_template_kwarg=True,
        image_urls=False,
        think_budget_field="thinking_budget_tokens",
        reasoning_back=True,
        named_tool_choice_as_required=True,
    )
    may_be_vllm: ClassVar[bool] = False

    def __init__(
        self,
        base_url: str | None = None,
        *,
        load_timeout: float = DEFAULT_LOAD_TIMEOUT,
        poll_interval: float = 0.5,
        **options: Unpack[ProviderOptions],
    ) -> None:
        super().__init__(base_url, **options)
        self.load_timeout = check_seconds("load_timeout", load_timeout)
        self.poll_interval = check_seconds("poll_interval", poll_interval, allow_zero=True)
        self._router: bool | None = None  # what the server's /props said last
        self._loaded: dict[str, bool] = {}  # router models, from the last listing
        self._served: dict[str, str] = {}  # readable name -> the server's id (a path)
        self._hints: ServerHints | None = None  # capacity, from the last listing

    def _server_hints(self) -> ServerHints | None:
        return self._hints

    @property
    def rules(self) -> Rules:
        return llamacpp_rules.rules

    def _note(self, props: object) -> bool:
        """Remember whether ``props`` (a ``/props`` body, if any) came from a router."""
        if isinstance(props, Mapping) and props:
            self._router = router_of(props) is not None
        return bool(self._router)

    def _timeout_for(self, requested: float | None, model: str) -> float | None:
        """A router loads a model before answering for it: give such a request as long
        as a load may take.
        """
        if requested is not None:
            return requested
        if self._router and not self._loaded.get(model):
            return self._wait_limit
        return None

    def _chat_request(self, req: ChatRequest, *, stream: bool, path: str | None = None) -> Request:
        # A model listed by its file's stem is asked for by the id the server gave it.
        served = self._served.get(req.model)
        req = req if served is None else replace(req, model=served)
        return super()._chat_request(req, stream=stream, path=path)

    def _op_embed(self, model: str, inputs: EmbedInputs) -> Op[EmbedResponse]:
        return (yield from super()._op_embed(self._served.get(model, model), inputs))

    @property
    def _wait_limit(self) -> float:
        return max(self.timeout, self.load_timeout)

    # ------------------------------------------------------------------ health & listing

    def _op_health(self) -> Op[Service]:
        outcomes = yield from gather(
            [Request("GET", "/health"), Request("GET", "/props"), Request("GET", "/v1/models")]
        )
        health = response_of(outcomes[0])
        status = health.json_or_none()
        if not (isinstance(status, Mapping) and status.get("status") == "ok"):
            raise ProtocolError(
                f"{self.ctx.where()} answered /health with {health.text[:80]!r}, not "
                'llama-server\'s {"status": "ok"}.',
                hint="Is this URL really a llama.cpp server?",
                **self.ctx.kwargs(health.status),
            )
        props, models = (_json(outcome) for outcome in outcomes[1:])
        self._note(props)
        entries = models.get("data") if isinstance(models, Mapping) else None
        return self._service(
            status=ServiceStatus.AVAILABLE,
            version=listing.service_version(props, models),
            model_count=len(entries) if isinstance(entries, list) else None,
        )

    def _op_models(self, refresh: bool = False) -> Op[list[ModelInfo]]:
        return (yield from self._op_listing(None))

    def _op_model_info(self, model: str) -> Op[ModelInfo]:
        models = yield from self._op_listing(model)
        return self._find_model(model, models)

    def _op_listing(self, only: str | None) -> Op[list[ModelInfo]]:
        """The models, with the props of each loaded router model (of ``only``, if given)."""
        outcomes = yield from gather(
            [
                Request("GET", "/v1/models"),
                Request("GET", "/props"),
                self._rerank_probe(),
                # An empty input says whether the server embeds; it is refused before any work.
                Request("POST", "/v1/embeddings", {"input": []}),
            ]
        )
        entries = self._entries(response_of(outcomes[0]))
        props = _json(outcomes[1])
        if not self._note(props):
            props = props if isinstance(props, Mapping) else {}
            probe = outcomes[2]  # a plain server: its one model reranks or not
            said = wire.rerank_said(probe.status) if isinstance(probe, Response) else None
            embeds = _embeds(outcomes[3])  # /props do not say whether the server embeds
            names = listing.readable_names([entry["id"] for entry in entries])
            self._served = {n: e["id"] for n, e in zip(names, entries, strict=True) if n != e["id"]}
            self._hints = llamacpp_hints(props)
            return [
                with_rerank(self._model(entry, props, embedding=embeds, name=name), said)
                for entry, name in zip(entries, names, strict=True)
            ]
        # A router's /props describe the router; each loaded model has its own. Never
        # ask about one that is not loaded: that would load it (and evict another).
        wanted = [
            entry
            for entry in entries
            if status_of(entry).value == "loaded"
            and (only is None or only in (*names_of(entry), self._model_id(entry["id"])))
        ]
        answers = yield from gather([_props_request(entry["id"]) for entry in wanted])
        own = {entry["id"]: _json(answer) for entry, answer in zip(wanted, answers, strict=True)}
        models = [self._model(entry, own.get(entry["id"]), router=True) for entry in entries]
        self._loaded = {
            name: info.loaded is True
            for entry, info in zip(entries, models, strict=True)
            for name in names_of(entry)
        }
        by_name = {entry["id"]: info.name for entry, info in zip(entries, models, strict=True)}
        self._hints = llamacpp_hints(props, {by_name[key]: body for key, body in own.items()})
        return models

    def _model(
        self,
        entry: Mapping[str, Any],
        props: object,
        *,
        router: bool = False,
        embedding: bool | None = None,
        name: str | None = None,
    ) -> ModelInfo:
        return listing.model_info(
            entry,
            props if isinstance(props, Mapping) else {},
            service=self.name,
            kind=self.kind,
            router=router,
            embedding=embedding,
            name=name,
        )

    def _entries(self, response: Response) -> list[Mapping[str, Any]]:
        return wire.parse_model_list(self._body(response), self.ctx)

    def _find_model(self, model: str, models: Sequence[ModelInfo]) -> ModelInfo:
        for info in models:
            aliases = info.details.get("aliases")
            if model in (info.name, info.id) or (isinstance(aliases, list) and model in aliases):
                return info
        raise self._model_not_found(model, [m.name for m in models])

    # ------------------------------------------------------------------ token counts

    def _op_count_tokens(self, req: ChatRequest) -> Op[TokenCount]:
        """Exact: ``/v1/chat/completions/input_tokens`` with the chat's own body (the
        server applies its template, tools and special tokens as for the chat), or on a
        build without it ``/apply-template`` then ``/tokenize``; else the estimate.
        """
        body = wire.build_chat_body(req, stream=False, dialect=self._dialect)
        timeout = self._timeout_for(req.timeout, req.model)

        def post(path: str, json: object) -> Request:
            return Request("POST", path, json, model=req.model, timeout=timeout)

        try:
            response = yield from send(post("/v1/chat/completions/input_tokens", body))
        except CapabilityError:  # an older build: no such endpoint
            pass
        else:
            data = self._body(response)
            return self._counted(
                req, self._parse("a token count", lambda: count_of(data, "input_tokens"))
            )
        try:
            applied = self._body((yield from send(post("/apply-template", body))))
            prompt = self._parse("a rendered prompt", lambda: _text_of(applied, "prompt"))
            tokenize = {"content": prompt, "add_special": True, "parse_special": True}
            tokenized = self._body((yield from send(post("/tokenize", tokenize))))
        except CapabilityError:
            return self._estimated(req)
        tokens = self._parse("tokens", lambda: _list_of(tokenized, "tokens"))
        return self._counted(req, len(tokens))

    # ------------------------------------------------------------------ model management

    def _op_router_entries(self, what: str) -> Op[list[Mapping[str, Any]]]:
        """The router's model list; a plain server cannot manage models."""
        try:
            props = yield from send(Request("GET", "/props"))
        except CapabilityError as exc:  # no /props at all: not a llama-server we know
            raise self._unsupported(what, hint=ROUTER_HINT) from exc
        data = props.json_or_none()
        self._note(data)
        if router_of(data) is None:
            raise self._unsupported(what, hint=ROUTER_HINT)
        response = yield from send(Request("GET", "/v1/models"))
        return self._entries(response)

    def _entry(self, model: str, entries: list[Mapping[str, Any]]) -> Mapping[str, Any]:
        entry = find_entry(entries, model)
        if entry is None:
            raise self._model_not_found(model, [e["id"] for e in entries])
        return entry

    def _op_load(self, model: str, context_length: int | None, ttl: float | None) -> Op[None]:
        entries = yield from self._op_router_entries("loading models")
        if context_length is not None:
            raise CapabilityError(
                f"{self.ctx.where()} is a router: POST /models/load takes only a model's name, "
                f"so it cannot load {model!r} with a context of {context_length} tokens.",
                hint=f"Set it in the router's --models-preset file (`ctx-size = "
                f"{context_length}` in the [{model}] section), or for every model with "
                f"`-c {context_length}` on the router's command line.",
                **self.ctx.kwargs(),
            )
        if ttl is not None:
            raise CapabilityError(
                f"{self.ctx.where()} is a router, which has no per-model idle TTL, so it "
                f"cannot unload {model!r} after {ttl:g} s unused.",
                hint="Start the router with `--sleep-idle-seconds SECONDS` (each model then "
                "sleeps, freeing its memory, after that long unused), or call unload().",
                **self.ctx.kwargs(),
            )
        entry = self._entry(model, entries)
        name = entry["id"]
        refused: ModelportError | None = None
        if not status_of(entry).running:
            request = Request(
                "POST", "/models/load", {"model": name}, model=name, timeout=self._wait_limit
            )
            try:
                yield from send(request)
            except InvalidRequestError as exc:  # "already running": another client loads it
                refused = exc
        yield from self._op_wait(name, "loaded", refused)

    def _op_unload(self, model: str) -> Op[None]:
        entries = yield from self._op_router_entries("unloading models")
        entry = self._entry(model, entries)
        name = entry["id"]
        if status_of(entry).running:
            try:
                yield from send(Request("POST", "/models/unload", {"model": name}, model=name))
            except ModelNotLoadedError:  # it stopped in the meantime
                pass
            yield from self._op_wait(name, "unloaded")
        self._loaded.update(dict.fromkeys(names_of(entry), False))

    def _op_wait(
        self,
        name: str,
        goal: Literal["loaded", "unloaded"],
        refused: ModelportError | None = None,
    ) -> Op[None]:
        """Watch ``name``'s status until it reaches ``goal``, at most :attr:`_wait_limit`.

        Loading ends at ``loaded`` (or ``sleeping``: running, woken by the next request);
        a model back at ``unloaded`` did not load (``refused`` is the load request's
        error, when the router refused it). Unloading ends when the process is gone.
        """
        started = _now()
        while True:
            entries = self._entries((yield from send(Request("GET", "/v1/models"))))
            entry = self._entry(name, entries)
            status = status_of(entry)
            if goal == "loaded" and status.value in ("loaded", "sleeping"):
                self._loaded.update(dict.fromkeys(names_of(entry), True))
                return
            if goal == "unloaded" and not status.running:
                return
            if goal == "loaded" and status.value == "unloaded":
                if refused is not None:
                    raise refused
                raise self._not_loaded(name, status)
            waited = _now() - started
            if waited >= self._wait_limit:
                raise RequestTimeoutError(
                    f"{self.ctx.where()} was still {status.value or 'busy'} with {name!r} "
                    f"after {self._wait_limit:g} s.",
                    hint="It may still finish: see `modelport ps`. Give it longer with "
                    "LlamaCppProvider(load_timeout=SECONDS).",
                    **self.ctx.kwargs(),
                )
            yield from sleep(self.poll_interval)

    def _not_loaded(self, name: str, status: listing.Status) -> ModelportError:
        if status.failed:
            reason = f"its llama-server process exited with status {status.exit_code}"
            return llamacpp_rules.failed_to_load(self.ctx, name, reason)
        return ServiceUnavailableError(
            f"{self.ctx.where()} stopped {name!r} before it was ready (another model may "
            "have taken its place under --models-max).",
            hint=f"Try again: `modelport load {name}`.",
            **self.ctx.kwargs(),
        )


def _text_of(data: object, key: str) -> str:
    value = data[key] if isinstance(data, Mapping) else None
    if not isinstance(value, str):
        raise TypeError(f"{key!r} is not text")
    return value


def _list_of(data: object, key: str) -> list[object]:
    value = data[key] if isinstance(data, Mapping) else None
    if not isinstance(value, list):
        raise TypeError(f"{key!r} is not a list")
    return value


def _props_request(name: str) -> Request:
    """A running router model's own props; ``autoload=false`` so that asking never loads."""
    return Request("GET", "/props?" + urlencode({"model": name, "autoload": "false"}), model=name)


def _embeds(probe: Outcome) -> bool | None:
    """Whether the server embeds through ``/v1/embeddings``, from its answer to an empty
    input (refused before any work): 501 without ``--embeddings``; 400 "must not be
    empty" with it; 400 "Pooling type 'none' is not OAI compatible" for a model that
    embeds only per token. ``None`` for any other answer (an older server, no answer).
    """
    if isinstance(probe, Response):
        return None  # an empty input embedded: not an answer this probe knows
    status = probe.status_code
    if status == 501 or (status == 400 and "pooling" in str(probe).lower()):
        return False
    return True if status == 400 else None


def _json(outcome: Outcome) -> object:
    """The JSON of an optional lookup, or ``None`` when it failed or is not JSON."""
    return outcome.json_or_none() if isinstance(outcome, Response) else None

"""What :class:`~modelport.Client` and :class:`~modelport.AsyncClient` share: the
configuration, and every method's logic written once as a *flow*.

A flow is a generator, like a provider operation one level up: it yields *steps* to
the client's driver and receives their results. The sync driver runs a step by
calling, threading and sleeping; the async one by awaiting. So discovery, listing,
target selection, failover and streaming are written here once; the twins in
:mod:`modelport.client` only drive.

===================================  ===================================================
step                                 the driver...
===================================  ===================================================
``call(provider, op)``               runs one of the provider's operations; returns its
                                     result (an error is raised at the yield).
``each(flows)``                      runs flows at once; returns each one's result or
                                     error, in order.
``exclusive(box, flow)``             runs a flow holding a lock (sync or async).
``Find(candidates, timeout)``        fingerprints configured URLs, or (``None``) finds
                                     the local servers (the discovery module).
``Open(provider, op)``               starts a provider's item operation; returns the
                                     running iterator and its first item.
``Pipe(items)``                      hands every remaining item to the consumer.
``sleep(s)`` / ``emit(item)``        as in operations (:mod:`modelport._http.ops`).
===================================  ===================================================
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Generic, TypedDict, TypeVar, cast
from urllib.parse import urlsplit

from ._http.caps import DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_ERROR_BYTES
from ._http.ops import ItemOp, Op, emit
from ._http.retry import RetryPolicy
from ._http.settings import check_bytes, check_seconds
from ._router import (
    NO_SERVER_HINT,
    Feature,
    Flow,
    LockBox,
    Router,
    ServiceState,
    Target,
    capability_warnings,
    prefer_capable,
)
from ._trace import traced
from ._wire.common import ChatRequest, CompletionRequest, EmbedInputs, RerankRequest, require_model
from .discovery import (
    GATEWAY_HEADER,
    ITSELF,
    LOOP,
    Candidate,
    parse_service_spec,
    parse_services_env,
)
from .errors import (
    AllServicesFailedError,
    ConfigurationError,
    ModelNotFoundError,
    ModelportError,
    ProtocolError,
    ServerError,
    ServiceUnavailableError,
    StreamError,
)
from .providers import make_provider
from .providers.base import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_MAX_EVENT_BYTES,
    DEFAULT_TIMEOUT,
    Provider,
)
from .types import (
    ChatResponse,
    CompletionResponse,
    EmbedResponse,
    ModelInfo,
    RerankResult,
    Service,
    ServiceStatus,
    TokenCount,
)

if TYPE_CHECKING:
    from typing import TypeAlias

__all__ = ["ClientCore", "ServiceSpec"]

T = TypeVar("T")

ServiceSpec: TypeAlias = "str | Provider"
"""A service as a caller names it: a kind (``"ollama"``), a URL, ``"name=URL"``, or a
provider object."""

CONFIGURED_PROBE_TIMEOUT = 2.0
"""How long a configured URL has to answer its fingerprinting probe, unless
``discovery_timeout`` is given: a named server may be on another machine."""


# --------------------------------------------------------------------------- steps


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    provider: Provider
    op: Op[T]


@dataclass(frozen=True, slots=True)
class Each:
    flows: Sequence[Flow[Any]]


@dataclass(frozen=True, slots=True)
class Exclusive:
    box: LockBox
    flow: Flow[Any]


@dataclass(frozen=True, slots=True)
class Find:
    """Fingerprint ``candidates``; ``None``: discover the servers on this machine.
    ``gateway_id``: drop the gateway itself (see :func:`~modelport.discovery.probe_op`).
    """

    candidates: Sequence[Candidate] | None
    timeout: float
    gateway_id: str | None = None


@dataclass(frozen=True, slots=True)
class Open:
    """Start ``op``, an item operation: the result is :class:`Opened`."""

    provider: Provider
    op: ItemOp[Any]


@dataclass(frozen=True, slots=True)
class Pipe:
    items: object
    """An iterator (sync) or async iterator that :class:`Open` returned."""


@dataclass(frozen=True, slots=True)
class Opened:
    """A running item operation, and its first item (none if it produced nothing)."""

    items: object
    first: list[object]


def call(provider: Provider, op: Op[T]) -> Flow[T]:
    """Run one of ``provider``'s operations; return its result."""
    return cast(T, (yield Call(provider, op)))


def each(flows: Sequence[Flow[T]]) -> Flow[list[T | ModelportError]]:
    """Run ``flows`` at once; return each one's result or error, in order."""
    return cast("list[T | ModelportError]", (yield Each(flows)))


def exclusive(box: LockBox, flow: Flow[T]) -> Flow[T]:
    """Run ``flow`` holding ``box``'s lock."""
    return cast(T, (yield Exclusive(box, flow)))


def api_key_variable(service: str) -> str:
    """The environment variable holding the API key of a named service.

    >>> api_key_variable("gpu-box"), api_key_variable("hosted")
    ('MODELPORT_API_KEY_GPU_BOX', 'MODELPORT_API_KEY_HOSTED')
    """
    return "MODELPORT_API_KEY_" + re.sub(r"[^A-Za-z0-9]", "_", service).upper()


def _env_seconds(name: str) -> float | None:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return None
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"{name}={raw!r} is not a number of seconds.") from None
    return check_seconds(name, value)


RequestT = TypeVar("RequestT", ChatRequest, CompletionRequest, RerankRequest)


def _for(req: RequestT, name: str) -> RequestT:
    """The request with the model named as the target service names it."""
    return req if req.model == name else replace(req, model=name)


# --------------------------------------------------------------------------- the core


class _Caps(TypedDict):
    """The caps a client hands every provider it makes."""

    max_body_bytes: int
    max_error_bytes: int
    max_event_bytes: int


class ClientCore:
    """Configuration and flows for both clients.

    Args:
        services: the services to use: kind names (``"ollama"``), URLs (the kind is
            fingerprinted), ``"name=URL"`` strings and provider objects. ``None``
            reads ``MODELPORT_SERVICES``, or finds the servers on this machine.
        timeout: read timeout in seconds (default ``MODELPORT_TIMEOUT`` or 60).
        connect_timeout: how long to wait for a connection.
        max_retries: retries per service for retriable errors before failing over.
        discovery_timeout: how long discovery waits for local servers (0.5 s), and
            configured URLs for their probe (2 s unless given).
        models_ttl: seconds a service's model list is reused.
        cooldown: seconds an unavailable service is skipped before it is tried again.
        failure_threshold: consecutive failures that make a service unavailable.
        retry_policy: the backoff (default: exponential with full jitter).
        deadline: seconds a non-streamed request may take in all (default: twice its
            read timeout).
        max_body_bytes: the most a non-streamed answer may be, decompressed (128 MiB).
        max_error_bytes: how much of an error answer is read (64 KiB).
        max_event_bytes: the most one stream event or line may be (16 MiB).
        api_keys: API keys by service name, for services given by kind or URL (a
            provider object brings its own). A service without one here reads
            ``MODELPORT_API_KEY_<NAME>`` (its name upper-cased, other characters as
            ``_``). A key is sent only to the service it is given for.
        gateway_id: for a gateway built on the client (``modelport serve``): every
            upstream request carries it in the ``x-modelport-gateway`` header, and
            discovery drops any service that answers with that same id, so the gateway
            never routes to itself.
    """

    def __init__(
        self,
        services: Sequence[ServiceSpec] | ServiceSpec | None = None,
        *,
        timeout: float | None = None,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        max_retries: int = 2,
        discovery_timeout: float | None = None,
        models_ttl: float = 30.0,
        cooldown: float = 30.0,
        failure_threshold: int = 3,
        retry_policy: RetryPolicy | None = None,
        deadline: float | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        max_error_bytes: int = DEFAULT_MAX_ERROR_BYTES,
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
        api_keys: Mapping[str, str] | None = None,
        gateway_id: str | None = None,
    ) -> None:
        if gateway_id is not None and (not isinstance(gateway_id, str) or not gateway_id.strip()):
            raise ConfigurationError(f"gateway_id must be a non-empty string, not {gateway_id!r}.")
        self.gateway_id = gateway_id
        if api_keys is not None and not isinstance(api_keys, Mapping):
            raise ConfigurationError("api_keys must be a dict of service name -> key.")
        self._api_keys = dict(api_keys or {})
        if timeout is None:
            timeout = _env_seconds("MODELPORT_TIMEOUT") or DEFAULT_TIMEOUT
        self.timeout = check_seconds("timeout", timeout)
        self.connect_timeout = check_seconds("connect_timeout", connect_timeout)
        self.deadline = None if deadline is None else check_seconds("deadline", deadline)
        self._caps: _Caps = {
            "max_body_bytes": check_bytes("max_body_bytes", max_body_bytes),
            "max_error_bytes": check_bytes("max_error_bytes", max_error_bytes),
            "max_event_bytes": check_bytes("max_event_bytes", max_event_bytes),
        }
        self.discovery_timeout = (
            None
            if discovery_timeout is None
            else check_seconds("discovery_timeout", discovery_timeout)
        )
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise ConfigurationError(
                f"max_retries must be a non-negative integer, not {max_retries!r}."
            )
        if (
            isinstance(failure_threshold, bool)
            or not isinstance(failure_threshold, int)
            or failure_threshold < 1
        ):
            raise ConfigurationError("failure_threshold must be a positive integer.")
        self.router = Router(
            retry_policy or RetryPolicy(max_retries=max_retries),
            failure_threshold=failure_threshold,
            cooldown=check_seconds("cooldown", cooldown, allow_zero=True),
            models_ttl=check_seconds("models_ttl", models_ttl, allow_zero=True),
        )
        self._setup_box = LockBox()
        self._discover = services is None
        self._pending: list[Candidate] = []
        for spec in self._specs(services):
            if isinstance(spec, Provider):
                self._add(spec)
            elif spec.hint is not None:
                self._add(self._provider(spec.hint, spec.address, spec.name or spec.hint))
            else:
                self._pending.append(spec)
        self._configured = not self._pending and not self._discover
        self._looped = False  # the last discovery found only gateways that loop back

    def _specs(
        self, services: Sequence[ServiceSpec] | ServiceSpec | None
    ) -> list[Candidate | Provider]:
        if services is None:
            env = parse_services_env(os.environ.get("MODELPORT_SERVICES"))
            if env:
                self._discover = False
            return list(env)
        given = [services] if isinstance(services, (str, Provider)) else services
        specs: list[Candidate | Provider] = []
        for item in given:
            if isinstance(item, Provider):
                specs.append(item)
            elif isinstance(item, str):
                specs.append(parse_service_spec(item))
            else:
                raise ConfigurationError(
                    "A service must be a kind name, a URL, 'name=URL' or a provider, "
                    f"not {item!r:.80}."
                )
        return specs

    # ------------------------------------------------------------------ services

    def _provider(self, kind: Any, url: str, name: str) -> Provider:
        name = self._unique_name(name)
        return make_provider(
            kind,
            url,
            name=name,
            timeout=self.timeout,
            connect_timeout=self.connect_timeout,
            deadline=self.deadline,
            api_key=self._key_for(name),
            **self._caps,
        )

    def _key_for(self, name: str) -> str | None:
        """The API key given for the service called ``name``, if any."""
        key = self._api_keys.get(name)
        return key if key is not None else os.environ.get(api_key_variable(name)) or None

    def _unique_name(self, name: str) -> str:
        taken = {s.name for s in self.router.states}
        if name not in taken:
            return name
        n = 2
        while f"{name}-{n}" in taken:
            n += 1
        return f"{name}-{n}"

    def _add(self, provider: Provider, **fields: Any) -> ServiceState:
        if any(s.name == provider.name for s in self.router.states):
            raise ConfigurationError(
                f"Two services are named {provider.name!r}; give one a name (name=URL)."
            )
        if self.gateway_id is not None:
            provider._set_header(GATEWAY_HEADER, self.gateway_id)
        state = ServiceState(provider, **fields)
        self.router.states.append(state)
        return state

    def _adopt_probe(self, candidate: Candidate, service: Service) -> None:
        """Turn a fingerprinted (or failed) probe of a configured URL into a service."""
        if service.error == ITSELF:
            return  # the gateway this client serves: never route to it
        # A URL not identified yet is named by its address, not by a guessed kind.
        down = service.status is ServiceStatus.UNAVAILABLE
        name = candidate.name or (service.kind if not down else urlsplit(candidate.url).netloc)
        if down:
            provider = self._provider("openai", candidate.address, name)
            state = self._add(provider, service=service)
            self.router.record_unreachable(state, service.error)
        else:
            provider = self._provider(service.kind, candidate.address, name)
            self._add(provider, service=replace(service, name=provider.name))

    def _adopt_discovered(self, services: list[Service]) -> None:
        self._looped = any(s.error == LOOP for s in services)
        for service in services:
            if service.status is ServiceStatus.UNAVAILABLE:
                continue
            if any(s.provider.base_url == service.base_url for s in self.router.states):
                continue
            provider = self._provider(service.kind, service.base_url, service.name)
            self._add(provider, service=replace(service, name=provider.name))

    def _need_discovery(self) -> bool:
        if self._configured:
            return False
        if self._pending:
            return True
        # Nothing found yet: look again, it costs milliseconds.
        return not self.router.states

    def _no_services(self) -> ModelportError:
        if self._looped and not self.router.states:
            return ServerError(
                "The only model servers found send this request back through a gateway it "
                "already passed (a loop of gateways, 508).",
                hint="Give gateways model servers as services, not each other.",
                status_code=508,
                retriable=False,
            )
        return ServiceUnavailableError(
            "No model server found on this machine (looked at Ollama :11434, LM Studio :1234, "
            "llama.cpp :8080, vLLM :8000, Jan :1337).",
            hint=NO_SERVER_HINT,
        )

    # ------------------------------------------------------------------ flows: set-up

    def _ensure(self) -> Flow[list[ServiceState]]:
        if self._need_discovery():
            yield from exclusive(self._setup_box, self._setup())
        if not self.router.states:
            raise self._no_services()
        return self.router.states

    def _setup(self) -> Flow[None]:
        if not self._need_discovery():  # another caller did it while this one waited
            return
        pending, self._pending = self._pending, []
        if pending:
            timeout = self.discovery_timeout or CONFIGURED_PROBE_TIMEOUT
            services = cast("list[Service]", (yield Find(pending, timeout, self.gateway_id)))
            for candidate, service in zip(pending, services, strict=True):
                self._adopt_probe(candidate, service)
        if self._discover:
            timeout = self.discovery_timeout or 0.5
            found = cast("list[Service]", (yield Find(None, timeout, self.gateway_id)))
            self._adopt_discovered(found)
        self._configured = not self._discover or bool(self.router.states)

    # ------------------------------------------------------------------ flows: model lists

    def _list(
        self, state: ServiceState, refresh: bool, *, force: bool = False
    ) -> Flow[list[ModelInfo]]:
        """The service's models (cached, or asked for). A service in its cool-down is
        not asked, unless ``force``: every other candidate is cooling down too.
        """
        router = self.router
        if not force and not router.usable(state):
            raise router.unavailable_error(state)
        if not refresh:
            cached = router.cached_models(state)
            if cached is not None:
                return cached
        seen_at = state.models_at
        return (yield from exclusive(state.refresh, self._refresh(state, refresh, seen_at)))

    def _refresh(self, state: ServiceState, refresh: bool, seen_at: float) -> Flow[list[ModelInfo]]:
        """Ask the service for its models, unless another caller did while this one
        waited for the lock (concurrent callers share one refresh).
        """
        router = self.router
        shared = router.after_wait(state, refresh, seen_at)
        if shared is not None:
            return shared
        try:
            models = yield from call(state.provider, state.provider._op_models(refresh))
        except ModelportError as exc:
            router.record_failure(state, exc)
            raise
        router.listed(state, models)
        return models

    def _list_all(
        self, states: Sequence[ServiceState], refresh: bool, *, force: bool = False
    ) -> Flow[list[list[ModelInfo] | ModelportError]]:
        return (yield from each([self._list(s, refresh, force=force) for s in states]))

    def _models(self, refresh: bool) -> Flow[list[ModelInfo]]:
        states = yield from self._ensure()
        results = yield from self._list_all(states, refresh)
        errors = [r for r in results if isinstance(r, ModelportError)]
        if errors and len(errors) == len(results):
            raise self._all_failed(errors, "No service could list its models")
        return [m for r in results if not isinstance(r, ModelportError) for m in r]

    def _all_failed(self, errors: list[ModelportError], what: str) -> ModelportError:
        if len(errors) == 1:
            return errors[0]
        return AllServicesFailedError(what, errors=errors)

    # ------------------------------------------------------------------ flows: routing

    def _targets(self, model: str, *, require_listed: bool = False) -> Flow[list[Target]]:
        model = require_model(model)
        yield from self._ensure()
        router = self.router
        results: list[list[ModelInfo] | ModelportError] = []
        pool, _ = router.pool(model)
        if require_listed or len(pool) > 1:  # one service is asked without its list
            # When every candidate is cooling down, all are asked, as failover tries them.
            force = not any(router.usable(s) for s in pool)
            results = yield from self._list_all(pool, refresh=False, force=force)
        try:
            return router.targets(model, require_listed=require_listed)
        except ModelNotFoundError:
            errors = [r for r in results if isinstance(r, ModelportError)]
            if errors and len(errors) == len(results):  # nothing could be asked
                raise self._all_failed(errors, f"No service could be asked for {model!r}") from None
            raise

    def _chat_targets(self, req: ChatRequest) -> Flow[tuple[list[Target], list[Feature]]]:
        """The targets for a chat, those said to have what it needs first, and what it needs."""
        needs: list[Feature] = ["chat"]
        if req.tools:
            needs.append("tools")
        if any(m.images for m in req.messages):
            needs.append("vision")
        if req.think:
            needs.append("thinking")
        targets = yield from self._targets(req.model)
        return prefer_capable(targets, needs), needs

    def _on_best(self, targets: list[Target], op: Callable[[Provider, str], Op[T]]) -> Flow[T]:
        """Run ``op`` on the best target, failing over to the next ones."""

        def attempt(target: Target) -> Flow[T]:
            return (yield from call(target.state.provider, op(target.state.provider, target.model)))

        _, result = yield from self.router.failover(targets, attempt)
        return result

    # ------------------------------------------------------------------ flows: the public methods

    def _services(self, refresh: bool) -> Flow[list[Service]]:
        try:
            states = yield from self._ensure()
        except ServiceUnavailableError:
            return []
        yield from each([self._health(s) for s in states if refresh or s.service is None])
        return [self.router.report(s) for s in states]

    def _health(self, state: ServiceState) -> Flow[None]:
        service = yield from call(state.provider, state.provider._op_health_safe())
        self.router.record_health(state, replace(service, name=state.name))
        if service.status is ServiceStatus.UNAVAILABLE:
            error = ServiceUnavailableError(service.error or "unavailable")
            self.router.record_failure(state, error)
        else:
            self.router.record_probe(state)

    def _model_info(self, model: str) -> Flow[ModelInfo]:
        targets = yield from self._targets(model, require_listed=True)
        return (yield from self._on_best(targets, lambda p, name: p._op_model_info(name)))

    @traced("chat")
    def _chat(self, req: ChatRequest) -> Flow[ChatResponse]:
        if req.deadline is None and self.deadline is not None:
            req = replace(req, deadline=self.deadline)  # the client's, for every provider
        targets, needs = yield from self._chat_targets(req)

        def attempt(target: Target) -> Flow[ChatResponse]:
            provider = target.state.provider
            return (yield from call(provider, provider._op_chat(_for(req, target.model))))

        target, response = yield from self.router.failover(targets, attempt)
        warnings = capability_warnings(target, needs)
        return replace(response, warnings=warnings) if warnings else response

    @traced("chat")
    def _chat_stream(self, req: ChatRequest, warnings: list[str] | None = None) -> Flow[None]:
        """Stream a chat: fail over only until the first chunk has arrived. What the
        caller should know about the chosen target goes into ``warnings``.
        """
        targets, needs = yield from self._chat_targets(req)

        def chosen(target: Target) -> None:
            if warnings is not None:
                warnings.extend(capability_warnings(target, needs))

        yield from self._stream_on_best(
            targets, lambda p, name: p._op_chat_stream(_for(req, name)), chosen
        )

    @traced("text_completion")
    def _complete(self, req: CompletionRequest) -> Flow[CompletionResponse]:
        if req.deadline is None and self.deadline is not None:
            req = replace(req, deadline=self.deadline)
        targets = yield from self._targets(req.model)
        return (yield from self._on_best(targets, lambda p, name: p._op_complete(_for(req, name))))

    @traced("text_completion")
    def _complete_stream(self, req: CompletionRequest) -> Flow[None]:
        """Stream a completion: fail over only until the first chunk has arrived."""
        targets = yield from self._targets(req.model)
        yield from self._stream_on_best(
            targets, lambda p, name: p._op_complete_stream(_for(req, name))
        )

    def _stream_on_best(
        self,
        targets: list[Target],
        op: Callable[[Provider, str], ItemOp[Any]],
        chosen: Callable[[Target], object] | None = None,
    ) -> Flow[None]:
        """Open ``op``'s stream on the best target, failing over until the first item;
        ``chosen`` hears which target answered, before the first item is handed on.
        """
        router = self.router

        def attempt(target: Target) -> Flow[Opened]:
            provider = target.state.provider
            opened = cast(Opened, (yield Open(provider, op(provider, target.model))))
            if not opened.first:
                raise ProtocolError(
                    f"{provider.server_name} at {provider.base_url} ended the stream at once.",
                    **provider.ctx.kwargs(),
                )
            return opened

        target, opened = yield from router.failover(targets, attempt, keep=True)
        if chosen is not None:
            chosen(target)
        try:
            yield from emit(opened.first[0])
            yield Pipe(opened.items)
        except StreamError as exc:  # too late to fail over, but it counts against health
            router.record_failure(target.state, exc)
            raise
        finally:
            router.release(target.state)

    def _count_tokens(self, req: ChatRequest) -> Flow[TokenCount]:
        targets = yield from self._targets(req.model)
        return (
            yield from self._on_best(targets, lambda p, name: p._op_count_tokens(_for(req, name)))
        )

    @traced("rerank")
    def _rerank(self, req: RerankRequest) -> Flow[RerankResult]:
        targets = prefer_capable((yield from self._targets(req.model)), ["rerank"])
        return (yield from self._on_best(targets, lambda p, name: p._op_rerank(_for(req, name))))

    @traced("embeddings")
    def _embed(self, model: str, inputs: EmbedInputs) -> Flow[EmbedResponse]:
        targets = prefer_capable((yield from self._targets(model)), ["embedding"])
        return (yield from self._on_best(targets, lambda p, name: p._op_embed(name, inputs)))

    def _manage(self, model: str, op: Callable[[Provider, str], Op[None]]) -> Flow[None]:
        targets = yield from self._targets(model)
        target = targets[0]
        yield from self._on_best([target], op)
        self.router.stale(target.state)  # what is loaded changed: ask again next time

    def _pull(self, model: str) -> Flow[None]:
        model = require_model(model)
        yield from self._ensure()
        pool, name = self.router.pool(model)
        state = next((s for s in pool if s.provider.can_pull), pool[0])
        opened = cast(Opened, (yield Open(state.provider, state.provider._op_pull(name))))
        if opened.first:
            yield from emit(opened.first[0])
            yield Pipe(opened.items)

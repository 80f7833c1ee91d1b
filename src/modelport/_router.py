"""Routing, health and failover decisions, free of I/O.

The :class:`Router` keeps each service's health, requests in flight and cached
model list, orders the services that can answer a model, and runs failover as a
*flow* (:meth:`Router.failover`): a generator, driven by the sync or the async
client, that delegates each attempt to a flow the caller gives and waits between
retries with the ``sleep`` step of :mod:`modelport._http.ops`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Literal, Protocol, TypeVar, cast

from ._flow import Flow
from ._http.ops import sleep
from ._http.retry import RetryPolicy
from ._naming import close_names, names_match, split_service_prefix
from .errors import (
    AllServicesFailedError,
    CapabilityError,
    ModelNotFoundError,
    ModelportError,
    RequestTimeoutError,
    ServiceUnavailableError,
    StreamError,
)
from .providers.base import Provider
from .types import ModelInfo, Service, ServiceStatus

if TYPE_CHECKING:
    import asyncio

__all__ = [
    "Feature",
    "Flow",
    "LockBox",
    "Router",
    "ServiceState",
    "Target",
    "capability_warnings",
    "prefer_capable",
    "replica_id",
]

T = TypeVar("T")

log = logging.getLogger("modelport")


class LockBox:
    """A lock for sync callers and one for async callers (one per event loop)."""

    __slots__ = ("_async", "_loop", "lock")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._async: asyncio.Lock | None = None
        self._loop: object = None

    def alock(self) -> asyncio.Lock:
        import asyncio

        loop = asyncio.get_running_loop()
        if self._async is None or self._loop is not loop:
            self._async, self._loop = asyncio.Lock(), loop
        return self._async


@dataclass(eq=False)
class ServiceState:
    """What the router knows about one service. Only the :class:`Router`'s methods
    change it, under the router's lock (the client core reads it).
    """

    provider: Provider
    status: ServiceStatus = ServiceStatus.AVAILABLE
    failures: int = 0
    unavailable_since: float | None = None
    last_error: str | None = None
    models: list[ModelInfo] | None = None
    models_at: float = float("-inf")
    service: Service | None = None
    """The last health report (version, latency, model count)."""
    unreachable: bool = False
    """Whether the last failure was failing to reach the server at all."""
    in_flight: int = 0
    """This client's requests to the service that have not finished (a stream counts
    until it is closed)."""
    model_in_flight: dict[str, int] = field(default_factory=dict)
    """``in_flight`` per model name (for ``/health``)."""
    refresh: LockBox = field(default_factory=LockBox)
    """Held while the model list is refreshed, so concurrent callers share one refresh."""

    @property
    def name(self) -> str:
        return self.provider.name


@dataclass(frozen=True, slots=True)
class Target:
    """A service that can answer, and the model's name on that service."""

    state: ServiceState
    model: str
    info: ModelInfo | None = None


class RouterObserver(Protocol):
    """What is told of the router's failed attempts and failovers."""

    def attempt_failed(self, service: str, model: str, error: ModelportError) -> None: ...

    def failed_over(self, service: str, model: str) -> None:
        """A request moved on from ``service`` (the one that failed) to the next target."""


class Router:
    """Health, model-list cache and candidate ordering for a set of services."""

    def __init__(
        self,
        policy: RetryPolicy,
        *,
        failure_threshold: int = 3,
        cooldown: float = 30.0,
        models_ttl: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.policy = policy
        self.failure_threshold = failure_threshold
        self.cooldown = cooldown
        self.models_ttl = models_ttl
        self.clock = clock
        self.states: list[ServiceState] = []
        self.lock = threading.Lock()
        self.observers: list[RouterObserver] = []
        """Told of each failed attempt and each failover (the gateway's metrics)."""

    # ------------------------------------------------------------------ health

    def record_success(self, state: ServiceState) -> None:
        """A request to the service succeeded: it is healthy again."""
        if state.status is ServiceStatus.AVAILABLE and not state.failures:
            return  # nothing to change: no lock to take
        if state.status is not ServiceStatus.AVAILABLE:
            log.debug("service %s: %s -> available", state.name, state.status)
        with self.lock:
            state.status = ServiceStatus.AVAILABLE
            state.failures = 0
            state.unavailable_since = None
            state.last_error = None
            if state.service is not None and state.service.status is not ServiceStatus.AVAILABLE:
                state.service = replace(state.service, status=ServiceStatus.AVAILABLE, error=None)

    def record_failure(self, state: ServiceState, error: ModelportError) -> None:
        """Count a failure of the service itself (unreachable, timeout, 5xx, or a stream
        that broke off); a caller's mistake (a bad request) is not the service's fault.
        """
        if not (error.retriable or isinstance(error, StreamError)):
            return
        with self.lock:
            before = state.status
            state.failures += 1
            state.last_error = str(error)
            state.unreachable = isinstance(error, (ServiceUnavailableError, RequestTimeoutError))
            if state.failures >= self.failure_threshold:
                state.status = ServiceStatus.UNAVAILABLE
                state.unavailable_since = self.clock()
            else:
                state.status = ServiceStatus.DEGRADED
        if state.status is not before:
            log.debug(
                "service %s: %s -> %s after %d failures in a row (%s)",
                state.name,
                before,
                state.status,
                state.failures,
                _why(error),
            )

    def record_probe(self, state: ServiceState) -> None:
        """A health probe or a listing answered. That shows the server is reachable,
        not that its requests work: it clears failures to reach it, never the health
        that failed requests (5xx, broken streams) earned.
        """
        with self.lock:
            if state.failures and not state.unreachable:
                return
            state.status = ServiceStatus.AVAILABLE
            state.failures = 0
            state.unavailable_since = None
            state.last_error = None
            state.unreachable = False

    def record_unreachable(self, state: ServiceState, why: str | None) -> None:
        """A configured server that did not answer its first probe: unavailable at once,
        and tried again after the cool-down.
        """
        with self.lock:
            state.status = ServiceStatus.UNAVAILABLE
            state.last_error = why
            state.unreachable = True
            state.unavailable_since = self.clock()
            state.failures = self.failure_threshold

    def record_health(self, state: ServiceState, service: Service) -> None:
        """Keep the service's last health report (version, latency, model count)."""
        with self.lock:
            state.service = service

    def usable(self, state: ServiceState) -> bool:
        """Unavailable services are skipped until their cool-down has passed."""
        if state.status is not ServiceStatus.UNAVAILABLE:
            return True
        since = state.unavailable_since
        return since is None or self.clock() - since >= self.cooldown

    # ------------------------------------------------------------------ model lists

    def cached_models(self, state: ServiceState) -> list[ModelInfo] | None:
        if state.models is not None and self.clock() - state.models_at < self.models_ttl:
            return state.models
        return None

    def listed(self, state: ServiceState, models: list[ModelInfo]) -> None:
        """A fresh model list arrived: the service is reachable, and the list is cached."""
        self.record_probe(state)
        with self.lock:
            state.models = models
            state.models_at = self.clock()

    def stale(self, state: ServiceState) -> None:
        """The service's model list no longer says what is loaded: list it again."""
        with self.lock:
            state.models_at = float("-inf")

    def after_wait(
        self, state: ServiceState, refresh: bool, seen_at: float
    ) -> list[ModelInfo] | None:
        """What a caller that waited for a service's refresh lock can use without asking
        the server: the list another caller fetched meanwhile (``models_at`` moved on
        from ``seen_at``), or, unless it asked for a refresh, a cached one.
        """
        if state.models_at != seen_at and state.models is not None:
            return state.models
        return None if refresh else self.cached_models(state)

    # ------------------------------------------------------------------ resolution

    def pool(self, model: str) -> tuple[list[ServiceState], str]:
        """The services that may answer ``model`` and the name to ask them for: those a
        ``service/`` prefix names (by name, else by kind), or every service.
        """
        if "/" not in model:  # the usual case: a bare name
            return self.states, model
        names = [s.name for s in self.states]
        kinds = [s.provider.kind for s in self.states]
        prefix, rest = split_service_prefix(model, [*names, *kinds])
        if prefix is None:
            return self.states, model
        named = [s for s in self.states if s.name == prefix]
        if not named:
            named = [s for s in self.states if s.provider.kind == prefix]
        return named, rest

    def targets(self, model: str, *, require_listed: bool = False) -> list[Target]:
        """The services that can answer ``model``, best first.

        With one possible service, it is used without consulting lists (its server
        reports a missing model itself). Otherwise the cached lists decide: loaded
        before not loaded, healthy before degraded, then the fewest requests in flight,
        then configured order.
        """
        pool, name = self.pool(model)
        if not pool:
            raise ServiceUnavailableError(
                "No model servers are configured or running.", hint=NO_SERVER_HINT
            )
        if len(pool) == 1 and not require_listed:
            state = pool[0]
            info = self._find(state, name)
            return [Target(state, info.name if info else name, info)]
        found: list[Target] = []
        for state in pool:
            info = self._find(state, name)
            if info is not None:
                found.append(Target(state, info.name, info))
        if not found:
            raise self.not_found(name, pool)
        return self.ranked(found)

    def ranked(self, found: Sequence[Target]) -> list[Target]:
        """Replicas best first: loaded before not loaded, healthy before degraded, then
        the fewest requests in flight, then configured order (the sort is stable).
        """
        rank = {ServiceStatus.AVAILABLE: 0, ServiceStatus.DEGRADED: 1, ServiceStatus.UNAVAILABLE: 2}
        order = {id(s): i for i, s in enumerate(self.states)}
        return sorted(
            found,
            key=lambda t: (
                0 if (t.info and t.info.loaded) else 1,
                rank[t.state.status],
                t.state.in_flight,
                order[id(t.state)],
            ),
        )

    def replicas(self, ids: Sequence[str], *, listed_only: bool = False) -> list[Target]:
        """The targets the model ids of an alias reach, in the alias's order (rank them
        with :meth:`ranked`): each id as :meth:`pool` reads it; a bare name on every
        service whose list has it. An id naming one service whose list is not known yet
        is kept (its server reports a missing model itself, and failover moves on),
        unless ``listed_only``.
        """
        found: dict[tuple[int, str], Target] = {}
        for model in ids:
            pool, name = self.pool(model)
            for state in pool:
                info = self._find(state, name)
                if info is None and (listed_only or len(pool) > 1 or state.models is not None):
                    continue
                target = Target(state, info.name if info else name, info)
                found.setdefault((id(state), target.model), target)
        return list(found.values())

    def alias_not_found(self, alias: str, ids: Sequence[str]) -> ModelNotFoundError:
        """No service has any model ``alias`` stands for."""
        pools = [s for model in ids for s in self.pool(model)[0]]
        known = [m.name for s in dict.fromkeys(pools) for m in (s.models or ())]
        return ModelNotFoundError(
            f"No service has a model the alias {alias!r} stands for ({', '.join(ids)}).",
            model=alias,
            suggestions=close_names(self.pool(ids[0])[1], known) if ids else [],
            hint="Check the alias's targets in the configuration file against `modelport models`.",
        )

    def alias_model(self, alias: str, ids: Sequence[str]) -> ModelInfo | None:
        """An alias as a model list shows it: its best listed replica's facts under the
        alias's name, loaded when any replica is, with :attr:`ModelInfo.alias_of`; or
        ``None`` when no list has any of its models.
        """
        replicas = self.replicas(ids, listed_only=True)
        if not replicas:
            return None
        best = self.ranked(replicas)[0].info
        assert best is not None  # listed_only: every replica has its listing
        return replace(
            best,
            id=alias,
            name=alias,
            loaded=any(t.info.loaded for t in replicas if t.info) or best.loaded,
            alias_of=tuple(replica_id(t) for t in replicas),
        )

    def _find(self, state: ServiceState, name: str) -> ModelInfo | None:
        models = state.models
        if not models:
            return None
        ollama = state.provider.kind == "ollama"
        for info in models:
            if names_match(name, info.name, ollama=ollama):
                return info
        for info in models:  # llama.cpp serves a file path; accept its file name
            aliases = info.details.get("aliases") if info.details else None
            stem = info.name.rsplit("/", 1)[-1]
            if stem.lower() in (name.lower(), f"{name.lower()}.gguf") or (
                isinstance(aliases, list) and name in aliases
            ):
                return info
        return None

    def not_found(self, name: str, pool: Sequence[ServiceState]) -> ModelNotFoundError:
        known = [m.name for s in pool for m in (s.models or ())]
        listed = [s.name for s in pool if s.models is not None]
        where = ", ".join(listed) if listed else "any reachable service"
        return ModelNotFoundError(
            f"No service has a model named {name!r} (looked in {where}).",
            model=name,
            suggestions=close_names(name, known),
            hint="See every model with `modelport models`.",
        )

    # ------------------------------------------------------------------ failover

    def failover(
        self,
        targets: Sequence[Target],
        attempt: Callable[[Target], Flow[T]],
        *,
        keep: bool = False,
    ) -> Flow[tuple[Target, T]]:
        """Try ``attempt`` on each target in turn: retries with backoff per service,
        then the next service. Returns the target that answered, and its result.

        Each attempt counts as a request in flight until it ends (with ``keep``, the
        successful one stays counted until :meth:`release`: a stream, until it is
        closed). Non-retriable errors are raised at once and never failed over, except a
        :class:`CapabilityError` (this replica cannot do it) or a
        :class:`ModelNotFoundError` (a stale list), which move on to the next target
        without touching the replica's health. When every target refused for its
        capability, the first refusal is raised. When
        every target failed: the error itself for a single target, else
        :class:`AllServicesFailedError` with each cause.
        """
        errors: list[ModelportError] = []
        tried = 0
        last_tried: str | None = None  # the service a failover moves on from
        order, forced = self.in_turn(targets)
        for position, target in enumerate(order):
            state = target.state
            if not forced and not self.usable(state):
                log.debug("skipping %s: unavailable, in its cool-down", state.name)
                errors.append(self.unavailable_error(state))
                continue
            if errors:
                log.debug("failing over to %s", state.name)
                if last_tried is not None:
                    for observer in self.observers:
                        observer.failed_over(last_tried, target.model)
            tried += 1
            retry = 0
            last_tried = state.name
            while True:
                self.hold(state, target.model)
                try:
                    result = yield from attempt(target)
                except ModelportError as error:
                    self.release(state, target.model)
                    self.record_failure(state, error)
                    for observer in self.observers:
                        observer.attempt_failed(state.name, target.model, error)
                    if isinstance(error, ModelNotFoundError) and len(targets) > 1:
                        log.debug("failing over from %s: it no longer has the model", state.name)
                        errors.append(error)  # a stale list: the next service may have it
                        break
                    if isinstance(error, CapabilityError) and len(targets) > 1:
                        # This replica cannot do it (not a health failure); another may.
                        log.debug("failing over from %s: %s", state.name, _why(error))
                        errors.append(error)
                        break
                    if not error.retriable:
                        raise
                    delay = self.policy.delay(retry, error)
                    if delay is None:
                        log.debug("failing over from %s after %s", state.name, _why(error))
                        errors.append(error)
                        break
                    retry += 1
                    log.debug(
                        "retrying %s in %.2f s (retry %d) after %s",
                        state.name,
                        delay,
                        retry,
                        _why(error),
                    )
                    yield from sleep(delay)
                    if not self.usable(state) and position + 1 < len(order):
                        # Other requests found it down meanwhile: try the next replica.
                        errors.append(error)
                        break
                    continue
                except BaseException:
                    self.release(state, target.model)
                    raise
                if not keep:
                    self.release(state, target.model)
                self.record_success(state)
                return target, result
        if len(errors) == 1 or all(isinstance(e, CapabilityError) for e in errors):
            raise errors[0]  # every replica refused: the best one's refusal says why
        skipped = len(errors) - tried
        also = f", {skipped} skipped in {'its' if skipped == 1 else 'their'} cool-down" * bool(
            skipped
        )
        raise AllServicesFailedError(
            f"Every service that has this model failed ({tried} tried{also})", errors=errors
        )

    def in_turn(self, targets: Sequence[Target]) -> tuple[list[Target], bool]:
        """The order to try ``targets`` in, and whether services in their cool-down are
        tried too. They are skipped while another can be tried; when every one is
        cooling down, all are tried (as a single service is), the one unavailable
        longest first.
        """
        if any(self.usable(t.state) for t in targets):
            return list(targets), False
        return sorted(targets, key=lambda t: t.state.unavailable_since or 0.0), True

    def hold(self, state: ServiceState, model: str | None = None) -> None:
        """One more request in flight to the service (and to ``model`` on it)."""
        with self.lock:
            state.in_flight += 1
            if model is not None:
                state.model_in_flight[model] = state.model_in_flight.get(model, 0) + 1

    def release(self, state: ServiceState, model: str | None = None) -> None:
        """A request to the service (and to ``model`` on it) finished."""
        with self.lock:
            state.in_flight = max(0, state.in_flight - 1)
            if model is not None:
                left = state.model_in_flight.get(model, 0) - 1
                if left > 0:
                    state.model_in_flight[model] = left
                else:
                    state.model_in_flight.pop(model, None)

    def unavailable_error(self, state: ServiceState) -> ServiceUnavailableError:
        """Why a service in its cool-down was skipped."""
        provider = state.provider
        wait = ""
        if state.unavailable_since is not None:
            left = self.cooldown - (self.clock() - state.unavailable_since)
            wait = f" It will be tried again in {max(0.0, left):.0f} s."
        return ServiceUnavailableError(
            f"{provider.server_name} {state.name!r} at {provider.base_url} is unavailable "
            f"(last failure: {state.last_error or 'unknown'}).{wait}",
            service=state.name,
            base_url=provider.base_url,
            hint=provider.start_hint,
        )

    # ------------------------------------------------------------------ reporting

    def report(self, state: ServiceState) -> Service:
        """The service as the client reports it: its last health and the router's status."""
        base = state.service or Service(
            name=state.name, kind=state.provider.kind, base_url=state.provider.base_url
        )
        severity = {
            ServiceStatus.AVAILABLE: 0,
            ServiceStatus.DEGRADED: 1,
            ServiceStatus.UNAVAILABLE: 2,
        }
        status = max(state.status, base.status, key=severity.__getitem__)
        return replace(
            base,
            name=state.name,
            kind=state.provider.kind,
            status=status,
            error=state.last_error or base.error,
            in_flight=state.in_flight,
        )


def replica_id(target: Target) -> str:
    """The model id of a target: its listing's id, else ``service/model``."""
    return target.info.id if target.info is not None else f"{target.state.name}/{target.model}"


def _why(error: ModelportError) -> str:
    """An error, for a log line: its class and status, never the server's words (they
    may quote a prompt).
    """
    status = f" ({error.status_code})" if error.status_code is not None else ""
    return f"{type(error).__name__}{status}"


Feature = Literal["chat", "tools", "vision", "embedding", "thinking", "rerank"]
"""A capability a request needs (a field of :class:`~modelport.Capabilities`)."""

_SAYING = {
    "chat": "chat",
    "tools": "tools",
    "vision": "images (vision)",
    "embedding": "embeddings",
    "thinking": "thinking",
    "rerank": "reranking",
}


def _has(target: Target, feature: Feature) -> bool | None:
    info = target.info
    return None if info is None else cast("bool | None", getattr(info.capabilities, feature))


def prefer_capable(targets: Sequence[Target], needs: Sequence[Feature]) -> list[Target]:
    """``targets`` with those whose model is said to have every feature in ``needs``
    first, those that say nothing next, those said to lack one last; otherwise in
    their order. Capabilities steer; they never remove a target (the server decides).
    """
    if not needs or len(targets) < 2:
        return list(targets)

    def rank(target: Target) -> tuple[int, ...]:
        return tuple({True: 0, None: 1, False: 2}[_has(target, need)] for need in needs)

    return sorted(targets, key=rank)


def capability_warnings(target: Target, needs: Sequence[Feature]) -> tuple[str, ...]:
    """What to tell the caller about a request sent to a model said to lack a feature
    it uses: the server was asked anyway and may have ignored that part.
    """
    info = target.info
    if info is None:
        return ()
    return tuple(
        f"Model {info.name!r} on {target.state.name} is reported not to support "
        f"{_SAYING[need]}; the request was sent anyway, and the server may have ignored "
        "that part of it."
        for need in needs
        if _has(target, need) is False
    )


NO_SERVER_HINT = (
    "Start one: `ollama serve`, LM Studio's server (`lms server start`), or "
    "`llama-server -m MODEL.gguf --jinja`; or name a server: services=[...] in code, "
    "--service URL on the command line, or MODELPORT_SERVICES."
)

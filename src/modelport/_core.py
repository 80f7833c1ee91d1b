"""What :class:`~modelport.Client` and :class:`~modelport.AsyncClient` share: the
configuration, and every method's logic written once as a *flow*
(:mod:`modelport._flow`: generators of steps, run by the drivers in
:mod:`modelport._drive`). Discovery, listing, target selection, failover, scheduling
and streaming are written here once; the twins in :mod:`modelport.client` only drive.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from ._flow import Flow, Opened, Pipe, call, each, exclusive, open_items, wait_for
from ._http.caps import DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_ERROR_BYTES
from ._http.ops import ItemOp, Op, emit
from ._http.retry import RetryPolicy
from ._router import (
    NO_SERVER_HINT,
    Feature,
    LockBox,
    Router,
    ServiceState,
    Target,
    capability_warnings,
    prefer_capable,
    replica_id,
)
from ._settings import ClientOptions, ClientSettings, read_timeout
from ._trace import traced
from ._waits import note_wait
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
    CapabilityError,
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

    from typing_extensions import Unpack

    from ._schedule import LimitsSource
    from ._schedule import Target as Slot
    from ._schedule.gate import Action, Gate, ScheduleView, ServiceView
    from .config import Config, ServiceConfig
    from .types import ProviderKind

__all__ = ["ClientCore", "ConfigInput", "ServiceSpec"]

T = TypeVar("T")
CoreT = TypeVar("CoreT", bound="ClientCore")

ConfigInput: TypeAlias = "Config | str | os.PathLike[str]"
"""A configuration as a caller gives it: a :class:`~modelport.config.Config`, or the path
of a configuration file."""

ServiceSpec: TypeAlias = "str | Provider"
"""A service as a caller names it: a kind (``"ollama"``), a URL, ``"name=URL"``, or a
provider object."""

CONFIGURED_PROBE_TIMEOUT = 2.0
"""How long a configured URL has to answer its fingerprinting probe, unless
``discovery_timeout`` is given: a named server may be on another machine."""


def api_key_variable(service: str) -> str:
    """The environment variable holding the API key of a named service.

    >>> api_key_variable("gpu-box"), api_key_variable("hosted")
    ('MODELPORT_API_KEY_GPU_BOX', 'MODELPORT_API_KEY_HOSTED')
    """
    return "MODELPORT_API_KEY_" + re.sub(r"[^A-Za-z0-9]", "_", service).upper()


def _load_config(config: ConfigInput | None) -> Config | None:
    """The configuration a client uses: the one given, the file at the path given, or
    (given nothing) the file ``MODELPORT_CONFIG`` names; no file is searched for.
    """
    from .config import Config, load_config

    if isinstance(config, Config):
        return config
    if config is None:
        if not os.environ.get("MODELPORT_CONFIG", "").strip():
            return None
        return load_config(search=False)
    if isinstance(config, (str, os.PathLike)):
        return load_config(config, search=False)
    raise ConfigurationError(
        f"config must be a modelport.config.Config or a file's path, not {config!r:.80}.",
        hint="Pass load_config(...), parse_config(...), or the path of a .toml file.",
    )


def _candidate(service: ServiceConfig) -> Candidate:
    """A configured service as the client takes it: its address with any credentials."""
    given = ""
    if service.credentials is not None:
        from urllib.parse import quote

        user, _, password = service.credentials.reveal().partition(":")
        scheme, _, rest = service.url.partition("://")
        given = f"{scheme}://{quote(user, safe='')}:{quote(password, safe='')}@{rest}"
    return Candidate(service.name or "", service.url, service.kind, True, given=given)


RequestT = TypeVar("RequestT", ChatRequest, CompletionRequest, RerankRequest)


def _for(req: RequestT, name: str) -> RequestT:
    """The request with the model named as the target service names it."""
    return req if req.model == name else replace(req, model=name)


# --------------------------------------------------------------------------- the core


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
        config: a :class:`~modelport.config.Config` or a configuration file's path
            (``docs/configuration.md``): its services (with their kinds, keys and
            credentials) and aliases. ``services`` given too replace the configured
            ones of the same name and are added to the rest; ``api_keys`` beat its keys.
            ``None`` reads the file ``MODELPORT_CONFIG`` names, if set, and no other
            (:meth:`from_config` also searches ``./modelport.toml`` and the user's
            folder). Kept as :attr:`config`. Its limits (``max_in_flight``,
            ``max_queue``, ``max_wait``, ``max_loaded``, ``swap_after``, ``ttl``) are
            enforced by the scheduler (see ``_limits``).
        _default_timeout: (private, keyword only) the read timeout when neither
            ``timeout`` nor ``MODELPORT_TIMEOUT`` gives one (``modelport serve``: 600 s).
        _limits: (private, keyword only) the limits the scheduler enforces, a
            ``modelport._schedule.LimitsSource`` such as ``limits_from_config(config)``
            or ``StaticLimits()`` (``True``: the configuration's limits if any, and what
            the servers say; what ``modelport serve`` passes). Given, a request whose service or
            model has a limit in force (configured, or said by the server: llama.cpp's
            ``/props`` slots and a router's ``--models-max``) waits its turn in the
            scheduler's FIFO queue, and beyond its bounds raises
            :class:`~modelport.errors.BusyError`; a service with no limit said or set is
            not scheduled at all. ``None`` (the default): the configuration's limits
            when it sets any, else no scheduler.
    """

    config: Config | None
    """The configuration in force (``None``: none was given or named)."""
    settings: ClientSettings
    """Every other argument, checked (:class:`~modelport._settings.ClientSettings`)."""

    @property
    def timeout(self) -> float:
        """The read timeout in seconds."""
        return self.settings.timeout

    @property
    def connect_timeout(self) -> float:
        return self.settings.connect_timeout

    @property
    def deadline(self) -> float | None:
        return self.settings.deadline

    @property
    def discovery_timeout(self) -> float | None:
        return self.settings.discovery_timeout

    @property
    def gateway_id(self) -> str | None:
        return self.settings.gateway_id

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
        config: ConfigInput | None = None,
        _limits: LimitsSource | bool | None = None,
        _default_timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.config = _load_config(config)
        self.settings = ClientSettings(
            timeout=read_timeout(timeout, _default_timeout),
            connect_timeout=connect_timeout,
            max_retries=max_retries,
            discovery_timeout=discovery_timeout,
            models_ttl=models_ttl,
            cooldown=cooldown,
            failure_threshold=failure_threshold,
            retry_policy=retry_policy,
            deadline=deadline,
            max_body_bytes=max_body_bytes,
            max_error_bytes=max_error_bytes,
            max_event_bytes=max_event_bytes,
            api_keys=api_keys if api_keys is not None else {},
            gateway_id=gateway_id,
        )
        settings = self.settings
        self.router = Router(
            settings.retry,
            failure_threshold=settings.failure_threshold,
            cooldown=settings.cooldown,
            models_ttl=settings.models_ttl,
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
        self._gate: Gate | None = None
        self._asked: set[str] = set()  # services listed for the scheduler's sake
        if _limits is None and self.config is not None and _sets_limits(self.config):
            _limits = True
        if _limits is not None and _limits is not False:
            from ._schedule import StaticLimits
            from ._schedule.gate import Gate

            if _limits is True:
                if self.config is not None:
                    from ._schedule.config_limits import limits_from_config

                    _limits = limits_from_config(self.config)
                else:
                    _limits = StaticLimits()
            self._gate = Gate(_limits, self._act)

    @classmethod
    def from_config(
        cls: type[CoreT],
        path: str | os.PathLike[str] | None = None,
        **options: Unpack[ClientOptions],
    ) -> CoreT:
        """A client configured by a file, found as the CLI finds it: ``path``, else
        ``MODELPORT_CONFIG``, ``./modelport.toml``, then the user's configuration folder
        (with none of them, the client discovers, as ``Client()`` does).

        Args:
            path: the configuration file.
            options: any other argument of the client, over the file.

        Raises:
            ConfigurationError: the file named does not exist, or any mistake in it.
        """
        from .config import load_config

        return cls(config=load_config(path), **options)

    def _specs(
        self, services: Sequence[ServiceSpec] | ServiceSpec | None
    ) -> list[Candidate | Provider]:
        if self.config is not None:
            return self._configured_specs(services, self.config)
        if services is None:
            env = parse_services_env(os.environ.get("MODELPORT_SERVICES"))
            if env:
                self._discover = False
            return list(env)
        return self._given_specs(services)

    def _configured_specs(
        self, services: Sequence[ServiceSpec] | ServiceSpec | None, config: Config
    ) -> list[Candidate | Provider]:
        """The configured services (the file under ``MODELPORT_SERVICES``), each replaced
        by a service given by the same name, then the other services given.
        """
        given = [] if services is None else self._given_specs(services)
        by_name = {spec.name: spec for spec in given if spec.name}
        specs: list[Candidate | Provider] = []
        for service in config.services:
            spec = by_name.pop(service.name, None) if service.name else None
            specs.append(spec if spec is not None else _candidate(service))
        specs += [spec for spec in given if not spec.name or spec.name in by_name]
        if specs:
            self._discover = False
        return specs

    def _given_specs(
        self, services: Sequence[ServiceSpec] | ServiceSpec
    ) -> list[Candidate | Provider]:
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

    def _provider(self, kind: ProviderKind, url: str, name: str) -> Provider:
        name = self._unique_name(name)
        return make_provider(
            kind,
            url,
            name=name,
            timeout=self.settings.timeout,
            connect_timeout=self.settings.connect_timeout,
            deadline=self.settings.deadline,
            api_key=self._key_for(name),
            **self.settings.caps,
        )

    def _key_for(self, name: str) -> str | None:
        """The API key for the service called ``name``, if any: given in ``api_keys``,
        else the configuration's (``--api-key``, ``MODELPORT_API_KEY_<NAME>``, the
        variable the file names), else ``MODELPORT_API_KEY_<NAME>``.
        """
        key = self.settings.api_keys.get(name)
        if key is not None:
            return key
        configured = self.config.service(name) if self.config is not None else None
        if configured is not None and configured.api_key is not None:
            return configured.api_key.reveal()
        return os.environ.get(api_key_variable(name)) or None

    def _unique_name(self, name: str) -> str:
        taken = {s.name for s in self.router.states}
        if name not in taken:
            return name
        n = 2
        while f"{name}-{n}" in taken:
            n += 1
        return f"{name}-{n}"

    def _add(self, provider: Provider, service: Service | None = None) -> ServiceState:
        if any(s.name == provider.name for s in self.router.states):
            raise ConfigurationError(
                f"Two services are named {provider.name!r}; give one a name (name=URL)."
            )
        if self.gateway_id is not None:
            provider._set_header(GATEWAY_HEADER, self.gateway_id)
        state = ServiceState(provider, service=service)
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
            self.router.health.record_unreachable(state, service.error)
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
            services = yield from _find(pending, timeout, self.gateway_id)
            for candidate, service in zip(pending, services, strict=True):
                self._adopt_probe(candidate, service)
        if self._discover:
            timeout = self.discovery_timeout or 0.5
            found = yield from _find(None, timeout, self.gateway_id)
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
        if not force and not router.health.usable(state):
            raise router.health.unavailable_error(state)
        if not refresh:
            cached = router.lists.cached(state)
            if cached is not None:
                return cached
        seen_at = state.models_at
        return (yield from exclusive(state.refresh, self._refresh(state, refresh, seen_at)))

    def _refresh(self, state: ServiceState, refresh: bool, seen_at: float) -> Flow[list[ModelInfo]]:
        """Ask the service for its models, unless another caller did while this one
        waited for the lock (concurrent callers share one refresh).
        """
        router = self.router
        shared = router.lists.after_wait(state, refresh, seen_at)
        if shared is not None:
            return shared
        try:
            models = yield from call(state.provider, state.provider._op_models(refresh))
        except ModelportError as exc:
            router.health.record_failure(state, exc)
            raise
        router.health.record_probe(state)  # a listing answered: it is reachable
        router.lists.listed(state, models)
        if self._gate is not None:
            loaded = {m.name: m.loaded for m in models}
            self._gate.learn(state.name, state.provider._server_hints(), loaded)
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
        models = [m for r in results if not isinstance(r, ModelportError) for m in r]
        if self.config is not None:  # exact aliases after the models (globs are patterns)
            for alias in self.config.alias_entries():
                info = self.router.names.alias_model(alias.name, alias.targets)
                if info is not None:
                    models.append(info)
        return models

    def _all_failed(self, errors: list[ModelportError], what: str) -> ModelportError:
        if len(errors) == 1:
            return errors[0]
        return AllServicesFailedError(what, errors=errors)

    # ------------------------------------------------------------------ flows: routing

    def _aliased(self, model: str) -> tuple[str, ...] | None:
        """The model ids ``model`` stands for, when the configuration makes it an alias."""
        if self.config is None or not self.config.aliases:
            return None
        ids = self.config.resolve(model)
        return None if ids == (model,) else ids

    def _alias_targets(self, alias: str, ids: tuple[str, ...]) -> Flow[list[Target]]:
        """The replicas an alias reaches across services, best first (one replica set)."""
        router = self.router
        pool = list(dict.fromkeys(s for model in ids for s in router.names.pool(model)[0]))
        force = not any(router.health.usable(s) for s in pool)
        results = yield from self._list_all(pool, refresh=False, force=force)
        found = router.names.replicas(ids)
        if not found:
            errors = [r for r in results if isinstance(r, ModelportError)]
            if errors and len(errors) == len(results):
                raise self._all_failed(errors, f"No service could be asked for {alias!r}")
            raise router.names.alias_not_found(alias, ids)
        return router.names.ranked(found)

    def _targets(self, model: str, *, require_listed: bool = False) -> Flow[list[Target]]:
        model = require_model(model)
        yield from self._ensure()
        ids = self._aliased(model)
        if ids is not None:
            return (yield from self._alias_targets(model, ids))
        router = self.router
        results: list[list[ModelInfo] | ModelportError] = []
        pool, _ = router.names.pool(model)
        if require_listed or len(pool) > 1:  # one service is asked without its list
            # When every candidate is cooling down, all are asked, as failover tries them.
            force = not any(router.health.usable(s) for s in pool)
            results = yield from self._list_all(pool, refresh=False, force=force)
        elif self._gate is not None and pool and pool[0].name not in self._asked:
            # The scheduler needs what the server says about its capacity: list it once.
            self._asked.add(pool[0].name)
            try:
                yield from self._list(pool[0], refresh=False)
            except ModelportError:
                pass  # the request itself will meet (and report) what is wrong
        try:
            return router.names.targets(model, require_listed=require_listed)
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

    def _on_best(
        self,
        targets: list[Target],
        op: Callable[[Provider, str], Op[T]],
        *,
        scheduled: bool = False,
    ) -> Flow[T]:
        """Run ``op`` on the best target, failing over to the next ones; ``scheduled``:
        through the scheduler's gate (work that takes a server's slot).
        """

        def attempt(target: Target) -> Flow[T]:
            return (yield from call(target.state.provider, op(target.state.provider, target.model)))

        def run(order: list[Target]) -> Flow[tuple[Target, T]]:
            return (yield from self.router.failover.run(order, attempt))

        if scheduled:
            _, result = yield from self._scheduled(targets, run)
        else:
            _, result = yield from run(targets)
        return result

    # ------------------------------------------------------------------ flows: scheduling

    def _scheduled(self, targets: list[Target], run: Callable[[list[Target]], Flow[T]]) -> Flow[T]:
        """Run ``run`` once the scheduler lets the request start (when a limit is in force
        for one of ``targets``), with the target it chose first; its slot is freed when
        ``run`` ends (a stream: when it is closed). Without a gate, or with no limit said
        or set for any target, ``run`` runs at once: nothing is scheduled.
        """
        gate = self._gate
        if gate is None:
            return (yield from run(targets))
        from ._schedule import Target as Slot

        wanted = tuple(Slot(t.state.name, t.model) for t in targets)
        if not gate.applies(wanted):
            return (yield from run(targets))
        admitted = yield from _admit(gate, wanted)
        try:
            chosen = admitted.target
            first = [
                t for t in targets if (t.state.name, t.model) == (chosen.service, chosen.model)
            ]
            # Failing over past the chosen target goes on to the others as before.
            return (yield from run(first + [t for t in targets if t not in first]))
        finally:
            gate.finish(admitted.request_id)

    def _act(self, action: Action) -> None:
        """Carry out a load, an unload or a cancelled load the scheduler decided, in the
        background (the driver's way: :meth:`_spawn`).
        """
        state = next((s for s in self.router.states if s.name == action.target.service), None)
        if state is not None:
            self._spawn(self._carry_out(action, state))

    def _spawn(self, flow: Flow[None]) -> None:
        """Run ``flow`` in the background (each driver says how)."""
        raise NotImplementedError

    def _carry_out(self, action: Action, state: ServiceState) -> Flow[None]:
        from ._schedule import Load

        gate = self._gate
        assert gate is not None
        provider = state.provider
        target = action.target
        try:
            if isinstance(action, Load):
                for victim in action.evict:  # idle: the scheduler saw to it
                    try:
                        yield from call(provider, provider._op_unload(victim))
                    except ModelportError:
                        pass  # the server evicts by itself when it loads
                try:
                    yield from call(provider, provider._op_load(target.model, None, None))
                except CapabilityError:
                    gate.loaded(target)  # it cannot be asked to load: the request will
                except ModelportError as exc:
                    gate.load_failed(target, exc)
                else:
                    gate.loaded(target)
            else:
                try:
                    yield from call(provider, provider._op_unload(target.model))
                except ModelportError:
                    pass  # already gone, or the server cannot say: nothing to do
        finally:
            self.router.lists.stale(state)

    def _schedule_snapshot(self) -> ScheduleView | None:
        """What the scheduler holds now, read-only (``None``: this client schedules
        nothing): per service and model, in flight, limit, queue and state; the last
        waits (``waits``, each with its model id, seconds and outcome); loads asked for.
        """
        if self._gate is None:
            return None
        return self._gate.snapshot(self._listed())

    def _listed(self) -> dict[str, dict[str, bool | None]]:
        return {s.name: {m.name: m.loaded for m in s.models or ()} for s in self.router.states}

    def _service_loads(self) -> dict[str, ServiceView]:
        """Each service's load, limit, queue and models, by name (for ``/health``)."""
        from ._schedule.gate import ModelView, ServiceView

        if self._gate is not None:
            return {v.name: v for v in self._gate.snapshot(self._listed()).services}
        views = {}
        for state in self.router.states:
            models = tuple(
                ModelView(
                    id=f"{state.name}/{m.name}",
                    model=m.name,
                    in_flight=state.model_in_flight.get(m.name, 0),
                    max_in_flight=None,
                    queued=0,
                    state=None if m.loaded is None else ("loaded" if m.loaded else "unloaded"),
                )
                for m in state.models or ()
            )
            views[state.name] = ServiceView(
                name=state.name,
                in_flight=state.in_flight,
                max_in_flight=None,
                queued=0,
                max_queue=None,
                max_loaded=None,
                loaded_models=tuple(m.id for m in models if m.state == "loaded"),
                models=models,
            )
        return views

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
        self.router.health.record_health(state, replace(service, name=state.name))
        if service.status is ServiceStatus.UNAVAILABLE:
            error = ServiceUnavailableError(service.error or "unavailable")
            self.router.health.record_failure(state, error)
        else:
            self.router.health.record_probe(state)

    def _model_info(self, model: str) -> Flow[ModelInfo]:
        targets = yield from self._targets(model, require_listed=True)
        info = yield from self._on_best(targets, lambda p, name: p._op_model_info(name))
        ids = self._aliased(model)
        if ids is None:
            return info
        replicas = self.router.names.replicas(ids)  # in the alias's order
        return replace(info, id=model, name=model, alias_of=tuple(map(replica_id, replicas)))

    @traced("chat")
    def _chat(self, req: ChatRequest) -> Flow[ChatResponse]:
        if req.deadline is None and self.deadline is not None:
            req = replace(req, deadline=self.deadline)  # the client's, for every provider
        targets, needs = yield from self._chat_targets(req)

        def attempt(target: Target) -> Flow[ChatResponse]:
            provider = target.state.provider
            return (yield from call(provider, provider._op_chat(_for(req, target.model))))

        def run(order: list[Target]) -> Flow[tuple[Target, ChatResponse]]:
            return (yield from self.router.failover.run(order, attempt))

        target, response = yield from self._scheduled(targets, run)
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
        return (
            yield from self._on_best(
                targets, lambda p, name: p._op_complete(_for(req, name)), scheduled=True
            )
        )

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
        ``chosen`` hears which target answered, before the first item is handed on. The
        scheduler's slot (if any) is held until the stream ends or is closed.
        """
        yield from self._scheduled(targets, lambda order: self._stream_run(order, op, chosen))

    def _stream_run(
        self,
        targets: list[Target],
        op: Callable[[Provider, str], ItemOp[Any]],
        chosen: Callable[[Target], object] | None,
    ) -> Flow[None]:
        router = self.router

        def attempt(target: Target) -> Flow[Opened[Any]]:
            provider = target.state.provider
            opened = yield from open_items(provider, op(provider, target.model))
            if not opened.first:
                raise ProtocolError(
                    f"{provider.server_name} at {provider.base_url} ended the stream at once.",
                    **provider.ctx.kwargs(),
                )
            return opened

        target, opened = yield from router.failover.run(targets, attempt, keep=True)
        if chosen is not None:
            chosen(target)
        try:
            yield from emit(opened.first[0])
            yield Pipe(opened.items)
        except StreamError as exc:  # too late to fail over, but it counts against health
            router.health.record_failure(target.state, exc)
            raise
        finally:
            router.in_flight.release(target.state, target.model)

    def _count_tokens(self, req: ChatRequest) -> Flow[TokenCount]:
        targets = yield from self._targets(req.model)
        return (
            yield from self._on_best(targets, lambda p, name: p._op_count_tokens(_for(req, name)))
        )

    @traced("rerank")
    def _rerank(self, req: RerankRequest) -> Flow[RerankResult]:
        targets = prefer_capable((yield from self._targets(req.model)), ["rerank"])
        return (
            yield from self._on_best(
                targets, lambda p, name: p._op_rerank(_for(req, name)), scheduled=True
            )
        )

    @traced("embeddings")
    def _embed(self, model: str, inputs: EmbedInputs) -> Flow[EmbedResponse]:
        targets = prefer_capable((yield from self._targets(model)), ["embedding"])
        return (
            yield from self._on_best(
                targets, lambda p, name: p._op_embed(name, inputs), scheduled=True
            )
        )

    def _manage(self, model: str, op: Callable[[Provider, str], Op[None]]) -> Flow[None]:
        targets = yield from self._targets(model)
        target = targets[0]
        yield from self._on_best([target], op)
        self.router.lists.stale(target.state)  # what is loaded changed: ask again next time

    def _pull(self, model: str) -> Flow[None]:
        model = require_model(model)
        yield from self._ensure()
        pool, name = self.router.names.pool(model)
        state = next((s for s in pool if s.provider.can_pull), pool[0])
        opened = yield from open_items(state.provider, state.provider._op_pull(name))
        if opened.first:
            yield from emit(opened.first[0])
            yield Pipe(opened.items)


@dataclass(frozen=True, slots=True)
class Admitted:
    """Through the scheduler's gate: the request's id (for ``finish``) and the target chosen."""

    request_id: str
    target: Slot


def _admit(gate: Gate, targets: tuple[Slot, ...]) -> Flow[Admitted]:
    """Pass the scheduler's gate for ``targets`` (waiting in its queue as the driver
    waits: a thread, a task; a caller cancelled meanwhile leaves the queue), noting the
    wait for the request's metrics.
    """

    def sync() -> Admitted:
        started = time.monotonic()
        try:
            return Admitted(*gate.admit(targets))
        finally:
            note_wait(started)

    async def aio() -> Admitted:
        started = time.monotonic()
        try:
            return Admitted(*(await gate.admit_async(targets)))
        finally:
            note_wait(started)

    return (yield from wait_for(sync, aio))


def _find(
    candidates: Sequence[Candidate] | None, timeout: float, gateway_id: str | None
) -> Flow[list[Service]]:
    """Fingerprint ``candidates`` (``None``: find the servers on this machine), one
    service each; ``gateway_id``: drop the gateway itself (:func:`~.discovery.probe_op`).
    """
    from .discovery import adiscover, aprobe, discover, probe

    if candidates is None:
        return (
            yield from wait_for(
                lambda: discover(timeout=timeout, gateway_id=gateway_id),
                lambda: adiscover(timeout=timeout, gateway_id=gateway_id),
            )
        )
    return (
        yield from wait_for(
            lambda: probe(candidates, timeout, gateway_id=gateway_id),
            lambda: aprobe(candidates, timeout, gateway_id=gateway_id),
        )
    )


def _sets_limits(config: Config) -> bool:
    """Whether a configuration sets any limit the scheduler enforces."""
    service_keys = ("max_in_flight", "max_queue", "max_wait", "max_loaded", "swap_after")
    model_keys = ("max_in_flight", "max_queue", "max_wait", "ttl")
    return any(getattr(s, k) is not None for s in config.services for k in service_keys) or any(
        getattr(m, k) is not None for m in config.models for k in model_keys
    )

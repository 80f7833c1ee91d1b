"""``Client`` and ``AsyncClient``: one interface over every configured or discovered server.

Both twins share :class:`_ClientCore` (configuration, the router, resolution and
capability checks). They differ only in how they wait: the sync one calls, sleeps
and uses threads; the async one awaits.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from ._http.retry import RetryPolicy
from ._router import (
    NO_SERVER_HINT,
    Attempt,
    Router,
    ServiceState,
    Sleep,
    Target,
    check_capabilities,
)
from ._streams import AsyncChatStream, ChatStream, StreamItem
from ._wire.common import ChatRequest, MessagesInput, build_chat_request
from .discovery import (
    GATEWAY_HEADER,
    ITSELF,
    Candidate,
    needs_tls,
    parse_service_spec,
    parse_services_env,
    probe_op,
    probe_transport,
)
from .errors import (
    AllServicesFailedError,
    ConfigurationError,
    InvalidRequestError,
    ModelportError,
    ServiceUnavailableError,
    StreamError,
)
from .providers import make_provider
from .providers.base import DEFAULT_CONNECT_TIMEOUT, DEFAULT_TIMEOUT, Provider
from .providers.openai_compatible import OpenAICompatibleProvider
from .types import ChatResponse, EmbedResponse, ModelInfo, PullProgress, Service, ServiceStatus

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ._wire.common import ChatOptions

__all__ = ["AsyncClient", "Client"]

T = TypeVar("T")
ServiceSpec = str | Provider

_PULLERS = ("ollama", "lmstudio")


def _env_float(name: str) -> float | None:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return None
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"{name}={raw!r} is not a number of seconds.") from None
    if value <= 0:
        raise ConfigurationError(f"{name}={raw!r} must be a positive number of seconds.")
    return value


class _ClientCore:
    """Everything the sync and async clients share."""

    def __init__(
        self,
        services: Sequence[ServiceSpec] | None = None,
        *,
        timeout: float | None = None,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        max_retries: int = 2,
        discovery_timeout: float = 0.5,
        models_ttl: float = 30.0,
        cooldown: float = 30.0,
        failure_threshold: int = 3,
        retry_policy: RetryPolicy | None = None,
        gateway_id: str | None = None,
    ) -> None:
        if gateway_id is not None and (not isinstance(gateway_id, str) or not gateway_id.strip()):
            raise ConfigurationError(f"gateway_id must be a non-empty string, not {gateway_id!r}.")
        self.gateway_id = gateway_id  # the gateway this client serves, if any
        if timeout is None:
            timeout = _env_float("MODELPORT_TIMEOUT") or DEFAULT_TIMEOUT
        for label, value in (("timeout", timeout), ("discovery_timeout", discovery_timeout)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ConfigurationError(
                    f"{label} must be a positive number of seconds, not {value!r}."
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
        self.timeout = float(timeout)
        self.connect_timeout = connect_timeout
        self.discovery_timeout = discovery_timeout
        self.router = Router(
            retry_policy or RetryPolicy(max_retries=max_retries),
            failure_threshold=failure_threshold,
            cooldown=cooldown,
            models_ttl=models_ttl,
        )
        self._setup_lock = threading.Lock()
        self._configured = False
        self._discover = services is None
        self._last_discovery = float("-inf")
        specs: list[Candidate | Provider] = []
        if services is None:
            env = parse_services_env(os.environ.get("MODELPORT_SERVICES"))
            if env:
                specs.extend(env)
                self._discover = False
        else:
            given: Sequence[ServiceSpec] = (
                [services] if isinstance(services, (str, Provider)) else services
            )
            for item in given:
                if isinstance(item, Provider):
                    specs.append(item)
                elif isinstance(item, str):
                    specs.append(parse_service_spec(item))
                else:
                    raise ConfigurationError(
                        "A service must be a kind name, a URL, 'name=URL' or a provider, "
                        f"not {item!r}."
                    )
        self._pending: list[Candidate] = []
        for spec in specs:
            if isinstance(spec, Provider):
                self._add(spec)
            elif spec.hint is not None:
                self._add(self._provider(spec.hint, spec.url, spec.name or spec.hint))
            else:
                self._pending.append(spec)
        self._configured = not self._pending and not self._discover

    # ------------------------------------------------------------------ services

    def _provider(self, kind: Any, url: str, name: str) -> Provider:
        return make_provider(
            kind,
            url,
            name=self._unique_name(name),
            timeout=self.timeout,
            connect_timeout=self.connect_timeout,
        )

    def _probe(self, candidate: Candidate, timeout: float) -> Any:
        return probe_op(candidate, timeout, gateway_id=self.gateway_id)

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
        name = candidate.name or (
            service.kind
            if service.status is not ServiceStatus.UNAVAILABLE
            else urlsplit(candidate.url).netloc
        )
        provider: Provider
        if service.status is ServiceStatus.UNAVAILABLE:
            provider = OpenAICompatibleProvider(
                candidate.url, name=self._unique_name(name), timeout=self.timeout
            )
            state = self._add(provider, fingerprint_pending=True, service=service)
            state.status = ServiceStatus.UNAVAILABLE
            state.last_error = service.error
            state.unavailable_since = self.router.clock()
            state.failures = self.router.failure_threshold
        else:
            provider = self._provider(service.kind, candidate.url, name)
            self._add(provider, service=replace(service, name=provider.name))

    def _adopt_discovered(self, services: list[Service]) -> None:
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

    def _no_services(self) -> ServiceUnavailableError:
        return ServiceUnavailableError(
            "No model server found on this machine (looked at Ollama :11434, LM Studio :1234, "
            "llama.cpp :8080, vLLM :8000, Jan :1337).",
            hint=NO_SERVER_HINT,
        )

    # ------------------------------------------------------------------ requests

    def _chat_request(self, model: str, messages: MessagesInput, options: Any) -> ChatRequest:
        return build_chat_request(model, messages, options)

    @staticmethod
    def _check(target: Target, req: ChatRequest) -> None:
        check_capabilities(
            target,
            tools=bool(req.tools),
            images=any(m.images for m in req.messages),
            think=bool(req.think),
            chat=True,
        )

    def _pull_target(self, model: str) -> tuple[ServiceState, str]:
        named, name = self.router.by_prefix(model)
        pool = named if named is not None else self.router.states
        for state in pool:
            if state.provider.kind in _PULLERS:
                return state, name
        if pool:
            return pool[0], name  # its provider raises CapabilityError
        raise self._no_services()

    def _listing_failed(self, errors: list[ModelportError]) -> ModelportError:
        if len(errors) == 1:
            return errors[0]
        return AllServicesFailedError("No service could list its models", errors=errors)


def _for(req: ChatRequest, target: Target) -> ChatRequest:
    """The request with the model named as the target service names it."""
    return req if req.model == target.model else replace(req, model=target.model)


def _validate_model(model: str) -> None:
    if not isinstance(model, str) or not model.strip():
        raise InvalidRequestError(
            "The model name is empty.", hint="Pass a model name such as 'llama3.2'."
        )


class Client(_ClientCore):
    """One synchronous interface over every local model server.

    With no arguments it finds the servers running on this machine on first use.
    ``services`` may list kind names (``"ollama"``), URLs (the kind is fingerprinted),
    ``"name=URL"`` strings and provider objects.

    Args:
        services: the services to use; ``None`` reads ``MODELPORT_SERVICES`` or discovers.
        timeout: read timeout in seconds (default ``MODELPORT_TIMEOUT`` or 60).
        max_retries: retries per service for retriable errors before failing over.
        gateway_id: for a gateway built on the client (``modelport serve``): every
            upstream request carries it in the ``x-modelport-gateway`` header, and
            discovery drops any service that answers with that same id, so the
            gateway never routes to itself.
    """

    def __init__(self, services: Sequence[ServiceSpec] | None = None, **kwargs: Any) -> None:
        super().__init__(services, **kwargs)
        self._sleep: Callable[[float], None] = time.sleep

    # ------------------------------------------------------------------ setup

    def _ensure(self) -> list[ServiceState]:
        if self._need_discovery():
            with self._setup_lock:
                if self._need_discovery():
                    self._setup()
        if not self.router.states:
            raise self._no_services()
        return self.router.states

    def _setup(self) -> None:
        pending, self._pending = self._pending, []
        if pending:
            for candidate, service in zip(pending, self._probe_all(pending), strict=False):
                self._adopt_probe(candidate, service)
        if self._discover:
            from .discovery import discover

            found = discover(timeout=self.discovery_timeout, gateway_id=self.gateway_id)
            self._adopt_discovered(found)
        self._configured = not self._discover or bool(self.router.states)

    def _probe_all(self, pending: list[Candidate]) -> list[Service]:
        import httpx

        from ._http.transport import SyncTransport

        timeout = max(self.discovery_timeout, 2.0)
        with httpx.Client(trust_env=False, verify=needs_tls(pending)) as http:
            return [
                probe_transport(SyncTransport, http, c, timeout).run(self._probe(c, timeout))
                for c in pending
            ]

    # ------------------------------------------------------------------ model lists

    def _list(self, state: ServiceState, refresh: bool) -> list[ModelInfo]:
        router = self.router
        if not refresh:
            cached = router.cached_models(state)
            if cached is not None:
                return cached
        seen_at = state.models_at
        with state.refresh_lock:  # concurrent callers share one refresh
            shared = router.after_wait(state, refresh, seen_at)
            if shared is not None:
                return shared
            try:
                models = state.provider.models(refresh=refresh)
            except ModelportError as exc:
                router.record_failure(state, exc)
                raise
            router.listed(state, models)
            return models

    def _list_all(
        self, states: Sequence[ServiceState], refresh: bool
    ) -> list[list[ModelInfo] | ModelportError]:
        def one(state: ServiceState) -> list[ModelInfo] | ModelportError:
            if not self.router.usable(state):
                return self.router.unavailable_error(state)
            try:
                return self._list(state, refresh)
            except ModelportError as exc:
                return exc

        if len(states) <= 1:
            return [one(s) for s in states]
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(8, len(states))) as pool:
            return list(pool.map(one, states))

    def _targets(self, model: str, *, require_listed: bool = False) -> list[Target]:
        _validate_model(model)
        self._ensure()
        router = self.router
        if require_listed or router.needs_listing(model):
            named, _ = router.by_prefix(model)
            self._list_all(named if named is not None else router.states, refresh=False)
        return router.targets(model, require_listed=require_listed)

    # ------------------------------------------------------------------ failover driver

    def _drive(
        self, targets: list[Target], call: Callable[[Target], T], *, counted: bool = True
    ) -> T:
        """Run ``call`` on the targets as the failover plan says. Each attempt counts as
        in flight on its service while it runs (``counted=False``: the caller counts).
        """
        plan = self.router.failover(targets)
        step = next(plan)
        while True:
            if isinstance(step, Sleep):
                self._sleep(step.seconds)
                step = plan.send(None)
                continue
            assert isinstance(step, Attempt)
            state = step.target.state
            if counted:
                self.router.begin(state)
            try:
                result = call(step.target)
            except ModelportError as exc:
                step = plan.send(exc)
                continue
            finally:
                if counted:
                    self.router.end(state)
            try:
                plan.send(None)
            except StopIteration:
                pass
            return result

    # ------------------------------------------------------------------ public API

    def services(self, refresh: bool = False) -> list[Service]:
        """Every configured or discovered service, with its health."""
        states = self._ensure_or_empty()
        if refresh or any(s.service is None for s in states):
            from concurrent.futures import ThreadPoolExecutor

            def check(state: ServiceState) -> None:
                service = state.provider.health()
                state.service = replace(service, name=state.name)
                if service.status is ServiceStatus.UNAVAILABLE:
                    self.router.record_failure(
                        state, ServiceUnavailableError(service.error or "unavailable")
                    )
                else:
                    self.router.record_success(state)

            with ThreadPoolExecutor(max_workers=max(1, min(8, len(states)))) as pool:
                list(pool.map(check, [s for s in states if refresh or s.service is None]))
        return [self.router.report(s) for s in states]

    def _ensure_or_empty(self) -> list[ServiceState]:
        try:
            return self._ensure()
        except ServiceUnavailableError:
            return []

    def models(self, refresh: bool = False) -> list[ModelInfo]:
        """Every model on every reachable service."""
        states = self._ensure()
        results = self._list_all(states, refresh)
        errors = [r for r in results if isinstance(r, ModelportError)]
        if errors and len(errors) == len(results):
            raise self._listing_failed(errors)
        return [m for r in results if not isinstance(r, ModelportError) for m in r]

    def model_info(self, model: str) -> ModelInfo:
        """One model, with its capabilities queried live from its server."""
        targets = self._targets(model, require_listed=True)
        return self._drive(targets, lambda t: t.state.provider.model_info(t.model))

    def chat(
        self, model: str, messages: MessagesInput, **options: Unpack[ChatOptions]
    ) -> ChatResponse:
        """Send a chat to whichever service has the model; return the whole reply."""
        req = self._chat_request(model, messages, options)
        targets = self._targets(model)
        self._check(targets[0], req)

        def call(target: Target) -> ChatResponse:
            return target.state.provider._io.run(target.state.provider._op_chat(_for(req, target)))

        return self._drive(targets, call)

    def chat_stream(
        self, model: str, messages: MessagesInput, **options: Unpack[ChatOptions]
    ) -> ChatStream:
        """Stream a chat; fails over only before the first chunk arrives."""
        req = self._chat_request(model, messages, options)
        return ChatStream(self._stream_items(model, req))

    def _stream_items(self, model: str, req: ChatRequest) -> Iterator[StreamItem]:
        targets = self._targets(model)
        self._check(targets[0], req)

        def open_first(target: Target) -> tuple[Target, Iterator[StreamItem], StreamItem]:
            # In flight from here until the stream is closed.
            self.router.begin(target.state)
            items = target.state.provider._chat_items(_for(req, target))
            try:
                return target, items, next(items)
            except BaseException:
                self.router.end(target.state)
                items.close()  # type: ignore[attr-defined]
                raise

        target, items, first = self._drive(targets, open_first, counted=False)
        try:
            yield first
            yield from items
        except StreamError as exc:  # too late to fail over, but it counts against health
            self.router.record_failure(target.state, exc)
            raise
        finally:
            self.router.end(target.state)
            items.close()  # type: ignore[attr-defined]

    def embed(self, model: str, input: str | Sequence[str]) -> EmbedResponse:
        """Embed a string or a list of strings."""
        targets = self._targets(model)
        return self._drive(targets, lambda t: t.state.provider.embed(t.model, input))

    def load(self, model: str, context_length: int | None = None, ttl: float | None = None) -> None:
        """Load a model into memory where its server supports it."""
        targets = self._targets(model)
        self._drive(targets[:1], lambda t: t.state.provider.load(t.model, context_length, ttl))

    def unload(self, model: str) -> None:
        """Unload a model from memory where its server supports it."""
        targets = self._targets(model)
        self._drive(targets[:1], lambda t: t.state.provider.unload(t.model))

    def delete(self, model: str) -> None:
        """Delete a downloaded model where its server supports it."""
        targets = self._targets(model)
        self._drive(targets[:1], lambda t: t.state.provider.delete(t.model))

    def pull(self, model: str) -> Iterator[PullProgress]:
        """Download a model on the first service that can (``"ollama/name"`` to choose)."""
        _validate_model(model)
        self._ensure()
        state, name = self._pull_target(model)
        return state.provider.pull(name)

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        """Close every connection."""
        for state in self.router.states:
            state.provider.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        names = ", ".join(s.name for s in self.router.states) or "not discovered yet"
        return f"Client({names})"


class AsyncClient(_ClientCore):
    """The async twin of :class:`Client`: the same methods, awaited; streams are ``async for``."""

    def __init__(self, services: Sequence[ServiceSpec] | None = None, **kwargs: Any) -> None:
        super().__init__(services, **kwargs)
        import asyncio

        self._sleep: Callable[[float], Any] = asyncio.sleep
        self._async_setup_lock: Any = None

    # ------------------------------------------------------------------ setup

    async def _ensure(self) -> list[ServiceState]:
        if self._need_discovery():
            import asyncio

            if self._async_setup_lock is None:
                self._async_setup_lock = asyncio.Lock()
            async with self._async_setup_lock:
                if self._need_discovery():
                    await self._setup()
        if not self.router.states:
            raise self._no_services()
        return self.router.states

    async def _setup(self) -> None:
        pending, self._pending = self._pending, []
        if pending:
            for candidate, service in zip(pending, await self._probe_all(pending), strict=False):
                self._adopt_probe(candidate, service)
        if self._discover:
            from .discovery import adiscover

            found = await adiscover(timeout=self.discovery_timeout, gateway_id=self.gateway_id)
            self._adopt_discovered(found)
        self._configured = not self._discover or bool(self.router.states)

    async def _probe_all(self, pending: list[Candidate]) -> list[Service]:
        import asyncio

        import httpx

        from ._http.transport import AsyncTransport

        timeout = max(self.discovery_timeout, 2.0)
        async with httpx.AsyncClient(trust_env=False, verify=needs_tls(pending)) as http:
            probes = (
                probe_transport(AsyncTransport, http, c, timeout).run(self._probe(c, timeout))
                for c in pending
            )
            return list(await asyncio.gather(*probes))

    # ------------------------------------------------------------------ model lists

    async def _list(self, state: ServiceState, refresh: bool) -> list[ModelInfo]:
        import asyncio

        router = self.router
        if not refresh:
            cached = router.cached_models(state)
            if cached is not None:
                return cached
        if state.async_refresh_lock is None:
            state.async_refresh_lock = asyncio.Lock()
        lock: asyncio.Lock = state.async_refresh_lock  # type: ignore[assignment]
        seen_at = state.models_at
        async with lock:  # concurrent callers share one refresh
            shared = router.after_wait(state, refresh, seen_at)
            if shared is not None:
                return shared
            try:
                models = await state.provider.amodels(refresh=refresh)
            except ModelportError as exc:
                router.record_failure(state, exc)
                raise
            router.listed(state, models)
            return models

    async def _list_all(
        self, states: Sequence[ServiceState], refresh: bool
    ) -> list[list[ModelInfo] | ModelportError]:
        import asyncio

        async def one(state: ServiceState) -> list[ModelInfo] | ModelportError:
            if not self.router.usable(state):
                return self.router.unavailable_error(state)
            try:
                return await self._list(state, refresh)
            except ModelportError as exc:
                return exc

        return list(await asyncio.gather(*(one(s) for s in states)))

    async def _targets(self, model: str, *, require_listed: bool = False) -> list[Target]:
        _validate_model(model)
        await self._ensure()
        router = self.router
        if require_listed or router.needs_listing(model):
            named, _ = router.by_prefix(model)
            await self._list_all(named if named is not None else router.states, refresh=False)
        return router.targets(model, require_listed=require_listed)

    # ------------------------------------------------------------------ failover driver

    async def _drive(
        self, targets: list[Target], call: Callable[[Target], Any], *, counted: bool = True
    ) -> Any:
        """Run ``call`` on the targets as the failover plan says. Each attempt counts as
        in flight on its service while it runs (``counted=False``: the caller counts).
        """
        plan = self.router.failover(targets)
        step = next(plan)
        while True:
            if isinstance(step, Sleep):
                await self._sleep(step.seconds)
                step = plan.send(None)
                continue
            assert isinstance(step, Attempt)
            state = step.target.state
            if counted:
                self.router.begin(state)
            try:
                result = await call(step.target)
            except ModelportError as exc:
                step = plan.send(exc)
                continue
            finally:
                if counted:
                    self.router.end(state)
            try:
                plan.send(None)
            except StopIteration:
                pass
            return result

    # ------------------------------------------------------------------ public API

    async def services(self, refresh: bool = False) -> list[Service]:
        """Every configured or discovered service, with its health."""
        import asyncio

        try:
            states = await self._ensure()
        except ServiceUnavailableError:
            return []

        async def check(state: ServiceState) -> None:
            service = await state.provider.ahealth()
            state.service = replace(service, name=state.name)
            if service.status is ServiceStatus.UNAVAILABLE:
                self.router.record_failure(
                    state, ServiceUnavailableError(service.error or "unavailable")
                )
            else:
                self.router.record_success(state)

        await asyncio.gather(*(check(s) for s in states if refresh or s.service is None))
        return [self.router.report(s) for s in states]

    async def models(self, refresh: bool = False) -> list[ModelInfo]:
        """Every model on every reachable service."""
        states = await self._ensure()
        results = await self._list_all(states, refresh)
        errors = [r for r in results if isinstance(r, ModelportError)]
        if errors and len(errors) == len(results):
            raise self._listing_failed(errors)
        return [m for r in results if not isinstance(r, ModelportError) for m in r]

    async def model_info(self, model: str) -> ModelInfo:
        """One model, with its capabilities queried live from its server."""
        targets = await self._targets(model, require_listed=True)
        result: ModelInfo = await self._drive(
            targets, lambda t: t.state.provider.amodel_info(t.model)
        )
        return result

    async def chat(
        self, model: str, messages: MessagesInput, **options: Unpack[ChatOptions]
    ) -> ChatResponse:
        """Send a chat to whichever service has the model; return the whole reply."""
        req = self._chat_request(model, messages, options)
        targets = await self._targets(model)
        self._check(targets[0], req)

        def call(target: Target) -> Any:
            return target.state.provider._aio.run(target.state.provider._op_chat(_for(req, target)))

        result: ChatResponse = await self._drive(targets, call)
        return result

    def chat_stream(
        self, model: str, messages: MessagesInput, **options: Unpack[ChatOptions]
    ) -> AsyncChatStream:
        """Stream a chat; fails over only before the first chunk arrives."""
        req = self._chat_request(model, messages, options)
        return AsyncChatStream(self._stream_items(model, req))

    async def _stream_items(self, model: str, req: ChatRequest) -> AsyncIterator[StreamItem]:
        targets = await self._targets(model)
        self._check(targets[0], req)

        async def open_first(target: Target) -> tuple[Target, Any, StreamItem]:
            # In flight from here until the stream is closed.
            self.router.begin(target.state)
            items = target.state.provider._achat_items(_for(req, target))
            try:
                return target, items, await items.__anext__()
            except BaseException:
                self.router.end(target.state)
                await items.aclose()  # type: ignore[attr-defined]
                raise

        target, items, first = await self._drive(targets, open_first, counted=False)
        try:
            yield first
            async for item in items:
                yield item
        except StreamError as exc:  # too late to fail over, but it counts against health
            self.router.record_failure(target.state, exc)
            raise
        finally:
            self.router.end(target.state)
            await items.aclose()

    async def embed(self, model: str, input: str | Sequence[str]) -> EmbedResponse:
        """Embed a string or a list of strings."""
        targets = await self._targets(model)
        result: EmbedResponse = await self._drive(
            targets, lambda t: t.state.provider.aembed(t.model, input)
        )
        return result

    async def load(
        self, model: str, context_length: int | None = None, ttl: float | None = None
    ) -> None:
        """Load a model into memory where its server supports it."""
        targets = await self._targets(model)
        await self._drive(
            targets[:1], lambda t: t.state.provider.aload(t.model, context_length, ttl)
        )

    async def unload(self, model: str) -> None:
        """Unload a model from memory where its server supports it."""
        targets = await self._targets(model)
        await self._drive(targets[:1], lambda t: t.state.provider.aunload(t.model))

    async def delete(self, model: str) -> None:
        """Delete a downloaded model where its server supports it."""
        targets = await self._targets(model)
        await self._drive(targets[:1], lambda t: t.state.provider.adelete(t.model))

    async def pull(self, model: str) -> AsyncIterator[PullProgress]:
        """Download a model on the first service that can (``"ollama/name"`` to choose)."""
        _validate_model(model)
        await self._ensure()
        state, name = self._pull_target(model)
        async for progress in state.provider.apull(name):
            yield progress

    # ------------------------------------------------------------------ lifecycle

    async def aclose(self) -> None:
        """Close every connection."""
        for state in self.router.states:
            await state.provider.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        names = ", ".join(s.name for s in self.router.states) or "not discovered yet"
        return f"AsyncClient({names})"

"""Finding the model servers that are running, and telling what kind each one is.

The candidate list is pure (:func:`candidates`); each probe is an operation that
fingerprints a server by what it answers, not by its port. All probes run at once
under one overall deadline, so nothing listening costs milliseconds and a silent
port costs at most the timeout. Only loopback is probed unless the caller or the
environment names another host; there is no network scanning.
"""

from __future__ import annotations

import contextvars
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Protocol, TypeVar

if TYPE_CHECKING:
    from concurrent.futures import Future

from ._classify import classify, facts_from_response
from ._coerce import opt_str
from ._http.forwarding import (
    GATEWAY_HEADER,
    MAX_GATEWAY_HOPS,
    current_chain,
    forwarding,
    gateway_chain,
)
from ._http.mapping import ErrorContext
from ._http.ops import Op, Outcome, Request, Response, gather, send
from ._http.urls import normalize_base_url, parse_ollama_host, shown_url
from .errors import ConfigurationError, ModelportError, RequestTimeoutError, ServiceUnavailableError
from .types import ProviderKind, Service, ServiceStatus

__all__ = [
    "GATEWAY_HEADER",
    "ITSELF",
    "LOOP",
    "MAX_GATEWAY_HOPS",
    "Candidate",
    "adiscover",
    "aprobe",
    "candidates",
    "discover",
    "forwarding",
    "gateway_chain",
    "ollama_host_url",
    "parse_services_env",
    "probe",
]

ITSELF = "this is the gateway itself"
"""``Service.error`` of a probed address that turned out to be the probing gateway."""
LOOP = (
    "a gateway loop: this address sends requests back through a gateway they already "
    "passed (it answered 508)"
)
"""``Service.error`` of a probed address that answered 508: the probe went round a loop."""

DEFAULT_CANDIDATES: tuple[tuple[str, str, ProviderKind | None], ...] = (
    ("ollama", "http://127.0.0.1:11434", "ollama"),
    ("lmstudio", "http://127.0.0.1:1234", "lmstudio"),
    ("llamacpp", "http://127.0.0.1:8080", "llamacpp"),
    ("vllm", "http://127.0.0.1:8000", None),
    ("jan", "http://127.0.0.1:1337", None),
)
"""Where each server listens by default. The kind is only a hint; the fingerprint decides."""

T = TypeVar("T")
C = TypeVar("C", contravariant=True)
T_co = TypeVar("T_co", covariant=True)

log = logging.getLogger("modelport")

KINDS: tuple[ProviderKind, ...] = ("ollama", "lmstudio", "llamacpp", "openai")


@dataclass(frozen=True, slots=True)
class Candidate:
    """An address to probe, with the name it will be known by."""

    name: str
    url: str
    hint: ProviderKind | None = None
    explicit: bool = False
    """Named by the caller or the environment (rather than a default port)."""
    given: str = field(default="", repr=False, compare=False)
    """The address as given, with any ``user:password@`` for the service (never shown;
    probes do not send it)."""

    @property
    def address(self) -> str:
        """Where the service's provider connects: the address as given, credentials and all."""
        return self.given or self.url


def parse_services_env(
    value: str | None, *, variable: str = "MODELPORT_SERVICES"
) -> list[Candidate]:
    """Parse a comma-separated list of ``URL`` or ``name=URL`` entries.

    >>> for c in parse_services_env("http://127.0.0.1:8000, gpu=http://10.0.0.5:11434"):
    ...     print(c)
    Candidate(name='', url='http://127.0.0.1:8000', hint=None, explicit=True)
    Candidate(name='gpu', url='http://10.0.0.5:11434', hint=None, explicit=True)
    >>> parse_services_env("ollama")
    [Candidate(name='ollama', url='http://127.0.0.1:11434', hint='ollama', explicit=True)]
    """
    found: list[Candidate] = []
    for raw in (value or "").split(","):
        entry = raw.strip()
        if entry:
            found.append(parse_service_spec(entry, variable=variable))
    return found


def parse_service_spec(entry: str, *, variable: str | None = None) -> Candidate:
    """One service given as a kind name, a URL, or ``name=URL``."""
    where = f" in {variable}" if variable else ""
    name = ""
    kind: ProviderKind | None = None
    if "=" in entry and "://" not in entry.split("=", 1)[0]:
        name, _, entry = entry.partition("=")
        name = name.strip()
        entry = entry.strip()
        if not name or "/" in name:
            raise ConfigurationError(
                f"Invalid service name {name!r}{where}: use a name without '/'."
            )
        if "=" in entry.split("://", 1)[0]:
            raise ConfigurationError(
                f"Invalid service {name}={shown_url(entry)!r}{where}: a second '=' where the "
                "URL should start; write one service as name=URL.",
            )
    lowered = entry.lower()
    kind = _KIND_NAMES.get(lowered)
    if kind is not None:
        url = _default_url(kind)
        if url is None:
            raise ConfigurationError(
                f"Service kind {entry!r}{where} has no default address; give its URL.",
                hint="For example openai=http://127.0.0.1:8000/v1",
            )
        return Candidate(name or entry.lower(), url, kind, True)
    try:
        url = normalize_base_url(entry)
    except ConfigurationError as exc:
        raise ConfigurationError(f"{exc.message.rstrip('.')}{where}.", hint=exc.hint) from exc
    return Candidate(name, url, None, True, given=entry if "@" in entry else "")


_KIND_NAMES: dict[str, ProviderKind] = {
    **{kind: kind for kind in KINDS},
    "lm-studio": "lmstudio",
    "lm_studio": "lmstudio",
    "llama.cpp": "llamacpp",
    "llama-cpp": "llamacpp",
    "llama_cpp": "llamacpp",
    "llama-server": "llamacpp",
    "openai-compatible": "openai",
}
"""Every spelling of a kind that ``--service`` and the configuration file accept: the
kinds themselves and their other names."""


def _default_url(kind: ProviderKind) -> str | None:
    if kind == "ollama":
        return ollama_host_url(os.environ.get("OLLAMA_HOST"))
    for _, url, hint in DEFAULT_CANDIDATES:
        if hint == kind:
            return url
    return None


def ollama_host_url(value: str | None) -> str:
    """``OLLAMA_HOST`` as a URL to connect to, checked: a value that is no address
    (``garbage value!!``, ``ftp://x``) is a :class:`ConfigurationError` naming it.
    """
    return normalize_base_url(parse_ollama_host(value), what="address in OLLAMA_HOST")


def candidates(
    hosts: Sequence[str] | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    lmstudio_home: str | os.PathLike[str] | None = None,
    problems: list[Service] | None = None,
) -> list[Candidate]:
    """Every address discovery will probe: defaults, the environment, then ``hosts``.

    LM Studio's own server config (in its home folder) adds the port its server last
    used when that is not the default. The same URL from two sources is probed once
    (the first name wins). A bad value in the environment raises, unless ``problems``
    is given: then it is added there, as an unavailable service saying what is wrong,
    and the rest is still probed.
    """
    env = os.environ if environ is None else environ
    found: list[Candidate] = [Candidate(n, u, k) for n, u, k in DEFAULT_CANDIDATES]
    lmstudio_port = _lmstudio_config_port(lmstudio_home)
    if lmstudio_port is not None:
        found.append(Candidate("lmstudio", f"http://127.0.0.1:{lmstudio_port}", "lmstudio"))
    try:
        if env.get("OLLAMA_HOST", "").strip():
            found.append(Candidate("ollama", ollama_host_url(env["OLLAMA_HOST"]), "ollama", True))
    except ConfigurationError as exc:
        if problems is None:
            raise
        # Ollama is then looked for where it listens by default.
        problems.append(_misconfigured("OLLAMA_HOST", "ollama", DEFAULT_CANDIDATES[0][1], exc))
    for entry in (env.get("MODELPORT_SERVICES") or "").split(","):
        if not entry.strip():
            continue
        try:
            found.append(parse_service_spec(entry.strip(), variable="MODELPORT_SERVICES"))
        except ConfigurationError as exc:
            if problems is None:
                raise
            url = shown_url(entry.strip().rpartition("=")[2] if "://" not in entry else entry)
            problems.append(_misconfigured("MODELPORT_SERVICES", "openai", url.strip(), exc))
    for host in hosts or ():
        found.append(parse_service_spec(host, variable="hosts"))
    unique: dict[str, Candidate] = {}
    for candidate in found:
        previous = unique.get(candidate.url)
        if previous is None:
            unique[candidate.url] = candidate
        elif candidate.explicit and not previous.explicit:
            unique[candidate.url] = replace(
                previous, name=candidate.name or previous.name, explicit=True
            )
    return list(unique.values())


def _lmstudio_config_port(home: str | os.PathLike[str] | None) -> int | None:
    from .providers.lmstudio.config import find_lmstudio_home, server_port_from_config

    try:
        return server_port_from_config(home if home is not None else find_lmstudio_home())
    except (OSError, RuntimeError):  # no home folder at all
        return None


# --------------------------------------------------------------------------- fingerprinting


def probe_op(candidate: Candidate, timeout: float, *, gateway_id: str | None = None) -> Op[Service]:
    """Fingerprint one address. Never raises: failures come back as UNAVAILABLE.

    With ``gateway_id`` (a gateway probing its neighbours), every probe carries it in
    the ``x-modelport-gateway`` header (or, for a request that came through other
    gateways, the whole chain: :func:`~modelport._http.forwarding.forwarding`). An
    address whose answer names the same id is the gateway itself, reported UNAVAILABLE
    (error :data:`ITSELF`), so that the gateway never routes to itself; one that
    answers 508 sent the probe round a loop of gateways (error :data:`LOOP`), and
    nothing more is asked of it.
    """
    started = time.perf_counter()
    deadline = started + timeout
    chain = current_chain() or gateway_id  # a probe made for a chained request: the chain
    headers = {GATEWAY_HEADER: chain} if chain else {}

    def get(path: str, *, check: bool = True) -> Request:
        left = max(0.001, deadline - time.perf_counter())
        return Request("GET", path, timeout=left, headers=headers, check=check)

    name = candidate.name or candidate.hint or "server"
    root: Outcome
    try:
        root = yield from send(get("/", check=False))
    except ModelportError as exc:
        root = exc
    if isinstance(root, Response):
        if gateway_id and gateway_id in _ids(root.headers.get(GATEWAY_HEADER)):
            return _unavailable(candidate, name, ITSELF)
        if root.status == 508:
            return _unavailable(candidate, name, LOOP)
        if root.status >= 300:
            root = _on_error(_probe_ctx(candidate))(root)
    if isinstance(root, (ServiceUnavailableError, RequestTimeoutError)):
        return Service(
            name=name,
            kind=candidate.hint or "openai",
            base_url=candidate.url,
            status=ServiceStatus.UNAVAILABLE,
            error=_reason(root),
        )
    if isinstance(root, Response) and "ollama is running" in root.text.lower():
        version_answer, tags = yield from gather([get("/api/version"), get("/api/tags")])
        return Service(
            name=candidate.name or "ollama",
            kind="ollama",
            base_url=candidate.url,
            version=opt_str(_field(version_answer, "version")),
            latency_ms=(time.perf_counter() - started) * 1000.0,
            model_count=_count(tags, "models"),
        )
    greeting, v0, props, models = yield from gather(
        [get("/lmstudio-greeting"), get("/api/v0/models"), get("/props"), get("/v1/models")]
    )
    latency = (time.perf_counter() - started) * 1000.0
    kind: ProviderKind | None = None
    version: str | None = None
    if _field(greeting, "lmstudio") is True or _looks_like_lmstudio_models(v0):
        kind = "lmstudio"
    elif _is_llamacpp(props, models):
        from .providers.llamacpp.listing import service_version

        kind = "llamacpp"
        version = service_version(_json(props), _json(models))
    elif _count(models, "data") is not None:
        kind = "openai"
    if kind is None:
        return Service(
            name=name,
            kind=candidate.hint or "openai",
            base_url=candidate.url,
            status=ServiceStatus.UNAVAILABLE,
            latency_ms=latency,
            error=_not_a_model_server(models),
        )
    count = _count(v0, "data") if kind == "lmstudio" else None
    if count is None:
        count = _count(models, "data")
    return Service(
        name=candidate.name or kind,
        kind=kind,
        base_url=candidate.url,
        version=version,
        latency_ms=latency,
        model_count=count,
    )


def _ids(value: str | None) -> tuple[str, ...]:
    """The gateway ids an answer names (one, from a modelport gateway); none if unreadable."""
    try:
        return gateway_chain(value)
    except ValueError:
        return ()


def _reason(error: ModelportError) -> str:
    if isinstance(error, RequestTimeoutError):
        return "timed out (something accepts connections but does not answer)"
    cause = error.__cause__
    if cause is not None and "refused" in str(cause).lower():
        return "connection refused (nothing is listening)"
    return f"not reachable ({error.message})"


def _json(outcome: Outcome) -> object:
    if not isinstance(outcome, Response) or outcome.status >= 400:
        return None
    return outcome.json_or_none()


def _field(outcome: Outcome, key: str) -> object:
    data = _json(outcome)
    return data.get(key) if isinstance(data, dict) else None


def _count(outcome: Outcome, key: str) -> int | None:
    value = _field(outcome, key)
    return len(value) if isinstance(value, list) else None


def _looks_like_lmstudio_models(outcome: Outcome) -> bool:
    entries = _field(outcome, "data")
    return (
        isinstance(entries, list)
        and bool(entries)
        and all(isinstance(e, dict) and "state" in e and "type" in e for e in entries)
    )


def _is_llamacpp(props: Outcome, models: Outcome) -> bool:
    data = _json(props)
    if isinstance(data, dict) and "default_generation_settings" in data:
        return True
    entries = _field(models, "data")
    return isinstance(entries, list) and any(
        isinstance(e, dict) and (e.get("owned_by") == "llamacpp" or "meta" in e) for e in entries
    )


def _not_a_model_server(models: Outcome) -> str:
    if isinstance(models, Response):
        head = models.content[:200].lstrip().lower()
        what = "an HTML page" if head.startswith((b"<!doctype", b"<html")) else "something else"
        return (
            f"answers HTTP but is not a model server (GET /v1/models gave {models.status}, {what})"
        )
    return f"answers HTTP but is not a model server ({models.message})"


# --------------------------------------------------------------------------- drivers


def _probe_ctx(candidate: Candidate) -> ErrorContext:
    return ErrorContext(service=candidate.name or "server", base_url=candidate.url)


def _on_error(ctx: ErrorContext) -> Callable[[Response], ModelportError]:
    """The generic classifier, for a probe (whose server's kind is not known yet)."""

    def on_error(response: Response) -> ModelportError:
        request = response.request
        facts = facts_from_response(
            response.status, response.content, response.headers, ctx, path=request.path
        )
        return classify(facts, ctx)

    return on_error


class _TransportClass(Protocol[C, T_co]):
    """A transport class (``SyncTransport`` over an ``httpx.Client``, ``AsyncTransport``
    over an ``httpx.AsyncClient``), as a probe makes one.
    """

    def __call__(
        self,
        client: C,
        base_url: str,
        ctx: ErrorContext,
        *,
        on_error: Callable[[Response], ModelportError],
        timeout: float,
        connect_timeout: float,
    ) -> T_co: ...


def probe_transport(
    io_class: _TransportClass[C, T], client: C, candidate: Candidate, timeout: float
) -> T:
    """A transport for probing one candidate: no auth, every wait bounded by ``timeout``."""
    ctx = _probe_ctx(candidate)
    return io_class(
        client,
        candidate.url,
        ctx,
        on_error=_on_error(ctx),
        timeout=timeout,
        connect_timeout=timeout,
    )


def discover(
    hosts: Sequence[str] | None = None, timeout: float = 0.5, *, gateway_id: str | None = None
) -> list[Service]:
    """Probe the default local ports (and ``hosts``) and report every candidate.

    Returns one :class:`Service` per candidate, available ones first. Never raises
    for a server that is down or strange; see ``Service.status`` and ``.error``.
    ``gateway_id`` is for a gateway probing its neighbours (see :func:`probe_op`).
    """
    _check_timeout(timeout)
    problems: list[Service] = []
    found = candidates(hosts, problems=problems)
    return _finish(probe(found, timeout, gateway_id=gateway_id) + _logged(problems))


async def adiscover(
    hosts: Sequence[str] | None = None, timeout: float = 0.5, *, gateway_id: str | None = None
) -> list[Service]:
    """Async :func:`discover`."""
    _check_timeout(timeout)
    problems: list[Service] = []
    found = candidates(hosts, problems=problems)
    return _finish(await aprobe(found, timeout, gateway_id=gateway_id) + _logged(problems))


def _misconfigured(
    variable: str, kind: ProviderKind, url: str, problem: ConfigurationError
) -> Service:
    """A bad address in the environment, reported as a service that cannot be reached."""
    return Service(
        name=variable,
        kind=kind,
        base_url=url,
        status=ServiceStatus.UNAVAILABLE,
        error=str(problem),
    )


def probe(
    found: Sequence[Candidate], timeout: float, *, gateway_id: str | None = None
) -> list[Service]:
    """Fingerprint every candidate at once, in order; all within ``timeout`` (and a little)."""
    import httpx

    from ._drive import run
    from ._http.pool import PoolTransport
    from ._http.transport import SyncTransport

    if not found:
        return []
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=0)
    pooled = PoolTransport(limits=limits, tls=needs_tls(found))
    with httpx.Client(trust_env=False, transport=pooled) as client:
        from concurrent.futures import ThreadPoolExecutor, wait

        def one(candidate: Candidate) -> Service:
            io = probe_transport(SyncTransport, client, candidate, timeout)
            return run(probe_op(candidate, timeout, gateway_id=gateway_id), io)

        pool = ThreadPoolExecutor(max_workers=len(found))
        # each probe sees this thread's context (a gateway's chain: forwarding())
        futures = [pool.submit(contextvars.copy_context().run, one, c) for c in found]
        wait(futures, timeout=timeout * 1.05 + 0.05)
        pool.shutdown(wait=False, cancel_futures=True)
        return _logged([_outcome(f, c) for f, c in zip(futures, found, strict=True)])


async def aprobe(
    found: Sequence[Candidate], timeout: float, *, gateway_id: str | None = None
) -> list[Service]:
    """Async :func:`probe`."""
    import asyncio

    import httpx

    from ._drive import arun
    from ._http.pool import AsyncPoolTransport
    from ._http.transport import AsyncTransport

    if not found:
        return []
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=0)
    pooled = AsyncPoolTransport(limits=limits, tls=needs_tls(found))
    async with httpx.AsyncClient(trust_env=False, transport=pooled) as client:

        async def one(candidate: Candidate) -> Service:
            io = probe_transport(AsyncTransport, client, candidate, timeout)
            try:
                return await asyncio.wait_for(
                    arun(probe_op(candidate, timeout, gateway_id=gateway_id), io),
                    timeout * 1.05 + 0.05,
                )
            except asyncio.TimeoutError:
                return _timed_out(candidate)
            except Exception as exc:  # a bug must not sink discovery: report it
                return _failed(candidate, exc)

        return _logged(list(await asyncio.gather(*(one(c) for c in found))))


def _outcome(future: Future[Service], candidate: Candidate) -> Service:
    if not future.done() or future.cancelled():
        return _timed_out(candidate)
    error = future.exception()
    return _failed(candidate, error) if error is not None else future.result()


def _unavailable(candidate: Candidate, name: str | None, error: str) -> Service:
    """What a probe that found no usable server reports."""
    return Service(
        name=name or candidate.name or candidate.hint or "server",
        kind=candidate.hint or "openai",
        base_url=candidate.url,
        status=ServiceStatus.UNAVAILABLE,
        error=error,
    )


def _failed(candidate: Candidate, error: BaseException) -> Service:
    return _unavailable(candidate, None, f"could not be probed ({type(error).__name__}: {error})")


def needs_tls(found: Sequence[Candidate]) -> bool:
    """Make a TLS context (verifying certificates) only when an https URL is probed:
    loading the CA bundle costs ~20 ms, a large share of a discovery where nothing is
    listening.
    """
    return any(c.url.startswith("https://") for c in found)


def _check_timeout(timeout: float) -> None:
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        raise ConfigurationError(f"timeout must be a positive number of seconds, not {timeout!r}.")


def _timed_out(candidate: Candidate) -> Service:
    return _unavailable(
        candidate, None, "timed out (something accepts connections but does not answer)"
    )


def _logged(results: list[Service]) -> list[Service]:
    for service in results:
        log.debug(
            "discovery: %s at %s is %s%s",
            service.kind if service.status is not ServiceStatus.UNAVAILABLE else service.name,
            service.base_url,
            service.status,
            f" ({service.error})" if service.error else "",
        )
    return results


def _finish(results: list[Service]) -> list[Service]:
    names: set[str] = set()
    unique: list[Service] = []
    for service in results:
        name = service.name
        if name in names:
            port = service.base_url.rsplit(":", 1)[-1].split("/", 1)[0]
            name = f"{service.name}-{port}" if port.isdigit() else f"{service.name}-2"
            n = 2
            while name in names:
                name = f"{service.name}-{n}"
                n += 1
            service = replace(service, name=name)
        names.add(name)
        unique.append(service)
    order = {ServiceStatus.AVAILABLE: 0, ServiceStatus.DEGRADED: 1, ServiceStatus.UNAVAILABLE: 2}
    return sorted(unique, key=lambda s: order[s.status])

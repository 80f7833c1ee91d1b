"""Finding the model servers that are running, and telling what kind each one is.

The candidate list is pure (:func:`candidates`); each probe is an operation that
fingerprints a server by what it answers, not by its port. All probes run at once
under one overall deadline, so nothing listening costs milliseconds and a silent
port costs at most the timeout. Only loopback is probed unless the caller or the
environment names another host; there is no network scanning.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar, cast

from ._http.mapping import ErrorContext
from ._http.transport import Op, Request, Response
from ._http.urls import normalize_base_url, parse_ollama_host
from .errors import ConfigurationError, ModelportError, RequestTimeoutError, ServiceUnavailableError
from .types import ProviderKind, Service, ServiceStatus

__all__ = [
    "GATEWAY_HEADER",
    "ITSELF",
    "Candidate",
    "adiscover",
    "candidates",
    "discover",
    "parse_services_env",
]

GATEWAY_HEADER = "x-modelport-gateway"
"""The header a gateway puts on its own requests and on every response it sends."""
ITSELF = "this is the gateway itself"
"""``Service.error`` of a probed address that turned out to be the probing gateway."""

DEFAULT_CANDIDATES: tuple[tuple[str, str, ProviderKind | None], ...] = (
    ("ollama", "http://127.0.0.1:11434", "ollama"),
    ("lmstudio", "http://127.0.0.1:1234", "lmstudio"),
    ("llamacpp", "http://127.0.0.1:8080", "llamacpp"),
    ("vllm", "http://127.0.0.1:8000", None),
    ("jan", "http://127.0.0.1:1337", None),
)
"""Where each server listens by default. The kind is only a hint; the fingerprint decides."""

T = TypeVar("T")

KINDS: tuple[ProviderKind, ...] = ("ollama", "lmstudio", "llamacpp", "openai")


@dataclass(frozen=True, slots=True)
class Candidate:
    """An address to probe, with the name it will be known by."""

    name: str
    url: str
    hint: ProviderKind | None = None
    explicit: bool = False
    """Named by the caller or the environment (rather than a default port)."""


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
    lowered = entry.lower()
    if lowered in KINDS or lowered in _KIND_ALIASES:
        kind = _KIND_ALIASES.get(lowered) or cast(ProviderKind, lowered)
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
    return Candidate(name, url, None, True)


_KIND_ALIASES: dict[str, ProviderKind] = {
    "lm-studio": "lmstudio",
    "lm_studio": "lmstudio",
    "llama.cpp": "llamacpp",
    "llama-cpp": "llamacpp",
    "llama_cpp": "llamacpp",
    "llama-server": "llamacpp",
    "openai-compatible": "openai",
}


def _default_url(kind: ProviderKind) -> str | None:
    if kind == "ollama":
        return parse_ollama_host(os.environ.get("OLLAMA_HOST"))
    for _, url, hint in DEFAULT_CANDIDATES:
        if hint == kind:
            return url
    return None


def candidates(
    hosts: Sequence[str] | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    lmstudio_home: str | os.PathLike[str] | None = None,
) -> list[Candidate]:
    """Every address discovery will probe: defaults, the environment, then ``hosts``.

    LM Studio's own server config (in its home folder) adds the port its server last
    used when that is not the default. The same URL from two sources is probed once
    (the first name wins).
    """
    env = os.environ if environ is None else environ
    found: list[Candidate] = [Candidate(n, u, k) for n, u, k in DEFAULT_CANDIDATES]
    lmstudio_port = _lmstudio_config_port(lmstudio_home)
    if lmstudio_port is not None:
        found.append(Candidate("lmstudio", f"http://127.0.0.1:{lmstudio_port}", "lmstudio"))
    if env.get("OLLAMA_HOST", "").strip():
        found.append(Candidate("ollama", parse_ollama_host(env["OLLAMA_HOST"]), "ollama", True))
    found.extend(parse_services_env(env.get("MODELPORT_SERVICES")))
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
    from .providers.lmstudio import find_lmstudio_home, server_port_from_config

    try:
        return server_port_from_config(home if home is not None else find_lmstudio_home())
    except (OSError, RuntimeError):  # no home folder at all
        return None


# --------------------------------------------------------------------------- fingerprinting


def probe_op(candidate: Candidate, timeout: float, *, gateway_id: str | None = None) -> Op[Service]:
    """Fingerprint one address. Never raises: failures come back as UNAVAILABLE.

    With ``gateway_id``, every probe carries it in the ``x-modelport-gateway`` header,
    and an address whose answer carries that same id is the gateway itself: it is
    reported UNAVAILABLE (error :data:`ITSELF`) so that it never routes to itself.
    """
    started = time.perf_counter()
    deadline = started + timeout
    headers = {GATEWAY_HEADER: gateway_id} if gateway_id else {}

    def remaining() -> float:
        return max(0.001, deadline - time.perf_counter())

    def get(path: str, *, check: bool = True) -> Request:
        return Request("GET", path, timeout=remaining(), headers=headers, check=check)

    name = candidate.name or candidate.hint or "server"

    def unavailable(error: str, latency: float | None = None) -> Service:
        return Service(
            name=name,
            kind=candidate.hint or "openai",
            base_url=candidate.url,
            status=ServiceStatus.UNAVAILABLE,
            latency_ms=latency,
            error=error,
        )

    try:
        root = yield get("/", check=False)
    except ModelportError as exc:
        root = exc
    if isinstance(root, Response):
        if gateway_id and root.headers.get(GATEWAY_HEADER) == gateway_id:
            return unavailable(ITSELF)
        if root.status >= 400:
            root = _error_of(root, candidate)
    if isinstance(root, (ServiceUnavailableError, RequestTimeoutError)):
        return unavailable(_reason(root))
    if isinstance(root, Response) and "ollama is running" in root.text.lower():
        version, tags = yield [get("/api/version"), get("/api/tags")]
        return Service(
            name=candidate.name or "ollama",
            kind="ollama",
            base_url=candidate.url,
            version=_field(version, "version"),
            latency_ms=(time.perf_counter() - started) * 1000.0,
            model_count=_count(tags, "models"),
        )
    greeting, v0, props, models = yield [
        get("/lmstudio-greeting"),
        get("/api/v0/models"),
        get("/props"),
        get("/v1/models"),
    ]
    latency = (time.perf_counter() - started) * 1000.0
    kind: ProviderKind | None = None
    version = None
    if _field(greeting, "lmstudio") is True or _looks_like_lmstudio_models(v0):
        kind = "lmstudio"
    elif _is_llamacpp(props, models):
        kind = "llamacpp"
        version = _field(props, "build_info")
    elif _count(models, "data") is not None:
        kind = "openai"
    if kind is None:
        return unavailable(_not_a_model_server(models), latency)
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


def _error_of(response: Response, candidate: Candidate) -> ModelportError:
    """The error an error status on ``GET /`` stands for, as the probe's transport
    would have raised it (a 503 is a busy server).
    """
    from ._http.transport import error_for

    ctx = ErrorContext(service=candidate.name or "server", base_url=candidate.url)
    return error_for(response, ctx, None)


def _reason(error: ModelportError) -> str:
    if isinstance(error, RequestTimeoutError):
        return "timed out (something accepts connections but does not answer)"
    cause = error.__cause__
    if cause is not None and "refused" in str(cause).lower():
        return "connection refused (nothing is listening)"
    return f"not reachable ({error.message})"


def _json(outcome: Response | ModelportError) -> Any:
    if not isinstance(outcome, Response) or outcome.status >= 400:
        return None
    import json

    try:
        return json.loads(outcome.content)
    except ValueError:
        return None


def _field(outcome: Response | ModelportError, key: str) -> Any:
    data = _json(outcome)
    return data.get(key) if isinstance(data, dict) else None


def _count(outcome: Response | ModelportError, key: str) -> int | None:
    value = _field(outcome, key)
    return len(value) if isinstance(value, list) else None


def _looks_like_lmstudio_models(outcome: Response | ModelportError) -> bool:
    entries = _field(outcome, "data")
    return (
        isinstance(entries, list)
        and bool(entries)
        and all(isinstance(e, dict) and "state" in e and "type" in e for e in entries)
    )


def _is_llamacpp(props: Response | ModelportError, models: Response | ModelportError) -> bool:
    data = _json(props)
    if isinstance(data, dict) and "default_generation_settings" in data:
        return True
    entries = _field(models, "data")
    return isinstance(entries, list) and any(
        isinstance(e, dict) and (e.get("owned_by") == "llamacpp" or "meta" in e) for e in entries
    )


def _not_a_model_server(models: Response | ModelportError) -> str:
    if isinstance(models, Response):
        head = models.content[:200].lstrip().lower()
        what = "an HTML page" if head.startswith((b"<!doctype", b"<html")) else "something else"
        return (
            f"answers HTTP but is not a model server (GET /v1/models gave {models.status}, {what})"
        )
    return f"answers HTTP but is not a model server ({models.message})"


# --------------------------------------------------------------------------- drivers


def probe_transport(io_class: type[T], client: Any, candidate: Candidate, timeout: float) -> T:
    """A transport for probing one candidate: no auth, every wait bounded by ``timeout``."""
    return io_class(  # type: ignore[call-arg]
        client,
        candidate.url,
        ErrorContext(service=candidate.name or "server", base_url=candidate.url),
        headers={},
        timeout=timeout,
        connect_timeout=timeout,
        classify=None,
    )


def discover(
    hosts: Sequence[str] | None = None, timeout: float = 0.5, *, gateway_id: str | None = None
) -> list[Service]:
    """Probe the default local ports (and ``hosts``) and report every candidate.

    Returns one :class:`Service` per candidate, available ones first. Never raises
    for a server that is down or strange; see ``Service.status`` and ``.error``.
    ``gateway_id`` is for a gateway probing its neighbours: see :func:`probe_op`.
    """
    import httpx

    from ._http.transport import SyncTransport

    found = candidates(hosts)
    _check_timeout(timeout)
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=0)
    with httpx.Client(trust_env=False, limits=limits, verify=needs_tls(found)) as client:
        from concurrent.futures import ThreadPoolExecutor, wait

        def probe(candidate: Candidate) -> Service:
            io = probe_transport(SyncTransport, client, candidate, timeout)
            return io.run(probe_op(candidate, timeout, gateway_id=gateway_id))

        pool = ThreadPoolExecutor(max_workers=len(found))
        futures = [pool.submit(probe, c) for c in found]
        wait(futures, timeout=timeout * 1.05 + 0.05)
        pool.shutdown(wait=False, cancel_futures=True)
        results = [
            f.result() if f.done() and not f.cancelled() else _timed_out(c)
            for f, c in zip(futures, found, strict=False)
        ]
    return _finish(results)


async def adiscover(
    hosts: Sequence[str] | None = None, timeout: float = 0.5, *, gateway_id: str | None = None
) -> list[Service]:
    """Async :func:`discover`."""
    import asyncio

    import httpx

    from ._http.transport import AsyncTransport

    found = candidates(hosts)
    _check_timeout(timeout)
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=0)
    async with httpx.AsyncClient(trust_env=False, limits=limits, verify=needs_tls(found)) as client:

        async def probe(candidate: Candidate) -> Service:
            io = probe_transport(AsyncTransport, client, candidate, timeout)
            try:
                return await asyncio.wait_for(
                    io.run(probe_op(candidate, timeout, gateway_id=gateway_id)),
                    timeout * 1.05 + 0.05,
                )
            except asyncio.TimeoutError:
                return _timed_out(candidate)

        results = list(await asyncio.gather(*(probe(c) for c in found)))
    return _finish(results)


def needs_tls(found: Sequence[Candidate]) -> bool:
    """Verify certificates only when an https URL is probed: loading the CA bundle
    costs ~20 ms, a large share of a discovery where nothing is listening.
    """
    return any(c.url.startswith("https://") for c in found)


def _check_timeout(timeout: float) -> None:
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        raise ConfigurationError(f"timeout must be a positive number of seconds, not {timeout!r}.")


def _timed_out(candidate: Candidate) -> Service:
    return Service(
        name=candidate.name or candidate.hint or "server",
        kind=candidate.hint or "openai",
        base_url=candidate.url,
        status=ServiceStatus.UNAVAILABLE,
        error="timed out (something accepts connections but does not answer)",
    )


def _finish(results: list[Service]) -> list[Service]:
    names: set[str] = set()
    unique: list[Service] = []
    for service in results:
        name = service.name
        if name in names:
            port = service.base_url.rsplit(":", 1)[-1].split("/", 1)[0]
            name = f"{service.name}-{port}"
            n = 2
            while name in names:
                name = f"{service.name}-{n}"
                n += 1
            service = replace(service, name=name)
        names.add(name)
        unique.append(service)
    order = {ServiceStatus.AVAILABLE: 0, ServiceStatus.DEGRADED: 1, ServiceStatus.UNAVAILABLE: 2}
    return sorted(unique, key=lambda s: order[s.status])

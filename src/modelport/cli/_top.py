"""``modelport top`` and ``modelport ps --gateway``: a running gateway seen from
outside, through its ``/health`` (with the key) and ``/metrics``.

What is shown is computed here from those two bodies, by pure functions (the
command only fetches them and redraws): :func:`services_from_health` reads
``/health`` (a body without the scheduler's keys, from an older gateway, reads as
no limit and nothing queued), :func:`snapshot` reads ``/metrics`` with
prometheus-client's parser, and :func:`window` turns two snapshots into rates over
the last minute: tokens per second, time to first token p50/p95 (from the
histogram's buckets, as PromQL's ``histogram_quantile`` does) and errors.
"""

from __future__ import annotations

import contextlib
import math
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import click

from ..errors import AuthenticationError, ProtocolError, ServiceUnavailableError
from ._output import echo_json

if TYPE_CHECKING:
    import httpx
    from rich.console import RenderableType

__all__ = [
    "COMMANDS",
    "GatewayService",
    "Snapshot",
    "Window",
    "fetch",
    "fetch_health",
    "render_top",
    "services_from_health",
    "snapshot",
    "window",
]

DEFAULT_GATEWAY = "http://127.0.0.1:11435"
WINDOW_SECONDS = 60.0
"""What "now" covers: rates and quantiles over the last minute."""


# --------------------------------------------------------------------------- /health


@dataclass(frozen=True, slots=True)
class GatewayService:
    """One service as a gateway's ``/health`` shows it."""

    name: str
    kind: str = ""
    base_url: str = ""
    status: str = "unknown"
    in_flight: int = 0
    max_in_flight: int | None = None
    queued: int = 0
    loaded_models: tuple[str, ...] = ()
    model_count: int | None = None
    error: str | None = None


def _int(value: object, default: int | None = 0) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def services_from_health(body: object) -> list[GatewayService]:
    """The services in a ``/health`` body; keys an older gateway lacks read as unknown
    (no limit, nothing queued, loaded models from ``models[].state`` where given).
    """
    services = body.get("services") if isinstance(body, Mapping) else None
    out = []
    for entry in services if isinstance(services, list) else ():
        if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str):
            continue
        loaded = entry.get("loaded_models")
        if not isinstance(loaded, list):
            models = entry.get("models")
            loaded = [
                m.get("id")
                for m in (models if isinstance(models, list) else ())
                if isinstance(m, Mapping) and m.get("state") == "loaded"
            ]
        error = entry.get("error")
        out.append(
            GatewayService(
                name=entry["name"],
                kind=str(entry.get("kind") or ""),
                base_url=str(entry.get("base_url") or ""),
                status=str(entry.get("status") or "unknown"),
                in_flight=_int(entry.get("in_flight")) or 0,
                max_in_flight=_int(entry.get("max_in_flight"), None),
                queued=_int(entry.get("queued")) or 0,
                loaded_models=tuple(str(m) for m in loaded if isinstance(m, str)),
                model_count=_int(entry.get("model_count"), None),
                error=error if isinstance(error, str) else None,
            )
        )
    return out


# --------------------------------------------------------------------------- /metrics


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What one scrape of ``/metrics`` says, per service (cumulative counts)."""

    output_tokens: Mapping[str, float] = field(default_factory=dict)
    ttft_buckets: Mapping[str, Mapping[float, float]] = field(default_factory=dict)
    """Per service: the time-to-first-token histogram's cumulative bucket counts."""
    errors: Mapping[str, float] = field(default_factory=dict)
    """Per service: model requests that failed, and upstream errors."""
    in_flight: Mapping[str, float] = field(default_factory=dict)
    up: Mapping[str, float] = field(default_factory=dict)
    loaded: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    queued: Mapping[str, float] = field(default_factory=dict)


def snapshot(text: str) -> Snapshot:
    """Read a gateway's ``/metrics`` (Prometheus' text format)."""
    from prometheus_client.parser import text_string_to_metric_families

    tokens: dict[str, float] = {}
    buckets: dict[str, dict[float, float]] = {}
    errors: dict[str, float] = {}
    in_flight: dict[str, float] = {}
    up: dict[str, float] = {}
    loaded: dict[str, list[str]] = {}
    queued: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            service = s.labels.get("service", "")
            if s.name == "gen_ai_client_token_usage_sum":
                if s.labels.get("gen_ai_token_type") == "output":
                    tokens[service] = tokens.get(service, 0.0) + s.value
            elif s.name == "gen_ai_server_time_to_first_token_seconds_bucket":
                le = float(s.labels["le"])
                into = buckets.setdefault(service, {})
                into[le] = into.get(le, 0.0) + s.value
            elif s.name == "gen_ai_client_operation_duration_seconds_count":
                if s.labels.get("error_type"):
                    errors[service] = errors.get(service, 0.0) + s.value
            elif s.name == "modelport_in_flight":
                in_flight[service] = s.value
            elif s.name == "modelport_service_up":
                up[service] = s.value
            elif s.name == "modelport_model_loaded" and s.value == 1:
                loaded.setdefault(service, []).append(s.labels.get("model", ""))
            elif s.name == "modelport_queue_depth":
                queued[service] = queued.get(service, 0.0) + s.value
    return Snapshot(
        tokens,
        buckets,
        errors,
        in_flight,
        up,
        {k: tuple(v) for k, v in loaded.items()},
        queued,
    )


@dataclass(frozen=True, slots=True)
class Rates:
    """One service over the window."""

    tokens_per_second: float | None = None
    ttft_p50: float | None = None
    ttft_p95: float | None = None
    errors: float = 0.0


@dataclass(frozen=True, slots=True)
class Window:
    """Rates over the last minute, per service, and how many seconds they cover."""

    seconds: float
    services: Mapping[str, Rates]


def quantile(q: float, buckets: Mapping[float, float]) -> float | None:
    """The ``q`` quantile of a histogram from its cumulative buckets, interpolated
    linearly within a bucket as PromQL's ``histogram_quantile`` does.

    >>> quantile(0.5, {0.1: 5, 0.25: 9, 0.5: 10, math.inf: 10})
    0.1
    >>> round(quantile(0.95, {0.1: 5, 0.25: 9, 0.5: 10, math.inf: 10}), 3)
    0.375
    """
    bounds = sorted(buckets)
    if not bounds or buckets[bounds[-1]] <= 0:
        return None
    rank = q * buckets[bounds[-1]]
    lower, below = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if math.isinf(bound):
                return lower
            if count == below:
                return bound
            return lower + (bound - lower) * (rank - below) / (count - below)
        lower, below = bound, count
    return lower


def window(old: tuple[float, Snapshot], new: tuple[float, Snapshot]) -> Window:
    """The rates between two snapshots taken at the given times (seconds)."""
    (t0, a), (t1, b) = old, new
    seconds = max(t1 - t0, 1e-9)
    services = set(b.output_tokens) | set(b.ttft_buckets) | set(b.errors)
    rates = {}
    for name in services:
        tokens = b.output_tokens.get(name, 0.0) - a.output_tokens.get(name, 0.0)
        before = a.ttft_buckets.get(name, {})
        delta = {le: n - before.get(le, 0.0) for le, n in b.ttft_buckets.get(name, {}).items()}
        rates[name] = Rates(
            tokens_per_second=tokens / seconds if t1 > t0 else None,
            ttft_p50=quantile(0.5, delta),
            ttft_p95=quantile(0.95, delta),
            errors=b.errors.get(name, 0.0) - a.errors.get(name, 0.0),
        )
    return Window(t1 - t0, rates)


# --------------------------------------------------------------------------- rendering


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.0f} ms"


def _health(service: GatewayService, up: float | None) -> tuple[str, str]:
    status = service.status
    if up == 0 and status == "available":
        status = "unavailable"
    style = {"available": "green", "degraded": "yellow", "unavailable": "red"}.get(status, "")
    return status, style


def render_top(
    url: str,
    services: Sequence[GatewayService],
    latest: Snapshot,
    rates: Window | None,
) -> RenderableType:
    """What ``modelport top`` shows: one row per service."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    span = "" if rates is None else f"over the last {rates.seconds:.0f} s"
    title = Text.assemble(("modelport top ", "bold"), url, "  ", (span, "dim"))
    table = Table(box=None, pad_edge=False, header_style="bold")
    for name, justify in (
        ("SERVICE", "left"),
        ("KIND", "left"),
        ("HEALTH", "left"),
        ("IN FLIGHT", "right"),
        ("QUEUED", "right"),
        ("TOK/S", "right"),
        ("TTFT P50", "right"),
        ("TTFT P95", "right"),
        ("ERRORS", "right"),
        ("LOADED", "left"),
    ):
        table.add_column(name, justify=justify, no_wrap=name != "LOADED")  # type: ignore[arg-type]
    for service in services:
        rate = rates.services.get(service.name) if rates is not None else None
        status, style = _health(service, latest.up.get(service.name))
        limit = "" if service.max_in_flight is None else f"/{service.max_in_flight}"
        in_flight = int(latest.in_flight.get(service.name, service.in_flight))
        queued = service.queued or int(latest.queued.get(service.name, 0))
        loaded = service.loaded_models or latest.loaded.get(service.name, ())
        table.add_row(
            service.name,
            service.kind,
            Text(status, style=style),
            f"{in_flight}{limit}",
            str(queued),
            "-"
            if rate is None or rate.tokens_per_second is None
            else f"{rate.tokens_per_second:.1f}",
            _ms(None if rate is None else rate.ttft_p50),
            _ms(None if rate is None else rate.ttft_p95),
            "0" if rate is None else f"{rate.errors:.0f}",
            ", ".join(loaded) or "-",
        )
    return Group(title, table, Text("q quits", style="dim"))


def ps_rows(services: Sequence[GatewayService]) -> list[list[str | tuple[str, str]]]:
    """``modelport ps --gateway``: a row per service."""
    rows: list[list[str | tuple[str, str]]] = []
    for s in services:
        status, style = _health(s, None)
        rows.append(
            [
                s.name,
                s.kind,
                (status, style) if style else status,
                str(s.in_flight),
                "-" if s.max_in_flight is None else str(s.max_in_flight),
                str(s.queued),
                ", ".join(s.loaded_models) or "-",
            ]
        )
    return rows


# --------------------------------------------------------------------------- fetching


def fetch(url: str, key: str | None, path: str, *, timeout: float = 5.0) -> str:
    """GET ``path`` from the gateway at ``url``: its text.

    Raises:
        ServiceUnavailableError: the gateway cannot be reached.
        AuthenticationError: it refused the key (or asked for one).
        ProtocolError: any other answer than 200.
    """
    return _get(url, key, path, timeout).text


def fetch_health(url: str, key: str | None, *, timeout: float = 5.0) -> object:
    """The gateway's ``/health``, parsed (raises as :func:`fetch` does, and
    :class:`~modelport.ProtocolError` for a body that is not JSON).
    """
    response = _get(url, key, "/health", timeout)
    try:
        return response.json()
    except ValueError as exc:
        raise ProtocolError(
            f"The gateway at {url.rstrip('/')} answered /health with no JSON."
        ) from exc


def _get(url: str, key: str | None, path: str, timeout: float) -> httpx.Response:
    import httpx

    headers = {"authorization": f"Bearer {key}"} if key else {}
    base = url.rstrip("/")
    try:
        response = httpx.get(base + path, headers=headers, timeout=timeout)
    except httpx.HTTPError as exc:
        raise ServiceUnavailableError(
            f"Could not reach the gateway at {base} ({type(exc).__name__}).",
            hint="Is `modelport serve` running there?",
        ) from exc
    if response.status_code == 401:
        raise AuthenticationError(
            f"The gateway at {base} asks for an API key"
            + (" (this one was refused)." if key else "."),
            hint="Give it with --api-key KEY or MODELPORT_API_KEY.",
        )
    if response.status_code != 200:
        raise ProtocolError(f"The gateway at {base} answered {path} with {response.status_code}.")
    return response


def _idle(seconds: float) -> str | None:
    time.sleep(seconds)
    return None


@contextlib.contextmanager
def _keys() -> Iterator[Callable[[float], str | None]]:
    """A function that waits up to that many seconds for a key press (``None``: none);
    on a terminal the keys are read one at a time, without echo.
    """
    stdin = sys.stdin
    try:
        import select
        import termios
        import tty

        fd = stdin.fileno()
        saved = termios.tcgetattr(fd)
    except Exception:  # not a terminal, or no termios (Windows): sleep, Ctrl-C quits
        yield _idle
        return

    def wait(seconds: float) -> str | None:
        ready, _, _ = select.select([stdin], [], [], seconds)
        return stdin.read(1) if ready else None

    tty.setcbreak(fd)
    try:
        yield wait
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


gateway_option = click.option(
    "--gateway",
    "url",
    default=DEFAULT_GATEWAY,
    show_default=True,
    metavar="URL",
    help="The modelport gateway to look at.",
)
key_option = click.option(
    "--api-key",
    "key",
    envvar="MODELPORT_API_KEY",
    default=None,
    metavar="KEY",
    help="The gateway's API key (also MODELPORT_API_KEY).",
)


@click.command()
@gateway_option
@key_option
@click.option(
    "--interval",
    type=click.FloatRange(0.2, 60),
    default=1.0,
    show_default=True,
    metavar="SECONDS",
    help="How often to refresh.",
)
def top(url: str, key: str | None, interval: float) -> None:
    """A live view of a running gateway: each service's health, loaded models, requests
    in flight and queued, tokens per second, time to first token p50/p95 over the last
    minute, and errors. q quits.
    """
    from rich.live import Live

    from ._output import rich_console

    console = rich_console()
    history: deque[tuple[float, Snapshot]] = deque()
    services = services_from_health(fetch_health(url, key))
    health_at = time.monotonic()
    with _keys() as pressed, Live(console=console, auto_refresh=False) as live:
        while True:
            now = time.monotonic()
            if now - health_at >= HEALTH_EVERY:
                services, health_at = services_from_health(fetch_health(url, key)), now
            latest = snapshot(fetch(url, key, "/metrics"))
            history.append((now, latest))
            while len(history) > 2 and now - history[1][0] >= WINDOW_SECONDS:
                history.popleft()
            rates = window(history[0], history[-1]) if len(history) > 1 else None
            live.update(render_top(url, services, latest, rates), refresh=True)
            if pressed(interval) in ("q", "Q"):
                return


HEALTH_EVERY = 5.0
"""Seconds between reads of ``/health`` (the gauges come from ``/metrics`` each time)."""


def ps_gateway(url: str, key: str | None, as_json: bool) -> None:
    """``modelport ps --gateway URL``: each service's in flight, limit, queue and loaded
    models, from the gateway's ``/health``.
    """
    from ._output import Column, print_table

    services = services_from_health(fetch_health(url, key))
    if as_json:
        echo_json(services)
        return
    columns = [
        Column("SERVICE", style="bold"),
        Column("KIND"),
        Column("STATUS"),
        Column("IN FLIGHT", justify="right"),
        Column("LIMIT", justify="right"),
        Column("QUEUED", justify="right"),
        Column("LOADED"),
    ]
    print_table(columns, ps_rows(services))


COMMANDS = [top]

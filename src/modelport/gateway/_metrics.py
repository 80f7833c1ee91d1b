"""The gateway's Prometheus metrics (``GET /metrics``), in one registry per app (never
the process-wide one); the services' own are ``_upstream_metrics``.

Per request, once, for every surface (``Gateway._http`` calls :meth:`Metrics.record`
when the request is over):

- the OpenTelemetry GenAI histograms, in Prometheus naming: operation duration, token
  usage (input and output), time to first token and time per output token, labelled
  by operation, requested model, service, provider kind and error type;
- modelport's own: requests by surface, route and status, and the gateway's overhead
  (the request's whole time less the time spent waiting on the client's calls).

From the client's router, as they happen: failovers and upstream errors by class.
At each scrape, from the router's state (no I/O): each service's health and requests
in flight, the loaded models, and queue depths (:attr:`Metrics.queue_depths`).

Label values are bounded: a model name that no service listed is counted as
``other``; services, surfaces, routes and error types are finite sets already.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import (
    GaugeMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from ..errors import ModelportError
from ..types import ServiceStatus
from ._exchange import CLIENT_CLOSED
from ._families import Counters, Histograms

if TYPE_CHECKING:
    from ..client import AsyncClient
    from ._exchange import Exchange

__all__ = ["CONTENT_TYPE", "OTHER", "Metrics", "error_type"]

CONTENT_TYPE = b"text/plain; version=0.0.4; charset=utf-8"
OTHER = "other"
"""The model label of a name that no service listed (bounded cardinality)."""

# The GenAI semantic conventions' advised bucket boundaries (the overhead's are finer).
# fmt: off
DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48,
                    40.96, 81.92)
TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304)
TTFT_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0,
                7.5, 10.0)
TPOT_BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5)
OVERHEAD_BUCKETS = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                    0.1, 0.25)
# fmt: on

GENAI_LABELS = (
    "gen_ai_operation_name",
    "gen_ai_request_model",
    "service",
    "gen_ai_provider_name",
    "error_type",
)
LIST_SECONDS = 2.0
"""The most a scrape waits for the services' model lists (for the model labels)."""


def error_type(error: BaseException) -> str:
    """The ``error_type`` label of a failure: its class name (``RequestTimeoutError``)."""
    return type(error).__name__


class _Children:
    """One GenAI label set's histograms, made together and kept."""

    __slots__ = ("duration", "input", "output", "tpot", "ttft")

    def __init__(self, metrics: Metrics, labels: tuple[str, ...]) -> None:
        self.duration = metrics.duration.child(*labels)
        self.input = metrics.tokens.child(*labels, "input")
        self.output = metrics.tokens.child(*labels, "output")
        self.ttft = metrics.ttft.child(*labels)
        self.tpot = metrics.tpot.child(*labels)


class Metrics:
    """The metrics of one gateway app, in its own :class:`CollectorRegistry`.

    ``queue_depths`` is the scheduler's hook: a callable giving ``(service, model,
    depth)`` for each queue, read at every scrape (none by default). A request's queue
    wait is ``Exchange.queue_wait`` (seconds), recorded with the request; or call
    :meth:`observe_queue_wait` where the wait ends.
    """

    def __init__(self, client: AsyncClient) -> None:
        self.client = client
        self.duration = Histograms(
            "gen_ai_client_operation_duration_seconds",
            "GenAI operation duration: a model request through the gateway, from its "
            "arrival to its last byte.",
            GENAI_LABELS,
            DURATION_BUCKETS,
        )
        self.tokens = Histograms(
            "gen_ai_client_token_usage",
            "Tokens used per request, as the service reported them (gen_ai_token_type: "
            "input or output).",
            (*GENAI_LABELS, "gen_ai_token_type"),
            TOKEN_BUCKETS,
        )
        self.ttft = Histograms(
            "gen_ai_server_time_to_first_token_seconds",
            "Time from a streamed request's arrival to its first chunk from the service.",
            GENAI_LABELS,
            TTFT_BUCKETS,
        )
        self.tpot = Histograms(
            "gen_ai_server_time_per_output_token_seconds",
            "Time per output token of a streamed request after its first.",
            GENAI_LABELS,
            TPOT_BUCKETS,
        )
        self.requests = Counters(
            "modelport_requests",
            "Requests answered by the gateway, by surface, route and status.",
            ("surface", "route", "status"),
        )
        self.overhead = Histograms(
            "modelport_gateway_overhead_seconds",
            "The gateway's own time per model request: its whole duration less the time "
            "spent waiting on the client's calls to the service.",
            ("surface", "gen_ai_operation_name"),
            OVERHEAD_BUCKETS,
        )
        self.failovers = Counters(
            "modelport_failovers",
            "Times a request moved on from a service that failed to the next replica.",
            ("model", "service"),
        )
        self.upstream_errors = Counters(
            "modelport_upstream_errors",
            "Failed attempts at a service (each retry counts), by error class.",
            ("service", "error_type"),
        )
        self.queue_wait = Histograms(
            "modelport_queue_wait_seconds",
            "Time a request waited in the scheduler's queue before it was sent.",
            ("model",),
            DURATION_BUCKETS,
        )
        self.queue_depths: Callable[[], Iterable[tuple[str, str, int]]] = tuple
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_Families(self))
        self.registry.register(_StateCollector(self))
        self._children: dict[tuple[str, ...], _Children] = {}
        self._known: frozenset[str] = frozenset()
        self._known_at: tuple[float, ...] = ()
        self._kinds: dict[str, str] = {}
        client.router.observers.append(self)

    def families(self) -> list[Histograms | Counters]:
        return [
            self.duration,
            self.tokens,
            self.ttft,
            self.tpot,
            self.requests,
            self.overhead,
            self.failovers,
            self.upstream_errors,
            self.queue_wait,
        ]

    # ------------------------------------------------------------------ per request

    def record(self, ex: Exchange, route: str) -> None:
        """Count one finished request (``route``: its route's path, or ``unmatched``)."""
        status = ex.status or CLIENT_CLOSED
        surface: str = ex.surface.name  # type: ignore[attr-defined]
        self.requests.inc(surface, route, str(status))
        operation = ex.operation
        if operation is None:
            return
        now = time.perf_counter()
        total = now - ex.started
        service = ex.service or ""
        labels = (
            operation,
            self.model_label(ex.model),
            service,
            self._kind(service),
            ex.failure_type(),
        )
        children = self._children.get(labels)
        if children is None:
            children = self._children[labels] = _Children(self, labels)
        children.duration.observe(total)
        usage = ex.usage
        output = None
        if usage is not None:
            if usage.prompt_tokens is not None:
                children.input.observe(usage.prompt_tokens)
            output = usage.completion_tokens
            if output is not None:
                children.output.observe(output)
        if ex.first_token:
            children.ttft.observe(ex.first_token - ex.started)
            if output is not None and output > 1:
                children.tpot.observe((now - ex.first_token) / (output - 1))
        self.overhead.child(surface, operation).observe(max(0.0, total - ex.upstream))
        if ex.queue_wait is not None:
            self.observe_queue_wait(ex.model, ex.queue_wait)

    def observe_queue_wait(self, model: str | None, seconds: float) -> None:
        """One request's wait in the scheduler's queue for ``model``."""
        self.queue_wait.child(self.model_label(model)).observe(seconds)

    # ------------------------------------------------------------------ the router's events

    def attempt_failed(self, service: str, model: str, error: ModelportError) -> None:
        """An attempt at ``service`` failed (the router reports each one)."""
        self.upstream_errors.inc(service, error_type(error))

    def failed_over(self, service: str, model: str) -> None:
        """A request moved on from ``service`` to the next replica."""
        self.failovers.inc(self.model_label(model), service)

    # ------------------------------------------------------------------ labels

    def model_label(self, name: str | None) -> str:
        """``name`` if a service listed it (as ``id``, ``name`` or ``service/id``),
        else ``other``. Recording never asks a service for anything: the lists are
        the client's (a routing decision, ``/v1/models``, or :meth:`read_lists` at
        each scrape).
        """
        if not name:
            return ""
        if name in self._known:
            return name
        states = self.client.router.states  # a miss: the lists may have changed since
        stamp = tuple(s.models_at for s in states)
        if stamp != self._known_at:
            self._known, self._known_at = _known_names(states), stamp
            if name in self._known:
                return name
        return OTHER

    async def read_lists(self) -> None:
        """Bring the client's model lists up to date (its cache answers while they are
        fresh), so that model labels know every model; at most
        :data:`LIST_SECONDS`, and never an error: a scrape must not fail for it.
        """
        try:
            await asyncio.wait_for(self.client.models(), LIST_SECONDS)
        except (ModelportError, asyncio.TimeoutError):
            pass

    def _kind(self, service: str) -> str:
        kind = self._kinds.get(service)
        if kind is None:
            kind = ""
            for state in self.client.router.states:
                self._kinds[state.name] = str(state.provider.kind)
                if state.name == service:
                    kind = str(state.provider.kind)
        return kind

    # ------------------------------------------------------------------ exposition

    def render(self) -> str:
        """The metrics in Prometheus' text format."""
        return generate_latest(self.registry).decode()


def _known_names(states: Sequence[Any]) -> frozenset[str]:
    """The names of every listed model (``states``: the client's router's)."""
    names: set[str] = set()
    for state in states:
        for model in state.models or ():
            names.update(
                (model.id, model.name, f"{state.name}/{model.id}", f"{state.name}/{model.name}")
            )
    return frozenset(names)


class _Families(Collector):
    """The per-request families, as they stand at the scrape."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        for family in self.metrics.families():
            yield family.collect()


class _StateCollector(Collector):
    """What the router knows now, read at each scrape: health, in flight, loaded
    models, queue depths.
    """

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        router = self.metrics.client.router
        up = GaugeMetricFamily(
            "modelport_service_up",
            "Whether the service is usable (1) or unavailable, in its cool-down (0).",
            labels=["service", "kind"],
        )
        in_flight = GaugeMetricFamily(
            "modelport_in_flight",
            "The gateway's requests in flight to the service (a stream until it ends).",
            labels=["service"],
        )
        loaded = GaugeMetricFamily(
            "modelport_model_loaded",
            "Whether the model is loaded (1) or not (0), from the service's last model "
            "list (models whose servers do not say are left out).",
            labels=["service", "model"],
        )
        depth = GaugeMetricFamily(
            "modelport_queue_depth",
            "Requests waiting in the scheduler's queue for the model.",
            labels=["service", "model"],
        )
        for state in list(router.states):
            status = router.report(state).status
            usable = status is not ServiceStatus.UNAVAILABLE
            up.add_metric([state.name, str(state.provider.kind)], 1.0 if usable else 0.0)
            in_flight.add_metric([state.name], float(state.in_flight))
            for model in state.models or ():
                if model.loaded is not None:
                    loaded.add_metric([state.name, model.name], 1.0 if model.loaded else 0.0)
        for service, name, waiting in self.metrics.queue_depths():
            depth.add_metric([service, self.metrics.model_label(name)], float(waiting))
        yield from (up, in_flight, loaded, depth)

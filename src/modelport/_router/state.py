"""What the router knows about each service, and a service chosen to answer a model."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..providers.base import Provider
from ..types import ModelInfo, Service, ServiceStatus
from .locks import LockBox

__all__ = ["SEVERITY", "ServiceState", "Target", "replica_id"]

SEVERITY = {ServiceStatus.AVAILABLE: 0, ServiceStatus.DEGRADED: 1, ServiceStatus.UNAVAILABLE: 2}
"""Statuses from best to worst."""


@dataclass(eq=False)
class ServiceState:
    """What the router knows about one service. Only the router's pieces change it,
    each its own fields under its own lock: :class:`~modelport._router.health.Health`
    the health, :class:`~modelport._router.listings.ModelLists` the model list,
    :class:`~modelport._router.failover.InFlight` the requests in flight (the client
    core reads it).
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


def replica_id(target: Target) -> str:
    """The model id of a target: its listing's id, else ``service/model``."""
    return target.info.id if target.info is not None else f"{target.state.name}/{target.model}"

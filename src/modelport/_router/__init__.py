"""Routing, health and failover decisions, free of I/O.

The :class:`Router` the client core holds is made of pieces, each its own module:

- :mod:`.health`: :class:`Health`, each service's health state machine;
- :mod:`.listings`: :class:`ModelLists`, the model-list cache;
- :mod:`.names`: :class:`Names`, which services may answer a model name, best first;
- :mod:`.failover`: :class:`Failover`, trying targets in turn as a *flow*, and
  :class:`InFlight`, the requests in flight;
- :mod:`.capabilities`: ordering targets by what a request needs.

They share :class:`ServiceState` and :class:`Target` (:mod:`.state`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

from .._http.retry import RetryPolicy
from ..types import Service
from .capabilities import Feature, capability_warnings, prefer_capable
from .failover import Failover, FailoverObserver, InFlight
from .health import Health
from .listings import ModelLists
from .locks import LockBox
from .names import NO_SERVER_HINT, Names
from .state import SEVERITY, ServiceState, Target, replica_id

__all__ = [
    "NO_SERVER_HINT",
    "Failover",
    "FailoverObserver",
    "Feature",
    "Health",
    "InFlight",
    "LockBox",
    "ModelLists",
    "Names",
    "Router",
    "ServiceState",
    "Target",
    "capability_warnings",
    "prefer_capable",
    "replica_id",
]


class Router:
    """The services a client knows, and the pieces that decide over them: ``health``,
    ``lists`` (model lists), ``names`` (resolution), ``in_flight`` and ``failover``.
    """

    def __init__(
        self,
        policy: RetryPolicy,
        *,
        failure_threshold: int = 3,
        cooldown: float = 30.0,
        models_ttl: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.states: list[ServiceState] = []
        """Every service, in configured order (the pieces share this list)."""
        self.observers: list[FailoverObserver] = []
        """Told of each failed attempt and each failover (the gateway's metrics)."""
        self.health = Health(failure_threshold=failure_threshold, cooldown=cooldown, clock=clock)
        self.lists = ModelLists(ttl=models_ttl, clock=clock)
        self.names = Names(self.states)
        self.in_flight = InFlight()
        self.failover = Failover(policy, self.health, self.in_flight, self.observers)

    @property
    def clock(self) -> Callable[[], float]:
        """The clock that cool-downs and list ages are measured by."""
        return self.health.clock

    @clock.setter
    def clock(self, clock: Callable[[], float]) -> None:
        self.health.clock = self.lists.clock = clock

    def report(self, state: ServiceState) -> Service:
        """The service as the client reports it: its last health and the router's status."""
        base = state.service or Service(
            name=state.name, kind=state.provider.kind, base_url=state.provider.base_url
        )
        status = max(state.status, base.status, key=SEVERITY.__getitem__)
        return replace(
            base,
            name=state.name,
            kind=state.provider.kind,
            status=status,
            error=state.last_error or base.error,
            in_flight=state.in_flight,
        )

"""The scheduler's decisions as pure functions of a snapshot of its state and the time.

:func:`plan` reads who is waiting (first come first), what runs where, and what each
model's state is, and decides, in this order:

1. **Timeouts.** A request that has waited its ``max_wait`` is rejected.
2. **Fairness.** A request whose model is on no service it could use has to wait for a
   swap. Once it has waited ``swap_after``, the model it will replace (the one with the
   fewest requests running, then the least recently used) *drains*: it takes no new
   requests that arrived after this one, so it comes free.
3. **Starts and loads, first come first.** Each request starts on the first of its
   targets whose model is loaded (or not tracked), that is not draining for it, and has
   a free slot (service and model). A request whose model is unloaded everywhere loads
   it on the first target with room: a free place in the service's ``max_loaded``, or an
   idle model to evict (none of its requests running, and none waiting for it unless it
   drains; least recently used first). No model is ever evicted while a request on it
   runs, and while a model is loaded, later requests for it go before a request that
   would swap it out, until that request has waited ``swap_after``.
4. **Loads nobody waits for** any more (cancelled, rejected) are cancelled, when this
   scheduler asked for them.
5. **TTL.** A loaded model idle for its ``ttl`` (nothing running, nobody waiting) is
   unloaded.

:func:`next_deadline` says when the answer of :func:`plan` can next change with no
event: the time to call ``tick``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from .types import (
    DEFAULT_MAX_QUEUE,
    DEFAULT_MAX_WAIT,
    CancelLoad,
    Decision,
    Lease,
    Load,
    ModelLimits,
    ModelState,
    Reject,
    ServiceLimits,
    Start,
    Target,
    Ticket,
    Unload,
)

__all__ = [
    "Snapshot",
    "model_queue_cap",
    "next_deadline",
    "plan",
    "retry_after",
    "service_queue_cap",
    "wait_bound",
]


@dataclass(frozen=True)
class Snapshot:
    """The state decisions are made from.

    Attributes:
        tickets: this scheduler's waiting requests, first come first.
        leases: every request in flight (all owners: limits are shared).
        models: what is believed about each tracked model; a model not here is served
            without tracking (started whenever a slot is free, never evicted).
        services: the effective limits of every service mentioned above.
        model_limits: the effective limits of every target mentioned above.
        durations: how long a request typically runs on each service (seconds).
    """

    tickets: Sequence[Ticket]
    leases: Sequence[Lease]
    models: Mapping[Target, ModelState]
    services: Mapping[str, ServiceLimits]
    model_limits: Mapping[Target, ModelLimits]
    durations: Mapping[str, float]


def wait_bound(service: ServiceLimits, model: ModelLimits) -> float:
    """How long a request for this target may wait: the shorter of the values set, else
    the default.
    """
    values = [v for v in (service.max_wait, model.max_wait) if v is not None]
    return min(values) if values else DEFAULT_MAX_WAIT


def service_queue_cap(limits: ServiceLimits) -> int | None:
    """The most requests that may wait for a service (``None``: no bound)."""
    if limits.max_queue is not None:
        return limits.max_queue
    return DEFAULT_MAX_QUEUE if limits.limited else None


def model_queue_cap(limits: ModelLimits) -> int | None:
    """The most requests that may wait for one model (``None``: only the service's)."""
    if limits.max_queue is not None:
        return limits.max_queue
    return DEFAULT_MAX_QUEUE if limits.max_in_flight is not None else None


def retry_after(snap: Snapshot, target: Target, request_id: str) -> float:
    """Seconds a rejected caller should wait before trying again: the time for the
    requests running and waiting on the service (other than ``request_id``) to pass
    through its slots, by how long requests have been taking there (1 s when nothing is
    known yet), at most the wait bound.
    """
    typical = snap.durations.get(target.service)
    if typical is None:
        return 1.0
    service = snap.services[target.service]
    running = sum(1 for lease in snap.leases if lease.target.service == target.service)
    queued = sum(
        1
        for ticket in snap.tickets
        if ticket.request_id != request_id
        and any(t.service == target.service for t in ticket.targets)
    )
    estimate = math.ceil(typical * (queued + running) / (service.max_in_flight or 1))
    bound = wait_bound(service, snap.model_limits[target])
    return float(max(1, min(estimate, math.ceil(bound))))


class _Work:
    """Counters for one planning pass, updated as it decides."""

    def __init__(self, snap: Snapshot) -> None:
        self.snap = snap
        self.models = dict(snap.models)
        self.per_service: Counter[str] = Counter(lease.target.service for lease in snap.leases)
        self.per_target: Counter[Target] = Counter(lease.target for lease in snap.leases)

    def status(self, target: Target) -> str:
        state = self.models.get(target)
        return "untracked" if state is None else state.status

    def needs_load(self, ticket: Ticket) -> bool:
        return all(self.status(t) == "unloaded" for t in ticket.targets)

    def can_start(self, target: Target, ticket: Ticket, draining: Mapping[Target, int]) -> bool:
        if self.status(target) not in ("loaded", "untracked"):
            return False
        if target in draining and ticket.seq > draining[target]:
            return False
        cap = self.snap.services[target.service].max_in_flight
        if cap is not None and self.per_service[target.service] >= cap:
            return False
        model_cap = self.snap.model_limits[target].max_in_flight
        return model_cap is None or self.per_target[target] < model_cap

    def start(self, target: Target, now: float) -> None:
        self.per_service[target.service] += 1
        self.per_target[target] += 1
        state = self.models.get(target)
        if state is not None:
            self.models[target] = replace(state, since=now)

    def held(self, service: str) -> list[Target]:
        return [
            t
            for t, state in self.models.items()
            if t.service == service and state.status in ("loaded", "loading")
        ]

    def has_room(self, service: str) -> bool:
        cap = self.snap.services[service].max_loaded
        return cap is None or len(self.held(service)) < cap

    def drain_victim(self, service: str) -> Target | None:
        loaded = [t for t in self.held(service) if self.status(t) == "loaded"]
        return min(loaded, key=lambda t: (self.per_target[t], self.models[t].since), default=None)

    def evictable(
        self, service: str, waiters: Counter[Target], draining: Mapping[Target, int]
    ) -> Target | None:
        idle = [
            t
            for t in self.held(service)
            if self.status(t) == "loaded"
            and self.per_target[t] == 0
            and (t in draining or waiters[t] == 0)
        ]
        return min(idle, key=lambda t: self.models[t].since, default=None)

    def load(self, target: Target, victim: Target | None, now: float) -> None:
        self.models[target] = ModelState("loading", now, requested=True)
        if victim is not None:
            self.models[victim] = ModelState("unloaded", now)


def _swap_after(snap: Snapshot, target: Target) -> float:
    service = snap.services[target.service]
    if service.swap_after is not None:
        return service.swap_after
    return wait_bound(service, snap.model_limits[target]) / 2


def _draining(live: Sequence[Ticket], work: _Work, now: float) -> dict[Target, int]:
    """The models that take no new requests, each with the arrival number of the overdue
    request it drains for (requests that came before it still start).
    """
    draining: dict[Target, int] = {}
    for ticket in live:
        if not work.needs_load(ticket):
            continue
        for target in ticket.targets:
            if now - ticket.arrived < _swap_after(work.snap, target):
                continue
            if work.has_room(target.service):
                break
            victim = work.drain_victim(target.service)
            if victim is not None:
                draining.setdefault(victim, ticket.seq)
                break
    return draining


def plan(snap: Snapshot, now: float) -> list[Decision]:
    """Everything to do now (see the module's docstring for the order)."""
    decisions: list[Decision] = []
    live: list[Ticket] = []
    for ticket in snap.tickets:
        if now >= ticket.deadline:
            wait = retry_after(snap, ticket.targets[0], ticket.request_id)
            decisions.append(Reject(ticket.request_id, "max_wait", wait, now - ticket.arrived))
        else:
            live.append(ticket)

    work = _Work(snap)
    draining = _draining(live, work, now)
    waiters: Counter[Target] = Counter(t for ticket in live for t in ticket.targets)
    for ticket in live:
        chosen = next((t for t in ticket.targets if work.can_start(t, ticket, draining)), None)
        if chosen is not None:
            decisions.append(Start(ticket.request_id, chosen, now - ticket.arrived))
            work.start(chosen, now)
            waiters.subtract(ticket.targets)
            continue
        if not work.needs_load(ticket):
            continue  # its model is loaded (wait for a slot) or loading (wait for it)
        for target in ticket.targets:
            victim = None
            if not work.has_room(target.service):
                victim = work.evictable(target.service, waiters, draining)
                if victim is None:
                    continue
            decisions.append(Load(target, () if victim is None else (victim.model,)))
            work.load(target, victim, now)
            break

    for target, state in sorted(work.models.items(), key=lambda item: str(item[0])):
        if state.status == "loading" and state.requested and waiters[target] <= 0:
            decisions.append(CancelLoad(target))
        elif _idle_until(work, target, state, waiters) <= now:
            decisions.append(Unload(target, "ttl"))
    return decisions


def _idle_until(work: _Work, target: Target, state: ModelState, waiters: Counter[Target]) -> float:
    """When a loaded model's TTL runs out (``inf``: it is busy, wanted, or has none)."""
    ttl = work.snap.model_limits.get(target, ModelLimits()).ttl
    if (
        ttl is None
        or state.status != "loaded"
        or work.per_target[target] > 0
        or waiters[target] > 0
    ):
        return math.inf
    return state.since + ttl


def next_deadline(snap: Snapshot, after: float) -> float | None:
    """The earliest time later than ``after`` at which :func:`plan` decides something new
    without an event: a waiter's deadline, the moment a waiter becomes overdue for a
    swap, a TTL.
    """
    times: list[float] = []
    work = _Work(snap)
    for ticket in snap.tickets:
        times.append(ticket.deadline)
        if work.needs_load(ticket):
            times.extend(ticket.arrived + _swap_after(snap, t) for t in ticket.targets)
    waiters: Counter[Target] = Counter(t for ticket in snap.tickets for t in ticket.targets)
    for target, state in work.models.items():
        times.append(_idle_until(work, target, state, waiters))
    later = [t for t in times if after < t < math.inf]
    return min(later) if later else None

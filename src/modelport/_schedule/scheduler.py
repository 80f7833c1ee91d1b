"""The scheduler: a state machine that takes events and answers with decisions.

It opens no socket, reads no clock and never waits: every event carries ``now`` (any
monotonic clock, in seconds), and the one driving it (the gateway, a client) carries out
the decisions and reports back. A sketch of a driver::

    decisions = scheduler.submit(request_id, targets, now=clock())
    # Start: send the request there. Wait: park the caller until a Start, Reject or
    # Fail for it comes out of a later call. Reject: answer 429 + Retry-After.
    # Load: load the model, then observe(target, "loaded") or load_failed(target).
    ...
    scheduler.finish(request_id, now=clock())        # or cancel(), when the caller left
    # and, in a timer: sleep until scheduler.next_deadline(), then tick(now=clock()).

Every method returns the decisions the event led to, possibly for other requests (a
finished request frees a slot another one takes).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

from ..errors import ConfigurationError, InvalidRequestError
from .plan import (
    Snapshot,
    model_queue_cap,
    next_deadline,
    plan,
    retry_after,
    service_queue_cap,
    wait_bound,
)
from .store import MemoryStore, ScheduleStore
from .types import (
    CancelLoad,
    Decision,
    Expired,
    Fail,
    Lease,
    LimitsSource,
    Load,
    ModelLimits,
    ModelState,
    ModelStatus,
    Reject,
    ServerHints,
    ServiceLimits,
    ServiceLoad,
    Start,
    StaticLimits,
    Target,
    Ticket,
    Unload,
    Wait,
    with_hints,
)

__all__ = ["Scheduler"]

_SMOOTHING = 0.2
"""How much one finished request moves the typical duration (an exponential average)."""


class Scheduler:
    """Limits, a FIFO queue, load waits and swap-aware order, as events and decisions.

    Args:
        limits: the configured limits (default: none; then only what servers hint
            limits anything, and requests wait only for loads).
        store: where the state lives (default: this process's memory).
        owner: this scheduler's name in a shared store (its leases and its queue).
        lease_ttl: seconds a request's slot stays held without renewal. ``tick`` renews
            this scheduler's own leases (even late ones: while it ticks, it lives), so
            only the leases of a scheduler that stopped expire.
    """

    def __init__(
        self,
        limits: LimitsSource | None = None,
        *,
        store: ScheduleStore | None = None,
        owner: str = "local",
        lease_ttl: float = 60.0,
    ) -> None:
        if not (isinstance(lease_ttl, (int, float)) and 0 < lease_ttl < math.inf):
            raise ConfigurationError(f"lease_ttl must be a positive number, not {lease_ttl!r}.")
        self.limits: LimitsSource = limits if limits is not None else StaticLimits()
        self.store: ScheduleStore = store if store is not None else MemoryStore()
        self.owner = owner
        self.lease_ttl = float(lease_ttl)
        self._hints: dict[str, ServerHints] = {}
        self._durations: dict[str, float] = {}
        self._now = -math.inf

    # ------------------------------------------------------------------ limits

    def hint(self, service: str, hints: ServerHints) -> None:
        """What ``service`` says about itself (its slots, how many models it holds):
        the defaults for whatever the configuration does not set.
        """
        self._hints[service] = hints

    def service_limits(self, service: str) -> ServiceLimits:
        """The limits in force for ``service``: configured, else hinted."""
        return with_hints(self.limits.service(service), self._hints.get(service, ServerHints()))

    def model_limits(self, target: Target) -> ModelLimits:
        """The limits in force for one model: configured, else its hinted slots."""
        configured = self.limits.model(target)
        slots = self._hints.get(target.service, ServerHints()).model_slots.get(target.model)
        if configured.max_in_flight is None and slots is not None:
            return replace(configured, max_in_flight=slots)
        return configured

    # ------------------------------------------------------------------ events

    def submit(
        self, request_id: str, targets: Target | Sequence[Target], now: float
    ) -> list[Decision]:
        """A request arrives for ``targets`` (one model, or a replica set best first).

        Returns ``Start`` for it when it can go now; else ``Wait`` (after any ``Load`` it
        needs), or ``Reject`` when every target's queue is full.

        Raises:
            InvalidRequestError: no target, or ``request_id`` is already scheduled.
        """
        wanted = tuple(dict.fromkeys([targets] if isinstance(targets, Target) else targets))
        if not wanted:
            raise InvalidRequestError(f"Request {request_id!r} has no model to run on.")
        if any(t.request_id == request_id for t in self.store.tickets(self.owner)) or any(
            lease.request_id == request_id for lease in self.store.leases()
        ):
            raise InvalidRequestError(f"Request id {request_id!r} is already scheduled.")
        self._now = max(self._now, now)
        seq = self.store.next_seq()
        ticket = self._ticket(request_id, seq, wanted, now)
        trial = plan(self._snapshot(extra=ticket), now)
        if any(isinstance(d, Start) and d.request_id == request_id for d in trial):
            return self._apply(trial, now)
        roomy = tuple(t for t in wanted if self._queue_has_room(t))
        if not roomy:
            decisions = self._apply(plan(self._snapshot(), now), now)
            wait = retry_after(self._snapshot(extra=ticket), wanted[0], request_id)
            return [*decisions, Reject(request_id, "queue_full", wait, 0.0)]
        ticket = self._ticket(request_id, seq, roomy, now)
        self.store.add_ticket(ticket)
        decisions = self._apply(plan(self._snapshot(), now), now)
        waiting = [t.request_id for t in self.store.tickets(self.owner)]
        if request_id in waiting:
            decisions.append(Wait(request_id, waiting.index(request_id) + 1, ticket.deadline))
        return decisions

    def finish(self, request_id: str, now: float) -> list[Decision]:
        """The request ended (answered, failed or cut off): its slot comes free."""
        self._now = max(self._now, now)
        lease = self.store.drop_lease(request_id)
        if lease is None:
            self.store.drop_ticket(request_id)
        else:
            self._note_duration(lease.target.service, now - lease.started)
            self._touch(lease.target, now)
        return self._apply(plan(self._snapshot(), now), now)

    def cancel(self, request_id: str, now: float) -> list[Decision]:
        """The caller left: out of the queue at once, or its slot freed; a load only it
        waited for is cancelled.
        """
        self._now = max(self._now, now)
        if self.store.drop_ticket(request_id) is None:
            lease = self.store.drop_lease(request_id)
            if lease is not None:
                self._touch(lease.target, now)
        return self._apply(plan(self._snapshot(), now), now)

    def observe(self, target: Target, status: ModelStatus, now: float) -> list[Decision]:
        """What a model's state is (a load finished, a listing said so, it was evicted)."""
        self._now = max(self._now, now)
        old = self.store.models().get(target)
        requested = status == "loading" and old is not None and old.requested
        self.store.set_models([(target, ModelState(status, now, requested))])
        return self._apply(plan(self._snapshot(), now), now)

    def load_failed(self, target: Target, now: float) -> list[Decision]:
        """Loading ``target`` failed: its waiters go to their other targets, or fail."""
        self._now = max(self._now, now)
        self.store.set_models([(target, ModelState("unloaded", now))])
        failed: list[Decision] = []
        for ticket in self.store.tickets(self.owner):
            if target not in ticket.targets:
                continue
            rest = tuple(t for t in ticket.targets if t != target)
            if rest:
                self.store.put_ticket(replace(ticket, targets=rest))
            else:
                self.store.drop_ticket(ticket.request_id)
                failed.append(Fail(ticket.request_id, target))
        return [*failed, *self._apply(plan(self._snapshot(), now), now)]

    def tick(self, now: float) -> list[Decision]:
        """Time passed: renew this scheduler's leases, expire others', reject requests
        that waited too long, unload idle models, and start whatever that allows.
        """
        self._now = max(self._now, now)
        self.store.renew_leases(self.owner, now + self.lease_ttl)
        expired = sorted(self.store.expire_leases(now), key=lambda lease: lease.started)
        decisions: list[Decision] = [Expired(lease.request_id, lease.target) for lease in expired]
        return [*decisions, *self._apply(plan(self._snapshot(), now), now)]

    # ------------------------------------------------------------------ reading

    def next_deadline(self) -> float | None:
        """When to call :meth:`tick` next, if no other event comes first (``None``:
        nothing is pending).
        """
        times = []
        planned = next_deadline(self._snapshot(), self._now)
        if planned is not None:
            times.append(planned)
        for lease in self.store.leases():
            if lease.owner == self.owner:
                times.append(lease.expires - self.lease_ttl / 2)  # renew half-way
            else:
                times.append(lease.expires)
        later = [t for t in times if t > self._now]
        return min(later) if later else None

    def waiting(self) -> list[Ticket]:
        """The requests this scheduler holds waiting, first come first."""
        return self.store.tickets(self.owner)

    def status(self, now: float) -> list[ServiceLoad]:
        """Each service's load: in flight, limit, queue, models held (for ``/health``)."""
        snap = self._snapshot()
        names = sorted(snap.services)
        result = []
        for name in names:
            limits = snap.services[name]
            held = {
                t.model: s.status
                for t, s in sorted(snap.models.items(), key=lambda item: item[0].model)
                if t.service == name
            }
            result.append(
                ServiceLoad(
                    service=name,
                    in_flight=sum(1 for lease in snap.leases if lease.target.service == name),
                    max_in_flight=limits.max_in_flight,
                    queued=sum(
                        1 for t in snap.tickets if any(x.service == name for x in t.targets)
                    ),
                    max_queue=service_queue_cap(limits),
                    max_loaded=limits.max_loaded,
                    loaded=tuple(m for m, s in held.items() if s == "loaded"),
                    loading=tuple(m for m, s in held.items() if s == "loading"),
                )
            )
        return result

    # ------------------------------------------------------------------ inside

    def _ticket(self, request_id: str, seq: int, targets: tuple[Target, ...], now: float) -> Ticket:
        bound = min(
            wait_bound(self.service_limits(t.service), self.model_limits(t)) for t in targets
        )
        return Ticket(request_id, self.owner, seq, targets, now, now + bound)

    def _queue_has_room(self, target: Target) -> bool:
        tickets = self.store.tickets(self.owner)
        service_cap = service_queue_cap(self.service_limits(target.service))
        if service_cap is not None:
            queued = sum(1 for t in tickets if any(x.service == target.service for x in t.targets))
            if queued >= service_cap:
                return False
        model_cap = model_queue_cap(self.model_limits(target))
        return model_cap is None or sum(1 for t in tickets if target in t.targets) < model_cap

    def _snapshot(self, extra: Ticket | None = None) -> Snapshot:
        tickets = self.store.tickets(self.owner)
        if extra is not None:
            tickets.append(extra)
        leases = self.store.leases()
        models = self.store.models()
        targets = {t for ticket in tickets for t in ticket.targets}
        targets.update(lease.target for lease in leases)
        targets.update(models)
        services = {t.service for t in targets} | set(self._hints)
        return Snapshot(
            tickets=tickets,
            leases=leases,
            models=models,
            services={name: self.service_limits(name) for name in services},
            model_limits={t: self.model_limits(t) for t in targets},
            durations=dict(self._durations),
        )

    def _apply(self, decisions: list[Decision], now: float) -> list[Decision]:
        """Record what the decisions change, and hand them back."""
        states: list[tuple[Target, ModelState | None]] = []
        for decision in decisions:
            match decision:
                case Start(request_id, target):
                    self.store.drop_ticket(request_id)
                    lease = Lease(request_id, self.owner, target, now, now + self.lease_ttl)
                    self.store.add_lease(lease)
                    self._touch(target, now)
                case Reject(request_id) | Fail(request_id):
                    self.store.drop_ticket(request_id)
                case Load(target, evict):
                    states.append((target, ModelState("loading", now, requested=True)))
                    states.extend(
                        (Target(target.service, m), ModelState("unloaded", now)) for m in evict
                    )
                case CancelLoad(target) | Unload(target):
                    states.append((target, ModelState("unloaded", now)))
                case Wait() | Expired():
                    pass
        self.store.set_models(states)
        return decisions

    def _touch(self, target: Target, now: float) -> None:
        state = self.store.models().get(target)
        if state is not None:
            self.store.set_models([(target, replace(state, since=now))])

    def _note_duration(self, service: str, seconds: float) -> None:
        old = self._durations.get(service)
        self._durations[service] = seconds if old is None else old + _SMOOTHING * (seconds - old)

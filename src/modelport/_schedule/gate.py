"""The gate: the pure :class:`Scheduler` driven for real, shared by threads and event loops.

A client core holds one :class:`Gate` when it schedules (a limits source was given). A
request whose targets have a limit in force (configured, or said by the server) passes
through it: :meth:`Gate.enter` returns at once with the target to use (``Start``), or
hands back a :class:`Waiter` that is woken by a later decision (a slot came free, a load
finished) or by the gate's timer (a wait ran out, a swap came due, a TTL). The caller
waits on it (``Waiter.wait`` in a thread, ``await Waiter.wait_async()`` in a loop),
leaves with :meth:`Gate.cancel` if it is cancelled, and ends with :meth:`Gate.finish`.

Loads, unloads and cancelled loads are I/O: the gate hands them to the ``act`` callback
the client gave it, which runs them its own way (a thread, a task) and reports back with
:meth:`Gate.loaded` or :meth:`Gate.load_failed`.

Everything is under one lock; the scheduler's calls are short and never wait.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from ..errors import BusyError, ModelportError, ServiceUnavailableError
from .plan import service_queue_cap
from .scheduler import Scheduler
from .types import (
    CancelLoad,
    Decision,
    Fail,
    LimitsSource,
    Load,
    ModelStatus,
    Reject,
    ServerHints,
    Start,
    Target,
    Unload,
    Wait,
)

__all__ = [
    "Gate",
    "ModelView",
    "ScheduleView",
    "ServiceView",
    "WaitRecord",
    "WaitTotals",
    "Waiter",
]

WAITS_KEPT = 1000
"""How many finished waits the gate remembers (for tests and metrics)."""

Action = Load | CancelLoad | Unload


@dataclass(frozen=True, slots=True)
class WaitRecord:
    """How long one request waited, for which model id, and how its wait ended."""

    id: str
    waited: float
    outcome: Literal["started", "rejected", "failed"]


@dataclass(frozen=True, slots=True)
class WaitTotals:
    """Every wait for one model id since the gate began (counters, for metrics): how
    many started, were rejected or failed, and the seconds they waited in all.
    """

    started: int = 0
    rejected: int = 0
    failed: int = 0
    seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class ModelView:
    """One model on one service, as ``/health`` shows it."""

    id: str
    model: str
    in_flight: int
    max_in_flight: int | None
    queued: int
    state: ModelStatus | None


@dataclass(frozen=True, slots=True)
class ServiceView:
    """One service's load, limit, queue and models."""

    name: str
    in_flight: int
    max_in_flight: int | None
    queued: int
    max_queue: int | None
    max_loaded: int | None
    loaded_models: tuple[str, ...]
    models: tuple[ModelView, ...]


@dataclass(frozen=True)
class ScheduleView:
    """A read-only snapshot of the gate: every service it knows, the last waits, how many
    loads it asked for per model id, and how many requests it admitted or queued in all.
    """

    services: tuple[ServiceView, ...]
    waits: tuple[WaitRecord, ...]
    loads: Mapping[str, int] = field(default_factory=dict)
    submitted: int = 0
    totals: Mapping[str, WaitTotals] = field(default_factory=dict)
    """Cumulative waits per model id (the ``waits`` above are only the last ones)."""

    def queued(self, model_id: str) -> int:
        """Requests waiting for ``model_id`` now."""
        return sum(m.queued for s in self.services for m in s.models if m.id == model_id)


class Waiter:
    """One request waiting for its decision; woken from any thread."""

    def __init__(self, request_id: str) -> None:
        self.request_id = request_id
        self.decision: Start | Reject | Fail | None = None
        self.error: ModelportError | None = None
        self._event = threading.Event()
        self._wakers: list[Callable[[], None]] = []

    def resolve(self, decision: Start | Reject | Fail, error: ModelportError | None = None) -> None:
        self.decision, self.error = decision, error
        self._event.set()
        for wake in self._wakers:
            wake()

    def wait(self) -> Start | Reject | Fail:
        """Block this thread until decided."""
        self._event.wait()
        assert self.decision is not None
        return self.decision

    async def wait_async(self) -> Start | Reject | Fail:
        """Await the decision in this event loop."""
        import asyncio

        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()

        def wake() -> None:
            try:
                loop.call_soon_threadsafe(_settle, future)
            except RuntimeError:  # the loop is closed: nobody awaits any more
                pass

        self._wakers.append(wake)
        if self._event.is_set():
            _settle(future)
        await future
        assert self.decision is not None
        return self.decision


def _settle(future: object) -> None:
    import asyncio

    assert isinstance(future, asyncio.Future)
    if not future.done():
        future.set_result(None)


class Gate:
    """The scheduler behind a lock, with waiters, a timer and the I/O handed out.

    Args:
        limits: the configured limits.
        act: runs a load, an unload or a cancelled load (its own way: a thread, a task).
        clock: the monotonic clock (seconds).
    """

    def __init__(
        self,
        limits: LimitsSource,
        act: Callable[[Action], None],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.scheduler = Scheduler(limits)
        self._act = act
        self._clock = clock
        self._lock = threading.RLock()
        self._waiters: dict[str, Waiter] = {}
        self._first: dict[str, Target] = {}
        self._ids = itertools.count(1)
        self._timer: threading.Timer | None = None
        self._timer_at = math.inf
        self._waits: deque[WaitRecord] = deque(maxlen=WAITS_KEPT)
        self._loads: Counter[str] = Counter()
        self._totals: dict[str, WaitTotals] = {}
        self._errors: dict[Target, ModelportError] = {}
        self._services: dict[str, None] = {}
        self._tracked: set[Target] = set()
        self.submitted = 0

    # ------------------------------------------------------------------ limits in force

    def applies(self, targets: Iterable[Target]) -> bool:
        """Whether anything can make a request for ``targets`` wait: a limit on one of
        their services or models, a TTL to keep, or a service holding few models.
        """
        with self._lock:
            for target in targets:
                if self.scheduler.service_limits(target.service).limited:
                    return True
                model = self.scheduler.model_limits(target)
                if model.max_in_flight is not None or model.ttl is not None:
                    return True
        return False

    def learn(
        self, service: str, hints: ServerHints | None, models: Mapping[str, bool | None]
    ) -> None:
        """What a listing of ``service`` said: its capacity, and which models it holds.
        Model states are taken only for models the gate does not track yet (after that,
        its own loads and unloads say), and only where the service holds few models.
        """
        with self._lock:
            self._services.setdefault(service)
            self.scheduler.hint(service, hints or ServerHints())
            if self.scheduler.service_limits(service).max_loaded is None:
                return
            now = self._clock()
            decisions: list[Decision] = []
            for model, loaded in models.items():
                target = Target(service, model)
                if loaded is None or target in self._tracked:
                    continue
                self._tracked.add(target)
                status: ModelStatus = "loaded" if loaded else "unloaded"
                decisions += self.scheduler.observe(target, status, now)
            self._dispatch(decisions)

    # ------------------------------------------------------------------ requests

    def enter(self, targets: Sequence[Target]) -> tuple[str, Start | Waiter]:
        """Submit a request for ``targets`` (best first): its id, and its ``Start`` or
        a :class:`Waiter` to wait on.

        Raises:
            BusyError: every target's queue is full.
        """
        request_id = f"r{next(self._ids)}"
        with self._lock:
            waiter = Waiter(request_id)
            self._waiters[request_id] = waiter
            self._first[request_id] = targets[0]
            self.submitted += 1
            for target in targets:
                self._services.setdefault(target.service)
            decisions = self.scheduler.submit(request_id, targets, self._clock())
            self._dispatch(decisions)
        if waiter.decision is None:
            return request_id, waiter
        return request_id, self.outcome(waiter)

    def admit(self, targets: Sequence[Target]) -> tuple[str, Target]:
        """Enter and wait in this thread: the request id and the target to use. A caller
        interrupted while it waits leaves the queue at once.
        """
        request_id, got = self.enter(targets)
        if isinstance(got, Start):
            return request_id, got.target
        try:
            got.wait()
        except BaseException:
            self.cancel(request_id)
            raise
        return request_id, self.outcome(got).target

    async def admit_async(self, targets: Sequence[Target]) -> tuple[str, Target]:
        """Enter and wait in this event loop; a cancelled caller leaves the queue at once."""
        request_id, got = self.enter(targets)
        if isinstance(got, Start):
            return request_id, got.target
        try:
            await got.wait_async()
        except BaseException:
            self.cancel(request_id)
            raise
        return request_id, self.outcome(got).target

    @staticmethod
    def outcome(waiter: Waiter) -> Start:
        """The ``Start`` of a decided request, or its error raised."""
        decision = waiter.decision
        if isinstance(decision, Start):
            return decision
        if waiter.error is not None:
            raise waiter.error
        target = decision.target if isinstance(decision, Fail) else None
        raise ServiceUnavailableError(
            f"{target} could not be loaded.", service=target.service if target else None
        )

    def cancel(self, request_id: str) -> None:
        """The caller left: out of the queue at once, or its slot freed."""
        with self._lock:
            self._waiters.pop(request_id, None)
            self._first.pop(request_id, None)
            self._dispatch(self.scheduler.cancel(request_id, self._clock()))

    def finish(self, request_id: str) -> None:
        """The request ended (answered, failed, or its stream closed)."""
        with self._lock:
            self._waiters.pop(request_id, None)
            self._first.pop(request_id, None)
            self._dispatch(self.scheduler.finish(request_id, self._clock()))

    # ------------------------------------------------------------------ loads

    def loaded(self, target: Target) -> None:
        """A load the gate asked for finished."""
        with self._lock:
            self._dispatch(self.scheduler.observe(target, "loaded", self._clock()))

    def load_failed(self, target: Target, error: ModelportError) -> None:
        """A load the gate asked for failed: its waiters go elsewhere, or get ``error``."""
        with self._lock:
            self._errors[target] = error
            try:
                self._dispatch(self.scheduler.load_failed(target, self._clock()))
            finally:
                self._errors.pop(target, None)

    # ------------------------------------------------------------------ reading

    def snapshot(
        self, listed: Mapping[str, Mapping[str, bool | None]] | None = None
    ) -> ScheduleView:
        """What the gate holds now. ``listed``: each service's models as its last listing
        said (model name -> loaded), shown for models the gate does not track.
        """
        with self._lock:
            return ScheduleView(
                services=tuple(self._views(listed or {})),
                waits=tuple(self._waits),
                loads=dict(self._loads),
                submitted=self.submitted,
                totals=dict(self._totals),
            )

    def _views(self, listed: Mapping[str, Mapping[str, bool | None]]) -> Iterable[ServiceView]:
        scheduler = self.scheduler
        leases = scheduler.store.leases()
        tickets = scheduler.waiting()
        states = scheduler.store.models()
        names = dict.fromkeys([*self._services, *listed])
        for name in names:
            limits = scheduler.service_limits(name)
            models: dict[str, ModelStatus | None] = {}
            for model, loaded in (listed.get(name) or {}).items():
                models[model] = None if loaded is None else ("loaded" if loaded else "unloaded")
            for target, state in states.items():
                if target.service == name:
                    models[target.model] = state.status
            for target in [lease.target for lease in leases] + [
                t for ticket in tickets for t in ticket.targets
            ]:
                if target.service == name:
                    models.setdefault(target.model, None)
            views = tuple(
                ModelView(
                    id=f"{name}/{model}",
                    model=model,
                    in_flight=sum(1 for lease in leases if lease.target == Target(name, model)),
                    max_in_flight=scheduler.model_limits(Target(name, model)).max_in_flight,
                    queued=sum(1 for t in tickets if t.targets[0] == Target(name, model)),
                    state=status,
                )
                for model, status in models.items()
            )
            yield ServiceView(
                name=name,
                in_flight=sum(1 for lease in leases if lease.target.service == name),
                max_in_flight=limits.max_in_flight,
                queued=sum(1 for t in tickets if any(x.service == name for x in t.targets)),
                max_queue=service_queue_cap(limits),
                max_loaded=limits.max_loaded,
                loaded_models=tuple(m.id for m in views if m.state == "loaded"),
                models=views,
            )

    def close(self) -> None:
        """Stop the timer (the client is closing)."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            self._timer, self._timer_at = None, math.inf

    # ------------------------------------------------------------------ inside

    def _busy(self, request_id: str, reject: Reject) -> BusyError:
        target = self._first.get(request_id)
        service = target.service if target is not None else None
        limits = self.scheduler.service_limits(service) if service is not None else None
        if reject.reason == "queue_full":
            cap = service_queue_cap(limits) if limits is not None else None
            message = (
                f"Every slot of {service!r} is busy and its queue is full "
                f"({cap} waiting, max_queue)."
            )
        else:
            message = (
                f"Waited {reject.waited:.1f} s for a slot on {service!r} without getting "
                "one (max_wait)."
            )
        return BusyError(
            message,
            reason=reject.reason,
            waited=reject.waited,
            retry_after=reject.retry_after,
            service=service,
            hint=f"Retry in {reject.retry_after:g} s, or raise max_queue / max_wait (or "
            "max_in_flight, if the server has more slots) in the configuration.",
        )

    def _dispatch(self, decisions: list[Decision]) -> None:
        """Carry out decisions (under the lock): wake waiters, hand out I/O, re-arm."""
        for decision in decisions:
            if isinstance(decision, (Start, Reject, Fail)):
                self._record(decision)
                waiter = self._waiters.get(decision.request_id)
                if waiter is not None and waiter.decision is None:
                    error = (
                        self._errors.get(decision.target) if isinstance(decision, Fail) else None
                    )
                    if isinstance(decision, Reject):
                        waiter.resolve(decision, self._busy(decision.request_id, decision))
                    else:
                        waiter.resolve(decision, error)
                if not isinstance(decision, Start):
                    self._waiters.pop(decision.request_id, None)
                    self._first.pop(decision.request_id, None)
            elif isinstance(decision, Load):
                self._loads[str(decision.target)] += 1
                self._tracked.add(decision.target)
                self._act(decision)
            elif isinstance(decision, (CancelLoad, Unload)):
                self._act(decision)
            elif isinstance(decision, Wait):
                pass
        self._arm()

    def _record(self, decision: Start | Reject | Fail) -> None:
        record: WaitRecord
        if isinstance(decision, Start):
            record = WaitRecord(str(decision.target), decision.waited, "started")
        elif isinstance(decision, Reject):
            first = self._first.get(decision.request_id)
            where = str(first) if first is not None else "?"
            record = WaitRecord(where, decision.waited, "rejected")
        else:
            record = WaitRecord(str(decision.target), 0.0, "failed")
        self._waits.append(record)
        old = self._totals.get(record.id, WaitTotals())
        self._totals[record.id] = WaitTotals(
            started=old.started + (record.outcome == "started"),
            rejected=old.rejected + (record.outcome == "rejected"),
            failed=old.failed + (record.outcome == "failed"),
            seconds=old.seconds + record.waited,
        )

    def _arm(self) -> None:
        """Set the timer for the scheduler's next deadline (nothing polls)."""
        deadline = self.scheduler.next_deadline()
        if deadline is None:
            if self._timer is not None:
                self._timer.cancel()
            self._timer, self._timer_at = None, math.inf
            return
        if self._timer is not None and self._timer_at <= deadline:
            return
        if self._timer is not None:
            self._timer.cancel()
        delay = max(0.0, deadline - self._clock())
        timer = threading.Timer(delay + 0.001, self._tick)
        timer.daemon = True
        self._timer, self._timer_at = timer, deadline
        timer.start()

    def _tick(self) -> None:
        with self._lock:
            self._timer, self._timer_at = None, math.inf
            self._dispatch(self.scheduler.tick(self._clock()))

"""The scheduler's invariants over random traces (hypothesis).

A simulated service runs what the scheduler starts, finishes loads it asks for, and
lets time pass. After every event:

- never more requests in flight than the limit, on the service and on each model;
- nobody waits past max_wait: a waiter is started or rejected by then;
- requests for the same model start in the order they arrived (FIFO among equals);
- no model is swapped out (evicted or unloaded) while a request on it runs, and never
  more models held than the service holds;
- a request starts only on a loaded model;
- in the end every caller got an answer: started, rejected or failed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelport._schedule import (
    CancelLoad,
    Decision,
    Expired,
    Fail,
    Load,
    ModelLimits,
    Reject,
    Scheduler,
    ServiceLimits,
    Start,
    StaticLimits,
    Target,
    Unload,
    Wait,
)

MODELS = ("a", "b", "c")


@dataclass
class World:
    scheduler: Scheduler
    service: ServiceLimits
    model_limit: int | None
    now: float = 0.0
    seq: int = 0
    arrived: dict[str, tuple[int, float, str]] = field(default_factory=dict)
    running: dict[str, str] = field(default_factory=dict)
    waiting: set[str] = field(default_factory=set)
    answered: set[str] = field(default_factory=set)
    states: dict[str, str] = field(default_factory=dict)
    last_start: dict[str, int] = field(default_factory=dict)

    def apply(self, decisions: list[Decision]) -> None:
        for decision in decisions:
            match decision:
                case Start(request_id, target, waited):
                    assert self.states.get(target.model, "loaded") == "loaded", decision
                    seq, arrived, _ = self.arrived[request_id]
                    assert seq > self.last_start.get(target.model, -1), "FIFO among equals"
                    self.last_start[target.model] = seq
                    assert waited == self.now - arrived
                    assert waited < self.wait_limit or waited == 0
                    self.waiting.discard(request_id)
                    self.running[request_id] = target.model
                    self.answered.add(request_id)
                case Wait(request_id):
                    self.waiting.add(request_id)
                case Reject(request_id) | Fail(request_id):
                    self.waiting.discard(request_id)
                    self.answered.add(request_id)
                case Load(target, evict):
                    for victim in evict:
                        assert victim not in self.running.values(), "swap under a request"
                        self.states[victim] = "unloaded"
                    assert self.states.get(target.model) == "unloaded"
                    self.states[target.model] = "loading"
                case CancelLoad(target):
                    assert self.states[target.model] == "loading"
                    self.states[target.model] = "unloaded"
                case Unload(target):
                    assert target.model not in self.running.values(), "unload under a request"
                    self.states[target.model] = "unloaded"
                case Expired():
                    raise AssertionError("a live gateway's lease expired")
        self.check()

    @property
    def wait_limit(self) -> float:
        assert self.service.max_wait is not None
        return self.service.max_wait

    def check(self) -> None:
        cap = self.service.max_in_flight
        assert cap is None or len(self.running) <= cap
        if self.model_limit is not None:
            for model in MODELS:
                assert list(self.running.values()).count(model) <= self.model_limit
        held = [m for m, state in self.states.items() if state in ("loaded", "loading")]
        if self.service.max_loaded is not None:
            assert len(held) <= self.service.max_loaded
        for ticket in self.scheduler.waiting():
            assert self.now - ticket.arrived < self.wait_limit, "waited past max_wait"
        assert {t.request_id for t in self.scheduler.waiting()} == self.waiting


events = st.lists(
    st.tuples(
        st.sampled_from(["submit", "submit", "finish", "cancel", "load", "tick"]),
        st.integers(min_value=0, max_value=50),
        st.sampled_from([0.0, 0.5, 1.0, 3.0, 7.0]),
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    max_in_flight=st.one_of(st.none(), st.integers(1, 3)),
    max_loaded=st.one_of(st.none(), st.integers(1, 2)),
    max_queue=st.integers(1, 8),
    max_wait=st.sampled_from([5.0, 12.0, 40.0]),
    swap_after=st.sampled_from([1.0, 4.0, 100.0]),
    model_limit=st.one_of(st.none(), st.integers(1, 2)),
    ttl=st.one_of(st.none(), st.sampled_from([2.0, 9.0])),
    trace=events,
)
def test_the_scheduler_keeps_its_invariants_on_any_trace(
    max_in_flight: int | None,
    max_loaded: int | None,
    max_queue: int,
    max_wait: float,
    swap_after: float,
    model_limit: int | None,
    ttl: float | None,
    trace: list[tuple[str, int, float]],
) -> None:
    service = ServiceLimits(
        max_in_flight=max_in_flight,
        max_queue=max_queue,
        max_wait=max_wait,
        max_loaded=max_loaded,
        swap_after=swap_after,
    )
    model = ModelLimits(max_in_flight=model_limit, ttl=ttl)
    limits = StaticLimits(services={"s": service}, models={Target("s", m): model for m in MODELS})
    world = World(Scheduler(limits, lease_ttl=1e6), service, model_limit)
    for name in MODELS:
        world.states[name] = "unloaded"
        world.scheduler.observe(Target("s", name), "unloaded", now=0.0)

    for kind, pick, dt in trace:
        world.now += dt
        if kind == "submit":
            request_id = f"r{world.seq}"
            name = MODELS[pick % len(MODELS)]
            world.arrived[request_id] = (world.seq, world.now, name)
            world.seq += 1
            world.apply(world.scheduler.submit(request_id, Target("s", name), now=world.now))
        elif kind == "finish" and world.running:
            request_id = sorted(world.running)[pick % len(world.running)]
            del world.running[request_id]
            world.apply(world.scheduler.finish(request_id, now=world.now))
        elif kind == "cancel" and (world.running or world.waiting):
            request_id = sorted([*world.running, *world.waiting])[
                pick % (len(world.running) + len(world.waiting))
            ]
            world.running.pop(request_id, None)
            world.waiting.discard(request_id)
            world.answered.add(request_id)
            world.apply(world.scheduler.cancel(request_id, now=world.now))
        elif kind == "load":
            loading = sorted(m for m, state in world.states.items() if state == "loading")
            if loading:
                name = loading[pick % len(loading)]
                world.states[name] = "loaded"
                world.apply(world.scheduler.observe(Target("s", name), "loaded", now=world.now))
        else:
            world.apply(world.scheduler.tick(now=world.now))

    # Drain: everything running finishes, every load completes, time runs out.
    for _ in range(len(world.arrived) + 5):
        for request_id in sorted(world.running):
            del world.running[request_id]
            world.apply(world.scheduler.finish(request_id, now=world.now))
        for name in sorted(m for m, state in world.states.items() if state == "loading"):
            world.states[name] = "loaded"
            world.apply(world.scheduler.observe(Target("s", name), "loaded", now=world.now))
        world.now += max_wait / 3
        world.apply(world.scheduler.tick(now=world.now))
    assert world.scheduler.waiting() == []
    assert world.answered == set(world.arrived)

"""The scheduler as a pure state machine: events in, decisions out, time passed in.

Every test drives :class:`Scheduler` with explicit times; nothing sleeps, nothing opens
a socket. ``T(...)`` is a target (service, model).
"""

from __future__ import annotations

import pytest

from modelport._schedule import (
    CancelLoad,
    Decision,
    Expired,
    Fail,
    Load,
    MemoryStore,
    ModelLimits,
    Reject,
    Scheduler,
    ServerHints,
    ServiceLimits,
    Start,
    StaticLimits,
    Target,
    Unload,
    Wait,
)
from modelport.errors import InvalidRequestError

T = Target
GPU = "gpu"
A, B, C = T(GPU, "a"), T(GPU, "b"), T(GPU, "c")


def started(decisions: list[Decision]) -> list[str]:
    return [d.request_id for d in decisions if isinstance(d, Start)]


def rejected(decisions: list[Decision]) -> list[Reject]:
    return [d for d in decisions if isinstance(d, Reject)]


def loads(decisions: list[Decision]) -> list[Load]:
    return [d for d in decisions if isinstance(d, Load)]


def one_service(**limits: object) -> Scheduler:
    return Scheduler(StaticLimits(services={GPU: ServiceLimits(**limits)}))  # type: ignore[arg-type]


# --------------------------------------------------------------------------- limits


def test_without_limits_every_request_starts_at_once() -> None:
    scheduler = Scheduler()
    for n in range(200):
        decisions = scheduler.submit(f"r{n}", A, now=0.0)
        assert decisions == [Start(f"r{n}", A, waited=0.0)]
    assert scheduler.status(now=0.0)[0].in_flight == 200


def test_requests_over_max_in_flight_wait_and_start_in_arrival_order() -> None:
    scheduler = one_service(max_in_flight=2)
    assert started(scheduler.submit("r1", A, now=0.0)) == ["r1"]
    assert started(scheduler.submit("r2", A, now=0.1)) == ["r2"]
    third = scheduler.submit("r3", A, now=0.2)
    assert third == [Wait("r3", position=1, deadline=pytest.approx(0.2 + 120.0))]
    assert scheduler.submit("r4", A, now=0.3)[0] == Wait("r4", 2, deadline=pytest.approx(120.3))
    assert started(scheduler.finish("r2", now=1.0)) == ["r3"]
    assert scheduler.finish("r3", now=2.0) == [Start("r4", A, waited=pytest.approx(1.7))]


def test_a_model_at_its_limit_does_not_hold_back_other_models() -> None:
    limits = StaticLimits(
        services={GPU: ServiceLimits(max_in_flight=4)},
        models={A: ModelLimits(max_in_flight=1)},
    )
    scheduler = Scheduler(limits)
    assert started(scheduler.submit("a1", A, now=0)) == ["a1"]
    assert isinstance(scheduler.submit("a2", A, now=1)[0], Wait)
    assert started(scheduler.submit("b1", B, now=2)) == ["b1"]
    assert started(scheduler.finish("a1", now=3)) == ["a2"]


def test_model_limit_applies_to_a_model_on_a_service_without_its_own_limit() -> None:
    scheduler = Scheduler(StaticLimits(models={A: ModelLimits(max_in_flight=1, max_wait=5)}))
    assert started(scheduler.submit("a1", A, now=0)) == ["a1"]
    assert scheduler.submit("a2", A, now=0) == [Wait("a2", position=1, deadline=5.0)]


def test_a_full_queue_rejects_with_a_retry_after() -> None:
    scheduler = one_service(max_in_flight=1, max_queue=2)
    scheduler.submit("r1", A, now=0)
    scheduler.submit("r2", A, now=0)
    scheduler.submit("r3", A, now=0)
    decisions = scheduler.submit("r4", A, now=0)
    assert decisions == [Reject("r4", "queue_full", retry_after=1.0, waited=0.0)]
    assert [t.request_id for t in scheduler.waiting()] == ["r2", "r3"]


def test_retry_after_follows_how_long_requests_have_been_taking() -> None:
    scheduler = one_service(max_in_flight=1, max_queue=1)
    scheduler.submit("r1", A, now=0)
    scheduler.finish("r1", now=8)  # one request took 8 s
    scheduler.submit("r2", A, now=10)
    scheduler.submit("r3", A, now=10)
    [reject] = rejected(scheduler.submit("r4", A, now=10))
    assert reject.retry_after == 16.0  # one running and one waiting ahead, one slot


def test_the_default_queue_bound_applies_only_where_a_limit_exists() -> None:
    scheduler = Scheduler()  # no limit anywhere: requests wait only for the load
    scheduler.observe(A, "unloaded", now=0)
    for n in range(100):
        assert isinstance(scheduler.submit(f"r{n}", A, now=0)[-1], Wait)
    assert len(started(scheduler.observe(A, "loaded", now=1))) == 100


def test_an_explicit_queue_bound_applies_even_without_a_limit() -> None:
    scheduler = one_service(max_queue=1)
    scheduler.observe(A, "unloaded", now=0)
    scheduler.submit("r1", A, now=0)
    assert rejected(scheduler.submit("r2", A, now=0))[0].reason == "queue_full"


def test_a_model_queue_bound_rejects_only_that_model() -> None:
    limits = StaticLimits(
        services={GPU: ServiceLimits(max_in_flight=1)},
        models={A: ModelLimits(max_queue=1)},
    )
    scheduler = Scheduler(limits)
    scheduler.submit("a1", A, now=0)
    scheduler.submit("a2", A, now=0)
    assert rejected(scheduler.submit("a3", A, now=0))[0].reason == "queue_full"
    assert isinstance(scheduler.submit("b1", B, now=0)[0], Wait)


# --------------------------------------------------------------------------- max wait


def test_a_waiter_past_max_wait_is_rejected_when_time_passes() -> None:
    scheduler = one_service(max_in_flight=1, max_wait=10)
    scheduler.submit("r1", A, now=0)
    scheduler.submit("r2", A, now=1)
    assert scheduler.tick(now=10.9) == []
    assert scheduler.tick(now=11.0) == [Reject("r2", "max_wait", retry_after=1.0, waited=10.0)]
    assert scheduler.waiting() == []


def test_next_deadline_is_the_earliest_time_something_changes() -> None:
    scheduler = one_service(max_in_flight=1, max_wait=10)
    assert scheduler.next_deadline() is None
    scheduler.submit("r1", A, now=0)
    scheduler.submit("r2", A, now=3)
    scheduler.submit("r3", A, now=4)
    deadline = scheduler.next_deadline()
    assert deadline is not None and deadline <= 13.0


def test_the_shortest_max_wait_of_service_and_model_applies() -> None:
    limits = StaticLimits(
        services={GPU: ServiceLimits(max_in_flight=1, max_wait=30)},
        models={A: ModelLimits(max_wait=5)},
    )
    scheduler = Scheduler(limits)
    scheduler.submit("r1", A, now=0)
    assert scheduler.submit("r2", A, now=0) == [Wait("r2", position=1, deadline=5.0)]


# --------------------------------------------------------------------------- cancellation


def test_a_cancelled_waiter_leaves_the_queue_at_once() -> None:
    scheduler = one_service(max_in_flight=1)
    scheduler.submit("r1", A, now=0)
    scheduler.submit("r2", A, now=0)
    scheduler.submit("r3", A, now=0)
    assert scheduler.cancel("r2", now=1) == []
    assert [t.request_id for t in scheduler.waiting()] == ["r3"]
    assert started(scheduler.finish("r1", now=2)) == ["r3"]


def test_cancelling_a_running_request_frees_its_slot() -> None:
    scheduler = one_service(max_in_flight=1)
    scheduler.submit("r1", A, now=0)
    scheduler.submit("r2", A, now=0)
    assert started(scheduler.cancel("r1", now=1)) == ["r2"]


def test_finish_and_cancel_of_unknown_requests_change_nothing() -> None:
    scheduler = one_service(max_in_flight=1)
    scheduler.submit("r1", A, now=0)
    assert scheduler.finish("nope", now=1) == []
    assert scheduler.cancel("nope", now=1) == []
    scheduler.finish("r1", now=2)
    assert scheduler.finish("r1", now=3) == []  # twice is harmless


def test_a_request_id_in_use_is_refused() -> None:
    scheduler = Scheduler()
    scheduler.submit("r1", A, now=0)
    with pytest.raises(InvalidRequestError, match="r1"):
        scheduler.submit("r1", A, now=0)


# --------------------------------------------------------------------------- loading


def test_a_request_for_an_unloaded_model_loads_it_then_starts() -> None:
    scheduler = one_service()
    scheduler.observe(A, "unloaded", now=0)
    decisions = scheduler.submit("r1", A, now=1)
    assert decisions == [Load(A, evict=()), Wait("r1", position=1, deadline=121.0)]
    assert scheduler.observe(A, "loaded", now=5) == [Start("r1", A, waited=4.0)]


def test_requests_arriving_while_their_model_loads_wait_for_the_load() -> None:
    scheduler = one_service()
    scheduler.observe(A, "unloaded", now=0)
    scheduler.submit("r1", A, now=0)
    assert loads(scheduler.submit("r2", A, now=1)) == []  # one load, not two
    assert started(scheduler.observe(A, "loaded", now=2)) == ["r1", "r2"]


def test_a_model_loading_elsewhere_is_waited_for_too() -> None:
    scheduler = one_service()
    scheduler.observe(A, "loading", now=0)
    assert isinstance(scheduler.submit("r1", A, now=0)[0], Wait)
    assert started(scheduler.observe(A, "loaded", now=1)) == ["r1"]


def test_waiting_for_a_load_is_bounded_by_max_wait() -> None:
    scheduler = one_service(max_wait=20)
    scheduler.observe(A, "unloaded", now=0)
    scheduler.submit("r1", A, now=0)
    decisions = scheduler.tick(now=20)
    assert [d.request_id for d in rejected(decisions)] == ["r1"]
    assert CancelLoad(A) in decisions  # nobody waits for it any more


def test_cancelling_the_only_waiter_of_a_load_cancels_the_load() -> None:
    scheduler = one_service()
    scheduler.observe(A, "unloaded", now=0)
    scheduler.submit("r1", A, now=0)
    assert scheduler.cancel("r1", now=1) == [CancelLoad(A)]
    # The model is unloaded again: the next request loads it anew.
    assert loads(scheduler.submit("r2", A, now=2)) == [Load(A, evict=())]


def test_cancelling_one_of_two_waiters_keeps_the_load() -> None:
    scheduler = one_service()
    scheduler.observe(A, "unloaded", now=0)
    scheduler.submit("r1", A, now=0)
    scheduler.submit("r2", A, now=0)
    assert scheduler.cancel("r1", now=1) == []
    assert started(scheduler.observe(A, "loaded", now=2)) == ["r2"]


def test_a_load_the_scheduler_did_not_ask_for_is_never_cancelled() -> None:
    scheduler = one_service()
    scheduler.observe(A, "loading", now=0)
    scheduler.submit("r1", A, now=0)
    assert scheduler.cancel("r1", now=1) == []


def test_a_failed_load_fails_the_requests_waiting_for_it() -> None:
    scheduler = one_service()
    scheduler.observe(A, "unloaded", now=0)
    scheduler.submit("r1", A, now=0)
    scheduler.submit("r2", A, now=0)
    assert scheduler.load_failed(A, now=1) == [Fail("r1", A), Fail("r2", A)]
    assert scheduler.waiting() == []


def test_a_failed_load_sends_replica_waiters_to_the_next_replica() -> None:
    other = T("cpu", "a")
    scheduler = one_service()
    scheduler.observe(A, "unloaded", now=0)
    scheduler.observe(other, "unloaded", now=0)
    assert loads(scheduler.submit("r1", [A, other], now=0)) == [Load(A, evict=())]
    assert loads(scheduler.load_failed(A, now=1)) == [Load(other, evict=())]
    assert started(scheduler.observe(other, "loaded", now=2)) == ["r1"]


# --------------------------------------------------------------------------- swaps


def test_a_swap_waits_until_the_running_requests_of_the_loaded_model_finish() -> None:
    scheduler = one_service(max_loaded=1)
    scheduler.observe(A, "loaded", now=0)
    scheduler.observe(B, "unloaded", now=0)
    scheduler.submit("a1", A, now=0)
    scheduler.submit("a2", A, now=0)
    assert loads(scheduler.submit("b1", B, now=1)) == []
    assert loads(scheduler.finish("a1", now=2)) == []  # a2 still runs
    assert scheduler.finish("a2", now=3) == [Load(B, evict=("a",))]
    assert started(scheduler.observe(B, "loaded", now=4)) == ["b1"]


def test_trace_a_b_a_a_c_on_a_one_model_service_runs_a_a_a_b_c_with_three_loads() -> None:
    """llama-swap #612: each request arrives while the previous one runs."""
    scheduler = one_service(max_in_flight=1, max_loaded=1, max_wait=600)
    for target in (A, B, C):
        scheduler.observe(target, "unloaded", now=0)
    order: list[str] = []
    load_count = 0

    def run(decisions: list[Decision]) -> None:
        nonlocal load_count
        order.extend(started(decisions))
        load_count += len(loads(decisions))

    run(scheduler.submit("A1", A, now=0))
    run(scheduler.observe(A, "loaded", now=1))
    run(scheduler.submit("B1", B, now=2))
    run(scheduler.submit("A2", A, now=3))
    run(scheduler.submit("A3", A, now=4))
    run(scheduler.submit("C1", C, now=5))
    now = 6.0
    while len(order) < 5:
        running = order[-1]
        decisions = scheduler.finish(running, now=now)
        run(decisions)
        for load in loads(decisions):
            now += 1
            run(scheduler.observe(load.target, "loaded", now=now))
        now += 1
    assert order == ["A1", "A2", "A3", "B1", "C1"]
    assert load_count == 3


def test_after_swap_after_the_loaded_model_stops_taking_new_requests() -> None:
    scheduler = one_service(max_in_flight=4, max_loaded=1, max_wait=100, swap_after=10)
    scheduler.observe(A, "loaded", now=0)
    scheduler.observe(B, "unloaded", now=0)
    scheduler.submit("a1", A, now=0)
    scheduler.submit("b1", B, now=1)
    assert started(scheduler.submit("a2", A, now=5)) == ["a2"]  # favoured: b1 waited 4 s
    assert scheduler.tick(now=11) == []  # b1 is overdue: A drains
    assert isinstance(scheduler.submit("a3", A, now=12)[0], Wait)
    scheduler.finish("a1", now=13)
    assert scheduler.finish("a2", now=14) == [Load(B, evict=("a",))]
    assert started(scheduler.observe(B, "loaded", now=15)) == ["b1"]


def test_requests_older_than_the_overdue_swap_still_go_first() -> None:
    scheduler = one_service(max_in_flight=1, max_loaded=1, max_wait=100, swap_after=10)
    scheduler.observe(A, "loaded", now=0)
    scheduler.observe(B, "unloaded", now=0)
    scheduler.submit("a1", A, now=0)
    scheduler.submit("a2", A, now=1)  # older than b1
    scheduler.submit("b1", B, now=2)
    scheduler.submit("a3", A, now=3)
    scheduler.tick(now=20)
    assert started(scheduler.finish("a1", now=21)) == ["a2"]
    assert scheduler.finish("a2", now=22) == [Load(B, evict=("a",))]


def test_a_service_with_room_loads_a_second_model_beside_the_first() -> None:
    scheduler = one_service(max_loaded=2)
    scheduler.observe(A, "loaded", now=0)
    scheduler.observe(B, "unloaded", now=0)
    scheduler.submit("a1", A, now=0)
    assert loads(scheduler.submit("b1", B, now=1)) == [Load(B, evict=())]


def test_the_least_recently_used_idle_model_is_the_one_evicted() -> None:
    scheduler = one_service(max_loaded=2)
    scheduler.observe(A, "loaded", now=0)
    scheduler.observe(B, "loaded", now=0)
    scheduler.observe(C, "unloaded", now=0)
    scheduler.submit("b1", B, now=1)
    scheduler.finish("b1", now=2)
    scheduler.submit("a1", A, now=3)
    scheduler.finish("a1", now=4)
    assert loads(scheduler.submit("c1", C, now=5)) == [Load(C, evict=("b",))]


# --------------------------------------------------------------------------- replicas


def test_a_replica_set_starts_on_the_first_replica_with_a_free_slot() -> None:
    cpu = T("cpu", "a")
    limits = StaticLimits(
        services={GPU: ServiceLimits(max_in_flight=1), "cpu": ServiceLimits(max_in_flight=1)}
    )
    scheduler = Scheduler(limits)
    assert scheduler.submit("r1", [A, cpu], now=0) == [Start("r1", A, waited=0.0)]
    assert scheduler.submit("r2", [A, cpu], now=0) == [Start("r2", cpu, waited=0.0)]
    assert isinstance(scheduler.submit("r3", [A, cpu], now=0)[0], Wait)
    assert scheduler.finish("r2", now=1) == [Start("r3", cpu, waited=1.0)]


# --------------------------------------------------------------------------- ttl


def test_an_idle_model_is_unloaded_after_its_ttl() -> None:
    scheduler = Scheduler(StaticLimits(models={A: ModelLimits(ttl=60)}))
    scheduler.observe(A, "loaded", now=0)
    scheduler.submit("r1", A, now=10)
    assert scheduler.tick(now=100) == []  # still running
    scheduler.finish("r1", now=110)
    assert scheduler.next_deadline() == 170.0
    assert scheduler.tick(now=169) == []
    assert scheduler.tick(now=170) == [Unload(A, reason="ttl")]
    assert loads(scheduler.submit("r2", A, now=171)) == [Load(A, evict=())]


def test_a_model_with_waiters_is_not_unloaded_by_its_ttl() -> None:
    limits = StaticLimits(models={A: ModelLimits(ttl=5, max_in_flight=1, max_wait=100)})
    scheduler = Scheduler(limits)
    scheduler.observe(A, "loaded", now=0)
    scheduler.submit("r1", A, now=0)
    scheduler.submit("r2", A, now=0)
    scheduler.finish("r1", now=1)
    assert scheduler.tick(now=50) == []


# --------------------------------------------------------------------------- leases


def test_the_slots_of_a_gateway_that_stopped_free_when_their_leases_expire() -> None:
    store = MemoryStore()
    limits = StaticLimits(services={GPU: ServiceLimits(max_in_flight=1)})
    crashed = Scheduler(limits, store=store, owner="gw1", lease_ttl=30)
    alive = Scheduler(limits, store=store, owner="gw2", lease_ttl=30)
    crashed.submit("x", A, now=0)
    assert isinstance(alive.submit("y", A, now=1)[0], Wait)  # one cap for both
    alive.tick(now=20)
    decisions = alive.tick(now=31)
    assert decisions == [Expired("x", A), Start("y", A, waited=30.0)]


def test_a_running_gateway_renews_its_own_leases() -> None:
    store = MemoryStore()
    limits = StaticLimits(services={GPU: ServiceLimits(max_in_flight=1, max_wait=1000)})
    scheduler = Scheduler(limits, store=store, lease_ttl=30)
    scheduler.submit("r1", A, now=0)
    scheduler.submit("r2", A, now=0)
    deadline = scheduler.next_deadline()
    assert deadline is not None and deadline <= 15
    for now in range(15, 200, 15):
        assert scheduler.tick(now=float(now)) == []
    assert started(scheduler.finish("r1", now=200)) == ["r2"]


# --------------------------------------------------------------------------- hints, status


def test_server_hints_are_the_defaults_and_configuration_overrides_them() -> None:
    scheduler = Scheduler()
    scheduler.hint(GPU, ServerHints(max_in_flight=1))
    scheduler.submit("r1", A, now=0)
    assert isinstance(scheduler.submit("r2", A, now=0)[0], Wait)

    configured = Scheduler(StaticLimits(services={GPU: ServiceLimits(max_in_flight=3)}))
    configured.hint(GPU, ServerHints(max_in_flight=1))
    for n in range(3):
        assert started(configured.submit(f"r{n}", A, now=0)) == [f"r{n}"]


def test_a_model_hint_limits_that_model() -> None:
    scheduler = Scheduler()
    scheduler.hint(GPU, ServerHints(model_slots={"a": 1}))
    scheduler.submit("a1", A, now=0)
    assert isinstance(scheduler.submit("a2", A, now=0)[0], Wait)
    assert started(scheduler.submit("b1", B, now=0)) == ["b1"]


def test_status_shows_in_flight_limit_queue_and_loaded_models() -> None:
    scheduler = one_service(max_in_flight=1, max_loaded=1)
    scheduler.observe(A, "loaded", now=0)
    scheduler.observe(B, "unloaded", now=0)
    scheduler.submit("a1", A, now=0)
    scheduler.submit("a2", A, now=0)
    scheduler.submit("b1", B, now=0)
    [status] = scheduler.status(now=1)
    assert (status.service, status.in_flight, status.max_in_flight) == (GPU, 1, 1)
    assert (status.queued, status.max_queue, status.max_loaded) == (2, 64, 1)
    assert (status.loaded, status.loading) == (("a",), ())


def test_twenty_callers_against_two_slots_each_get_a_start_or_a_429_by_max_wait() -> None:
    """A scripted backend that takes 3 s per request: it never runs more than two, and
    every caller is started or rejected (with a retry-after) by its max_wait."""
    scheduler = one_service(max_in_flight=2, max_wait=10)
    running: dict[str, float] = {}  # request -> when it ends
    answers: dict[str, Decision] = {}
    most = 0

    def run(decisions: list[Decision], now: float) -> None:
        nonlocal most
        for decision in decisions:
            if isinstance(decision, Start):
                running[decision.request_id] = now + 3
                answers[decision.request_id] = decision
            elif isinstance(decision, Reject):
                answers[decision.request_id] = decision
        most = max(most, len(running))

    for n in range(20):
        run(scheduler.submit(f"c{n}", A, now=0.0), 0.0)
    now = 0.0
    while len(answers) < 20:
        next_end = min(running.values(), default=float("inf"))
        deadline = scheduler.next_deadline() or float("inf")
        now = min(next_end, deadline)
        for request_id in [r for r, end in running.items() if end <= now]:
            del running[request_id]
            run(scheduler.finish(request_id, now=now), now)
        run(scheduler.tick(now=now), now)
    starts = [d for d in answers.values() if isinstance(d, Start)]
    rejects = [d for d in answers.values() if isinstance(d, Reject)]
    assert most == 2
    assert len(starts) + len(rejects) == 20 and len(starts) == 8
    assert all(d.waited < 10 for d in starts)
    assert all(d.reason == "max_wait" and d.waited == 10 and d.retry_after >= 1 for d in rejects)

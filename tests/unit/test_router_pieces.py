"""Each piece of ``modelport._router`` on its own: Health, ModelLists, Names, InFlight,
Failover, the capability ordering, and the Router that composes them. No I/O: states
hold providers that are never called, failover flows are driven by hand.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

import pytest

from modelport import (
    AllServicesFailedError,
    Capabilities,
    CapabilityError,
    InvalidRequestError,
    ModelInfo,
    ModelNotFoundError,
    ModelportError,
    OpenAICompatibleProvider,
    Service,
    ServiceStatus,
    ServiceUnavailableError,
    StreamError,
)
from modelport._flow import Flow
from modelport._http.ops import Sleep
from modelport._http.retry import RetryPolicy
from modelport._router import (
    NO_SERVER_HINT,
    Failover,
    Health,
    InFlight,
    ModelLists,
    Names,
    Router,
    ServiceState,
    Target,
    capability_warnings,
    prefer_capable,
    replica_id,
)
from modelport._router.health import error_summary
from modelport.errors import ServerError
from modelport.providers import LlamaCppProvider, OllamaProvider
from modelport.types import ProviderKind

T = TypeVar("T")


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def state(
    name: str, kind: ProviderKind = "openai", models: Sequence[str] | None = None
) -> ServiceState:
    """A service named ``name`` of ``kind``; ``models``: its cached list (``None``: not listed)."""
    provider = {
        "openai": OpenAICompatibleProvider,
        "ollama": OllamaProvider,
        "llamacpp": LlamaCppProvider,
    }[kind]("http://127.0.0.1:9", name=name)
    listed = None if models is None else [info(name, m, kind) for m in models]
    return ServiceState(provider, models=listed)


def info(
    service: str,
    name: str,
    kind: ProviderKind = "openai",
    *,
    loaded: bool | None = None,
    capabilities: Capabilities | None = None,
    details: dict[str, object] | None = None,
) -> ModelInfo:
    return ModelInfo(
        id=f"{service}/{name}",
        name=name,
        service=service,
        kind=kind,
        loaded=loaded,
        capabilities=capabilities or Capabilities(),
        details=details or {},
    )


def drive(flow: Flow[T]) -> tuple[T, list[object]]:
    """Run a flow to its end, answering every step with ``None``: its result and steps."""
    steps: list[object] = []
    try:
        step = next(flow)
        while True:
            steps.append(step)
            step = flow.send(None)
    except StopIteration as stop:
        return stop.value, steps


def answers(*outcomes: ModelportError | str) -> tuple[Callable[[Target], Flow[str]], list[str]]:
    """An attempt flow giving ``outcomes`` in turn (an error is raised), and the
    services it was asked at, in order."""
    asked: list[str] = []
    left = list(outcomes)

    def attempt(target: Target) -> Flow[str]:
        asked.append(target.state.name)
        outcome = left.pop(0)
        if isinstance(outcome, ModelportError):
            raise outcome
        return outcome
        yield  # a generator

    return attempt, asked


# ---------------------------------------------------------------------------- Health


def test_health_counts_failures_degraded_then_unavailable_at_the_threshold() -> None:
    clock = Clock(7.0)
    health = Health(failure_threshold=2, clock=clock)
    a = state("a")
    health.record_failure(a, ServerError("boom", status_code=500))
    assert (a.status, a.failures, a.unavailable_since) == (ServiceStatus.DEGRADED, 1, None)
    assert a.last_error == "boom"
    assert not a.unreachable
    health.record_failure(a, ServiceUnavailableError("refused"))
    assert (a.status, a.failures, a.unavailable_since) == (ServiceStatus.UNAVAILABLE, 2, 7.0)
    assert a.unreachable


def test_health_ignores_a_callers_mistake_but_counts_a_broken_stream() -> None:
    health = Health()
    a = state("a")
    health.record_failure(a, InvalidRequestError("bad request"))
    assert (a.status, a.failures) == (ServiceStatus.AVAILABLE, 0)
    health.record_failure(a, StreamError("cut off"))
    assert (a.status, a.failures) == (ServiceStatus.DEGRADED, 1)


def test_health_success_clears_failures_and_the_reports_status() -> None:
    health = Health(failure_threshold=1)
    a = state("a")
    health.record_health(
        a, Service("a", "openai", "http://127.0.0.1:9", status=ServiceStatus.DEGRADED, error="x")
    )
    health.record_failure(a, ServerError("boom"))
    health.record_success(a)
    assert (a.status, a.failures, a.unavailable_since, a.last_error) == (
        ServiceStatus.AVAILABLE,
        0,
        None,
        None,
    )
    assert a.service is not None
    assert (a.service.status, a.service.error) == (ServiceStatus.AVAILABLE, None)


def test_health_probe_clears_failures_to_reach_but_not_failed_requests() -> None:
    health = Health()
    unreachable, erring = state("a"), state("b")
    health.record_failure(unreachable, ServiceUnavailableError("refused"))
    health.record_failure(erring, ServerError("boom"))
    health.record_probe(unreachable)
    health.record_probe(erring)
    assert (unreachable.status, unreachable.failures) == (ServiceStatus.AVAILABLE, 0)
    assert not unreachable.unreachable
    assert (erring.status, erring.failures) == (ServiceStatus.DEGRADED, 1)


def test_health_unreachable_at_first_probe_is_unavailable_at_once() -> None:
    health = Health(failure_threshold=3, clock=Clock(4.0))
    a = state("a")
    health.record_unreachable(a, "Could not reach it")
    assert (a.status, a.failures, a.unavailable_since) == (ServiceStatus.UNAVAILABLE, 3, 4.0)
    assert (a.last_error, a.unreachable) == ("Could not reach it", True)


def test_health_record_health_keeps_the_last_report() -> None:
    health = Health()
    a = state("a")
    report = Service("a", "openai", "http://127.0.0.1:9", version="1.2")
    health.record_health(a, report)
    assert a.service is report


def test_health_an_unavailable_service_is_usable_again_after_its_cooldown() -> None:
    clock = Clock(0.0)
    health = Health(failure_threshold=1, cooldown=30.0, clock=clock)
    a = state("a")
    assert health.usable(a)
    health.record_failure(a, ServerError("boom"))
    clock.now = 29.0
    assert not health.usable(a)
    clock.now = 30.0
    assert health.usable(a)


def test_health_unavailable_error_names_the_service_and_the_wait_left() -> None:
    clock = Clock(0.0)
    health = Health(failure_threshold=1, cooldown=30.0, clock=clock)
    a = state("a")
    health.record_failure(a, ServerError("boom"))
    clock.now = 10.0
    error = health.unavailable_error(a)
    assert isinstance(error, ServiceUnavailableError)
    assert error.service == "a"
    assert "'a'" in str(error)
    assert "(last failure: boom)" in str(error)
    assert "tried again in 20 s" in str(error)


def test_error_summary_gives_the_class_and_status_never_the_message() -> None:
    assert error_summary(ServerError("secret prompt", status_code=502)) == "ServerError (502)"
    assert error_summary(StreamError("secret prompt")) == "StreamError"


# ---------------------------------------------------------------------------- ModelLists


def test_lists_a_listed_model_list_is_cached_for_its_ttl() -> None:
    clock = Clock(100.0)
    lists = ModelLists(ttl=30.0, clock=clock)
    a = state("a")
    assert lists.cached(a) is None
    models = [info("a", "m")]
    lists.listed(a, models)
    assert (a.models, a.models_at) == (models, 100.0)
    clock.now = 129.0
    assert lists.cached(a) is models
    clock.now = 130.0
    assert lists.cached(a) is None


def test_lists_a_stale_list_is_no_longer_served() -> None:
    lists = ModelLists(ttl=30.0, clock=Clock(0.0))
    a = state("a")
    lists.listed(a, [info("a", "m")])
    lists.stale(a)
    assert lists.cached(a) is None
    assert a.models is not None  # still known, for names and suggestions


def test_lists_after_waiting_a_caller_takes_the_list_another_fetched() -> None:
    clock = Clock(0.0)
    lists = ModelLists(ttl=30.0, clock=clock)
    a = state("a")
    seen_at = a.models_at
    fetched = [info("a", "m")]
    clock.now = 1.0
    lists.listed(a, fetched)  # another caller's refresh, while this one waited
    assert lists.after_wait(a, refresh=True, seen_at=seen_at) is fetched


def test_lists_after_waiting_with_nothing_new_only_a_plain_read_uses_the_cache() -> None:
    lists = ModelLists(ttl=30.0, clock=Clock(0.0))
    a = state("a")
    cached = [info("a", "m")]
    lists.listed(a, cached)
    seen_at = a.models_at
    assert lists.after_wait(a, refresh=True, seen_at=seen_at) is None
    assert lists.after_wait(a, refresh=False, seen_at=seen_at) is cached


# ---------------------------------------------------------------------------- Names


def test_names_a_bare_name_may_be_answered_by_every_service() -> None:
    states = [state("a"), state("b")]
    assert Names(states).pool("m") == (states, "m")


def test_names_a_prefix_picks_a_service_by_name_else_by_kind() -> None:
    a, box, other = state("a"), state("box", "ollama"), state("c", "ollama")
    names = Names([a, box, other])
    assert names.pool("box/m") == ([box], "m")
    assert names.pool("ollama/m") == ([box, other], "m")
    assert names.pool("org/m") == ([a, box, other], "org/m")  # a model id with a slash


def test_names_see_services_added_to_the_shared_list_later() -> None:
    states: list[ServiceState] = []
    names = Names(states)
    late = state("late")
    states.append(late)
    assert names.pool("late/m") == ([late], "m")


def test_names_targets_without_services_say_how_to_start_one() -> None:
    with pytest.raises(ServiceUnavailableError) as caught:
        Names([]).targets("m")
    assert caught.value.hint == NO_SERVER_HINT


def test_names_a_single_service_is_used_without_its_list() -> None:
    a = state("a")
    assert Names([a]).targets("m") == [Target(a, "m")]
    with pytest.raises(ModelNotFoundError):
        Names([a]).targets("m", require_listed=True)


def test_names_targets_of_several_services_are_those_listing_it_best_first() -> None:
    a, b, c = state("a", models=["m"]), state("b", models=["m"]), state("c", models=["n"])
    b.models = [info("b", "m", loaded=True)]
    a.in_flight = 1
    targets = Names([a, b, c]).targets("M")  # names match without case
    assert [(t.state.name, t.model) for t in targets] == [("b", "m"), ("a", "m")]


def test_names_ranked_loaded_then_healthy_then_least_busy_then_configured_order() -> None:
    a, b, c, d = (state(n, models=["m"]) for n in "abcd")
    names = Names([a, b, c, d])
    b.status = ServiceStatus.DEGRADED
    c.in_flight = 2
    d.models = [info("d", "m", loaded=True)]
    found = [Target(s, "m", (s.models or [])[0]) for s in (c, b, a, d)]
    assert [t.state.name for t in names.ranked(found)] == ["d", "a", "c", "b"]


def test_names_not_found_says_where_it_looked_and_what_is_close() -> None:
    a, b = state("a", models=["llama3.2"]), state("b")
    with pytest.raises(ModelNotFoundError) as caught:
        Names([a, b]).targets("llama3")
    assert "(looked in a)" in str(caught.value)
    assert caught.value.suggestions == ["llama3.2"]
    error = Names([a, b]).not_found("x", [b])
    assert "(looked in any reachable service)" in str(error)


def test_names_find_accepts_ollamas_tag_and_llama_cpps_file_name_or_alias() -> None:
    names = Names([])
    ollama = state("o", "ollama", models=["llama3.2:latest"])
    assert names.find(ollama, "llama3.2") is (ollama.models or [])[0]
    llama = state("l", "llamacpp")
    by_file = info("l", "/models/Qwen3-8B.gguf", "llamacpp")
    by_alias = info("l", "other", "llamacpp", details={"aliases": ["qwen"]})
    llama.models = [by_file, by_alias]
    assert names.find(llama, "qwen3-8b") is by_file
    assert names.find(llama, "qwen") is by_alias
    assert names.find(llama, "gemma") is None
    assert names.find(state("x"), "m") is None  # no list


def test_names_replicas_follow_the_alias_and_keep_an_unlisted_named_service() -> None:
    a, b, c = state("a", models=["m"]), state("b", models=["m", "n"]), state("c")
    names = Names([a, b, c])
    replicas = names.replicas(["n", "m", "c/x", "b/m"])
    assert [(t.state.name, t.model) for t in replicas] == [
        ("b", "n"),
        ("a", "m"),
        ("b", "m"),
        ("c", "x"),
    ]
    listed = names.replicas(["n", "c/x"], listed_only=True)
    assert [(t.state.name, t.model) for t in listed] == [("b", "n")]


def test_names_alias_model_shows_the_best_replica_under_the_alias() -> None:
    a, b = state("a", models=["m"]), state("b", models=["n"])
    b.models = [info("b", "n", loaded=True)]
    names = Names([a, b])
    alias = names.alias_model("fast", ["m", "n"])
    assert alias is not None
    assert (alias.id, alias.name, alias.service, alias.loaded) == ("fast", "fast", "b", True)
    assert alias.alias_of == ("a/m", "b/n")
    assert names.alias_model("none", ["zzz"]) is None


def test_names_alias_not_found_suggests_from_the_alias_targets_pools() -> None:
    a = state("a", models=["llama3.2"])
    error = Names([a]).alias_not_found("fast", ["llama3"])
    assert error.model == "fast"
    assert "alias 'fast' stands for (llama3)" in str(error)
    assert error.suggestions == ["llama3.2"]


def test_replica_id_is_the_listings_id_else_service_slash_model() -> None:
    a = state("a", models=["m"])
    assert replica_id(Target(a, "m", info("a", "m"))) == "a/m"
    assert replica_id(Target(a, "x")) == "a/x"


# ---------------------------------------------------------------------------- InFlight


def test_in_flight_counts_per_service_and_per_model_and_never_below_zero() -> None:
    in_flight = InFlight()
    a = state("a")
    in_flight.hold(a, "m")
    in_flight.hold(a, "m")
    in_flight.hold(a)
    assert (a.in_flight, a.model_in_flight) == (3, {"m": 2})
    in_flight.release(a, "m")
    in_flight.release(a, "m")
    assert (a.in_flight, a.model_in_flight) == (1, {})
    in_flight.release(a)
    in_flight.release(a)
    assert a.in_flight == 0


# ---------------------------------------------------------------------------- Failover


def failover(
    max_retries: int = 0, *, health: Health | None = None
) -> tuple[Failover, Health, InFlight]:
    health = health or Health(failure_threshold=1, cooldown=30.0, clock=Clock(0.0))
    in_flight = InFlight()
    policy = RetryPolicy(max_retries=max_retries, rand=lambda: 1.0)
    return Failover(policy, health, in_flight), health, in_flight


def test_failover_returns_the_first_answer_and_releases_its_request() -> None:
    run, _, _ = failover()
    a, b = state("a"), state("b")
    attempt, asked = answers("from a")
    (target, result), steps = drive(run.run([Target(a, "m"), Target(b, "m")], attempt))
    assert (target.state, result, asked, steps) == (a, "from a", ["a"], [])
    assert (a.in_flight, a.model_in_flight) == (0, {})


def test_failover_counts_an_attempt_in_flight_while_it_runs_and_keep_holds_it() -> None:
    run, _, in_flight = failover()
    a = state("a")
    seen: list[int] = []

    def attempt(target: Target) -> Flow[str]:
        seen.append(target.state.in_flight)
        return "ok"
        yield

    drive(run.run([Target(a, "m")], attempt, keep=True))
    assert seen == [1]
    assert (a.in_flight, a.model_in_flight) == (1, {"m": 1})
    in_flight.release(a, "m")
    assert a.in_flight == 0


def test_failover_retries_after_a_sleep_step_then_moves_on() -> None:
    run, _, _ = failover(max_retries=1, health=Health(failure_threshold=5))
    a, b = state("a"), state("b")
    attempt, asked = answers(ServerError("1"), ServerError("2"), "from b")
    (target, result), steps = drive(run.run([Target(a, "m"), Target(b, "m")], attempt))
    assert (target.state, result) == (b, "from b")
    assert asked == ["a", "a", "b"]
    assert steps == [Sleep(0.25)]  # the policy's delay, full jitter at its ceiling
    assert (a.status, a.failures) == (ServiceStatus.DEGRADED, 2)


def test_failover_raises_a_callers_mistake_at_once() -> None:
    run, _, _ = failover()
    a, b = state("a"), state("b")
    attempt, asked = answers(InvalidRequestError("bad"))
    with pytest.raises(InvalidRequestError):
        drive(run.run([Target(a, "m"), Target(b, "m")], attempt))
    assert asked == ["a"]
    assert a.in_flight == 0


def test_failover_moves_on_from_a_stale_list_without_hurting_health() -> None:
    run, _, _ = failover()
    a, b = state("a"), state("b")
    attempt, asked = answers(ModelNotFoundError("gone"), "from b")
    (target, _), _ = drive(run.run([Target(a, "m"), Target(b, "m")], attempt))
    assert (target.state, asked) == (b, ["a", "b"])
    assert a.status is ServiceStatus.AVAILABLE


def test_failover_raises_the_first_refusal_when_every_replica_lacks_the_capability() -> None:
    run, _, _ = failover()
    first, second = CapabilityError("no tools"), CapabilityError("no tools either")
    attempt, _ = answers(first, second)
    with pytest.raises(CapabilityError) as caught:
        drive(run.run([Target(state("a"), "m"), Target(state("b"), "m")], attempt))
    assert caught.value is first


def test_failover_when_all_fail_counts_the_tried_and_the_skipped() -> None:
    run, health, _ = failover()
    a, b, c = state("a"), state("b"), state("c")
    health.record_failure(c, ServerError("down"))  # cooling down: skipped
    attempt, asked = answers(ServerError("1"), ServerError("2"))
    with pytest.raises(AllServicesFailedError) as caught:
        drive(run.run([Target(a, "m"), Target(b, "m"), Target(c, "m")], attempt))
    assert asked == ["a", "b"]
    assert "(2 tried, 1 skipped in its cool-down)" in str(caught.value)
    assert [type(e) for e in caught.value.errors] == [
        ServerError,
        ServerError,
        ServiceUnavailableError,
    ]


def test_failover_a_single_targets_error_is_raised_as_itself() -> None:
    run, _, _ = failover()
    error = ServerError("boom")
    attempt, _ = answers(error)
    with pytest.raises(ServerError) as caught:
        drive(run.run([Target(state("a"), "m")], attempt))
    assert caught.value is error


def test_failover_tells_observers_of_each_failure_and_each_failover() -> None:
    run, _, _ = failover()
    told: list[tuple[str, ...]] = []

    class Observer:
        def attempt_failed(self, service: str, model: str, error: ModelportError) -> None:
            told.append(("failed", service, model, type(error).__name__))

        def failed_over(self, service: str, model: str) -> None:
            told.append(("over", service, model))

    run.observers.append(Observer())
    attempt, _ = answers(ServerError("boom"), "ok")
    drive(run.run([Target(state("a"), "m"), Target(state("b"), "n")], attempt))
    assert told == [("failed", "a", "m", "ServerError"), ("over", "a", "n")]


def test_failover_in_turn_tries_all_cooling_services_longest_down_first() -> None:
    clock = Clock(0.0)
    run, health, _ = failover(health=Health(failure_threshold=1, clock=clock))
    a, b = state("a"), state("b")
    targets = [Target(a, "m"), Target(b, "m")]
    assert run.in_turn(targets) == (targets, False)
    clock.now = 5.0
    health.record_failure(b, ServerError("down"))
    assert run.in_turn(targets) == (targets, False)  # a can be tried: b is skipped
    clock.now = 6.0
    health.record_failure(a, ServerError("down"))
    assert run.in_turn(targets) == ([targets[1], targets[0]], True)


# ---------------------------------------------------------------------------- capabilities


def capable(name: str, **flags: bool | None) -> Target:
    s = state(name)
    return Target(s, "m", info(name, "m", capabilities=Capabilities(**flags)))


def test_prefer_capable_puts_the_capable_first_the_silent_next_the_lacking_last() -> None:
    lacks, silent, has = (
        capable("lacks", tools=False),
        capable("silent"),
        capable("has", tools=True),
    )
    unlisted = Target(state("unlisted"), "m")
    ordered = prefer_capable([lacks, silent, unlisted, has], ["tools"])
    assert [t.state.name for t in ordered] == ["has", "silent", "unlisted", "lacks"]
    assert prefer_capable([lacks, has], []) == [lacks, has]


def test_capability_warnings_name_each_feature_the_model_is_said_to_lack() -> None:
    target = capable("a", vision=False, tools=True, thinking=None)
    (warning,) = capability_warnings(target, ["tools", "vision", "thinking"])
    assert "not to support images (vision)" in warning
    assert capability_warnings(Target(state("b"), "m"), ["vision"]) == ()


# ---------------------------------------------------------------------------- Router


def test_router_pieces_share_its_services_observers_and_clock() -> None:
    router = Router(RetryPolicy(), failure_threshold=1, cooldown=10.0, models_ttl=5.0)
    a = state("a")
    router.states.append(a)
    assert router.names.pool("a/m") == ([a], "m")
    assert router.failover.observers is router.observers
    assert router.failover.health is router.health
    clock = Clock(100.0)
    router.clock = clock
    assert router.clock is clock
    router.lists.listed(a, [info("a", "m")])
    assert a.models_at == 100.0
    router.health.record_failure(a, ServerError("boom"))
    assert a.unavailable_since == 100.0
    clock.now = 104.0
    assert router.lists.cached(a) is not None
    assert not router.health.usable(a)


def test_router_report_gives_the_worse_status_and_the_requests_in_flight() -> None:
    router = Router(RetryPolicy())
    a = state("a")
    assert router.report(a) == Service("a", "openai", "http://127.0.0.1:9")
    router.health.record_health(
        a, Service("a", "openai", "http://127.0.0.1:9", status=ServiceStatus.DEGRADED, error="x")
    )
    router.in_flight.hold(a)
    report = router.report(a)
    assert (report.status, report.error, report.in_flight) == (ServiceStatus.DEGRADED, "x", 1)
    router.health.record_failure(a, ServerError("boom"))
    router.health.record_failure(a, ServerError("boom"))
    router.health.record_failure(a, ServerError("boom"))
    report = router.report(a)
    assert (report.status, report.error) == (ServiceStatus.UNAVAILABLE, "boom")

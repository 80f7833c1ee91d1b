"""The scheduler driven by the clients: limits, the FIFO queue, cancellation, leases held
for a whole stream, the typed error beyond the queue's bounds, loads, swaps and TTL.

The backend is :class:`SlotProvider` (in memory, no sockets). Nothing here asserts on
elapsed time: waits are generous, and what is checked is what the backend saw and what
the scheduler recorded.
"""

from __future__ import annotations

import asyncio
import threading

import httpx
import pytest

import modelport
from modelport import RateLimitError
from modelport._schedule import ModelLimits, ServiceLimits, StaticLimits, Target
from modelport.errors import BusyError

from .llamacpp_router_fake import plain, recorded, router
from .schedule_fakes import SlotProvider

pytestmark = pytest.mark.anyio

PATIENT = 30.0
"""How long a test waits for something that should happen soon (never asserted on)."""


def limits(name: str = "slots", **service: object) -> StaticLimits:
    return StaticLimits(services={name: ServiceLimits(**service)})  # type: ignore[arg-type]


async def until(condition: object, timeout: float = PATIENT) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not condition():  # type: ignore[operator]
        if loop.time() > end:
            raise AssertionError("the condition did not come true")
        await asyncio.sleep(0.005)


# --------------------------------------------------------------------------- limits and FIFO


async def test_async_client_runs_at_most_max_in_flight_requests_at_once() -> None:
    backend = SlotProvider(hold=0.05)
    async with modelport.AsyncClient(services=[backend], _limits=limits(max_in_flight=2)) as client:
        replies = await asyncio.gather(*(client.chat("m", f"q{n}") for n in range(10)))
    assert len(replies) == 10
    assert backend.peak == 2
    assert len(backend.started) == 10


async def test_waiting_requests_start_first_come_first_served() -> None:
    backend = SlotProvider(hold=0.02)
    async with modelport.AsyncClient(services=[backend], _limits=limits(max_in_flight=1)) as client:
        tasks = []
        for n in range(6):
            tasks.append(asyncio.ensure_future(client.chat("m", f"q{n}")))
            await asyncio.sleep(0)  # each submitted before the next
            await until(lambda n=n: client._schedule_snapshot().submitted >= n + 1)
        await asyncio.gather(*tasks)
    assert backend.started == [f"m:q{n}" for n in range(6)]


def test_sync_client_from_many_threads_never_exceeds_max_in_flight() -> None:
    backend = SlotProvider(hold=0.02)
    client = modelport.Client(services=[backend], _limits=limits(max_in_flight=2))
    errors: list[BaseException] = []

    def ask(n: int) -> None:
        try:
            client.chat("m", f"q{n}")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=ask, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(PATIENT)
    assert errors == []
    assert backend.peak == 2
    assert len(backend.started) == 8


async def test_a_cancelled_caller_leaves_the_queue_at_once() -> None:
    backend = SlotProvider(hold=5.0)
    async with modelport.AsyncClient(services=[backend], _limits=limits(max_in_flight=1)) as client:
        running = asyncio.ensure_future(client.chat("m", "first"))
        await until(lambda: backend.running == 1)
        waiting = asyncio.ensure_future(client.chat("m", "second"))
        await until(lambda: client._schedule_snapshot().services[0].queued == 1)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert client._schedule_snapshot().services[0].queued == 0
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        assert client._schedule_snapshot().services[0].in_flight == 0
    assert backend.started == ["m:first"]


async def test_a_stream_holds_its_slot_until_it_is_closed() -> None:
    backend = SlotProvider(hold=0.0)
    async with modelport.AsyncClient(services=[backend], _limits=limits(max_in_flight=1)) as client:
        stream = client.chat_stream("m", "long")
        chunks = stream.__aiter__()
        await chunks.__anext__()
        assert client._schedule_snapshot().services[0].in_flight == 1
        second = asyncio.ensure_future(client.chat("m", "next"))
        await until(lambda: client._schedule_snapshot().services[0].queued == 1)
        assert backend.started == ["m:long"]
        await stream.aclose()
        await asyncio.wait_for(second, PATIENT)
    assert backend.started == ["m:long", "m:next"]


# --------------------------------------------------------------------------- beyond the bounds


async def test_a_full_queue_raises_busy_error_a_rate_limit_error_with_retry_after() -> None:
    backend = SlotProvider(hold=5.0)
    async with modelport.AsyncClient(
        services=[backend], _limits=limits(max_in_flight=1, max_queue=0)
    ) as client:
        running = asyncio.ensure_future(client.chat("m", "first"))
        await until(lambda: backend.running == 1)
        with pytest.raises(BusyError) as caught:
            await client.chat("m", "second")
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
    error = caught.value
    assert isinstance(error, RateLimitError)
    assert error.reason == "queue_full"
    assert error.retry_after is not None and error.retry_after >= 1
    assert error.service == "slots"
    assert "max_queue" in str(error)


async def test_a_request_waiting_past_max_wait_raises_busy_error() -> None:
    backend = SlotProvider(hold=60.0)
    async with modelport.AsyncClient(
        services=[backend], _limits=limits(max_in_flight=1, max_wait=0.05)
    ) as client:
        running = asyncio.ensure_future(client.chat("m", "first"))
        await until(lambda: backend.running == 1)
        with pytest.raises(BusyError) as caught:
            await asyncio.wait_for(client.chat("m", "second"), PATIENT)
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        waits = client._schedule_snapshot().waits
    assert caught.value.reason == "max_wait"
    assert [w.outcome for w in waits] == ["started", "rejected"]
    assert waits[1].waited >= 0.05
    totals = client._schedule_snapshot().totals["slots/m"]
    assert (totals.started, totals.rejected, totals.failed) == (1, 1, 0)
    assert totals.seconds >= 0.05


def test_sync_client_raises_busy_error_past_max_wait() -> None:
    backend = SlotProvider(hold=0.5)
    client = modelport.Client(services=[backend], _limits=limits(max_in_flight=1, max_wait=0.05))
    first = threading.Thread(target=client.chat, args=("m", "first"))
    first.start()
    for _ in range(int(PATIENT / 0.005)):
        if backend.running:
            break
        threading.Event().wait(0.005)
    with pytest.raises(BusyError):
        client.chat("m", "second")
    first.join(PATIENT)


# --------------------------------------------------------------------------- zero overhead


async def test_without_the_limits_hook_there_is_no_scheduler_on_the_path() -> None:
    async with modelport.AsyncClient(services=[SlotProvider()]) as client:
        await client.chat("m", "hi")
        assert client._schedule_snapshot() is None


async def test_with_the_hook_but_no_limit_said_or_set_nothing_is_scheduled() -> None:
    backend = SlotProvider(hold=0.01)
    async with modelport.AsyncClient(services=[backend], _limits=StaticLimits()) as client:
        await asyncio.gather(*(client.chat("m", f"q{n}") for n in range(5)))
        snapshot = client._schedule_snapshot()
    assert backend.peak == 5
    assert snapshot is not None and snapshot.submitted == 0


# --------------------------------------------------------------------------- what servers say


def _one_model(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"object": "list", "data": [{"id": "smol.gguf"}]})


def test_llamacpp_total_slots_from_props_become_the_services_limit() -> None:
    fake = plain().on("GET", "/v1/models", _one_model)
    client = modelport.Client(services=[fake.provider()], _limits=StaticLimits())
    client.models()
    snapshot = client._schedule_snapshot()
    assert snapshot is not None
    assert snapshot.services[0].max_in_flight == 4  # plain_props.json: "total_slots": 4


def test_a_llamacpp_router_gives_max_loaded_and_each_loaded_models_slots() -> None:
    client = modelport.Client(
        services=[router("v1_models_alpha_loaded.json").provider()], _limits=StaticLimits()
    )
    client.models()
    snapshot = client._schedule_snapshot()
    assert snapshot is not None
    service = snapshot.services[0]
    assert service.max_in_flight is None  # a router has no slots of its own
    assert service.max_loaded == 1  # props_router.json: "max_instances": 1
    models = {m.model: m for m in service.models}
    assert (models["alpha"].max_in_flight, models["alpha"].state) == (4, "loaded")
    assert models["beta"].state == "unloaded"
    assert service.loaded_models == ("llamacpp/alpha",)


def test_a_chat_to_a_single_llamacpp_service_first_learns_its_slots() -> None:
    fake = plain().on("GET", "/v1/models", _one_model)
    fake.on("POST", "/v1/chat/completions", recorded("chat_alpha_ok.json"))
    client = modelport.Client(services=[fake.provider()], _limits=StaticLimits())
    client.chat("smol.gguf", "hi")
    assert "GET /props" in fake.paths()
    snapshot = client._schedule_snapshot()
    assert snapshot is not None and snapshot.submitted == 1


# --------------------------------------------------------------------------- loads and swaps


def swap_limits(**model: object) -> StaticLimits:
    return StaticLimits(
        services={"slots": ServiceLimits(max_loaded=1, max_wait=PATIENT)},
        models={
            Target("slots", name): ModelLimits(**model)  # type: ignore[arg-type]
            for name in ("a", "b", "c")
        },
    )


async def test_trace_a_b_a_a_c_on_a_one_model_service_loads_three_times_not_five() -> None:
    backend = SlotProvider(["a", "b", "c"], loaded=["a"], hold=0.2)
    async with modelport.AsyncClient(services=[backend], _limits=swap_limits()) as client:
        tasks = []
        for n, model in enumerate("abaac"):
            tasks.append(asyncio.ensure_future(client.chat(model, f"q{n}")))
            await until(lambda n=n: client._schedule_snapshot().submitted >= n + 1)
        await asyncio.wait_for(asyncio.gather(*tasks), PATIENT)
        snapshot = client._schedule_snapshot()
    assert [s.split(":")[0] for s in backend.started] == ["a", "a", "a", "b", "c"]
    assert backend.load_calls == ["b", "c"]  # with a already loaded: three loads in all
    assert snapshot.loads == {"slots/b": 1, "slots/c": 1}


async def test_no_swap_while_a_request_of_the_loaded_model_runs() -> None:
    backend = SlotProvider(["a", "b"], loaded=["a"], hold=0.3)
    async with modelport.AsyncClient(services=[backend], _limits=swap_limits()) as client:
        first = asyncio.ensure_future(client.chat("a", "long"))
        await until(lambda: backend.running == 1)
        second = asyncio.ensure_future(client.chat("b", "other"))
        await until(lambda: client._schedule_snapshot().submitted == 2)
        assert backend.load_calls == []  # a still runs
        await asyncio.wait_for(asyncio.gather(first, second), PATIENT)
    assert backend.load_calls == ["b"]
    assert backend.started == ["a:long", "b:other"]


async def test_a_load_whose_only_waiter_cancels_is_cancelled() -> None:
    backend = SlotProvider(["a", "b"], loaded=[], load_time=60.0)
    async with modelport.AsyncClient(services=[backend], _limits=swap_limits()) as client:
        waiting = asyncio.ensure_future(client.chat("b", "q"))
        await until(lambda: backend.load_calls == ["b"])
        waiting.cancel()
        await asyncio.gather(waiting, return_exceptions=True)
        await until(lambda: backend.unload_calls == ["b"])
    assert backend.started == []


async def test_a_model_idle_for_its_ttl_is_unloaded() -> None:
    backend = SlotProvider(["a"], loaded=["a"], hold=0.0)
    async with modelport.AsyncClient(services=[backend], _limits=swap_limits(ttl=0.05)) as client:
        await client.chat("a", "q")
        await until(lambda: backend.unload_calls == ["a"])


def test_modelport_serve_builds_a_client_that_schedules() -> None:
    from modelport.cli._serve import make_client

    client = make_client(["http://127.0.0.1:9"], None, "gateway-id")
    assert client._schedule_snapshot() is not None


def test_lm_studio_parallel_predictions_become_each_loaded_models_limit() -> None:
    from .lmstudio_fake import lmstudio_04

    client = modelport.Client(services=[lmstudio_04().provider()], _limits=StaticLimits())
    client.models()
    snapshot = client._schedule_snapshot()
    assert snapshot is not None
    models = {m.model: m for m in snapshot.services[0].models}
    # api_v1_models.json: gemma has one loaded instance with "parallel": 4
    assert models["google/gemma-4-26b-a4b"].max_in_flight == 4
    assert models["deepseek-r1"].max_in_flight is None  # not loaded: nothing said


ONE_SLOT_CONFIG = (
    '[services.slots]\nurl = "http://127.0.0.1:9"\nmax_in_flight = 1\nmax_wait = "50ms"\n'
)
"""One slot and a 50 ms wait for the service ``slots`` (SlotProvider's name)."""


def _second_caller_is_refused_after_max_wait(
    client: modelport.Client, backend: SlotProvider
) -> None:
    """While one chat holds the only slot, a second waits max_wait, then BusyError."""
    first = threading.Thread(target=client.chat, args=("m", "first"))
    first.start()
    for _ in range(int(PATIENT / 0.005)):
        if backend.running:
            break
        threading.Event().wait(0.005)
    with pytest.raises(BusyError) as caught:
        client.chat("m", "second")
    first.join(PATIENT)
    assert caught.value.reason == "max_wait"
    assert backend.peak == 1


def test_limits_from_a_configuration_file_are_enforced() -> None:
    from modelport._schedule.config_limits import limits_from_config
    from modelport.config import parse_config

    config = parse_config(ONE_SLOT_CONFIG, environ={})
    backend = SlotProvider(hold=0.5)
    client = modelport.Client(services=[backend], _limits=limits_from_config(config))
    _second_caller_is_refused_after_max_wait(client, backend)


def test_a_client_whose_configuration_sets_limits_schedules_by_them() -> None:
    from modelport.config import parse_config

    config = parse_config(ONE_SLOT_CONFIG, environ={})
    backend = SlotProvider(hold=0.5)
    client = modelport.Client(services=[backend], config=config)  # no private hook
    _second_caller_is_refused_after_max_wait(client, backend)


async def test_a_configuration_without_limits_puts_no_scheduler_on_the_path() -> None:
    from modelport.config import parse_config

    config = parse_config('[aliases]\nsmall = "m"\n', environ={})
    async with modelport.AsyncClient(services=[SlotProvider()], config=config) as client:
        await client.chat("m", "hi")
        assert client._schedule_snapshot() is None


async def test_a_swap_waiting_longer_than_swap_after_goes_before_later_requests() -> None:
    backend = SlotProvider(["a", "b"], loaded=["a"], hold=2.0)
    limits = StaticLimits(
        services={"slots": ServiceLimits(max_loaded=1, max_wait=PATIENT, swap_after=0.05)}
    )
    async with modelport.AsyncClient(services=[backend], _limits=limits) as client:
        first = asyncio.ensure_future(client.chat("a", "first"))
        await until(lambda: backend.running == 1)
        swap = asyncio.ensure_future(client.chat("b", "swap"))
        await until(lambda: client._schedule_snapshot().submitted == 2)
        await asyncio.sleep(0.2)  # the swap has now waited past swap_after
        later = asyncio.ensure_future(client.chat("a", "later"))
        await asyncio.wait_for(asyncio.gather(first, swap, later), PATIENT)
    assert backend.started == ["a:first", "b:swap", "a:later"]
    assert backend.load_calls == ["b", "a"]

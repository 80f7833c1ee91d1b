"""modelport.client: the sync and async drivers of the client's flows.

Routing and failover decisions are tested in test_routing.py; this file checks what
the two drivers themselves promise: the same answers from both twins, streams and
pulls that close what they opened however far they were read, requests in flight
counted until they end, and constructor options that are explicit and checked.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Iterator
from typing import Any

import pytest

import modelport
from modelport import ConfigurationError, ProtocolError, PullProgress
from modelport._core import ClientCore
from modelport._http.ops import ItemOp, emit, sleep
from modelport._streams import StreamItem
from modelport._wire.common import ChatRequest
from modelport.testing import FakeProvider


class Pulling(FakeProvider):
    """A fake that can pull: three progress steps."""

    can_pull = True

    def _op_pull(self, model: str) -> ItemOp[PullProgress]:
        for status in ("pulling manifest", "downloading", "success"):
            yield from emit(PullProgress(status=status))


class Closing(FakeProvider):
    """A fake whose streams record whether they were closed."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.closed: list[str] = []

    def _op_chat_stream(self, req: ChatRequest) -> ItemOp[StreamItem]:
        try:
            yield from super()._op_chat_stream(req)
        finally:
            self.closed.append(req.model)


class Silent(FakeProvider):
    """A fake whose stream ends before it produced anything."""

    def _op_chat_stream(self, req: ChatRequest) -> ItemOp[StreamItem]:
        yield from sleep(0)


def _public(cls: type) -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(member)
        for name, member in vars(cls).items()
        if not name.startswith("_") and callable(member)
    }


# ---------------------------------------------------------------------------- both twins


def test_both_twins_give_the_same_answers() -> None:
    def fakes() -> list[Any]:
        return [Pulling(models=["m"], reply="the same", name="a")]

    client = modelport.Client(services=fakes())
    sync = (
        client.chat("m", "hi").text,
        [c.text for c in client.chat_stream("m", "hi")],
        client.embed("m", ["x", "yy"]).vectors,
        [m.id for m in client.models()],
        client.model_info("m").name,
        [s.name for s in client.services()],
        [p.status for p in client.pull("m")],
    )

    async def run() -> tuple[Any, ...]:
        async with modelport.AsyncClient(services=fakes()) as aclient:
            return (
                (await aclient.chat("m", "hi")).text,
                [c.text async for c in aclient.chat_stream("m", "hi")],
                (await aclient.embed("m", ["x", "yy"])).vectors,
                [m.id for m in await aclient.models()],
                (await aclient.model_info("m")).name,
                [s.name for s in await aclient.services()],
                [p.status async for p in aclient.pull("m")],
            )

    assert asyncio.run(run()) == sync


def test_the_constructor_options_are_explicit_and_shared_by_both_twins() -> None:
    params = inspect.signature(ClientCore.__init__).parameters
    for name in ("timeout", "max_retries", "connect_timeout", "deadline", "discovery_timeout"):
        assert params[name].kind is inspect.Parameter.KEYWORD_ONLY
    assert not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    assert "__init__" not in vars(modelport.Client)
    assert "__init__" not in vars(modelport.AsyncClient)


@pytest.mark.parametrize(
    "options",
    [
        {"timeout": float("nan")},
        {"timeout": float("inf")},
        {"timeout": 1e300},
        {"connect_timeout": 0},
        {"cooldown": -5},
        {"models_ttl": "x"},
        {"deadline": -1},
        {"max_retries": -1},
        {"failure_threshold": 0},
    ],
)
def test_bad_options_are_configuration_errors_at_construction(options: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError) as caught:
        modelport.Client(services=[FakeProvider()], **options)
    assert next(iter(options)) in str(caught.value)


# ---------------------------------------------------------------------------- streams


def test_a_stream_left_early_closes_what_it_opened_and_is_no_longer_in_flight() -> None:
    fake = Closing(models=["m"], reply="one two three four", stream_pieces=4)
    client = modelport.Client(services=[fake])
    stream = client.chat_stream("m", "hi")
    next(iter(stream))
    assert client.services()[0].in_flight == 1
    stream.close()
    assert fake.closed == ["m"]
    assert client.services()[0].in_flight == 0


def test_an_async_stream_left_early_closes_what_it_opened() -> None:
    fake = Closing(models=["m"], reply="one two three four", stream_pieces=4)

    async def run() -> int:
        async with modelport.AsyncClient(services=[fake]) as client:
            async with client.chat_stream("m", "hi") as stream:
                async for _ in stream:
                    break
            return (await client.services())[0].in_flight

    assert asyncio.run(run()) == 0
    assert fake.closed == ["m"]


def test_a_stream_that_ends_before_anything_arrived_is_a_protocol_error() -> None:
    client = modelport.Client(services=[Silent(models=["m"])])
    with pytest.raises(ProtocolError, match="ended the stream at once"):
        list(client.chat_stream("m", "hi"))


def test_a_pull_left_early_is_closed() -> None:
    client = modelport.Client(services=[Pulling(models=["m"])])
    steps: Iterator[PullProgress] = client.pull("m")
    assert next(steps).status == "pulling manifest"
    steps.close()  # type: ignore[attr-defined]


def test_pull_goes_to_a_service_that_can_pull() -> None:
    cannot = FakeProvider(models=["m"], name="plain")
    can = Pulling(models=["m"], name="puller")
    client = modelport.Client(services=[cannot, can])
    assert [p.status for p in client.pull("m")][-1] == "success"


# ---------------------------------------------------------------------------- lifecycle


def test_an_async_client_works_in_two_event_loops_one_after_the_other() -> None:
    client = modelport.AsyncClient(services=[FakeProvider(models=["m"], reply="again")])

    async def once() -> str:
        return (await client.chat("m", "hi")).text

    assert asyncio.run(once()) == "again"
    assert asyncio.run(once()) == "again"


def test_an_unknown_step_in_a_flow_is_a_bug_reported_as_such() -> None:
    client = modelport.Client(services=[FakeProvider()])

    def flow() -> Any:
        yield "not a step"

    with pytest.raises(TypeError, match="not a step"):
        client._run_flow(flow())


class Loading(FakeProvider):
    """A fake that loads and unloads: its model list says what is loaded."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.loaded: set[str] = set()

    def _op_models(self, refresh: bool = False) -> Any:
        from dataclasses import replace

        models = yield from super()._op_models(refresh)
        return [replace(m, loaded=m.name in self.loaded) for m in models]

    def _op_load(self, model: str, context_length: int | None, ttl: float | None) -> Any:
        yield from sleep(0)
        self.loaded.add(model)

    def _op_unload(self, model: str) -> Any:
        yield from sleep(0)
        self.loaded.discard(model)


def test_the_model_list_after_a_load_or_unload_says_what_is_loaded_without_a_refresh() -> None:
    a, b = Loading(models=["m"], name="a"), Loading(models=["m"], name="b")
    client = modelport.Client(services=[a, b])
    assert [m.loaded for m in client.models()] == [False, False]
    client.load("b/m")
    assert [m.loaded for m in client.models()] == [False, True]
    client.unload("b/m")
    assert [m.loaded for m in client.models()] == [False, False]

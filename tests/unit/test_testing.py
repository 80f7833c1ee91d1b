"""modelport.testing.FakeProvider: a shipped double that behaves like a real provider."""

from __future__ import annotations

import pytest

import modelport
from modelport import AllServicesFailedError, InvalidRequestError, ServiceUnavailableError
from modelport.testing import FakeProvider


def test_fake_answers_and_records_the_request() -> None:
    fake = FakeProvider(models=["m"], reply="hello there")
    reply = modelport.Client(services=[fake]).chat("m", "hi", temperature=0.5)
    assert reply.text == "hello there"
    assert reply.service == "fake"
    assert fake.requests[-1].temperature == 0.5


def test_fake_reply_can_be_computed_from_the_request() -> None:
    fake = FakeProvider(reply=lambda req: req.messages[-1].content.upper())
    assert fake.chat("fake-model", "shout").text == "SHOUT"


def test_fake_streams_pieces_that_join_to_the_reply() -> None:
    fake = FakeProvider(reply="a streamed reply", stream_pieces=4)
    with modelport.Client(services=[fake]).chat_stream("fake-model", "hi") as stream:
        chunks = list(stream)
    assert "".join(c.text for c in chunks) == "a streamed reply"
    assert len(chunks) == 5
    assert chunks[-1].done
    assert stream.response.text == "a streamed reply"


def test_fake_failures_drive_the_clients_retry_and_failover() -> None:
    first = FakeProvider(models=["m"], name="first", reply="from first")
    second = FakeProvider(models=["m"], name="second", reply="from second")
    client = modelport.Client(services=[first, second], max_retries=1)
    client._sleep = lambda seconds: None
    first.fail_next(ServiceUnavailableError("down"), ServiceUnavailableError("down"))
    assert client.chat("m", "hi").text == "from second"
    first.fail_next(*[ServiceUnavailableError("down")] * 2)
    second.fail_next(*[ServiceUnavailableError("down")] * 2)
    with pytest.raises(AllServicesFailedError) as caught:
        client.chat("m", "hi")
    # "first" failed last time, so the healthy "second" is now tried first.
    assert [e.service for e in caught.value.errors] == ["second", "first"]


def test_fake_validates_requests_like_a_real_provider() -> None:
    with pytest.raises(InvalidRequestError):
        FakeProvider().chat("fake-model", [])


@pytest.mark.anyio
async def test_fake_works_with_the_async_client() -> None:
    fake = FakeProvider(models=["m"], reply="async reply")
    async with modelport.AsyncClient(services=[fake]) as client:
        assert (await client.chat("m", "hi")).text == "async reply"
        async with client.chat_stream("m", "hi") as stream:
            assert "".join([c.text async for c in stream]) == "async reply"
        assert [m.id for m in await client.models()] == ["fake/m"]
        result = await client.embed("m", ["a", "bb"])
    assert len(result.vectors) == 2
    assert fake.embedded == [["a", "bb"]]


def _record_sleeps(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, float]]:
    import asyncio

    from modelport._http import transport

    slept: list[tuple[str, float]] = []
    real_async_sleep = asyncio.sleep

    def sync_sleep(seconds: float) -> None:
        slept.append(("sync", seconds))

    async def async_sleep(seconds: float) -> None:
        slept.append(("async", seconds))
        await real_async_sleep(0)

    monkeypatch.setattr(transport, "pause", sync_sleep)
    monkeypatch.setattr(transport, "apause", async_sleep)
    return slept


def test_fake_latency_sleeps_before_each_sync_reply(monkeypatch: pytest.MonkeyPatch) -> None:
    slept = _record_sleeps(monkeypatch)
    fake = FakeProvider(models=["m"], latency=0.25)
    client = modelport.Client(services=[fake])
    client.chat("m", "hi")
    client.embed("m", "x")
    assert slept == [("sync", 0.25), ("sync", 0.25)]


def test_fake_chunk_delay_sleeps_between_sync_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    slept = _record_sleeps(monkeypatch)
    fake = FakeProvider(models=["m"], reply="a b c", stream_pieces=3, latency=0.5, chunk_delay=0.1)
    with modelport.Client(services=[fake]).chat_stream("m", "hi") as stream:
        chunks = list(stream)
    # the latency before the first chunk, then a delay before each later one
    assert slept == [("sync", 0.5)] + [("sync", 0.1)] * (len(chunks) - 1)


@pytest.mark.anyio
async def test_fake_latency_and_chunk_delay_await_in_async(monkeypatch: pytest.MonkeyPatch) -> None:
    slept = _record_sleeps(monkeypatch)
    fake = FakeProvider(models=["m"], reply="a b", stream_pieces=2, latency=0.5, chunk_delay=0.1)
    async with modelport.AsyncClient(services=[fake]) as client:
        await client.chat("m", "hi")
        async with client.chat_stream("m", "hi") as stream:
            chunks = [c async for c in stream]
    assert slept == [("async", 0.5), ("async", 0.5)] + [("async", 0.1)] * (len(chunks) - 1)


@pytest.mark.anyio
async def test_fake_latency_does_not_block_the_event_loop_and_can_be_cancelled() -> None:
    import asyncio

    fake = FakeProvider(models=["m"], latency=30.0)
    async with modelport.AsyncClient(services=[fake]) as client:
        task = asyncio.ensure_future(client.chat("m", "hi"))
        for _ in range(5):
            await asyncio.sleep(0)  # the loop keeps running while the fake "thinks"
        assert not task.done()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


def test_fake_rejects_negative_delays() -> None:
    from modelport import ConfigurationError

    with pytest.raises(ConfigurationError):
        FakeProvider(latency=-1)
    with pytest.raises(ConfigurationError):
        FakeProvider(chunk_delay=-0.5)


def test_the_fake_cannot_pull_and_says_so() -> None:
    from modelport import CapabilityError

    with pytest.raises(CapabilityError):
        list(FakeProvider().pull("m"))


@pytest.mark.anyio
async def test_the_fake_cannot_pull_in_async_either() -> None:
    from modelport import CapabilityError

    with pytest.raises(CapabilityError):
        async for _ in FakeProvider().apull("m"):
            pass

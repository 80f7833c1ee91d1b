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

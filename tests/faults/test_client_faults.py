"""The Client under failure: retries with backoff, Retry-After honoured, failover
before the first chunk only, one error holding every cause, health that follows the
failures. Retry waits are recorded instead of slept (``client.sleeps``).
"""

from __future__ import annotations

import json

import httpx
import pytest

from modelport import (
    AllServicesFailedError,
    RateLimitError,
    RequestTimeoutError,
    ServiceStatus,
    ServiceUnavailableError,
    StreamError,
)

from .conftest import Lab, check_error
from .kinds import OPENAI, Kind
from .servers import FaultServer, answer, sequence, silent, stream

pytestmark = pytest.mark.socket

BUSY = json.dumps({"error": {"message": "Loading model", "type": "unavailable_error"}}).encode()
LIMITED = json.dumps({"error": {"message": "Too many requests", "type": "rate_limit"}}).encode()


def test_a_503_then_success_is_retried_with_a_short_jittered_backoff(lab: Lab, kind: Kind) -> None:
    server = lab.serve(
        {kind.chat_path: sequence(answer(503, BUSY), answer(200, kind.reply("Hi!")))}
    )
    client = lab.client([lab.provider(kind, server.url)], max_retries=2)
    assert lab.chat(client, kind.model).text == "Hi!"
    assert server.paths() == [f"POST {kind.chat_path}"] * 2
    assert len(client.sleeps) == 1
    assert 0.0 <= client.sleeps[0] <= 0.25  # the first backoff: full jitter under 0.25 s


def test_a_503_before_a_stream_starts_is_retried(lab: Lab, kind: Kind) -> None:
    body = [kind.piece("Hi"), kind.piece("!"), kind.finish()]
    server = lab.serve(
        {kind.chat_path: sequence(answer(503, BUSY), stream(body, content_type=kind.stream_type))}
    )
    client = lab.client([lab.provider(kind, server.url)], max_retries=2)
    outcome = lab.stream(client, kind.model)
    assert outcome.error is None, repr(outcome.error)
    assert outcome.texts == ["Hi", "!"]
    assert len(client.sleeps) == 1


def test_a_429_with_retry_after_waits_exactly_that_long(lab: Lab, kind: Kind) -> None:
    server = lab.serve(
        {
            kind.chat_path: sequence(
                answer(429, LIMITED, headers={"retry-after": "3"}), answer(200, kind.reply("Hi!"))
            )
        }
    )
    client = lab.client([lab.provider(kind, server.url)], max_retries=2)
    assert lab.chat(client, kind.model).text == "Hi!"
    assert client.sleeps == [3.0]


def test_a_429_that_persists_raises_rate_limit_error_with_retry_after(lab: Lab, kind: Kind) -> None:
    server = lab.serve({kind.chat_path: answer(429, LIMITED, headers={"retry-after": "2"})})
    provider = lab.provider(kind, server.url)
    client = lab.client([provider], max_retries=1)
    with pytest.raises(RateLimitError) as caught:
        lab.chat(client, kind.model)
    error = check_error(caught.value, RateLimitError, provider, status=429)
    assert error.retry_after == 2.0
    assert error.retriable
    assert client.sleeps == [2.0]
    assert len(server.paths()) == 2


def test_a_retry_after_too_long_to_wait_is_not_waited(lab: Lab, kind: Kind) -> None:
    server = lab.serve({kind.chat_path: answer(429, LIMITED, headers={"retry-after": "3600"})})
    provider = lab.provider(kind, server.url)
    client = lab.client([provider], max_retries=2)
    with pytest.raises(RateLimitError) as caught:
        lab.chat(client, kind.model)
    assert caught.value.retry_after == 3600.0
    assert client.sleeps == []
    assert len(server.paths()) == 1


def test_a_silent_server_behind_a_client_times_out_after_its_retries(lab: Lab, kind: Kind) -> None:
    server = lab.serve(silent())
    provider = lab.provider(kind, server.url)
    client = lab.client([provider], max_retries=1)
    with pytest.raises(RequestTimeoutError) as caught:
        lab.chat(client, kind.model)
    check_error(caught.value, RequestTimeoutError, provider, cause=httpx.ReadTimeout)
    assert len(server.paths()) == 2
    assert len(client.sleeps) == 1
    assert server.wait_settled()
    lab.assert_no_leak(provider)


# ---------------------------------------------------------------------- two services


def two_services(lab: Lab, first: FaultServer, second: FaultServer, **kwargs: object) -> object:
    kind = OPENAI
    providers = [
        lab.provider(kind, first.url, name="first"),
        lab.provider(kind, second.url, name="second"),
    ]
    return lab.client(providers, **kwargs)


def listing(kind: Kind = OPENAI) -> dict[str, object]:
    body = json.dumps({"object": "list", "data": [{"id": kind.model, "object": "model"}]})
    return {"/v1/models": answer(200, body.encode())}


def test_a_stream_fails_over_when_the_first_service_breaks_before_any_chunk(lab: Lab) -> None:
    kind = OPENAI
    body = [kind.piece("from "), kind.piece("second"), kind.finish()]
    first = lab.serve(
        {**listing(), kind.chat_path: stream([], content_type=kind.stream_type, then="reset")}
    )
    second = lab.serve({**listing(), kind.chat_path: stream(body, content_type=kind.stream_type)})
    client = two_services(lab, first, second, max_retries=1)
    outcome = lab.stream(client, kind.model)
    assert outcome.error is None, repr(outcome.error)
    assert outcome.text == "from second"
    assert first.paths().count(f"POST {kind.chat_path}") == 2  # tried, retried, then failover
    assert second.paths().count(f"POST {kind.chat_path}") == 1


def test_a_stream_never_fails_over_once_a_chunk_was_delivered(lab: Lab) -> None:
    kind = OPENAI
    pieces = [kind.piece("Partial "), kind.piece("answer")]
    first = lab.serve(
        {
            **listing(),
            kind.chat_path: stream(pieces, content_type=kind.stream_type, then="reset", gate=True),
        }
    )
    second = lab.serve({**listing(), kind.chat_path: answer(200, kind.reply("unused"))})
    client = two_services(lab, first, second, max_retries=2)

    def release(chunks: list[object]) -> None:
        if len(chunks) == 2:
            first.release()

    outcome = lab.stream(client, kind.model, on_chunk=release)
    assert outcome.texts == ["Partial ", "answer"]
    error = outcome.error
    assert type(error) is StreamError, repr(error)
    assert error.partial == "Partial answer"
    assert error.service == "first"
    assert first.url in str(error)
    assert isinstance(error.__cause__, httpx.ReadError)
    assert f"POST {kind.chat_path}" not in second.paths()  # never failed over
    assert client.sleeps == []  # and never retried: the text would be repeated


def test_every_service_failing_raises_one_error_listing_each_cause(lab: Lab) -> None:
    kind = OPENAI
    first = lab.serve({**listing(), kind.chat_path: answer(503, BUSY)})
    second = lab.serve({**listing(), kind.chat_path: silent()})
    client = two_services(lab, first, second, max_retries=0)
    with pytest.raises(AllServicesFailedError) as caught:
        lab.chat(client, kind.model)
    error = caught.value
    assert [type(e) for e in error.errors] == [ServiceUnavailableError, RequestTimeoutError]
    assert [e.service for e in error.errors] == ["first", "second"]
    assert error.retriable
    assert first.url in str(error) and second.url in str(error)
    assert isinstance(error.errors[1].__cause__, httpx.ReadTimeout)
    assert second.wait_settled()


def test_a_failing_service_is_marked_degraded_and_tried_after_the_healthy_one(
    lab: Lab,
) -> None:
    kind = OPENAI
    first = lab.serve({**listing(), kind.chat_path: answer(503, BUSY)})
    second = lab.serve({**listing(), kind.chat_path: answer(200, kind.reply("ok"))})
    client = two_services(lab, first, second, max_retries=0)
    assert [s.status for s in lab.services(client)] == [ServiceStatus.AVAILABLE] * 2
    assert lab.chat(client, kind.model).text == "ok"  # first failed, second answered
    assert [s.status for s in lab.services(client)] == [
        ServiceStatus.DEGRADED,
        ServiceStatus.AVAILABLE,
    ]
    assert lab.chat(client, kind.model).text == "ok"
    assert first.paths().count(f"POST {kind.chat_path}") == 1  # healthy first now

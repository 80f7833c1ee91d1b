"""modelport._http.ops and the drivers (modelport._drive) over the transports:
operations yield typed steps, and both drivers run them the same way."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from modelport import ModelportError, ServerError
from modelport._classify import classify, facts_from_response
from modelport._drive import aiterate, arun, iterate, run
from modelport._http.mapping import ErrorContext
from modelport._http.ops import (
    ItemOp,
    Op,
    Request,
    Response,
    emit,
    gather,
    send,
    sleep,
    stream,
)
from modelport._http.transport import AsyncTransport, SyncTransport

BASE = "http://127.0.0.1:9"
CTX = ErrorContext("box", BASE)


def _on_error(response: Response) -> ModelportError:
    facts = facts_from_response(response.status, response.content, response.headers, CTX)
    return classify(facts, CTX)


def _handler(request: httpx.Request) -> httpx.Response:
    if request.url.path == "/boom":
        return httpx.Response(500, json={"error": "boom"})
    if request.url.path == "/lines":
        return httpx.Response(200, content=b"a\nb\nEND\nnever read\n")
    return httpx.Response(200, json={"path": request.url.path})


def _sync() -> SyncTransport:
    client = httpx.Client(transport=httpx.MockTransport(_handler))
    return SyncTransport(client, BASE, CTX, on_error=_on_error, timeout=5.0, connect_timeout=5.0)


def _async() -> AsyncTransport:
    client = httpx.AsyncClient(transport=httpx.MockTransport(_handler))
    return AsyncTransport(client, BASE, CTX, on_error=_on_error, timeout=5.0, connect_timeout=5.0)


class Lines:
    """A decoder of text lines that ends at a line saying END."""

    def __init__(self) -> None:
        self.error: ModelportError | None = None
        self.done = False
        self._buffer = b""

    def feed(self, data: bytes) -> list[str]:
        self._buffer += data
        *lines, self._buffer = self._buffer.split(b"\n")
        out = []
        for line in lines:
            if self.done:
                break
            if line == b"END":
                self.done = True
            out.append(line.decode())
        return out

    def finish(self) -> list[str]:
        return []

    def interrupted(self, error: ModelportError) -> ModelportError:
        return error


def every_step() -> Op[list[object]]:
    seen: list[object] = []
    response = yield from send(Request("GET", "/one"))
    seen.append(response.json(CTX)["path"])
    outcomes = yield from gather([Request("GET", "/two"), Request("GET", "/boom")])
    seen.append([type(o).__name__ for o in outcomes])
    yield from sleep(0.001)
    try:
        yield from send(Request("GET", "/boom"))
    except ServerError as exc:
        seen.append(exc.status_code)
    return seen


def items() -> ItemOp[str]:
    yield from emit("first")
    yield from stream(Request("GET", "/lines"), Lines())
    yield from emit("last")


EXPECTED = ["/one", ["Response", "ServerError"], 500]


def test_the_sync_driver_runs_every_kind_of_step() -> None:
    assert run(every_step(), _sync()) == EXPECTED


def test_the_async_driver_runs_every_kind_of_step() -> None:
    assert asyncio.run(arun(every_step(), _async())) == EXPECTED


def test_an_item_operation_streams_until_its_decoder_says_done() -> None:
    assert list(iterate(items(), _sync())) == ["first", "a", "b", "END", "last"]

    async def collect() -> list[str]:
        return [item async for item in aiterate(items(), _async())]

    assert asyncio.run(collect()) == ["first", "a", "b", "END", "last"]


@pytest.mark.parametrize("make", [emit, lambda item: stream(Request("GET", "/x"), Lines())])
def test_an_item_step_in_an_operation_run_for_its_value_is_refused(
    make: Callable[[Any], Any],
) -> None:
    def op() -> Any:
        yield from make("x")
        return 1

    with pytest.raises(TypeError, match="use iterate"):
        run(op(), _sync())
    with pytest.raises(TypeError, match="use iterate"):
        asyncio.run(arun(op(), _async()))


def test_sleep_of_nothing_yields_no_step() -> None:
    assert list(sleep(0)) == []


def test_a_step_no_driver_knows_is_refused_by_both_drivers() -> None:
    def op() -> Any:
        yield "not a step"

    with pytest.raises(TypeError, match="which no driver runs"):
        run(op(), _sync())
    with pytest.raises(TypeError, match="which no driver runs"):
        asyncio.run(arun(op(), _async()))


def test_a_request_step_outside_an_operation_is_refused() -> None:
    """A flow has no transport of its own: its requests go inside its Call steps."""
    with pytest.raises(TypeError, match="outside a provider's operation"):
        run(send(Request("GET", "/one")))
    with pytest.raises(TypeError, match="outside a provider's operation"):
        asyncio.run(arun(send(Request("GET", "/one"))))


def test_an_error_thrown_into_an_operation_may_be_caught_and_the_operation_goes_on() -> None:
    def op() -> Op[list[object]]:
        seen: list[object] = []
        for path in ("/boom", "/one"):
            try:
                response = yield from send(Request("GET", path))
            except ServerError as exc:
                seen.append(exc.status_code)
            else:
                seen.append(response.json(CTX)["path"])
        return seen

    assert run(op(), _sync()) == [500, "/one"]
    assert asyncio.run(arun(op(), _async())) == [500, "/one"]


def test_a_request_with_other_headers_keeps_every_other_field() -> None:
    import dataclasses

    request = Request(
        "POST",
        "/x",
        {"a": 1},
        timeout=3.0,
        model="m",
        headers={"a": "1"},
        deadline=9.0,
        check=False,
    )
    for field in dataclasses.fields(Request):  # every field set to a non-default value
        assert getattr(request, field.name) != field.default, field.name
    headers = {"b": "2"}
    assert request.with_headers(headers) == dataclasses.replace(request, headers=headers)


def test_a_pipe_of_the_other_kind_of_iterator_is_refused_by_each_driver() -> None:
    from modelport._flow import Pipe

    async def agen() -> Any:
        yield 1

    def sync_flow() -> Any:
        yield Pipe(agen())

    def async_flow() -> Any:
        yield Pipe(iter([1]))

    with pytest.raises(TypeError, match="which no driver runs"):
        list(iterate(sync_flow()))

    async def collect() -> list[object]:
        return [item async for item in aiterate(async_flow())]

    with pytest.raises(TypeError, match="which no driver runs"):
        asyncio.run(collect())

"""What the gateway's per-request and per-chunk shortcuts must keep: the same bytes and
the same cancellation as the general paths they stand in for (docs/performance.md)."""

from __future__ import annotations

import asyncio
import json
import sys

import pytest

from modelport.gateway import _openai as oa
from modelport.gateway import create_app
from modelport.gateway._json import dumps
from modelport.types import ChatChunk, Usage

from .test_surface_contract import KEY, WAIT, Call, Upstream

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    "value",
    [
        {"a": [1, 2.5, None, True, False, "é", "\u2028", 'q"\\\n\x00']},
        "plain",
        [float("inf"), float("nan"), -0.0, 10**30],
        {1: "int key", "nested": {"deep": [{"x": []}, {}]}},
    ],
)
def test_the_json_writer_writes_what_json_dumps_writes_compact(value: object) -> None:
    expected = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
    assert dumps(value) == expected


def test_the_json_writer_escapes_a_whole_body_holding_a_lone_surrogate() -> None:
    value = {"é": "broken \ud83d"}
    assert dumps(value) == json.dumps(value, separators=(",", ":")).encode()


def test_the_json_writer_refuses_what_json_cannot_write() -> None:
    with pytest.raises(TypeError):
        dumps({"a": object()})


@pytest.mark.parametrize("text", ["plain", 'quote " and \\ slash', "é ✓", "\ud83d alone"])
def test_a_text_chunk_is_the_event_of_its_delta_byte_for_byte(text: str) -> None:
    enc = oa.ChunkEncoder(model="m", id="chatcmpl-1", created=7, include_usage=False)
    enc.chunk(ChatChunk(text="first"))  # the role went with the first event
    head = b'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":7,"model":"m",'
    delta = dumps({"content": text})
    expected = head + b'"choices":[{"index":0,"delta":' + delta + b',"finish_reason":null}]}\n\n'
    assert enc.chunk(ChatChunk(text=text)) == expected


def test_a_text_chunk_with_more_than_text_keeps_all_of_it() -> None:
    enc = oa.ChunkEncoder(model="m", id="c", created=1, include_usage=True)
    enc.chunk(ChatChunk(text="first"))
    raw = enc.chunk(ChatChunk(text="end", finish_reason="stop", usage=Usage(1, 2, 3), done=True))
    raw += enc.end()
    events = [line[6:] for line in raw.decode().split("\n\n") if line]
    assert json.loads(events[0])["choices"][0]["delta"] == {"content": "end"}
    assert json.loads(events[1])["choices"][0]["finish_reason"] == "stop"
    assert json.loads(events[2])["usage"]["total_tokens"] == 3
    assert events[3] == "[DONE]"


def _streamed_call(upstream: Upstream) -> Call:
    app = create_app(upstream.client(), api_keys=[KEY])
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    return Call(app, "/v1/chat/completions", json.dumps(body).encode(), {"x-api-key": KEY})


async def test_a_request_cancelled_by_the_server_stays_cancelled_and_closes_the_upstream() -> None:
    upstream = Upstream(hold=True)
    call = _streamed_call(upstream)
    task = asyncio.ensure_future(call.run())
    await asyncio.wait_for(call.got.wait(), WAIT)
    task.cancel()  # the server shutting down, not the caller leaving
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, WAIT)
    await asyncio.wait_for(upstream.closed.wait(), WAIT)


@pytest.mark.skipif(sys.version_info < (3, 11), reason="Task.cancelling() is 3.11+")
async def test_a_caller_that_leaves_leaves_no_cancel_pending_on_the_servers_task() -> None:
    upstream = Upstream(hold=True)
    call = _streamed_call(upstream)

    async def serve() -> int:
        await call.run()
        task = asyncio.current_task()
        assert task is not None
        return task.cancelling()

    task = asyncio.ensure_future(serve())
    await asyncio.wait_for(call.got.wait(), WAIT)
    call.leave.set()
    assert await asyncio.wait_for(task, WAIT) == 0
    await asyncio.wait_for(upstream.closed.wait(), WAIT)

"""The contract every registered surface keeps (issue 19), one suite parametrized over
``_registry.SURFACES``: auth and the 413; an unknown model is a 404 in the surface's
shape; a context overflow is a 400 in its shape; a caller that leaves closes the
upstream; no buffering (the first chunk reaches the caller before the upstream
finishes); a failure mid-stream is the surface's last error event; a stream ends with
its end marker.

A surface gets all of it by registering; it only says here, in :data:`PROFILES`, how a
chat request looks on it and how its errors and stream ends read. No sockets: the
ASGI app is driven directly, in front of an OpenAI-compatible service over
``httpx.MockTransport`` whose stream the test holds and releases.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

import modelport
from modelport.gateway import create_app
from modelport.gateway._registry import SURFACES

pytestmark = pytest.mark.anyio

KEY = "k"
WAIT = 30.0
"""Seconds a step may take on a busy machine; never what a test measures."""
OVERFLOW = "request (24071 tokens) exceeds the available context size (8192 tokens)"
MESSAGES = [{"role": "user", "content": "hi"}]


def _events(body: bytes) -> list[bytes]:
    return [e for e in body.split(b"\n\n") if e.strip()]


def _lines(body: bytes) -> list[Any]:
    return [json.loads(line) for line in body.splitlines() if line.strip()]


def _data(event: bytes) -> Any:
    for line in event.split(b"\n"):
        if line.startswith(b"data: "):
            return json.loads(line[6:])
    return None


@dataclass(frozen=True)
class Profile:
    """How a chat request looks on a surface, and how its answers read."""

    path: str
    body: Callable[[str, bool], dict[str, Any]]
    message: Callable[[Any], str]
    """The message of an error body in the surface's shape (KeyError otherwise)."""
    ended: Callable[[bytes], bool]
    """Whether a stream's bytes end with the surface's end marker."""
    failed: Callable[[bytes], str]
    """The message of the stream's last event, an error event (KeyError otherwise)."""


PROFILES = {
    "openai": Profile(
        "/v1/chat/completions",
        lambda model, stream: {"model": model, "messages": MESSAGES, "stream": stream},
        lambda body: body["error"]["message"],
        lambda body: _events(body)[-1] == b"data: [DONE]",
        lambda body: _data(_events(body)[-1])["error"]["message"],
    ),
    "openai completions": Profile(
        "/v1/completions",
        lambda model, stream: {"model": model, "prompt": "hi", "stream": stream},
        lambda body: body["error"]["message"],
        lambda body: _events(body)[-1] == b"data: [DONE]",
        lambda body: _data(_events(body)[-1])["error"]["message"],
    ),
    "ollama": Profile(
        "/api/chat",
        lambda model, stream: {"model": model, "messages": MESSAGES, "stream": stream},
        lambda body: body["error"] if isinstance(body["error"], str) else body[""],
        lambda body: _lines(body)[-1].get("done") is True,
        lambda body: _lines(body)[-1]["error"],
    ),
    "anthropic": Profile(
        "/v1/messages",
        lambda model, stream: {
            "model": model,
            "max_tokens": 64,
            "messages": MESSAGES,
            "stream": stream,
        },
        lambda body: body["error"]["message"] if body["type"] == "error" else body[""],
        lambda body: _events(body)[-1].startswith(b"event: message_stop\n"),
        lambda body: (
            _data(_events(body)[-1])["error"]["message"]
            if _events(body)[-1].startswith(b"event: error\n")
            else _data(b"")[""]
        ),
    ),
    "responses": Profile(
        "/v1/responses",
        lambda model, stream: {"model": model, "input": "hi", "stream": stream},
        lambda body: body["error"]["message"],
        lambda body: _events(body)[-1].startswith(b"event: response.completed\n"),
        lambda body: (
            _data(_events(body)[-1])["response"]["error"]["message"]
            if _events(body)[-1].startswith(b"event: response.failed\n")
            else _data(b"")[""]
        ),
    ),
}
NAMES = [surface.name for surface in SURFACES] + ["openai completions"]
"""Every surface, and the routes besides its chat that stream (OpenAI's legacy completions)."""


def test_every_registered_surface_has_a_profile_here() -> None:
    assert set(NAMES) <= set(PROFILES), "add the new surface's Profile to PROFILES"


class Upstream:
    """An OpenAI-compatible service serving model ``m``; its stream sends one chunk,
    then waits for :attr:`release` before it ends (or fails, with ``fail``)."""

    def __init__(self, *, hold: bool = False, fail: bool = False, overflow: bool = False):
        self.hold = hold
        self.fail = fail
        self.overflow = overflow
        self.release = asyncio.Event()
        self.closed = asyncio.Event()

    async def handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/models"):
            return httpx.Response(200, json={"data": [{"id": "m"}]})
        body = json.loads(request.content)
        if body.get("model") != "m":  # as llama.cpp and vLLM answer a model they lack
            error = {"message": f"The model `{body.get('model')}` does not exist.", "code": 404}
            return httpx.Response(404, json={"error": error})
        if self.overflow:
            error = {"code": 400, "message": OVERFLOW, "type": "exceed_context_size_error"}
            return httpx.Response(400, json={"error": error})
        text = not request.url.path.endswith("/chat/completions")  # the legacy completions
        if not body.get("stream"):
            choice = {"message": {"content": "hi"}, "finish_reason": "stop"}
            if text:
                choice = {"text": "hi", "index": 0, "finish_reason": "stop"}
            return httpx.Response(200, json={"choices": [choice]})
        return httpx.Response(
            200, headers={"content-type": "text/event-stream"}, content=self.chunks(text)
        )

    async def chunks(self, text: bool) -> AsyncIterator[bytes]:
        hi, end = (
            (b'"text":"hi"', b'"text":""') if text else (b'"delta":{"content":"hi"}', b'"delta":{}')
        )
        try:
            yield b'data: {"choices":[{"index":0,' + hi + b"}]}\n\n"
            if self.hold or self.fail:
                await asyncio.wait_for(self.release.wait(), WAIT)
            if self.fail:
                raise httpx.ReadError("the service went away")
            yield b'data: {"choices":[{"index":0,' + end + b',"finish_reason":"stop"}]}\n\n'
            yield b"data: [DONE]\n\n"
        finally:
            self.closed.set()

    def client(self) -> modelport.AsyncClient:
        provider = modelport.OpenAICompatibleProvider(
            "http://127.0.0.1:9/v1", name="up", transport=httpx.MockTransport(self.handle)
        )
        return modelport.AsyncClient(services=[provider])


class Call:
    """One request driven straight through the ASGI app, its answer as it comes."""

    def __init__(self, app: Any, path: str, body: bytes, headers: dict[str, str]) -> None:
        self.app = app
        self.scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "root_path": "",
            "query_string": b"",
            "headers": [
                (b"host", b"localhost"),
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *[(k.encode(), v.encode()) for k, v in headers.items()],
            ],
            "client": ("127.0.0.1", 5000),
            "server": ("127.0.0.1", 11435),
        }
        self.body = body
        self.sent_body = False
        self.leave = asyncio.Event()
        self.status = 0
        self.chunks: list[bytes] = []
        self.got = asyncio.Event()
        self.done = asyncio.Event()

    async def receive(self) -> dict[str, Any]:
        if not self.sent_body:
            self.sent_body = True
            return {"type": "http.request", "body": self.body, "more_body": False}
        await self.leave.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
        elif message["type"] == "http.response.body":
            if message.get("body"):
                self.chunks.append(message["body"])
                self.got.set()
            if not message.get("more_body"):
                self.done.set()

    async def run(self) -> None:
        await self.app(self.scope, self.receive, self.send)

    @property
    def answer(self) -> bytes:
        return b"".join(self.chunks)


def _call(upstream: Upstream, name: str, *, model: str = "m", stream: bool = False, key: str = KEY):
    profile = PROFILES[name]
    app = create_app(upstream.client(), api_keys=[KEY], max_body=4096)
    body = json.dumps(profile.body(model, stream)).encode()
    return Call(app, profile.path, body, {"x-api-key": key} if key else {})


async def _finished(call: Call) -> None:
    await asyncio.wait_for(call.run(), WAIT)


@pytest.mark.parametrize("name", NAMES)
async def test_a_surface_asks_for_the_key_and_answers_with_it(name: str) -> None:
    refused = _call(Upstream(), name, key="")
    await _finished(refused)
    answered = _call(Upstream(), name)
    await _finished(answered)
    assert refused.status == 401
    assert PROFILES[name].message(json.loads(refused.answer))
    assert answered.status == 200


@pytest.mark.parametrize("name", NAMES)
async def test_a_body_over_the_limit_is_a_413_in_the_surfaces_shape(name: str) -> None:
    call = _call(Upstream(), name)
    big = PROFILES[name].body("m", False)
    big["padding"] = "x" * 5000
    call.body = json.dumps(big).encode()
    call.scope["headers"] = [
        (k, str(len(call.body)).encode() if k == b"content-length" else v)
        for k, v in call.scope["headers"]
    ]
    await _finished(call)
    assert call.status == 413
    assert "larger than this gateway accepts" in PROFILES[name].message(json.loads(call.answer))


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("name", NAMES)
async def test_an_unknown_model_is_a_404_in_the_surfaces_shape(name: str, stream: bool) -> None:
    call = _call(Upstream(), name, model="nope", stream=stream)
    await _finished(call)
    assert call.status == 404
    assert "nope" in PROFILES[name].message(json.loads(call.answer))


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("name", NAMES)
async def test_a_context_overflow_is_a_400_in_the_surfaces_shape(name: str, stream: bool) -> None:
    call = _call(Upstream(overflow=True), name, stream=stream)
    await _finished(call)
    assert call.status == 400
    message = PROFILES[name].message(json.loads(call.answer))
    assert "8192" in message


@pytest.mark.parametrize("name", NAMES)
async def test_the_first_chunk_reaches_the_caller_before_the_upstream_finishes(name: str) -> None:
    upstream = Upstream(hold=True)
    call = _call(upstream, name, stream=True)
    task = asyncio.ensure_future(call.run())
    try:
        await asyncio.wait_for(call.got.wait(), WAIT)  # buffered: this would wait for ever
        assert call.status == 200 and not upstream.closed.is_set()
        upstream.release.set()
        await asyncio.wait_for(task, WAIT)
    finally:
        task.cancel()
    assert PROFILES[name].ended(call.answer)


@pytest.mark.parametrize("name", NAMES)
async def test_a_stream_ends_with_the_surfaces_end_marker(name: str) -> None:
    call = _call(Upstream(), name, stream=True)
    await _finished(call)
    assert call.status == 200
    assert PROFILES[name].ended(call.answer)


@pytest.mark.parametrize("name", NAMES)
async def test_a_caller_that_leaves_mid_stream_closes_the_upstream(name: str) -> None:
    upstream = Upstream(hold=True)
    call = _call(upstream, name, stream=True)
    task = asyncio.ensure_future(call.run())
    try:
        await asyncio.wait_for(call.got.wait(), WAIT)
        call.leave.set()
        await asyncio.wait_for(upstream.closed.wait(), WAIT)
        await asyncio.wait_for(task, WAIT)
    finally:
        task.cancel()
    assert not PROFILES[name].ended(call.answer)


@pytest.mark.parametrize("name", NAMES)
async def test_a_failure_mid_stream_is_the_surfaces_last_error_event(name: str) -> None:
    upstream = Upstream(fail=True)
    call = _call(upstream, name, stream=True)
    task = asyncio.ensure_future(call.run())
    try:
        await asyncio.wait_for(call.got.wait(), WAIT)
        upstream.release.set()
        await asyncio.wait_for(task, WAIT)
    finally:
        task.cancel()
    assert call.status == 200 and call.done.is_set()
    assert PROFILES[name].failed(call.answer)
    assert not PROFILES[name].ended(call.answer)

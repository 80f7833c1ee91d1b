"""The gateway served by uvicorn on loopback, in front of misbehaving loopback servers:
cancellation, no buffering, faults mid-stream, and never routing to itself.

Waits are bounded (nothing here asserts how fast anything is, except the contract's
"the upstream connection closes within 1 s of the caller leaving")."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

import modelport
from modelport.gateway import create_app
from tests.faults.kinds import KINDS, OLLAMA, OPENAI, Kind
from tests.faults.servers import (
    Conn,
    FaultServer,
    Received,
    answer,
    html_error_page,
    silent,
    stream,
)

from .conftest import served

pytestmark = pytest.mark.socket

CLOSE_WITHIN = 1.0
GUARD = 15.0


def models_route(kind: Kind) -> dict[str, Any]:
    if kind is OLLAMA:
        body = {"models": [{"name": kind.model, "model": kind.model}]}
        return {"/api/tags": answer(200, json.dumps(body).encode())}
    return {"/v1/models": answer(200, json.dumps({"data": [{"id": kind.model}]}).encode())}


def request_for(kind: Kind, *, stream_: bool) -> dict[str, Any]:
    return {
        "model": kind.model,
        "messages": [{"role": "user", "content": "hi"}],
        "stream": stream_,
    }


@pytest.fixture
def upstreams() -> Iterator[list[FaultServer]]:
    servers: list[FaultServer] = []
    yield servers
    for server in servers:
        server.stop()


def start(upstreams: list[FaultServer], routes: Any) -> FaultServer:
    server = FaultServer(routes).start()
    upstreams.append(server)
    return server


def gateway_for(kind: Kind, url: str, **client_kwargs: Any) -> Any:
    provider = kind.provider(url, timeout=client_kwargs.pop("timeout", 5.0))
    client = modelport.AsyncClient(services=[provider], **client_kwargs)
    return create_app(client)


def wait_closed(server: FaultServer, timeout: float) -> bool:
    """Whether every connection the server saw was closed within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with server._lock:
            records = list(server.records)
        if records and all(r.state == "closed" for r in records):
            return True
        time.sleep(0.01)
    return False


# ---------------------------------------------------------------------------- cancellation


@pytest.mark.parametrize("kind", KINDS, ids=str)
def test_the_upstream_closes_within_a_second_when_the_caller_leaves_mid_stream(
    kind: Kind, upstreams: list[FaultServer]
) -> None:
    pieces = [kind.piece("Hello"), kind.piece(" there")]
    routes = {kind.chat_path: stream(pieces, content_type=kind.stream_type, then="hold")}
    backend = start(upstreams, {**models_route(kind), **routes})
    with served(gateway_for(kind, backend.url)) as url, httpx.Client(timeout=GUARD) as http:
        with http.stream(
            "POST", url + "/v1/chat/completions", json=request_for(kind, stream_=True)
        ) as response:
            assert response.status_code == 200
            for line in response.iter_lines():
                if "Hello" in line:
                    break
        # leaving the block closed the caller's connection
        assert wait_closed(backend, CLOSE_WITHIN), "the upstream request was not closed"


def raw_post(url: str, path: str, body: dict[str, Any]) -> socket.socket:
    """Send a POST over a bare socket (so the test decides when the caller hangs up)."""
    host, port = url.removeprefix("http://").split(":")
    data = json.dumps(body).encode()
    sock = socket.create_connection((host, int(port)), timeout=GUARD)
    head = (
        f"POST {path} HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(data)}\r\n\r\n"
    )
    sock.sendall(head.encode() + data)
    return sock


def arrives() -> tuple[threading.Event, Any]:
    """A backend script that takes the request and thinks forever (a long prompt)."""
    arrived = threading.Event()

    def thinking(conn: Conn, request: Received) -> None:
        arrived.set()
        conn.hold()  # nothing written yet

    return arrived, thinking


@pytest.mark.parametrize("stream_", [True, False], ids=["stream", "chat"])
@pytest.mark.parametrize("kind", [OPENAI, OLLAMA], ids=str)
def test_the_upstream_closes_within_a_second_when_the_caller_leaves_before_any_output(
    kind: Kind, stream_: bool, upstreams: list[FaultServer]
) -> None:
    arrived, thinking = arrives()
    backend = start(upstreams, {**models_route(kind), kind.chat_path: thinking})
    with served(gateway_for(kind, backend.url)) as url:
        caller = raw_post(url, "/v1/chat/completions", request_for(kind, stream_=stream_))
        assert arrived.wait(GUARD), "the request never reached the backend"
        caller.close()  # the caller hangs up while the backend is still thinking
        assert wait_closed(backend, CLOSE_WITHIN), "the upstream request was not closed"


# ---------------------------------------------------------------------------- no buffering


@pytest.mark.parametrize("kind", [OPENAI, OLLAMA], ids=str)
def test_each_chunk_reaches_the_caller_before_the_backend_sends_the_next(
    kind: Kind, upstreams: list[FaultServer]
) -> None:
    words = ["one", "two", "three", "four"]
    seen = [threading.Event() for _ in words]
    in_time: list[bool] = []

    def paced(conn: Conn, request: Received) -> None:
        if not conn.head(200, {"content-type": kind.stream_type, "transfer-encoding": "chunked"}):
            return
        for index, word in enumerate(words):
            if index and not conn.wait(0.2):
                return
            if not conn.chunk(kind.piece(f" {word}")):
                return
            # the next chunk waits until the caller has this one (or gives up)
            in_time.append(seen[index].wait(GUARD))
        conn.chunk(kind.finish())
        conn.end_chunks()

    backend = start(upstreams, {**models_route(kind), kind.chat_path: paced})
    with served(gateway_for(kind, backend.url)) as url, httpx.Client(timeout=GUARD) as http:
        with http.stream(
            "POST", url + "/v1/chat/completions", json=request_for(kind, stream_=True)
        ) as response:
            for line in response.iter_lines():
                for index, word in enumerate(words):
                    if f" {word}" in line:
                        seen[index].set()
    assert in_time == [True] * len(words)


# ---------------------------------------------------------------------------- faults


@pytest.mark.parametrize("kind", KINDS, ids=str)
def test_a_backend_that_dies_mid_stream_ends_the_stream_with_an_error_event(
    kind: Kind, upstreams: list[FaultServer]
) -> None:
    pieces = [kind.piece("Partial "), kind.piece("answer")]
    routes = {kind.chat_path: stream(pieces, content_type=kind.stream_type, then="reset")}
    backend = start(upstreams, {**models_route(kind), **routes})
    with served(gateway_for(kind, backend.url)) as url, httpx.Client(timeout=GUARD) as http:
        response = http.post(url + "/v1/chat/completions", json=request_for(kind, stream_=True))
    assert response.status_code == 200
    events = [line[6:] for line in response.text.split("\n") if line.startswith("data: ")]
    assert "[DONE]" not in events
    last = json.loads(events[-1])
    assert last["error"]["type"] == "upstream_error"
    text = "".join(
        json.loads(e)["choices"][0]["delta"].get("content", "")
        for e in events[:-1]
        if json.loads(e).get("choices")
    )
    assert text == "Partial answer"


def test_an_html_502_from_the_backend_is_a_502_with_a_json_error(
    upstreams: list[FaultServer],
) -> None:
    backend = start(upstreams, {**models_route(OPENAI), OPENAI.chat_path: html_error_page(502)})
    app = gateway_for(OPENAI, backend.url, max_retries=0)
    with served(app) as url, httpx.Client(timeout=GUARD) as http:
        response = http.post(url + "/v1/chat/completions", json=request_for(OPENAI, stream_=False))
    assert response.status_code == 502
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"]["type"] == "upstream_error"


@pytest.mark.parametrize("stream_", [False, True], ids=["chat", "stream"])
def test_a_silent_backend_is_a_504_after_the_timeout(
    stream_: bool, upstreams: list[FaultServer]
) -> None:
    backend = start(upstreams, {**models_route(OPENAI), OPENAI.chat_path: silent()})
    app = gateway_for(OPENAI, backend.url, timeout=0.5, max_retries=0)
    with served(app) as url, httpx.Client(timeout=GUARD) as http:
        response = http.post(
            url + "/v1/chat/completions", json=request_for(OPENAI, stream_=stream_)
        )
    assert response.status_code == 504
    assert response.json()["error"]["code"] == "upstream_timeout"


# ---------------------------------------------------------------------------- never itself


@pytest.mark.parametrize("variable", ["OLLAMA_HOST", "MODELPORT_SERVICES"])
def test_a_gateway_pointed_at_itself_answers_at_once_without_a_loop(
    variable: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv(variable, f"http://127.0.0.1:{port}")
    app = create_app()  # discovery, with the environment pointing back at the gateway
    import uvicorn

    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.01)
        with httpx.Client(timeout=GUARD) as http:
            url = f"http://127.0.0.1:{port}"
            response = http.post(
                url + "/v1/chat/completions",
                json={"model": "m", "messages": [{"role": "user", "content": "hi"}]},
            )
            services = http.get(url + "/health").json()["services"]
    finally:
        server.should_exit = True
        thread.join(10)
    assert response.status_code == 503
    assert all(s["base_url"] != f"http://127.0.0.1:{port}" for s in services)

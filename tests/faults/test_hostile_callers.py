"""Hostile callers against a real ``modelport serve`` process (issue 18): every case is
what a caller sees on the wire, next to the hostile-server suite.

The gateway under test runs with short timeouts (:data:`IDLE` and :data:`HEAD`
seconds) so the cases are quick; each wait is bounded by a generous guard, and
nothing asserts how fast anything runs, except where the issue defines the outcome
by a deadline (a real caller served within the idle timeout plus 5 s while 1,100
idle connections are held).
"""

from __future__ import annotations

import json
import resource
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from .gateways import (
    GUARD,
    Answer,
    Serve,
    connect,
    free_port,
    head,
    idle_connections,
    read_answer,
)
from .hostile import DEEP
from .kinds import OPENAI
from .servers import Conn, FaultServer, Received

pytestmark = pytest.mark.socket

IDLE = 1.0
"""The gateway's --idle-timeout in these tests (seconds)."""
HEAD = 3.0
"""Its --head-timeout."""
MAX_HEAD = 64 * 1024
"""The documented largest request head (line and headers)."""
KEY = "hostile-test-key"
MiB = 1 << 20


def upstream_script(conn: Conn, request: Received) -> None:
    """An OpenAI-compatible server: model ``m`` answers at once, model ``slow`` streams
    five pieces :data:`IDLE` * 1.5 s apart (longer than every timeout in all)."""
    if request.path == "/v1/models":
        body = {"object": "list", "data": [{"id": "m"}, {"id": "slow"}]}
        conn.respond(200, json.dumps(body).encode())
        return
    if request.path != "/v1/chat/completions":
        conn.respond(404, b'{"error": "not found"}')
        return
    data = request.json()
    if data.get("model") != "slow":
        conn.respond(200, OPENAI.reply("hello"))
        return
    headers = {"content-type": "text/event-stream", "transfer-encoding": "chunked"}
    if not conn.head(200, headers):
        return
    for index in range(5):
        if index and not conn.wait(IDLE * 1.5):
            return
        if not conn.chunk(OPENAI.piece(f"p{index} ")):
            return
    conn.chunk(OPENAI.finish())
    conn.end_chunks()


@pytest.fixture(scope="module")
def upstream() -> Iterator[FaultServer]:
    server = FaultServer(upstream_script).start()
    yield server
    server.stop()


def _limits(*extra: str) -> list[str]:
    return ["--idle-timeout", str(IDLE), "--head-timeout", str(HEAD), *extra]


@pytest.fixture(scope="module")
def gateway(upstream: FaultServer) -> Iterator[Serve]:
    """A gateway without keys (this machine only), in front of :func:`upstream_script`."""
    args = _limits("--max-body", "1MB", "--max-body-memory", "2MB")
    with Serve("--service", f"up={upstream.url}", *args) as served:
        yield served


@pytest.fixture(scope="module")
def patient(upstream: FaultServer) -> Iterator[Serve]:
    """Like :func:`gateway`, with timeouts no test comes near: for the cases that hold
    connections open on purpose while something else happens."""
    args = ["--max-body", "1MB", "--max-body-memory", "2MB", "--idle-timeout", "60"]
    with Serve("--service", f"up={upstream.url}", *args) as served:
        yield served


@pytest.fixture(scope="module")
def keyed(upstream: FaultServer) -> Iterator[Serve]:
    with Serve("--service", f"up={upstream.url}", "--api-key", KEY, *_limits()) as served:
        yield served


def ask(gateway: Serve, data: bytes) -> Answer:
    with connect(gateway.port) as sock:
        sock.sendall(data)
        return read_answer(sock)


def chat_head(length: int, path: str = "/v1/chat/completions", *, expect: bool = False) -> bytes:
    headers = [("content-type", "application/json"), ("content-length", str(length))]
    if expect:
        headers.append(("expect", "100-continue"))
    return head("POST", path, headers)


HELLO = json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}]}).encode()


# ---------------------------------------------------------------------------- the head: size


def padded_head(total: int) -> bytes:
    """A ``GET /health`` whose whole head (line, headers, blank line) is ``total`` bytes."""
    bare = head("GET", "/health", [("x-pad", "")])
    return head("GET", "/health", [("x-pad", "p" * (total - len(bare)))])


def test_a_head_at_the_limit_is_served_and_one_byte_more_is_431(gateway: Serve) -> None:
    fits = ask(gateway, padded_head(MAX_HEAD))
    over = ask(gateway, padded_head(MAX_HEAD + 1))
    assert fits.status == 200, fits
    assert over.status == 431, over
    assert over.closed
    assert json.loads(over.body)["error"]["code"] == "headers_too_large"


def test_a_300_mb_header_is_cut_at_the_limit_and_memory_stays_flat(gateway: Serve) -> None:
    before = gateway.rss()
    sent = 0
    answer: list[Answer] = []
    block = b"a" * MiB

    def attack() -> None:
        nonlocal sent
        with connect(gateway.port) as sock:
            try:
                sock.sendall(b"GET /health HTTP/1.1\r\nhost: localhost\r\nx-huge: ")
                while sent < 300 * MiB:
                    sock.sendall(block)
                    sent += len(block)
            except (BrokenPipeError, ConnectionResetError):
                pass
            answer.append(read_answer(sock))

    attacker = threading.Thread(target=attack, daemon=True)
    attacker.start()
    others = httpx.get(gateway.url + "/health", timeout=GUARD)  # others are still served
    attacker.join(GUARD)
    assert not attacker.is_alive(), "the gateway kept reading a 300 MB header"
    assert others.status_code == 200
    assert sent < 300 * MiB, "the whole header was taken"
    assert answer and answer[0].status == 431 and answer[0].closed, answer
    assert gateway.rss() - before < 32 * MiB, f"RSS grew by {(gateway.rss() - before) // MiB} MiB"


# ---------------------------------------------------------------------------- the head: time


def test_a_connection_that_sends_nothing_gets_408_after_the_idle_timeout(gateway: Serve) -> None:
    with connect(gateway.port) as sock:
        answer = read_answer(sock)
    assert answer.status == 408 and answer.closed, answer
    assert json.loads(answer.body)["error"]["code"] == "request_timeout"


def test_a_head_that_stops_halfway_gets_408(gateway: Serve) -> None:
    with connect(gateway.port) as sock:
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nhost: loc")
        answer = read_answer(sock)
    assert answer.status == 408 and answer.closed, answer


def test_a_head_that_trickles_forever_gets_408_by_the_head_timeout(gateway: Serve) -> None:
    # A byte every third of the idle timeout: never idle, so only the bound on the
    # whole head can end it (slowloris).
    stop = threading.Event()

    def trickle(sock: socket.socket) -> None:
        try:
            sock.sendall(b"GET /health HTTP/1.1\r\nhost: localhost\r\n")
            while not stop.wait(IDLE / 3):
                sock.sendall(b"x-slow: 1\r\n")
        except OSError:
            pass

    with connect(gateway.port) as sock:
        sender = threading.Thread(target=trickle, args=(sock,), daemon=True)
        sender.start()
        answer = read_answer(sock)
        stop.set()
        sender.join(GUARD)
    assert answer.status == 408 and answer.closed, answer


# ---------------------------------------------------------------------------- bodies


def test_a_body_shorter_than_its_length_gets_408(gateway: Serve) -> None:
    with connect(gateway.port) as sock:
        sock.sendall(chat_head(len(HELLO)) + HELLO[:10])
        answer = read_answer(sock)
    assert answer.status == 408 and answer.closed, answer


def test_a_slow_upload_that_keeps_coming_is_never_cut(gateway: Serve) -> None:
    # The body takes longer than every timeout together, a piece every fifth of the
    # idle timeout.
    pieces = [HELLO[i : i + 3] for i in range(0, len(HELLO), 3)]
    assert len(pieces) * IDLE / 5 > IDLE + HEAD
    with connect(gateway.port) as sock:
        sock.sendall(chat_head(len(HELLO)))
        for piece in pieces:
            time.sleep(IDLE / 5)
            sock.sendall(piece)
        answer = read_answer(sock)
    assert answer.status == 200, answer
    assert json.loads(answer.body)["choices"][0]["message"]["content"] == "hello"


def test_a_response_longer_than_every_timeout_is_never_cut(gateway: Serve) -> None:
    body = {"model": "slow", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    with httpx.stream(
        "POST", gateway.url + "/v1/chat/completions", json=body, timeout=GUARD
    ) as response:
        lines = [line for line in response.iter_lines() if line.startswith("data: ")]
    assert response.status_code == 200
    texts = [
        json.loads(line[6:])["choices"][0]["delta"].get("content")
        for line in lines
        if line != "data: [DONE]"
    ]
    assert "".join(t for t in texts if t) == "p0 p1 p2 p3 p4 "
    assert lines[-1] == "data: [DONE]"


def test_a_kept_alive_connection_left_idle_is_closed_quietly(gateway: Serve) -> None:
    with connect(gateway.port) as sock:
        sock.sendall(head("GET", "/health"))
        first = read_answer(sock, close_wait=IDLE / 4)
        assert first.status == 200 and not first.closed
        after = read_answer(sock)
    assert after.status is None and after.closed  # no unasked-for 408 on a reused connection


def begin_upload(port: int, length: int, first: bytes) -> socket.socket:
    """A chat request whose body is on its way: the gateway has read the head and
    asked for the body (100 Continue), and has ``first`` of it."""
    sock = connect(port)
    sock.sendall(chat_head(length, expect=True))
    sock.settimeout(GUARD)
    got = b""
    while b"\r\n\r\n" not in got:
        got += sock.recv(1024)
    assert got.startswith(b"HTTP/1.1 100 "), got
    sock.sendall(first)
    return sock


def test_bodies_held_at_once_beyond_the_memory_cap_get_503_with_retry_after(
    patient: Serve,
) -> None:
    # --max-body 1MB --max-body-memory 2MB: two bodies of 1 MB on their way hold it all.
    gateway = patient
    size = MiB
    held = [begin_upload(gateway.port, size, b" " * 1000) for _ in range(2)]
    try:
        refused = ask(gateway, chat_head(len(HELLO)) + HELLO)
        for sock in held:
            sock.sendall(b" " * (size - 1000 - len(HELLO)) + HELLO)
        done = [read_answer(sock) for sock in held]
    finally:
        for sock in held:
            sock.close()
    assert refused.status == 503, refused
    assert int(refused.headers["retry-after"]) >= 1
    assert [a.status for a in done] == [200, 200]
    assert ask(gateway, chat_head(len(HELLO)) + HELLO).status == 200  # given back


# ---------------------------------------------------------------------------- connections


def test_at_the_connection_cap_a_busy_gateway_refuses_with_503(upstream: FaultServer) -> None:
    args = ("--service", f"up={upstream.url}", "--max-connections", "2", "--idle-timeout", "60")
    with Serve(*args) as gw:
        busy = [begin_upload(gw.port, len(HELLO), HELLO[:5]) for _ in range(2)]
        try:
            third = ask(gw, head("GET", "/health"))
            for sock in busy:
                sock.sendall(HELLO[5:])
            done = [read_answer(sock) for sock in busy]
        finally:
            for sock in busy:
                sock.close()
    assert third.status == 503 and "retry-after" in third.headers, third
    assert [a.status for a in done] == [200, 200]


def test_at_the_connection_cap_kept_alive_idle_connections_make_room(upstream: FaultServer) -> None:
    # Callers that sent a request, got their answer and keep the connection open
    # (every HTTP client's pool) have nothing in progress: a new caller is not locked
    # out until their keep-alive runs out.
    args = ("--service", f"up={upstream.url}", "--max-connections", "2", "--idle-timeout", "60")
    with Serve(*args) as gw:
        kept = [connect(gw.port), connect(gw.port)]
        try:
            for sock in kept:
                sock.sendall(head("GET", "/health"))
                assert read_answer(sock, close_wait=0).status == 200
            third = ask(gw, head("GET", "/health"))
            closed = [read_answer(sock, timeout=5).closed for sock in kept]
        finally:
            for sock in kept:
                sock.close()
    assert third.status == 200, third
    assert closed.count(True) == 1, closed  # the oldest made room, quietly


def test_1100_idle_connections_under_ulimit_1024_do_not_lock_out_a_real_caller(
    upstream: FaultServer,
) -> None:
    idle = 5.0
    args = ("--service", f"up={upstream.url}", "--idle-timeout", str(idle))
    with Serve(*args, open_files=1024) as gw, idle_connections(gw.port, 1100):
        # The test: a real caller succeeds within the idle timeout + 5 s.
        reply = httpx.post(
            gw.url + "/v1/chat/completions", json=json.loads(HELLO), timeout=idle + 5
        )
        assert reply.status_code == 200, reply.text
        assert gw.fds() < 1024
        assert "Too many open files" not in gw.log()


# ---------------------------------------------------------------------------- what is asked


def test_a_rebound_host_name_gets_403(gateway: Serve) -> None:
    answer = ask(
        gateway,
        b"GET /v1/models HTTP/1.1\r\nhost: attacker.example:11435\r\norigin: http://attacker.example\r\n\r\n",
    )
    assert answer.status == 403, answer
    assert "access-control-allow-origin" not in answer.headers


def test_a_preflight_from_a_local_page_needs_no_key(keyed: Serve) -> None:
    preflight = [
        ("origin", "http://localhost:5173"),
        ("access-control-request-method", "POST"),
        ("access-control-request-headers", "authorization, content-type"),
    ]
    answer = ask(keyed, head("OPTIONS", "/v1/chat/completions", preflight))
    assert answer.status == 204, answer
    assert answer.headers["access-control-allow-origin"] == "http://localhost:5173"


def test_health_without_a_key_is_only_a_status_word(keyed: Serve) -> None:
    bare = httpx.get(keyed.url + "/health", timeout=GUARD)
    full = httpx.get(keyed.url + "/health", headers={"x-api-key": KEY}, timeout=GUARD)
    assert bare.status_code == 200 and bare.json() == {"status": "ok"}
    assert full.status_code == 200 and [s["name"] for s in full.json()["services"]] == ["up"]


def test_a_path_cannot_forge_a_log_line(gateway: Serve) -> None:
    forged = "/v1/models%0a12:00:00%20POST%20/v1/chat/completions%20200%20model=x"
    before = len(gateway.access_lines())
    assert ask(gateway, head("GET", forged)).status == 404
    time.sleep(0.2)
    lines = gateway.access_lines()[before:]
    assert len(lines) == 1, lines
    assert "\\x0a" in lines[0], lines


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/api/chat"])
def test_json_nested_100000_deep_is_a_400(gateway: Serve, path: str) -> None:
    body = b'{"model": "m", "messages": ' + DEEP + b"}"
    reply = httpx.post(gateway.url + path, content=body, timeout=GUARD)
    assert reply.status_code == 400, reply.text
    assert "Traceback" not in gateway.log()


def test_an_empty_key_never_opens_a_public_gateway() -> None:
    # serve --host 0.0.0.0 --api-key "$KEY" with KEY unset, as the docs show it
    port = free_port()
    with pytest.raises(RuntimeError, match="empty"):
        Serve("--host", "0.0.0.0", "--api-key", "", port=port)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_the_open_file_limit_is_raised_and_caps_the_connections(upstream: FaultServer) -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 4096:
        pytest.skip(f"the hard limit on open files here is {hard}")
    with Serve("--service", f"up={upstream.url}", *_limits(), open_files=(1024, 4096)) as gw:
        with open(f"/proc/{gw.pid}/limits") as file:
            limits = file.read()
        banner = gw.banner
    line = next(line for line in limits.splitlines() if line.startswith("Max open files"))
    assert line.split()[3:5] == ["4096", "4096"], line
    assert "2016 connections" in banner, banner  # (4096 - 64) / 2

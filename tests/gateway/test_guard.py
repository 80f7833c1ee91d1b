"""The connection guard of ``modelport serve`` without sockets: a recorded transport
and a stand-in for the server's protocol, fed bytes by hand. Where each request is,
where each response ends (HEAD, 100 Continue, chunked, pipelined), what a timeout,
an oversized head and the connection cap answer. The real process is proven against
the same cases in ``tests/faults/test_hostile_callers.py``."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from modelport.gateway import ServerLimits
from modelport.gateway._guard import ANSWER, BODY, FRESH, HEAD, IDLE, Connections, Guard

pytestmark = pytest.mark.anyio


class Transport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written = b""
        self.closed = False
        self.eof = False

    def write(self, data: Any) -> None:
        self.written += bytes(data)

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def can_write_eof(self) -> bool:
        return True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def write_eof(self) -> None:
        self.eof = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default


class Server(asyncio.Protocol):
    """What the HTTP server's protocol is told."""

    def __init__(self) -> None:
        self.data = b""
        self.lost: list[Exception | None] = []
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.data += data

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost.append(exc)


def guarded(connections: Connections) -> tuple[Guard, Server, Transport]:
    server, transport = Server(), Transport()
    guard = Guard(server, connections)
    guard.connection_made(transport)
    return guard, server, transport


LIMITS = ServerLimits(idle_timeout=10, head_timeout=30, max_head=1024, max_connections=2)
GET = b"GET /health HTTP/1.1\r\nhost: localhost\r\n\r\n"
OK = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"


async def test_a_request_goes_through_its_phases_and_its_response_makes_it_idle() -> None:
    guard, server, _ = guarded(Connections(LIMITS))
    assert guard.phase == FRESH
    guard.data_received(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n")
    assert guard.phase == HEAD
    guard.data_received(b"content-length: 4\r\n\r\nab")
    assert guard.phase == BODY
    guard.data_received(b"cd")
    assert guard.phase == ANSWER
    server.transport.write(OK[:20])
    assert guard.phase == ANSWER  # the response has not ended
    server.transport.write(OK[20:])
    assert guard.phase == IDLE
    assert server.data.endswith(b"abcd")  # the server got every byte


async def test_a_chunked_response_ends_at_its_last_chunk() -> None:
    guard, server, _ = guarded(Connections(LIMITS))
    guard.data_received(GET)
    server.transport.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
    server.transport.write(b"5\r\nhello\r\n")
    assert guard.phase == ANSWER
    server.transport.write(b"0\r\n\r\n")
    assert guard.phase == IDLE


async def test_an_answer_to_head_ends_with_its_head_and_the_next_one_is_read_right() -> None:
    guard, server, _ = guarded(Connections(LIMITS))
    guard.data_received(b"HEAD / HTTP/1.1\r\nhost: x\r\n\r\n")
    server.transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 17\r\n\r\n")
    assert guard.phase == IDLE
    guard.data_received(GET)
    server.transport.write(OK)
    assert guard.phase == IDLE


async def test_100_continue_is_not_the_end_of_the_response() -> None:
    guard, server, _ = guarded(Connections(LIMITS))
    guard.data_received(b"POST / HTTP/1.1\r\nexpect: 100-continue\r\ncontent-length: 2\r\n\r\n")
    server.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    guard.data_received(b"{}")
    assert guard.phase == ANSWER
    server.transport.write(OK)
    assert guard.phase == IDLE


async def test_pipelined_requests_stay_busy_until_the_last_response() -> None:
    guard, server, _ = guarded(Connections(LIMITS))
    guard.data_received(GET + GET)
    server.transport.write(OK)
    assert guard.phase == ANSWER  # the second one is still waiting for its answer
    server.transport.write(OK)
    assert guard.phase == IDLE


@pytest.mark.parametrize("pieces", [1, 7, 200])
async def test_a_head_at_the_limit_passes_and_one_byte_more_is_431(pieces: int) -> None:
    def head_of(size: int) -> bytes:
        bare = b"GET / HTTP/1.1\r\nx-pad: \r\n\r\n"
        return b"GET / HTTP/1.1\r\nx-pad: " + b"p" * (size - len(bare)) + b"\r\n\r\n"

    for size, refused in ((LIMITS.max_head, False), (LIMITS.max_head + 1, True)):
        guard, server, transport = guarded(Connections(LIMITS))
        data = head_of(size)
        step = -(-len(data) // pieces)
        for i in range(0, len(data), step):
            guard.data_received(data[i : i + step])
        assert transport.written.startswith(b"HTTP/1.1 431 ") is refused
        assert (server.lost == [None]) is refused  # the server sees the caller leave


async def test_a_timeout_answers_408_then_closes_after_a_linger() -> None:
    connections = Connections(LIMITS)
    guard, server, transport = guarded(connections)
    guard.data_received(b"GET / HTTP/1.1\r\n")
    guard.check(guard.last + LIMITS.idle_timeout + 1)
    assert transport.written.startswith(b"HTTP/1.1 408 ")
    assert transport.eof and not transport.closed  # read a while, so the 408 is not lost
    assert server.lost == [None]
    assert guard not in connections.open


@pytest.mark.parametrize(
    "sent",
    [b"", b"POST / HTTP/1.1\r\ncontent-length: 9\r\n\r\nab"],
    ids=["nothing-ever-came", "a-stalled-body"],
)
async def test_no_byte_for_the_idle_timeout_is_408(sent: bytes) -> None:
    guard, _, transport = guarded(Connections(LIMITS))
    if sent:
        guard.data_received(sent)
    guard.check(guard.last + LIMITS.idle_timeout - 1)
    assert transport.written == b""
    guard.check(guard.last + LIMITS.idle_timeout + 1)
    assert transport.written.startswith(b"HTTP/1.1 408 ")


async def test_a_head_that_keeps_trickling_ends_at_the_head_timeout() -> None:
    guard, _, transport = guarded(Connections(LIMITS))
    guard.data_received(b"GET / HTTP/1.1\r\n")
    started = guard.since
    for second in range(1, int(LIMITS.head_timeout)):
        guard.last = started + second  # a byte every second: never idle
        guard.check(started + second + 0.5)
    assert transport.written == b""
    guard.check(started + LIMITS.head_timeout + 0.5)
    assert transport.written.startswith(b"HTTP/1.1 408 ")


async def test_an_answer_in_progress_and_a_paused_server_are_never_timed() -> None:
    guard, _, transport = guarded(Connections(LIMITS))
    guard.data_received(GET)
    guard.check(guard.last + 3600)
    assert transport.written == b"" and not transport.closed  # the model takes its time
    guard2, server2, transport2 = guarded(Connections(LIMITS))
    guard2.data_received(b"POST / HTTP/1.1\r\ncontent-length: 9\r\n\r\nab")
    server2.transport.pause_reading()
    guard2.check(guard2.last + 3600)
    assert transport2.written == b""
    server2.transport.resume_reading()
    guard2.check(guard2.last + 1)
    assert transport2.written == b""


async def test_at_the_cap_the_oldest_connection_without_a_request_makes_room() -> None:
    connections = Connections(LIMITS)  # two at most
    busy, _, busy_transport = guarded(connections)
    busy.data_received(GET)  # in progress: never closed for room
    _, _, idle_transport = guarded(connections)
    newcomer, _, _ = guarded(connections)
    assert idle_transport.closed and idle_transport.written == b""  # quietly
    assert not busy_transport.closed
    assert newcomer in connections.open
    newcomer.data_received(GET)
    last, _, last_transport = guarded(connections)  # every one is working now
    assert last_transport.written.startswith(b"HTTP/1.1 503 ")
    assert b"retry-after: 1" in last_transport.written
    assert last not in connections.open

"""A small toolkit of misbehaving HTTP servers on 127.0.0.1, for fault-injection tests.

A :class:`FaultServer` listens on ``127.0.0.1`` (port 0: the kernel picks a free
port), accepts connections in a background thread and serves each one in its own
thread. It reads each HTTP/1.1 request itself (no HTTP library on the server side,
so it can break the protocol in any way) and hands it to a *script*: a function
``(conn, request) -> None`` that writes whatever bytes it likes, stalls, closes or
resets the connection. Scripts for each kind of misbehaviour are built by the
functions at the bottom of this module (:func:`silent`, :func:`stream`, ...).

The server watches what the *client* does with each connection, which is how the
tests prove that nothing leaks: :meth:`FaultServer.wait_settled` waits until every
connection is either closed or back to idle keep-alive (a client that keeps a broken
connection open makes it time out), and :meth:`FaultServer.wait_all_closed` waits
until the client closed every connection (after ``provider.close()``).

Scripts that need to wait for the client (for example "reset the connection once
the client has received two chunks") wait on :meth:`Conn.wait_release`; the test
calls :meth:`FaultServer.release` when the client has seen what it should. This
keeps the tests free of timing: nothing depends on how fast anything runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import select
import socket
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Literal

__all__ = [
    "Conn",
    "ConnRecord",
    "FaultServer",
    "HoldingServer",
    "Received",
    "Script",
    "Tally",
    "answer",
    "body_cut_short",
    "close_without_answer",
    "closed_port_url",
    "drip",
    "echo_authorization",
    "flood",
    "gzip_answer",
    "headers_then_stall",
    "html_error_page",
    "huge_line",
    "not_http",
    "reset_without_answer",
    "sequence",
    "silent",
    "stream",
    "trickle",
    "slow_headers",
]

HOLD_LIMIT = 30.0
"""The longest a script waits for the client (a safety net; tests never get near it)."""

HTML_502 = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx/1.24.0</center>\r\n"
    b"</body>\r\n</html>\r\n"
)
"""What nginx answers when the model server behind it is down (its stock error page)."""


@dataclass
class Received:
    """One request as the server read it off the socket."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        import json

        return json.loads(self.body) if self.body else None


@dataclass
class ConnRecord:
    """What happened to one accepted connection, as the server saw it."""

    requests: int = 0
    state: Literal["busy", "idle", "closed"] = "busy"
    closed_by: Literal["client", "server", "stop", None] = None
    changed: threading.Condition = field(default_factory=threading.Condition)

    def set(self, state: Literal["busy", "idle", "closed"], by: Any = None) -> None:
        with self.changed:
            if self.state == "closed":
                return
            self.state = state
            if state == "closed":
                self.closed_by = by
            self.changed.notify_all()


Script = Callable[["Conn", Received], None]
"""How the server answers one request: write bytes, stall, close or reset."""


class Conn:
    """One accepted connection, as a script sees it."""

    def __init__(self, sock: socket.socket, server: FaultServer, record: ConnRecord) -> None:
        self.sock = sock
        self.server = server
        self.record = record
        self.closed = False
        self._pending = b""

    # ---- writing ------------------------------------------------------------------

    def send(self, data: bytes) -> bool:
        """Send bytes; ``False`` once the client has gone (the script should stop)."""
        if self.closed:
            return False
        try:
            self.sock.sendall(data)
        except OSError:
            self._gone("client")
            return False
        return True

    def head(
        self, status: int = 200, headers: Mapping[str, str] | None = None, reason: str = ""
    ) -> bool:
        """Send a status line and headers (and nothing else)."""
        phrase = reason or HTTPStatus(status).phrase
        lines = [f"HTTP/1.1 {status} {phrase}"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        return self.send(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

    def respond(
        self,
        status: int,
        body: bytes,
        *,
        content_type: str = "application/json",
        headers: Mapping[str, str] | None = None,
    ) -> bool:
        """A complete response with a correct ``Content-Length``."""
        all_headers = {"content-type": content_type, "content-length": str(len(body))}
        all_headers.update(headers or {})
        return self.head(status, all_headers) and self.send(body)

    def chunk(self, data: bytes) -> bool:
        """One chunk of a ``Transfer-Encoding: chunked`` body."""
        return self.send(f"{len(data):x}\r\n".encode() + data + b"\r\n")

    def end_chunks(self) -> bool:
        return self.send(b"0\r\n\r\n")

    # ---- waiting --------------------------------------------------------------------

    def wait(self, seconds: float) -> bool:
        """Sleep, unless the server is stopping; ``False`` if it is."""
        return not self.server.stopping.wait(seconds)

    def wait_release(self, timeout: float = HOLD_LIMIT) -> bool:
        """Wait until the test calls :meth:`FaultServer.release`; ``False`` if the
        client hangs up first (or the server stops)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.closed:
            if self.server.released.is_set():
                return True
            data = self._recv(min(deadline, time.monotonic() + 0.02))
            if data == b"":
                self._gone("client")
        return self.server.released.is_set() and not self.closed

    def hold(self, timeout: float = HOLD_LIMIT) -> None:
        """Say nothing more; return once the client closes the connection.

        Anything the client sends meanwhile is read and ignored.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.closed:
            data = self._recv(deadline)
            if data is None:
                continue
            if not data:
                self._gone("client")
                return
        if not self.closed:
            self.close(by="stop")

    # ---- ending -----------------------------------------------------------------------

    def close(self, by: Literal["client", "server", "stop"] = "server") -> None:
        """Close the connection cleanly (FIN)."""
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self.record.set("closed", by)

    def reset(self) -> None:
        """Abort the connection: ``SO_LINGER`` 0 makes close() send a TCP RST."""
        if self.closed:
            return
        with contextlib.suppress(OSError):
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.closed = True
        self.sock.close()
        self.record.set("closed", "server")

    # ---- reading (used by the server loop) ------------------------------------------

    def _gone(self, by: Literal["client", "server", "stop"]) -> None:
        if not self.closed:
            self.closed = True
            with contextlib.suppress(OSError):
                self.sock.close()
            self.record.set("closed", by)

    def _recv(self, deadline: float) -> bytes | None:
        """Bytes, ``b""`` when the client closed, ``None`` when nothing arrived yet."""
        if self.server.stopping.is_set():
            self._gone("stop")
            return b""
        try:
            # never negative: a caller late past its deadline (a loaded machine) polls,
            # instead of select() raising and the client being taken for gone
            wait = max(0.0, min(0.05, deadline - time.monotonic()))
            ready, _, _ = select.select([self.sock], [], [], wait)
            if not ready:
                return None
            return self.sock.recv(65536)
        except (OSError, ValueError):
            return b""

    def read_request(self) -> Received | None:
        """The next request, or ``None`` when the client closed the connection."""
        buffer = self._pending
        deadline = time.monotonic() + HOLD_LIMIT
        while b"\r\n\r\n" not in buffer:
            data = self._recv(deadline)
            if data is None:
                if time.monotonic() >= deadline:
                    return None
                continue
            if not data:
                self._gone("client")
                return None
            buffer += data
        head, _, rest = buffer.partition(b"\r\n\r\n")
        request_line, *header_lines = head.decode("latin-1").split("\r\n")
        method, path, _ = request_line.split(" ", 2)
        headers: dict[str, str] = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        while len(rest) < length:
            data = self._recv(deadline)
            if data is None:
                continue
            if not data:
                self._gone("client")
                return None
            rest += data
        self._pending = rest[length:]
        return Received(method, path, headers, rest[:length])


class FaultServer:
    """An HTTP server on 127.0.0.1 that answers each request with a script.

    Args:
        routes: a script for every request, or a mapping from ``"/path"`` or
            ``"METHOD /path"`` to a script; other paths get a JSON 404.
        port: the port to listen on (0: one the kernel picks).
    """

    def __init__(self, routes: Script | Mapping[str, Script], *, port: int = 0) -> None:
        self.routes: Mapping[str, Script] = routes if isinstance(routes, Mapping) else {}
        self.default: Script = routes if callable(routes) else _not_found
        self.requests: list[Received] = []
        self.records: list[ConnRecord] = []
        self.errors: list[BaseException] = []
        """Exceptions raised by scripts (a bug in the test, not in modelport)."""
        self.released = threading.Event()
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._socks: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", port))
        self._listener.listen(64)
        self._listener.settimeout(0.05)
        self.port: int = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._acceptor = threading.Thread(target=self._accept_loop, daemon=True)

    # ---- lifecycle ----------------------------------------------------------------------

    def start(self) -> FaultServer:
        self._acceptor.start()
        return self

    def stop(self) -> None:
        """Stop accepting, end every script and close every connection."""
        self.stopping.set()
        self._acceptor.join(5)
        self._listener.close()
        with self._lock:
            socks = list(self._socks)
            threads = list(self._threads)
        for sock in socks:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # unblocks a sendall() to a stuck client
        for thread in threads:
            thread.join(5)

    def __enter__(self) -> FaultServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ---- what the test controls and observes ----------------------------------------

    def release(self) -> None:
        """Let scripts waiting in :meth:`Conn.wait_release` carry on."""
        self.released.set()

    def paths(self) -> list[str]:
        with self._lock:
            return [f"{r.method} {r.path}" for r in self.requests]

    @property
    def connections(self) -> int:
        with self._lock:
            return len(self.records)

    def wait_settled(self, timeout: float = 10.0) -> bool:
        """Wait until no connection is in the middle of a response: each one is closed,
        or idle waiting for the client's next request. A client that keeps a broken
        connection open (a leak) keeps it busy, and this returns ``False``.
        """
        return self._wait(lambda r: r.state != "busy", timeout)

    def wait_all_closed(self, timeout: float = 10.0) -> bool:
        """Wait until every connection has been closed (by either side)."""
        return self._wait(lambda r: r.state == "closed", timeout)

    def closed_by_client(self) -> list[bool]:
        with self._lock:
            return [r.closed_by == "client" for r in self.records]

    def _wait(self, done: Callable[[ConnRecord], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._lock:
            records = list(self.records)
        for record in records:
            with record.changed:
                while not done(record):
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return False
                    record.changed.wait(left)
        return True

    # ---- the loops ------------------------------------------------------------------------

    def _accept_loop(self) -> None:
        while not self.stopping.is_set():
            try:
                sock, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            sock.setblocking(True)
            record = ConnRecord()
            thread = threading.Thread(target=self._serve, args=(sock, record), daemon=True)
            with self._lock:
                self.records.append(record)
                self._socks.append(sock)
                self._threads.append(thread)
            thread.start()

    def _serve(self, sock: socket.socket, record: ConnRecord) -> None:
        conn = Conn(sock, self, record)
        try:
            while not conn.closed:
                record.set("idle")
                request = conn.read_request()
                if request is None:
                    break
                record.set("busy")
                record.requests += 1
                with self._lock:
                    self.requests.append(request)
                self._script_for(request)(conn, request)
        except Exception as exc:  # a broken script: report it, never hang the test
            self.errors.append(exc)
        finally:
            conn.close(by="stop" if self.stopping.is_set() else "server")

    def _script_for(self, request: Received) -> Script:
        return (
            self.routes.get(f"{request.method} {request.path}")
            or self.routes.get(request.path)
            or self.default
        )


class HoldingServer:
    """A loopback server for many connections at once (an asyncio loop in a thread):
    each connection gets ``head`` once its request has arrived, and is then held until
    ``hold`` seconds after it was accepted, or until the client closes it, and closed.

    A connection on which no request ever comes is held and closed just the same, so
    once the client stops connecting, :meth:`wait_all_closed` returns when the server
    has closed its side of everything; any socket the client still has open to it
    after that is one the client leaked.
    """

    def __init__(self, head: bytes, *, hold: float = 2.0) -> None:
        self.head = head
        self.hold = hold
        self.accepted = 0
        self.open = 0
        self._quiet = threading.Event()
        self._quiet.set()
        self._ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.port = 0
        self.url = ""

    def __enter__(self) -> HoldingServer:
        self._thread.start()
        if not self._ready.wait(HOLD_LIMIT):
            raise RuntimeError("the holding server did not start")
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(HOLD_LIMIT)

    def wait_all_closed(self, timeout: float = HOLD_LIMIT) -> bool:
        """Wait until the server has no connection open (call it once the client has
        stopped making new ones)."""
        return self._quiet.wait(timeout)

    def _run(self) -> None:
        self._loop.run_until_complete(self._main())
        self._loop.close()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        server = await asyncio.start_server(self._serve, "127.0.0.1", 0, backlog=4096)
        self.port = server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._ready.set()
        async with server:
            await self._stop.wait()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self.open += 1
        self._quiet.clear()
        loop = asyncio.get_running_loop()
        until = loop.time() + self.hold
        try:
            await asyncio.wait_for(self._answer(reader, writer), self.hold)
            await asyncio.wait_for(reader.read(), max(0.0, until - loop.time()))
        except (asyncio.TimeoutError, OSError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            self.open -= 1
            if self.open == 0:
                self._quiet.set()

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        for line in head.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                await reader.readexactly(int(value))
        writer.write(self.head)
        await writer.drain()


def _not_found(conn: Conn, request: Received) -> None:
    conn.respond(404, b'{"error": {"message": "File Not Found", "code": 404}}')


def closed_port_url() -> str:
    """A loopback URL where nothing listens (connections are refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# ------------------------------------------------------------------------------ scripts


def silent() -> Script:
    """Accept the connection, read the request, never answer."""

    def script(conn: Conn, request: Received) -> None:
        conn.hold()

    return script


def close_without_answer() -> Script:
    """Read the request, then close the connection without a response."""

    def script(conn: Conn, request: Received) -> None:
        conn.close()

    return script


def reset_without_answer() -> Script:
    """Read the request, then abort the connection (TCP RST)."""

    def script(conn: Conn, request: Received) -> None:
        conn.reset()

    return script


def not_http() -> Script:
    """Answer with something that is not HTTP (an SSH banner), then close."""

    def script(conn: Conn, request: Received) -> None:
        conn.send(b"SSH-2.0-OpenSSH_9.6\r\n")
        conn.close()

    return script


def answer(
    status: int,
    body: bytes,
    *,
    content_type: str = "application/json",
    headers: Mapping[str, str] | None = None,
) -> Script:
    """A complete, well-formed response (whatever its status and body say)."""

    def script(conn: Conn, request: Received) -> None:
        conn.respond(status, body, content_type=content_type, headers=headers)

    return script


def html_error_page(status: int = 502, page: bytes = HTML_502) -> Script:
    """A reverse proxy's HTML error page (nginx's 502 by default)."""
    return answer(status, page, content_type="text/html", headers={"server": "nginx/1.24.0"})


def headers_then_stall(
    *, status: int = 200, content_type: str = "application/json", first: bytes = b""
) -> Script:
    """Send the headers (promising a body) and ``first`` bytes of it, then nothing."""

    def script(conn: Conn, request: Received) -> None:
        length = len(first) + 4096
        headers = {"content-type": content_type, "content-length": str(length)}
        if conn.head(status, headers) and conn.send(first):
            conn.hold()

    return script


def body_cut_short(body: bytes, *, declared: int, status: int = 200) -> Script:
    """Send ``body`` under a ``Content-Length`` of ``declared``, then close.

    ``declared == len(body)`` is a well-framed body that is itself truncated (for
    example half a JSON document); a larger ``declared`` is a body that breaks off.
    """

    def script(conn: Conn, request: Received) -> None:
        headers = {"content-type": "application/json", "content-length": str(declared)}
        if conn.head(status, headers) and conn.send(body):
            conn.close()

    return script


Ending = Literal["end", "hold", "reset", "close", "bad-chunk"]


def stream(
    pieces: Sequence[bytes],
    *,
    content_type: str,
    then: Ending = "end",
    gate: bool = False,
    delay: float = 0.0,
    tail: bytes = b"",
) -> Script:
    """A chunked streaming response: one chunk per piece, then ``then``.

    ``then``: ``"end"`` finishes the chunked body properly; ``"hold"`` goes silent
    (the connection stays open); ``"reset"`` aborts with a TCP RST; ``"close"``
    closes without the final chunk; ``"bad-chunk"`` sends an invalid chunk header.
    ``gate`` waits for :meth:`FaultServer.release` before the ending (and before
    ``tail``, raw bytes sent as one more chunk); ``delay`` sleeps between pieces.
    """

    def script(conn: Conn, request: Received) -> None:
        headers = {"content-type": content_type, "transfer-encoding": "chunked"}
        if not conn.head(200, headers):
            return
        for index, piece in enumerate(pieces):
            if index and delay and not conn.wait(delay):
                return
            if not conn.chunk(piece):
                return
        if gate and not conn.wait_release():
            return
        if tail and not conn.chunk(tail):
            return
        if then == "end":
            conn.end_chunks()
        elif then == "hold":
            conn.hold()
        elif then == "reset":
            conn.reset()
        elif then == "close":
            conn.close()
        elif then == "bad-chunk" and conn.send(b"zz-not-a-chunk-size\r\nrubbish\r\n"):
            conn.hold()  # the client must give up on its own

    return script


def huge_line(
    pieces: Sequence[bytes], *, content_type: str, prefix: bytes = b"", size: int = 20_000_000
) -> Script:
    """Stream ``pieces``, then ``prefix`` and ``size`` bytes with no newline.

    Stops as soon as the client hangs up, so a client that gives up early costs
    nothing; one that buffers without bound would have to take all of it.
    """
    block = b"x" * 65536

    def script(conn: Conn, request: Received) -> None:
        headers = {"content-type": content_type, "transfer-encoding": "chunked"}
        if not conn.head(200, headers):
            return
        for piece in pieces:
            if not conn.chunk(piece):
                return
        if prefix and not conn.chunk(prefix):
            return
        sent = 0
        while sent < size:
            if not conn.chunk(block):
                return
            sent += len(block)
        conn.end_chunks()
        conn.hold()

    return script


def trickle(
    pieces: Iterable[bytes],
    *,
    delay: float,
    content_type: str = "application/json",
    chunked: bool = False,
) -> Script:
    """Send a response body a piece at a time, ``delay`` seconds apart.

    With ``chunked=False`` the body has a correct ``Content-Length``.
    """
    parts = list(pieces)

    def script(conn: Conn, request: Received) -> None:
        headers = {"content-type": content_type}
        if chunked:
            headers["transfer-encoding"] = "chunked"
        else:
            headers["content-length"] = str(sum(len(p) for p in parts))
        if not conn.head(200, headers):
            return
        for index, part in enumerate(parts):
            if index and not conn.wait(delay):
                return
            if not (conn.chunk(part) if chunked else conn.send(part)):
                return
        if chunked:
            conn.end_chunks()

    return script


def slow_headers(body: bytes, *, delay: float, padding: int = 2_000) -> Script:
    """Send the status line and headers one byte every ``delay`` seconds (a padding
    header makes them long), then ``body``: every read comes within the read timeout,
    but the headers alone would take ``padding * delay`` seconds."""

    def script(conn: Conn, request: Received) -> None:
        head = (
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
            f"x-padding: {'p' * padding}\r\ncontent-length: {len(body)}\r\n\r\n"
        ).encode("latin-1")
        for index in range(len(head)):
            if index and not conn.wait(delay):
                return
            if not conn.send(head[index : index + 1]):
                return
        conn.send(body)

    return script


def sequence(*scripts: Script) -> Script:
    """The first request gets the first script, the second the second...; the last repeats."""
    counter = itertools.count()
    lock = threading.Lock()

    def script(conn: Conn, request: Received) -> None:
        with lock:
            index = next(counter)
        scripts[min(index, len(scripts) - 1)](conn, request)

    return script


# ------------------------------------------------------------------ hostile servers (issue 11)


class Tally:
    """How many bytes of its body a script managed to send before the client hung up.

    Memory is asserted by this bound, never by timing: a client that stops reading at
    its cap makes the server's ``sendall`` fail soon after (the kernel's socket buffers
    hold a few MiB at most); one that buffers without bound takes everything offered.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.sent = 0
        self.finished = False
        """Whether the script sent everything it offered (the client never gave up)."""

    def add(self, count: int) -> None:
        with self._lock:
            self.sent += count


def flood(
    filler: bytes,
    *,
    budget: int,
    tally: Tally,
    head: bytes = b"",
    tail: bytes = b"",
    status: int = 200,
    content_type: str = "application/json",
    chunked: bool = True,
    then: Literal["end", "hold"] = "end",
) -> Script:
    """Send ``head``, then ``filler`` again and again until ``budget`` bytes of it are
    sent or the client hangs up, then ``tail``; every body byte is counted in ``tally``.

    ``chunked=False`` declares the whole length up front (``Content-Length``), as an
    error page or a reply body would.
    """
    repeats = max(1, budget // len(filler))
    block_repeats = max(1, 65536 // len(filler))

    def script(conn: Conn, request: Received) -> None:
        headers = {"content-type": content_type}
        if chunked:
            headers["transfer-encoding"] = "chunked"
        else:
            headers["content-length"] = str(len(head) + repeats * len(filler) + len(tail))
        if not conn.head(status, headers):
            return

        def put(data: bytes) -> bool:
            if not data:
                return True
            ok = conn.chunk(data) if chunked else conn.send(data)
            if ok:
                tally.add(len(data))
            return ok

        if not put(head):
            return
        left = repeats
        while left > 0:
            count = min(left, block_repeats)
            if not put(filler * count):
                return
            left -= count
        if not put(tail):
            return
        tally.finished = True
        if chunked and then == "end":
            conn.end_chunks()
        if then == "hold":
            conn.hold()

    return script


def drip(
    pieces: Sequence[bytes],
    filler: bytes,
    *,
    delay: float,
    content_type: str,
    limit: float = 20.0,
) -> Script:
    """A chunked stream: ``pieces``, then ``filler`` (a keep-alive comment, a blank
    line, a content-free chunk) every ``delay`` seconds, never finishing, until the
    client hangs up (or ``limit`` seconds pass, a safety net)."""

    def script(conn: Conn, request: Received) -> None:
        headers = {"content-type": content_type, "transfer-encoding": "chunked"}
        if not conn.head(200, headers):
            return
        for piece in pieces:
            if not conn.chunk(piece):
                return
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if not conn.wait(delay) or not conn.chunk(filler):
                return
            # notice a client that hung up without waiting for the next send to fail
            if conn._recv(time.monotonic() + 0.001) == b"":
                conn._gone("client")
                return
        conn.close()

    return script


def gzip_answer(
    prefix: bytes,
    padding: bytes,
    size: int,
    suffix: bytes,
    *,
    status: int = 200,
    content_type: str = "application/json",
) -> Script:
    """A gzip-encoded body: ``prefix``, ``size`` bytes of ``padding``, ``suffix``.

    Whitespace padding inside a JSON reply compresses about a thousandfold, so a body of
    a few hundred KiB on the wire inflates to hundreds of MiB (a "gzip bomb").
    """
    body = _gzip(prefix, padding, size, suffix)
    return answer(status, body, content_type=content_type, headers={"content-encoding": "gzip"})


_GZIP_CACHE: dict[tuple[bytes, bytes, int, bytes], bytes] = {}


def _gzip(prefix: bytes, padding: bytes, size: int, suffix: bytes) -> bytes:
    key = (prefix, padding, size, suffix)
    cached = _GZIP_CACHE.get(key)
    if cached is not None:
        return cached
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: the gzip container
    parts = [packer.compress(prefix)]
    block = padding * max(1, (1 << 20) // len(padding))
    left = size
    while left > 0:
        piece = block[:left]
        parts.append(packer.compress(piece))
        left -= len(piece)
    parts += [packer.compress(suffix), packer.flush()]
    body = b"".join(parts)
    _GZIP_CACHE[key] = body
    return body


def echo_authorization(
    render: Callable[[str], bytes],
    *,
    status: int,
    content_type: str = "application/json",
    stream_type: str | None = None,
) -> Script:
    """Answer with a body that quotes the request's ``Authorization`` header back, as a
    careless server or proxy does in its error pages (``render(header) -> body``).

    With ``stream_type`` the body is sent as one chunk of a chunked stream of that type.
    """

    def script(conn: Conn, request: Received) -> None:
        body = render(request.headers.get("authorization", ""))
        if stream_type is None:
            conn.respond(status, body, content_type=content_type)
            return
        headers = {"content-type": stream_type, "transfer-encoding": "chunked"}
        if conn.head(status, headers) and conn.chunk(body):
            conn.end_chunks()

    return script

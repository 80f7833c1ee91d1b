"""Real ``modelport serve`` processes for the hostile-caller tests, and a raw HTTP/1.1
caller that can break the protocol in any way (no HTTP library on the caller's side).

Every wait is bounded by a generous guard; nothing here asserts how fast anything
runs. A process is stopped with Ctrl-C (SIGINT), as a person stops it.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import read_serve_banner

from .hostile import open_fds, rss_bytes

GUARD = 30.0
"""How long any one wait may take before the test calls it a hang."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Serve:
    """``python -m modelport serve ARGS`` on a free loopback port, up once its banner
    is printed; its log (one line per request) is kept in a file.

    ``open_files`` runs it under ``ulimit -n`` of that many (soft and hard, or a pair);
    ``options`` are the command's global options (``--timeout 1``).
    """

    def __init__(
        self,
        *args: str,
        open_files: int | tuple[int, int] | None = None,
        env: dict[str, str] | None = None,
        port: int | None = None,
        options: Sequence[str] = (),
    ) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [sys.executable, "-m", "modelport", *options, "serve", "--port", str(self.port)]
        command += args
        environ = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        for name in ("MODELPORT_SERVICES", "MODELPORT_API_KEYS", "MODELPORT_ORIGINS"):
            if name not in (env or {}):
                environ.pop(name, None)
        if "OLLAMA_HOST" not in (env or {}):
            environ["OLLAMA_HOST"] = "http://127.0.0.1:9"  # never a real Ollama nearby
        handle, path = tempfile.mkstemp(prefix="modelport-serve-", suffix=".log")
        os.close(handle)
        self.log_path = Path(path)

        def limit() -> None:  # in the child, before it starts
            if open_files is not None:
                pair = open_files if isinstance(open_files, tuple) else (open_files, open_files)
                resource.setrlimit(resource.RLIMIT_NOFILE, pair)

        self.process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=self.log_path.open("wb"),
            text=True,
            env=environ,
            preexec_fn=limit,
        )
        assert self.process.stdout is not None
        banner = read_serve_banner(self.process.stdout)
        self.banner = banner
        if "Ctrl-C" not in banner:
            self.stop()
            raise RuntimeError(f"modelport serve did not start:\n{banner}\n{self.log()}")

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def access_lines(self) -> list[str]:
        """The gateway's own lines (one per request), not uvicorn's."""
        return [line for line in self.log().splitlines() if not line.startswith("INFO:")]

    def rss(self) -> int:
        """The process's resident set size in bytes."""
        return rss_bytes(self.pid)

    def fds(self) -> int:
        return open_fds(self.pid)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()
        return self.process.returncode

    def __enter__(self) -> Serve:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
        self.log_path.unlink(missing_ok=True)


@contextlib.contextmanager
def serving(*args: str, **kwargs: object) -> Iterator[Serve]:
    with Serve(*args, **kwargs) as gateway:  # type: ignore[arg-type]
        yield gateway


# --------------------------------------------------------------------------- a raw caller


@dataclass
class Answer:
    """What came back on a raw connection: the status (``None``: closed with no answer),
    the headers (lower-case names), the body, and whether the server then closed."""

    status: int | None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    closed: bool = False


def connect(port: int, timeout: float = GUARD) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def head(method: str, path: str, headers: Sequence[tuple[str, str]] = ()) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "host: localhost", *(f"{k}: {v}" for k, v in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def read_answer(
    sock: socket.socket, timeout: float = GUARD, *, close_wait: float | None = None
) -> Answer:
    """Read one response (Content-Length or until close), then wait up to
    ``close_wait`` seconds to see whether the server closes the connection (default:
    until it does when the answer says ``connection: close``, not at all otherwise)."""
    sock.settimeout(timeout)
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                return Answer(None, closed=True) if not data else _parse(data, closed=True)
            data += chunk
        answer = _parse(data, closed=False)
        length = int(answer.headers.get("content-length", "-1"))
        while length >= 0 and len(answer.body) < length:
            chunk = sock.recv(65536)
            if not chunk:
                answer.closed = True
                break
            answer.body += chunk
        if close_wait is None:
            close_wait = timeout if answer.headers.get("connection") == "close" else 0.0
        if not answer.closed and close_wait > 0:
            answer.closed = _closed(sock, close_wait)
        return answer
    except ConnectionResetError:
        return _parse(data, closed=True) if data else Answer(None, closed=True)
    except TimeoutError:  # nothing (more) came: no answer, still open
        return _parse(data, closed=False) if b"\r\n\r\n" in data else Answer(None)


def _closed(sock: socket.socket, timeout: float) -> bool:
    sock.settimeout(timeout)
    try:
        return sock.recv(1) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False


def _parse(data: bytes, *, closed: bool) -> Answer:
    top, _, body = data.partition(b"\r\n\r\n")
    lines = top.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Answer(status, headers, body, closed)


def wait_closed(sock: socket.socket, timeout: float = GUARD) -> Answer:
    """Wait (bounded) for the server to answer or close a connection we leave alone."""
    return read_answer(sock, timeout)


_HOLDER = """
import resource, socket, sys
port, count = int(sys.argv[1]), int(sys.argv[2])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
if soft < count + 64:
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, count + 64), hard))
held = []
for _ in range(count):
    sock = socket.socket()
    sock.setblocking(False)
    try:
        sock.connect(("127.0.0.1", port))
    except BlockingIOError:
        pass
    held.append(sock)
print("READY", flush=True)
sys.stdin.read()
"""


@contextlib.contextmanager
def idle_connections(port: int, count: int) -> Iterator[None]:
    """``count`` connections to ``port`` that never send a byte, held by a process of
    their own (an attacker elsewhere) until the block ends."""
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(port), str(count)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "READY", "the attacker did not start"
        yield
    finally:
        if holder.stdin is not None:
            holder.stdin.close()
        try:
            holder.wait(GUARD)
        except subprocess.TimeoutExpired:
            holder.kill()
            holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()

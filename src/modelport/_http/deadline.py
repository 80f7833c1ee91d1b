"""The sync client's deadline, applied to every socket read.

httpx's read timeout bounds each wait for bytes, never the whole exchange: a server
that sends its headers a byte at a time keeps every read within the timeout and the
request running for as long as it likes. The async transport puts the whole exchange
under ``asyncio.timeout``; a thread has no such thing, so the sync transport bounds
each *read* instead: while :func:`reading_until` is in force on a thread, no read on
that thread waits past its end (a read that would starts with the time left, and one
that starts after it fails at once with a read timeout).

This is done by wrapping the network backend of httpcore's connection pool, which
httpx does not expose (``HTTPTransport._pool._network_backend``). The wrapping is
guarded: if those internals change, :func:`bound_reads` does nothing and says so, the
sync deadline is checked between body chunks as before, and the header-trickle test
fails to tell.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import httpcore
import httpx

__all__ = ["READ_DEADLINE", "bound_reads", "reading_until"]

READ_DEADLINE: ContextVar[float | None] = ContextVar("modelport_read_deadline", default=None)
"""When the current thread's request must be over (``time.monotonic()``), if it must.
The transport sets and resets it directly (a context manager costs a microsecond)."""


@contextmanager
def reading_until(end: float) -> Iterator[None]:
    """No socket read of a bound client, on this thread, waits past ``end``."""
    token = READ_DEADLINE.set(end)
    try:
        yield
    finally:
        READ_DEADLINE.reset(token)


def _bounded(timeout: float | None) -> float | None:
    end = READ_DEADLINE.get()
    if end is None:
        return timeout
    left = end - time.monotonic()
    if left <= 0:
        raise httpcore.ReadTimeout("the request's deadline has passed")
    return left if timeout is None or left < timeout else timeout


class _Stream(httpcore.NetworkStream):
    """A connection whose reads end by the deadline."""

    __slots__ = ("_stream",)

    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _bounded(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, timeout)

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        return _Stream(self._stream.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _Backend(httpcore.NetworkBackend):
    """Opens connections as the wrapped backend does, each with bounded reads."""

    def __init__(self, backend: httpcore.NetworkBackend) -> None:
        self._backend = backend

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        return _Stream(
            self._backend.connect_tcp(host, port, timeout, local_address, socket_options)
        )

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        return _Stream(self._backend.connect_unix_socket(path, timeout, socket_options))

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


def bound_reads(client: httpx.Client) -> bool:
    """Make ``client``'s socket reads honour :func:`reading_until`; whether it could
    (a client on a transport without httpcore's pool, a mock for one, cannot).
    """
    pool = getattr(getattr(client, "_transport", None), "_pool", None)
    backend = getattr(pool, "_network_backend", None)
    if not isinstance(backend, httpcore.NetworkBackend):
        return False
    if not isinstance(backend, _Backend):
        pool._network_backend = _Backend(backend)  # type: ignore[union-attr]
    return True

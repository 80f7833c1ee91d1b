"""The sync client's deadline, applied to every socket read.

httpx's read timeout bounds each wait for bytes, never the whole exchange: a server
that sends its headers a byte at a time keeps every read within the timeout and the
request running for as long as it likes. The async transport puts the whole exchange
under ``asyncio.timeout``; a thread has no such thing, so the sync transport bounds
each *read* instead. It sets :data:`READ_DEADLINE` for the request it sends, and the
connections of modelport's sync pool (:class:`~modelport._http.pool.PoolTransport`)
come from :class:`DeadlineBackend`: no read waits past that moment (a read that would
starts with the time left, and one that starts after it fails at once with a read
timeout).
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterable
from contextvars import ContextVar

import httpcore

__all__ = ["READ_DEADLINE", "DeadlineBackend"]

READ_DEADLINE: ContextVar[float | None] = ContextVar("modelport_read_deadline", default=None)
"""When the current thread's request must be over (``time.monotonic()``), if it must.
The sync transport sets and resets it around each request it sends."""


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
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        return _Stream(self._stream.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> object:
        return self._stream.get_extra_info(info)


class DeadlineBackend(httpcore.NetworkBackend):
    """Opens connections as ``backend`` does, each with its reads bounded by
    :data:`READ_DEADLINE`.
    """

    def __init__(self, backend: httpcore.NetworkBackend) -> None:
        self._backend = backend

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        return _Stream(
            self._backend.connect_tcp(host, port, timeout, local_address, socket_options)
        )

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        return _Stream(self._backend.connect_unix_socket(path, timeout, socket_options))

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)

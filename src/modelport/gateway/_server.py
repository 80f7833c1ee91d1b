"""The HTTP server of ``modelport serve``: its limits, and running it.

The server is uvicorn with its httptools parser on uvloop, chosen by measurement
(``docs/performance.md``: the hostile callers and the speed targets, against uvicorn
with h11, granian and hypercorn). uvicorn bounds none of a caller's request head by
itself (its size, its time, a connection that never sends one) and has no connection
cap, so every connection is put behind a :class:`~modelport.gateway._guard.Guard`,
below uvicorn and above the socket, where all of :class:`ServerLimits` is enforced.

Nothing here imports a server package until :func:`serve` runs, so the gateway stays
plain ASGI for anyone who mounts it elsewhere.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol

from ._exchange import Receive, Scope, Send

if TYPE_CHECKING:
    from uvicorn import Config
    from uvicorn.server import ServerState

__all__ = ["FD_RESERVE", "ServerLimits", "connection_cap", "raise_fd_limit", "serve"]

FD_RESERVE = 64
"""File descriptors kept for the process itself: logs, the event loop, discovery probes."""
GRACE_SECONDS = 10
"""How long Ctrl-C waits for requests in flight before closing them."""


@dataclass(frozen=True, slots=True)
class ServerLimits:
    """What one caller's connection may hold, before its request reaches the gateway.

    Args:
        idle_timeout: seconds a connection may send nothing: before its first request,
            within a request's head or body (408 then), or kept alive between requests
            (closed quietly). A slow upload that keeps coming is never cut, nor is any
            response however long.
        head_timeout: seconds a request's whole head (its line and headers) may take
            from its first byte (408), however steadily it trickles in.
        max_head: the largest request head in bytes (431 beyond it).
        max_connections: connections open at once; ``None``: as many as the open-file
            limit allows (:meth:`within_open_files`). At the cap a new connection closes
            the oldest one that has not sent a whole request head; when every one is
            working, the new one gets 503.
    """

    idle_timeout: float = 10.0
    head_timeout: float = 30.0
    max_head: int = 64 * 1024
    max_connections: int | None = None

    @property
    def tick(self) -> float:
        """How often connections are checked: a quarter of the shortest timeout."""
        return min(1.0, max(0.05, min(self.idle_timeout, self.head_timeout) / 4))

    def within_open_files(self) -> ServerLimits:
        """These limits with the connection cap set for this process: the open-file
        soft limit is raised to the hard one first (:func:`raise_fd_limit`).
        """
        return replace(self, max_connections=connection_cap(self.max_connections, raise_fd_limit()))


def raise_fd_limit() -> int:
    """Raise the soft limit on open files to the hard one; return the limit now in force."""
    try:
        import resource
    except ImportError:  # not on this platform: assume the common default
        return 1024
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft != resource.RLIM_INFINITY and soft < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
            soft = want
        except (OSError, ValueError):
            pass
    return soft if soft != resource.RLIM_INFINITY else 1 << 20


def connection_cap(requested: int | None, open_files: int) -> int:
    """The most callers' connections at once: ``requested`` (or as many as fit), never
    more than half the file descriptors left after :data:`FD_RESERVE`, so that each
    can still open its own request to a model server.

    >>> connection_cap(None, 1024), connection_cap(100, 1024), connection_cap(5000, 1024)
    (480, 100, 480)
    """
    most = max(8, (open_files - FD_RESERVE) // 2)
    return most if requested is None else max(1, min(requested, most))


class _Closes(Protocol):
    async def aclose(self) -> None: ...


class Servable(Protocol):
    """An ASGI app with a client to close when the server stops (the gateway's)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None: ...

    @property
    def client(self) -> _Closes: ...


def serve(
    app: Servable,
    *,
    host: str = "127.0.0.1",
    port: int = 11435,
    limits: ServerLimits | None = None,
    log_level: str = "info",
    announce: Callable[[int], Awaitable[None]] | None = None,
) -> None:
    """Serve a gateway (:func:`~modelport.gateway.create_app`) as ``modelport serve``
    does, until Ctrl-C; ``announce(port)`` runs once it listens. When it stops, the
    app's client is closed in the event loop that used it. Needs the ``serve`` extra.
    """
    import uvicorn

    # uvicorn's own HTTP/1.1 protocol over httptools (what ``http="httptools"`` names,
    # uvicorn.config.HTTP_PROTOCOLS), each connection wrapped in a guard.
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    from ._guard import Connections, Guard

    limits = limits or ServerLimits()
    if limits.max_connections is None:
        limits = limits.within_open_files()
    stamp = getattr(app, "stamp", None)
    connections = Connections(limits, [stamp] if stamp else [])

    def protocol(
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> Guard:  # how uvicorn makes its protocol for each connection
        return Guard(HttpToolsProtocol(config, server_state, app_state, _loop), connections)

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            if self.started and announce is not None:
                bound = self.servers[0].sockets[0].getsockname()[1] if self.servers else port
                await announce(int(bound))

        async def serve(self, sockets: list[socket.socket] | None = None) -> None:
            try:
                await super().serve(sockets)
            finally:
                await app.client.aclose()

    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        http=protocol,  # type: ignore[arg-type]  # a protocol factory, as uvicorn calls it
        ws="none",
        log_level=log_level,
        access_log=False,  # the gateway writes its own line per request
        lifespan="on",
        server_header=False,
        timeout_keep_alive=max(1, round(limits.idle_timeout)),
        timeout_graceful_shutdown=GRACE_SECONDS,
    )
    Server(config).run()

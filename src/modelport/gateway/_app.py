"""The gateway's ASGI layer, which knows no surface: keys, the Host check, the gateway
chain, CORS, the body limit, dispatch to a surface's route, disconnect watching and
the access log.

Only I/O lives here. Each request is read (bounded by the body limit) and handed to
the handler of the surface that owns its path (``_registry`` lists them). While a
handler runs, ``receive()`` is watched for ``http.disconnect`` in a second task: when
the caller leaves (while the service is still reading the prompt, mid-stream, or
during a plain call) the handler is cancelled at once, which closes the upstream
request. Every upstream request made for a caller carries the gateway chain, the
caller's ``traceparent`` and ``x-request-id`` (``_upstream``).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import secrets
import sys
from collections.abc import Sequence

from .._trace import server_span
from .._waits import QUEUE_WAIT
from ..client import AsyncClient
from ..discovery import MAX_GATEWAY_HOPS, forwarding, gateway_chain
from ..errors import ConfigurationError, ModelportError
from . import _errors as errors
from ._access import ACCESS_LOGS, shown, write_access_log
from ._budget import BodyBudget
from ._config import DEFAULT_MAX_BODY, check_keys, is_loopback_host
from ._cors import Origins
from ._errors import failure_for
from ._exchange import (
    CLIENT_CLOSED,
    GATEWAY_HEADER,
    TEXT,
    Disconnected,
    Exchange,
    Receive,
    Scope,
    Send,
    read_headers,
    until_disconnect,
)
from ._ops import OpsSurface, metrics_for
from ._registry import SURFACES
from ._routes import Routes
from ._surface import Handler, Route, Surface
from ._upstream import RequestIds

__all__ = ["GATEWAY_HEADER", "Gateway"]

log = logging.getLogger("modelport.gateway")


class Gateway:
    """The ASGI application of ``modelport serve``; build it with :func:`create_app`.

    ``id`` is this instance's random id: sent on its own upstream requests, stamped
    on every response (``x-modelport-gateway``), and answered with 508 when a request
    carries it back.
    """

    def __init__(
        self,
        client: AsyncClient | None = None,
        *,
        api_keys: Sequence[str] | None = None,
        max_body: int = DEFAULT_MAX_BODY,
        gateway_id: str | None = None,
        max_body_memory: int | None = None,
        cors_origins: Sequence[str] = (),
        metrics: bool | None = None,
        access_log: str = "text",
    ) -> None:
        self.id: str = (
            gateway_id
            or (client.gateway_id if client is not None else None)
            or secrets.token_hex(8)
        )
        self._keys = [key.encode() for key in check_keys(api_keys)]
        self.max_body = max_body
        self.max_body_memory = (
            max_body * BODIES_HELD if max_body_memory is None else max_body_memory
        )
        if self.max_body_memory < max_body:
            raise ConfigurationError(
                f"max_body_memory ({self.max_body_memory} bytes) is less than one body of "
                f"max_body ({max_body} bytes)."
            )
        self._budget = BodyBudget(self.max_body_memory)
        self.origins = Origins(cors_origins)
        self._owns_client = client is None
        self.client: AsyncClient = client if client is not None else AsyncClient(gateway_id=self.id)
        self.stamp = (GATEWAY_HEADER.encode(), self.id.encode())
        if access_log not in ACCESS_LOGS:
            raise ConfigurationError(
                f"access_log must be one of {', '.join(ACCESS_LOGS)}, not {access_log!r}."
            )
        self.access_log = access_log
        self.metrics = metrics_for(self.client, metrics)
        """The app's Prometheus metrics (``GET /metrics``); ``None`` when off."""
        # The model APIs, then the gateway's own routes (metrics, the status page).
        self.routes = Routes([*(surface(self) for surface in SURFACES), OpsSurface(self)])

    @property
    def keyed(self) -> bool:
        """Whether callers must send a key (with none, only this machine's Host names
        are answered).
        """
        return bool(self._keys)

    # ------------------------------------------------------------------ ASGI

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._owns_client:
                    await self.client.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        root = scope.get("root_path") or ""
        if root and path.startswith(root):
            path = path[len(root) :] or "/"
        surface, route, param = self.routes.find(path)
        ex = Exchange(scope, receive, send, path, surface, self.stamp)
        waits: list[float] = []  # this request's own waits at the scheduler, if any
        collecting = QUEUE_WAIT.set(waits)
        try:
            await self._serve(ex, surface, route, param)
        except Disconnected:
            pass
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug here: answer 500 if we still can, and say so
            log.exception("gateway error on %s %s", ex.method, shown(path))
            if not ex.headers_sent:
                await ex.fail(failure_for(exc))
            elif ex.streaming:
                await ex.finish()
        finally:
            if ex.held:
                self._budget.give(ex.held)
            if ex.queue_wait is None and waits:
                ex.queue_wait = sum(waits)
            QUEUE_WAIT.reset(collecting)
            if route is None or not route.quiet:
                write_access_log(ex, self.access_log)
            if self.metrics is not None:
                self.metrics.record(ex, "unmatched" if route is None else route.path)

    async def _serve(
        self, ex: Exchange, surface: Surface, route: Route | None, param: str | None
    ) -> None:
        found, chain = read_headers(ex.scope["headers"])
        auth, api_key, length, host, origin, asked, method, trace, request_id = found
        # A preflight asks for a method and maybe headers: what it asks for (b"": none).
        preflight = asked if asked is not None else (None if method is None else b"")
        if not self._keys and host is not None and not is_loopback_host(host.decode("latin-1")):
            await ex.fail(errors.forbidden_host(host.decode("latin-1")))
            return
        hops: tuple[str, ...] = ()
        if chain:
            try:
                hops = gateway_chain(b",".join(chain).decode("latin-1"))
            except ValueError as exc:
                await ex.fail(errors.bad_chain(str(exc)))
                return
            if self.id in hops:
                await ex.fail(errors.loop())
                return
            if len(hops) > MAX_GATEWAY_HOPS:
                await ex.fail(errors.too_many_hops(MAX_GATEWAY_HOPS))
                return
        allowed = False
        if origin is not None and self.origins.allows(origin.decode("latin-1")):
            allowed = True
            ex.cors = Origins.grant(origin)
        if route is None:
            await surface.no_route(ex)
            return
        if ex.method == "OPTIONS":
            await self._options(ex, route, origin, allowed, preflight)
            return
        handler = route.methods.get(ex.method)
        if handler is None:
            await surface.bad_method(ex, route)
            return
        ex.authorized = not self._keys or self._authorized(auth, api_key)
        if not route.public and not ex.authorized:
            await ex.fail(errors.unauthorized())
            return
        body: object = param
        if route.body:
            body = await self._read_json(ex, length)
            if body is _REFUSED:
                return
        span = server_span(ex.method, route.path, ex.path, trace)  # None: not traced
        ids = RequestIds.of(trace if span is None else span.traceparent, request_id)
        ex.request_id = ids.request_id.encode()
        with forwarding((*hops, self.id), ids.upstream()):  # the handler's task starts with it
            if span is None:
                await self._watched(ex, handler, body)
            else:
                await span.around(self._watched(ex, handler, body), lambda: ex.status)

    async def _options(
        self, ex: Exchange, route: Route, origin: bytes | None, allowed: bool, asked: bytes | None
    ) -> None:
        """A CORS preflight (no key needed), or a plain OPTIONS: what the route allows."""
        if origin is None or asked is None:
            await ex.raw(204, b"", TEXT, [(b"allow", route.allow())])
        elif not allowed:
            ex.cors = []
            await ex.raw(403, b"This origin may not call this gateway (CORS).", TEXT)
        else:
            ex.cors = Origins.preflight(origin, asked or None)
            await ex.raw(204, b"", TEXT)

    def _authorized(self, auth: bytes | None, api_key: bytes | None) -> bool:
        offered = []
        if auth is not None and auth[:7].lower() == b"bearer ":
            offered.append(auth[7:].strip())
        if api_key is not None:
            offered.append(api_key.strip())
        ok = False
        for candidate in offered:
            for key in self._keys:  # every key compared, in constant time each
                ok |= hmac.compare_digest(candidate, key)
        return ok

    async def _read_json(self, ex: Exchange, length: bytes | None) -> object:
        declared = int(length) if length is not None and length.isdigit() else None
        if declared is not None:
            if declared > self.max_body:
                await ex.fail(errors.too_large(self.max_body))
                return _REFUSED
            if not self._budget.take(declared):  # held until the request is answered
                await ex.fail(errors.busy(BUSY_RETRY_AFTER))
                return _REFUSED
            ex.held = declared
        data = b""  # one piece: its bytes as they are; more: joined in ``joined``
        joined: bytearray | None = None
        size = 0
        while True:
            message = await ex.receive()
            if message["type"] == "http.disconnect":
                raise Disconnected
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                await ex.fail(errors.too_large(self.max_body))
                return _REFUSED
            if declared is None and chunk:
                if not self._budget.take(len(chunk)):
                    await ex.fail(errors.busy(BUSY_RETRY_AFTER))
                    return _REFUSED
                ex.held += len(chunk)
            if joined is not None:
                joined += chunk
            elif data:
                joined = bytearray(data)
                joined += chunk
            else:
                data = chunk
            if not message.get("more_body", False):
                break
        try:
            body = json.loads(data if joined is None else joined)
        except RecursionError:
            await ex.fail(errors.too_deep())
            return _REFUSED
        except ValueError as exc:  # also bytes that are not UTF-8
            await ex.fail(errors.bad_body(type(exc).__name__))
            return _REFUSED
        if not isinstance(body, dict):
            await ex.fail(errors.bad_body(f"got a JSON {type(body).__name__}"))
            return _REFUSED
        return body

    async def _watched(self, ex: Exchange, handler: Handler, body: object) -> None:
        """Run the handler while watching for the caller to leave; if it does, cancel
        the handler at once (its ``finally`` blocks close the upstream request).

        The handler runs in this task; only the watch is a task of its own, which
        cancels this one when the caller leaves while the handler still runs.
        """
        task = asyncio.current_task()
        assert task is not None
        running = True
        left = False

        def leave(_: object) -> None:
            nonlocal left
            if running and not watch.cancelled():
                left = True
                task.cancel()

        watch = asyncio.get_running_loop().create_task(until_disconnect(ex.receive))
        watch.add_done_callback(leave)
        try:
            await self._handle(ex, handler, body)
        except asyncio.CancelledError:
            if not left or _cancelled_again(task):
                raise  # cancelled from outside (the server shutting down)
            if not ex.closed:
                ex.status = CLIENT_CLOSED
        else:
            if left:  # the handler finished anyway: the cancel is no longer wanted
                _cancelled_again(task)
        finally:
            running = False
            watch.cancel()

    async def _handle(self, ex: Exchange, handler: Handler, body: object) -> None:
        try:
            await handler(ex, body)
        except (ModelportError, RecursionError) as exc:  # RecursionError: a body too deep
            ex.failed(exc)
            if not ex.headers_sent:
                await ex.fail(ex.surface.failure_for(exc))
                return
            raise  # a handler's stream writes its own error event; this is a bug
        if ex.streaming:
            await ex.finish()


def _cancelled_again(task: asyncio.Task[None]) -> bool:
    """Take back one cancel of ``task`` (the watch's): whether another is still
    pending (Python 3.11+; before it, there is no count to consult).
    """
    if sys.version_info >= (3, 11):
        return task.uncancel() > 0
    return False


BODIES_HELD = 4
"""The default memory cap for request bodies held at once: this many bodies of the limit."""
BUSY_RETRY_AFTER = 2
"""Seconds a caller refused for the body memory cap is asked to wait."""

_REFUSED = object()
"""What reading a body returns when the request was already answered (413, 400)."""

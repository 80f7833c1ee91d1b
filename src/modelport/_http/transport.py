"""The I/O twins: how an operation's requests are sent, sync and async.

Provider logic is written once, as *operations* (:mod:`modelport._http.ops`), run by
the drivers (:mod:`modelport._drive`). For the request steps the drivers call
:class:`SyncTransport` or :class:`AsyncTransport`: ``send`` (one request, its body
read), ``send_all`` (a batch) and ``stream`` (a streamed body through a decoder).
What the twins share (building requests, reading bodies under their caps, reading a
stream) is in :class:`_TransportBase` and the pure helpers below.

On an asyncio loop the async twin sends through modelport's own asyncio pool
(:mod:`modelport._http.aiopool`) instead of httpx's stack, when it has one (see
:meth:`AsyncTransport._open`, the one place that chooses); the responses it reads
and the errors it maps are the same either way.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Generic, NoReturn, TypedDict, TypeVar
from urllib.parse import urlsplit

import httpx

from ..errors import InvalidRequestError, ModelportError, ProtocolError, RequestTimeoutError
from . import aiopool
from .caps import DEFAULT_CAPS, Body, Caps
from .deadline import READ_DEADLINE
from .mapping import ErrorContext, map_transport_error
from .ops import Outcome, Request, Response, StreamDecoder, body_json
from .pool import AsyncPoolTransport, PoolTransport

__all__ = ["AsyncTransport", "SyncTransport"]

T = TypeVar("T")
I = TypeVar("I")  # noqa: E741

log = logging.getLogger("modelport")

pause = time.sleep
"""How the sync driver waits (a name of its own, for tests to replace)."""


async def apause(seconds: float) -> None:
    """How the async driver waits."""
    import asyncio

    await asyncio.sleep(seconds)


MAX_IN_FLIGHT = 16
"""How many requests of one batch are in flight at once in the async twin (an Ollama
listing asks ``/api/show`` for every model). httpcore's async pool does work in
proportion to its connections and waiters on every request, so beyond this more
concurrency is slower: a 100-model listing with 20 ms lookups took 7.8 round trips
with 16 at a time, 14-15 with 32 or 64 (bench/, models)."""

MAX_THREADS = 32
"""The same cap for the sync twin's threads, where more concurrency keeps helping up
to the client's own CPU cost: 7.6 round trips with 16 threads, 5.8 with 32, 5.4 with
64 (bench/, models)."""


OnError = Callable[[Response], ModelportError]
"""Turns an error answer (a 3xx, 4xx or 5xx with its body) into the error to raise."""

if TYPE_CHECKING:
    from typing_extensions import Required, Unpack

    class Settings(TypedDict, total=False):
        """A transport's settings, as each twin passes them on to the base."""

        on_error: Required[OnError]
        timeout: Required[float]
        connect_timeout: Required[float]
        caps: Caps
        pooled: PoolTransport | AsyncPoolTransport | None


class _TransportBase:
    """What both twins share: building httpx requests, reading bodies, mapping failures."""

    client: httpx.Client | httpx.AsyncClient
    pooled: PoolTransport | AsyncPoolTransport | None
    """modelport's own pool under ``client`` (``None``: a transport the user gave)."""

    def __init__(
        self,
        base_url: str,
        ctx: ErrorContext,
        *,
        on_error: OnError,
        timeout: float,
        connect_timeout: float,
        caps: Caps = DEFAULT_CAPS,
        pooled: PoolTransport | AsyncPoolTransport | None = None,
    ) -> None:
        self.base_url = base_url
        self.ctx = ctx
        self.pooled = pooled
        self.on_error = on_error
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.caps = caps
        self._answered = False

    def _build(self, request: Request, read: float | None) -> httpx.Request:
        # The client carries the common headers and the default timeout; only a
        # request's own headers and timeout are added here.
        return self.client.build_request(
            request.method,
            self.base_url + request.path,
            content=None if request.json is None else body_json(request.json),
            headers=request.headers or None,
            timeout=httpx.USE_CLIENT_DEFAULT
            if read is None
            else httpx.Timeout(read, connect=min(self.connect_timeout, read)),
        )

    def headers_changed(self) -> None:
        """The client's common headers were changed (a header set on every request)."""

    def _deadline(self, request: Request) -> float:
        if request.deadline is not None:
            return request.deadline
        read = request.timeout if request.timeout is not None else self.timeout
        return self.caps.deadline if self.caps.deadline is not None else 2.0 * read

    def _read_bound(self, request: Request, started: float, deadline: float) -> float | None:
        """The read timeout for the next read: never past the deadline."""
        left = deadline - (time.monotonic() - started)
        read = request.timeout if request.timeout is not None else self.timeout
        return min(read, max(left, 0.001)) if left < read else request.timeout

    def transport_error(self, exc: Exception, request: Request) -> ModelportError:
        if self.client.is_closed:
            return self.closed(request)
        return map_transport_error(exc, self.ctx, what=request.describe())

    def _idle(
        self,
        request: Request,
        decoder: StreamDecoder[Any],
        since: float | None,
        patience: float,
    ) -> float:
        """A piece of a stream brought no item: when the stream went quiet, or the
        timeout error once it has been quiet (comments and keep-alives only) too long.
        """
        now = time.monotonic()
        if since is None:
            return now
        if now - since <= patience:
            return since
        error = RequestTimeoutError(
            f"{self.ctx.where()} sent nothing but keep-alives for {patience:g} s during "
            f"{request.describe()}.",
            hint="The model may be stuck or still loading; raise timeout= or retry.",
            **self.ctx.kwargs(),
        )
        raise decoder.interrupted(error)

    def closed(self, request: Request) -> ModelportError:
        """The error of a request whose client was closed while it was in flight."""
        return InvalidRequestError(
            f"The client was closed while {request.describe()} to {self.ctx.where()} was "
            "in flight.",
            hint="Close the client only when no request is running.",
            **self.ctx.kwargs(),
        )

    def _log(self, request: Request, status: int | str, started: float) -> None:
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "%s %s%s -> %s in %.1f ms",
                request.method,
                self.base_url,
                request.path,
                status,
                (time.monotonic() - started) * 1000.0,
            )

    def too_slow(self, request: Request, deadline: float) -> RequestTimeoutError:
        return RequestTimeoutError(
            f"{self.ctx.where()} did not finish answering {request.describe()} within "
            f"{deadline:g} s.",
            hint="The server is sending very slowly; raise deadline= or timeout=, or check it.",
            **self.ctx.kwargs(),
        )

    def too_big(self, request: Request, limit: int) -> ProtocolError:
        return ProtocolError(
            f"{self.ctx.where()} sent more than {limit} bytes for {request.describe()}.",
            hint="Raise max_body_bytes= if this answer really is that large.",
            **self.ctx.kwargs(),
        )


def _stale_connection(exc: Exception) -> bool:
    """A kept-alive connection the server had already closed: the request never
    reached it, so sending it again at once, on a fresh connection, is safe.

    Only tried once the transport has had an answer (before that, no connection can
    have been kept alive), so a server that never answers still gets one request.
    """
    return isinstance(exc, httpx.RemoteProtocolError) and "without sending a response" in str(exc)


class Reading(Generic[I]):
    """A streamed answer being read, by the driver (:mod:`modelport._drive`).

    The driver runs the loop, so that no frame of ours sits between it and the read::

        for data in reading.chunks:          # async for, in the async driver
            items = reading.decoder.feed(data)
            ...hand each item on...
            if reading.after(items):         # the stream's own end
                break
        else:
            ...hand on reading.decoder.finish(), then reading.finished()

    with :meth:`fail` for what the loop raises, and :meth:`close` (or :meth:`aclose`)
    at its end, however it ends. Reading stops at the stream's own end
    (``decoder.done``). A stream that sends bytes but no item (comments, keep-alives)
    for longer than the read timeout times out; so does one that sends nothing at all.
    """

    __slots__ = (
        "_idle_since",
        "_patience",
        "_transport",
        "chunks",
        "decoder",
        "request",
        "response",
    )

    def __init__(
        self,
        transport: SyncTransport | AsyncTransport,
        request: Request,
        decoder: StreamDecoder[I],
        response: httpx.Response | aiopool.Response,
        chunks: Iterator[bytes] | AsyncIterator[bytes],
    ) -> None:
        self._transport = transport
        self.request = request
        self.decoder = decoder
        self.response = response
        self.chunks = chunks
        """The body's bytes as they arrive: an iterator (sync) or async iterator."""
        self._patience = request.timeout if request.timeout is not None else transport.timeout
        self._idle_since: float | None = None

    def after(self, items: Sequence[I]) -> bool:
        """After a piece's ``items`` are handed on: raise what the decoder found wrong;
        whether the stream has ended; a timeout once only keep-alives came too long.
        """
        decoder = self.decoder
        if items:
            self._idle_since = None
        if decoder.error is not None:
            raise decoder.error
        if decoder.done:
            return True
        if not items:
            self._idle_since = self._transport._idle(
                self.request, decoder, self._idle_since, self._patience
            )
        return False

    def finished(self) -> None:
        """After the body's end and ``decoder.finish()``'s items: raise what it found."""
        if self.decoder.error is not None:
            raise self.decoder.error

    def fail(self, exc: Exception) -> NoReturn:
        """Raise for ``exc``, raised while reading: a broken connection as the decoder's
        word for a stream cut part-way; anything else as it is.
        """
        if isinstance(exc, httpx.HTTPError):
            error = self._transport.transport_error(exc, self.request)
            raise self.decoder.interrupted(error) from exc
        raise exc

    def close(self) -> None:
        response = self.response
        if isinstance(response, httpx.Response):
            response.close()

    async def aclose(self) -> None:
        await self.response.aclose()


class SyncTransport(_TransportBase):
    """Drives operations and streams with an :class:`httpx.Client`."""

    client: httpx.Client

    def __init__(
        self, client: httpx.Client, base_url: str, ctx: ErrorContext, **kwargs: Unpack[Settings]
    ):
        super().__init__(base_url, ctx, **kwargs)
        self.client = client

    def _open(self, request: Request, read: float | None) -> httpx.Response:
        started = time.monotonic()
        retried = False
        while True:
            try:
                response = self.client.send(self._build(request, read), stream=True)
            except httpx.HTTPError as exc:
                if not retried and self._answered and _stale_connection(exc):
                    retried = True
                    continue
                self._log(request, type(exc).__name__, started)
                raise self.transport_error(exc, request) from exc
            except RuntimeError as exc:  # httpx: "the client has been closed"
                if self.client.is_closed:
                    raise self.closed(request) from exc
                raise
            self._answered = True
            self._log(request, response.status_code, started)
            return response

    def _error(self, response: httpx.Response, request: Request) -> ModelportError:
        """The error an error answer means (its body read up to the cap); a body that
        breaks off is raised as the transport failure it is.
        """
        body = Body(self.caps.max_error_bytes)
        try:
            for chunk in response.iter_bytes():
                if not body.add(chunk):
                    break
        except httpx.HTTPError as exc:
            raise self.transport_error(exc, request) from exc
        return self.on_error(
            Response(response.status_code, response.headers, body.bytes(), request)
        )

    def send(self, request: Request) -> Response:
        """Send one request and read its whole body (within the caps and the deadline)."""
        started = time.monotonic()
        deadline = self._deadline(request)
        token = READ_DEADLINE.set(started + deadline)
        try:
            return self._send(request, started, deadline)
        finally:
            READ_DEADLINE.reset(token)

    def _send(self, request: Request, started: float, deadline: float) -> Response:
        try:
            response = self._open(request, self._read_bound(request, started, deadline))
        except RequestTimeoutError as exc:
            if time.monotonic() - started >= deadline:
                raise self.too_slow(request, deadline) from exc
            raise
        try:
            if response.status_code >= 300 and request.check:
                raise self._error(response, request)
            body = Body(self.caps.max_body_bytes)
            try:
                for chunk in response.iter_bytes():
                    if not body.add(chunk):
                        raise self.too_big(request, self.caps.max_body_bytes)
                    if time.monotonic() - started > deadline:
                        raise self.too_slow(request, deadline)
            except httpx.TimeoutException as exc:
                if time.monotonic() - started >= deadline:
                    raise self.too_slow(request, deadline) from exc
                raise self.transport_error(exc, request) from exc
            except httpx.HTTPError as exc:
                raise self.transport_error(exc, request) from exc
            return Response(response.status_code, response.headers, body.bytes(), request)
        finally:
            response.close()

    def _outcome(self, request: Request) -> Outcome:
        try:
            return self.send(request)
        except ModelportError as exc:
            return exc

    def send_all(self, requests: Sequence[Request]) -> list[Outcome]:
        if len(requests) <= 1:
            return [self._outcome(r) for r in requests]
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(MAX_THREADS, len(requests))) as pool:
            return list(pool.map(self._outcome, requests))

    def open_stream(self, request: Request, decoder: StreamDecoder[I]) -> Reading[I]:
        """Send a streaming request; its answer's body, to be read by the driver (see
        :class:`Reading`). An error status is raised here, its response closed.
        """
        response = self._open(request, request.timeout)
        if response.status_code >= 300:
            try:
                raise self._error(response, request)
            finally:
                response.close()
        return Reading(self, request, decoder, response, response.iter_bytes())


_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
"""A header name as HTTP allows it."""
_VALUE = re.compile(r"[\t\x20-\x7e]*")
"""A header value the asyncio pool sends as it is (printable ASCII; anything else,
control characters above all, goes the httpx way, which refuses or encodes it)."""
_PATH = re.compile(r"(?:/(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/?]|%[0-9A-Fa-f]{2})*)?")
"""A path (and query) the asyncio pool sends as it is (nothing httpx would encode)."""


def _decodable(accept_encoding: bytes) -> bool:
    """Whether the asyncio pool decodes every encoding an ``Accept-Encoding`` asks for
    (gzip and deflate; httpx also asks for br and zstd when brotli or zstandard is
    installed, and decodes them).
    """
    codings = (part.split(b";")[0].strip().lower() for part in accept_encoding.split(b","))
    return all(coding in (b"gzip", b"deflate", b"identity", b"") for coding in codings)


def _origin(base_url: str) -> tuple[aiopool.Origin, bytes, bytes] | None:
    """Where a plain-http base URL's requests go: the host and port, the path prefix,
    and the ``Host`` header's value as httpx sends it (``None``: not for the asyncio pool).
    """
    parts = urlsplit(base_url)
    host = parts.hostname
    if parts.scheme != "http" or not host or not host.isascii() or parts.query:
        return None
    if _PATH.fullmatch(parts.path) is None:
        return None
    port = parts.port or 80
    shown = f"[{host}]" if ":" in host else host
    if port != 80:
        shown = f"{shown}:{port}"
    return (host, port), parts.path.encode("ascii"), shown.encode("ascii")


Opened = httpx.Response | aiopool.Response
"""A response whose head has arrived, from either path."""


class AsyncTransport(_TransportBase):
    """Drives operations and streams with an :class:`httpx.AsyncClient`, or on an
    asyncio loop with modelport's asyncio pool when ``pooled`` has one.
    """

    client: httpx.AsyncClient

    def __init__(
        self,
        client: httpx.AsyncClient,
        base_url: str,
        ctx: ErrorContext,
        **kwargs: Unpack[Settings],
    ):
        super().__init__(base_url, ctx, **kwargs)
        self.client = client
        self.fast: aiopool.AsyncioPool | None = None
        self._head: bytes | None = None
        self._names: frozenset[str] = frozenset()
        self._heads: dict[frozenset[str], bytes | None] = {}
        """The common head without the headers a request sets itself, by those names
        (a gateway's requests all set the same few: its chain, ``traceparent``)."""
        fast = getattr(self.pooled, "fast", None)
        where = _origin(base_url)
        if isinstance(fast, aiopool.AsyncioPool) and where is not None:
            self.fast = fast
            self._origin, self._prefix, self._host = where

    # ---- the asyncio pool's requests

    def headers_changed(self) -> None:
        self._head = None
        self._heads.clear()

    def _common(self, skip: frozenset[str] = frozenset()) -> bytes | None:
        """The header lines every request carries (``Host``, the client's headers, its
        authorization) but those named in ``skip``; ``None`` if one cannot be sent as
        it is.
        """
        lines = [b"Host: " + self._host]
        names = []
        for name, value in self.client.headers.raw:
            lower = name.decode("ascii").lower()
            names.append(lower)
            if lower in skip:
                continue
            if _TOKEN.fullmatch(name.decode("ascii")) is None:
                return None
            if _VALUE.fullmatch(value.decode("latin-1")) is None:
                return None
            if lower == "accept-encoding" and not _decodable(value):
                return None
            lines.append(name + b": " + value)
        auth = self.client.auth
        if auth is not None:
            if not isinstance(auth, httpx.BasicAuth):
                return None
            flow = auth.auth_flow(httpx.Request("GET", self.base_url))
            names.append("authorization")
            if "authorization" not in skip:
                lines.append(b"Authorization: " + next(flow).headers["authorization"].encode())
        if not skip:
            self._names = frozenset(names)
        return b"".join(line + b"\r\n" for line in lines)

    def _fast_request(self, request: Request) -> bytes | None:
        """The whole request as the asyncio pool sends it in one write, or ``None``
        when it goes the httpx way: no asyncio pool or no asyncio loop running (trio),
        a ``HEAD`` (a body-less answer the parser cannot tell), or a path or header
        httpx would encode or refuse.
        """
        fast = self.fast
        if fast is None or request.method == "HEAD" or not fast.usable():
            return None
        path = request.path
        if _PATH.fullmatch(path) is None:
            return None
        head = self._head
        if head is None:
            head = self._head = self._common()
            if head is None:
                self.fast = None  # headers only httpx can send: every request goes its way
                return None
        extra = request.headers
        if extra:
            lines = []
            for name, value in extra.items():
                if _TOKEN.fullmatch(name) is None or _VALUE.fullmatch(value) is None:
                    return None
                if name.lower() == "accept-encoding" and not _decodable(value.encode()):
                    return None
                lines.append(f"{name}: {value}\r\n")
            names = self._names.intersection(name.lower() for name in extra)
            if names:
                heads = self._heads
                if names in heads:
                    found = heads[names]
                else:
                    found = self._common(names)
                    if len(heads) < 64:
                        heads[names] = found
                if found is None:
                    return None
                head = found
            head += "".join(lines).encode("ascii")
        method = request.method.encode("ascii")
        target = self._prefix + path.encode("ascii")
        if request.json is None:
            length = b"Content-Length: 0\r\n" if method in (b"POST", b"PUT", b"PATCH") else b""
            return b"%s %s HTTP/1.1\r\n%s%s\r\n" % (method, target, head, length)
        body = body_json(request.json)
        return b"%s %s HTTP/1.1\r\n%sContent-Length: %d\r\n\r\n%s" % (
            method,
            target,
            head,
            len(body),
            body,
        )

    async def _open_fast(self, data: bytes, read: float | None) -> aiopool.Response:
        assert self.fast is not None
        if read is None:
            read = self.timeout
        return await self.fast.open(
            self._origin, data, read=read, connect=min(self.connect_timeout, read), pool=read
        )

    # ---- sending

    async def _open(self, request: Request, read: float | None) -> Opened:
        """Send ``request`` and wait for its answer's head: through the asyncio pool
        when :meth:`_fast_request` says it can, through httpx otherwise.
        """
        started = time.monotonic()
        retried = False
        fast = self._fast_request(request)
        while True:
            try:
                response: Opened
                if fast is not None:
                    response = await self._open_fast(fast, read)
                else:
                    response = await self.client.send(self._build(request, read), stream=True)
            except httpx.HTTPError as exc:
                if not retried and self._answered and _stale_connection(exc):
                    retried = True
                    continue
                self._log(request, type(exc).__name__, started)
                raise self.transport_error(exc, request) from exc
            except RuntimeError as exc:  # httpx (or the pool): "the client has been closed"
                if self.client.is_closed:
                    raise self.closed(request) from exc
                raise
            self._answered = True
            self._log(request, response.status_code, started)
            return response

    async def _error(self, response: Opened, request: Request) -> ModelportError:
        """The error an error answer means (its body read up to the cap); a body that
        breaks off is raised as the transport failure it is.
        """
        body = Body(self.caps.max_error_bytes)
        try:
            async for chunk in response.aiter_bytes():
                if not body.add(chunk):
                    break
        except httpx.HTTPError as exc:
            raise self.transport_error(exc, request) from exc
        return self.on_error(
            Response(response.status_code, response.headers, body.bytes(), request)
        )

    async def send(self, request: Request) -> Response:
        """Send one request and read its whole body (within the caps and the deadline)."""
        import asyncio

        deadline = self._deadline(request)
        try:
            if sys.version_info >= (3, 11):  # a timer on this task: no task per request
                async with asyncio.timeout(deadline):
                    return await self._send(request)
            return await asyncio.wait_for(self._send(request), deadline)
        except asyncio.TimeoutError:
            raise self.too_slow(request, deadline) from None

    async def _send(self, request: Request) -> Response:
        response = await self._open(request, request.timeout)
        try:
            if response.status_code >= 300 and request.check:
                raise await self._error(response, request)
            body = Body(self.caps.max_body_bytes)
            try:
                async for chunk in response.aiter_bytes():
                    if not body.add(chunk):
                        raise self.too_big(request, self.caps.max_body_bytes)
            except httpx.HTTPError as exc:
                raise self.transport_error(exc, request) from exc
            return Response(response.status_code, response.headers, body.bytes(), request)
        finally:
            await response.aclose()

    async def _outcome(self, request: Request) -> Outcome:
        try:
            return await self.send(request)
        except ModelportError as exc:
            return exc

    async def send_all(self, requests: Sequence[Request]) -> list[Outcome]:
        import asyncio

        if len(requests) <= MAX_IN_FLIGHT:
            return list(await asyncio.gather(*(self._outcome(r) for r in requests)))
        gate = asyncio.Semaphore(MAX_IN_FLIGHT)

        async def gated(request: Request) -> Outcome:
            async with gate:
                return await self._outcome(request)

        return list(await asyncio.gather(*(gated(r) for r in requests)))

    async def open_stream(self, request: Request, decoder: StreamDecoder[I]) -> Reading[I]:
        """Send a streaming request; its answer's body, to be read by the driver (see
        :class:`Reading` and :meth:`SyncTransport.open_stream`).
        """
        response = await self._open(request, request.timeout)
        if response.status_code >= 300:
            try:
                raise await self._error(response, request)
            finally:
                await response.aclose()
        return Reading(self, request, decoder, response, response.aiter_bytes())

"""The I/O twins: the only code that differs between sync and async.

Provider logic is written once, as *operations*: generators that yield
:class:`Request` objects (or a list of them, to be sent concurrently) and receive
:class:`Response` objects back, then return a result. Failures arrive in the
generator as a :class:`~modelport.errors.ModelportError` thrown at the ``yield``,
so an operation can fall back (for example to an older endpoint).
:class:`SyncTransport` and :class:`AsyncTransport` drive operations and streams
with httpx; each is a few lines of sending, iterating and closing.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Generator, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import httpx

from ..errors import ModelportError, ProtocolError
from ..types import ChatChunk, ChatResponse
from .mapping import ErrorContext, error_from_response, map_transport_error

if TYPE_CHECKING:
    from typing import TypeAlias

__all__ = [
    "AsyncTransport",
    "Op",
    "Request",
    "Response",
    "ChatDecoder",
    "StreamDecoder",
    "SyncTransport",
    "error_for",
    "in_band_error",
]

T = TypeVar("T")


_MAX_ERROR_BODY = 64 * 1024

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


@dataclass(frozen=True, slots=True)
class Request:
    """One HTTP request, described without doing it."""

    method: str
    path: str
    json: Any = None
    timeout: float | None = None
    """Read timeout override in seconds; ``None`` uses the transport's default."""
    model: str | None = None
    """The model the request is about, for error messages."""
    headers: Mapping[str, str] = field(default_factory=dict)
    check: bool = True
    """Raise the mapped error for an error status; ``False`` hands back any response."""

    def describe(self) -> str:
        return f"{self.method} {self.path}"


@dataclass(frozen=True, slots=True)
class Response:
    """A complete HTTP response with its body read."""

    status: int
    headers: Mapping[str, str]
    content: bytes
    request: Request

    def json(self, ctx: ErrorContext) -> Any:
        """The body as JSON, or a :class:`ProtocolError` that names the server."""
        try:
            return json.loads(self.content)
        except ValueError as exc:
            shown = self.content[:200].decode("utf-8", "replace")
            raise ProtocolError(
                f"{ctx.where()} sent a body that is not JSON for "
                f"{self.request.describe()}: {shown!r}.",
                hint="Is this URL really a model server of that kind?",
                **ctx.kwargs(self.status),
            ) from exc

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")


Outcome = Response | ModelportError
Op: TypeAlias = Generator[Request | list[Request], Any, T]
"""An operation: yields requests (or lists of them), receives responses, returns T.

A yielded list receives a list of :data:`Outcome` (a response or the error for
each), so one failed lookup does not sink a batch.
"""


class StreamDecoder(Protocol[T]):
    """Turns the bytes of a streamed body into items; knows what was received so far.

    A failure found while decoding (an in-band error line, a stream that ends early)
    is recorded in ``error`` after the items before it are returned, so the caller
    receives every item the server sent before it raises.
    """

    error: ModelportError | None

    def feed(self, data: bytes) -> list[T]: ...

    def finish(self) -> list[T]: ...

    def interrupted(self, error: ModelportError) -> ModelportError:
        """The error to raise when the transport broke with ``error`` part-way."""
        ...


class ChatDecoder(StreamDecoder[ChatChunk], Protocol):
    """A chat stream decoder, which can also build the final response."""

    def response(self) -> ChatResponse: ...


Classifier = Callable[[Response], ModelportError | None]
"""A provider's own error rows, consulted before the generic mapping."""


def error_for(response: Response, ctx: ErrorContext, classify: Classifier | None) -> ModelportError:
    """The error for an error response: the provider's rows first, then the generic ones."""
    if classify is not None:
        error = classify(response)
        if error is not None:
            return error
    return error_from_response(
        response.status,
        response.content,
        response.headers,
        ctx,
        path=response.request.path,
        model=response.request.model,
    )


def in_band_error(
    response: Response, data: Any, ctx: ErrorContext, classify: Classifier | None
) -> ModelportError | None:
    """The error carried by a successful-looking body with a top-level ``error`` key.

    Some servers (LM Studio) answer errors with HTTP 200. The body is classified as a
    400 would be; the error keeps the real status.
    """
    if response.status >= 400 or not isinstance(data, dict) or data.get("error") is None:
        return None
    error = error_for(
        Response(400, response.headers, response.content, response.request), ctx, classify
    )
    error.status_code = response.status
    return error


def _stale_connection(exc: Exception) -> bool:
    """A kept-alive connection the server had already closed: the request never
    reached it, so sending it again at once, on a fresh connection, is safe.

    Only tried once the transport has had an answer (before that, no connection can
    have been kept alive), so a server that never answers still gets one request.
    """
    return isinstance(exc, httpx.RemoteProtocolError) and "without sending a response" in str(exc)


class _TransportBase:
    """What both twins share: building httpx requests and mapping statuses."""

    client: httpx.Client | httpx.AsyncClient

    def __init__(
        self,
        base_url: str,
        ctx: ErrorContext,
        *,
        headers: Mapping[str, str],
        timeout: float,
        connect_timeout: float,
        classify: Classifier | None,
    ) -> None:
        self.base_url = base_url
        self.ctx = ctx
        self._answered = False
        self.headers = dict(headers)
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.classify = classify

    def _timeout(self, request: Request) -> Any:
        if request.timeout is None:
            return httpx.USE_CLIENT_DEFAULT
        read = request.timeout
        return httpx.Timeout(read, connect=min(self.connect_timeout, read))

    def _build(self, request: Request) -> httpx.Request:
        return self.client.build_request(
            request.method,
            self.base_url + request.path,
            content=self._body(request),
            headers=self._headers(request),
            timeout=self._timeout(request),
        )

    def _body(self, request: Request) -> bytes | None:
        if request.json is None:
            return None
        return json.dumps(request.json, separators=(",", ":"), ensure_ascii=False).encode()

    def _headers(self, request: Request) -> Mapping[str, str] | None:
        # The client carries the common headers (see client_options); only a
        # request's own are added here, and httpx merges them.
        return request.headers or None

    def check(self, response: Response) -> None:
        """Raise the mapped error if the response is an error."""
        if response.status < 400:
            return
        raise self.error_for(response)

    def error_for(self, response: Response) -> ModelportError:
        return error_for(response, self.ctx, self.classify)

    def transport_error(self, exc: Exception, request: Request) -> ModelportError:
        return map_transport_error(exc, self.ctx, what=request.describe())


class SyncTransport(_TransportBase):
    """Drives operations and streams with an :class:`httpx.Client`."""

    client: httpx.Client

    def __init__(self, client: httpx.Client, base_url: str, ctx: ErrorContext, **kwargs: Any):
        super().__init__(base_url, ctx, **kwargs)
        self.client = client

    def _open(self, request: Request, *, stream: bool) -> httpx.Response:
        retried = False
        while True:
            try:
                response = self.client.send(self._build(request), stream=stream)
            except httpx.HTTPError as exc:
                if not retried and self._answered and _stale_connection(exc):
                    retried = True
                    continue
                raise self.transport_error(exc, request) from exc
            self._answered = True
            return response

    def send(self, request: Request) -> Response:
        response = self._open(request, stream=False)
        result = Response(response.status_code, response.headers, response.content, request)
        if request.check:
            self.check(result)
        return result

    def _outcome(self, request: Request) -> Outcome:
        try:
            return self.send(request)
        except ModelportError as exc:
            return exc

    def run(self, op: Op[T]) -> T:
        """Run an operation to its result."""
        try:
            step = next(op)
            while True:
                if isinstance(step, list):
                    step = op.send(self._send_all(step))
                    continue
                try:
                    response = self.send(step)
                except ModelportError as exc:
                    step = op.throw(exc)
                else:
                    step = op.send(response)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        finally:
            op.close()

    def _send_all(self, requests: list[Request]) -> list[Outcome]:
        if len(requests) <= 1:
            return [self._outcome(r) for r in requests]
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(MAX_THREADS, len(requests))) as pool:
            return list(pool.map(self._outcome, requests))

    def stream(self, request: Request, decoder: StreamDecoder[T]) -> Generator[T, None, None]:
        """Send a streaming request and yield decoded items; closes the response on exit."""
        response = self._open(request, stream=True)
        try:
            if response.status_code >= 400:
                try:
                    body = _read_capped(response.iter_bytes())
                except httpx.HTTPError as exc:
                    raise self.transport_error(exc, request) from exc
                raise self.error_for(
                    Response(response.status_code, response.headers, body, request)
                )
            try:
                for data in response.iter_bytes():
                    items = decoder.feed(data)
                    if items:
                        yield from items
                    if decoder.error is not None:
                        raise decoder.error
            except httpx.HTTPError as exc:
                error = self.transport_error(exc, request)
                raise decoder.interrupted(error) from exc
            yield from decoder.finish()
            if decoder.error is not None:
                raise decoder.error
        finally:
            response.close()


class AsyncTransport(_TransportBase):
    """Drives operations and streams with an :class:`httpx.AsyncClient`."""

    client: httpx.AsyncClient

    def __init__(self, client: httpx.AsyncClient, base_url: str, ctx: ErrorContext, **kwargs: Any):
        super().__init__(base_url, ctx, **kwargs)
        self.client = client

    async def _open(self, request: Request, *, stream: bool) -> httpx.Response:
        retried = False
        while True:
            try:
                response = await self.client.send(self._build(request), stream=stream)
            except httpx.HTTPError as exc:
                if not retried and self._answered and _stale_connection(exc):
                    retried = True
                    continue
                raise self.transport_error(exc, request) from exc
            self._answered = True
            return response

    async def send(self, request: Request) -> Response:
        response = await self._open(request, stream=False)
        result = Response(response.status_code, response.headers, response.content, request)
        if request.check:
            self.check(result)
        return result

    async def _outcome(self, request: Request) -> Outcome:
        try:
            return await self.send(request)
        except ModelportError as exc:
            return exc

    async def run(self, op: Op[T]) -> T:
        """Run an operation to its result."""
        try:
            step = next(op)
            while True:
                if isinstance(step, list):
                    step = op.send(await self._send_all(step))
                    continue
                try:
                    response = await self.send(step)
                except ModelportError as exc:
                    step = op.throw(exc)
                else:
                    step = op.send(response)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        finally:
            op.close()

    async def _send_all(self, requests: list[Request]) -> list[Outcome]:
        import asyncio

        if len(requests) <= MAX_IN_FLIGHT:
            return list(await asyncio.gather(*(self._outcome(r) for r in requests)))
        gate = asyncio.Semaphore(MAX_IN_FLIGHT)

        async def gated(request: Request) -> Outcome:
            async with gate:
                return await self._outcome(request)

        return list(await asyncio.gather(*(gated(r) for r in requests)))

    async def stream(self, request: Request, decoder: StreamDecoder[T]) -> AsyncGenerator[T, None]:
        """Send a streaming request and yield decoded items; closes the response on exit."""
        response = await self._open(request, stream=True)
        try:
            if response.status_code >= 400:
                try:
                    body = await _aread_capped(response.aiter_bytes())
                except httpx.HTTPError as exc:
                    raise self.transport_error(exc, request) from exc
                raise self.error_for(
                    Response(response.status_code, response.headers, body, request)
                )
            try:
                async for data in response.aiter_bytes():
                    for item in decoder.feed(data):
                        yield item
                    if decoder.error is not None:
                        raise decoder.error
            except httpx.HTTPError as exc:
                error = self.transport_error(exc, request)
                raise decoder.interrupted(error) from exc
            for item in decoder.finish():
                yield item
            if decoder.error is not None:
                raise decoder.error
        finally:
            await response.aclose()


def _read_capped(chunks: Iterator[bytes]) -> bytes:
    body = b""
    for chunk in chunks:
        body += chunk
        if len(body) >= _MAX_ERROR_BODY:
            break
    return body[:_MAX_ERROR_BODY]


async def _aread_capped(chunks: AsyncIterator[bytes]) -> bytes:
    body = b""
    async for chunk in chunks:
        body += chunk
        if len(body) >= _MAX_ERROR_BODY:
            break
    return body[:_MAX_ERROR_BODY]

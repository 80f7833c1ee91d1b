"""The handler pipeline every surface shares, written once: parse (the surface's
pure translation) → the client call (routing, failover) → note what answered (for
the access log) → the answer, whole or streamed.

A stream opens the upstream and waits for its first chunk before sending the
response headers, so a failure before any output still gets its own status (and
failover, which the client does before the first chunk, stays invisible); each chunk
is then written as soon as it arrives, and a failure after that is the surface's last
error event. A surface whose callers time out on silent connections (Anthropic's,
Responses) gives a heartbeat: after that many seconds with no chunk the headers go
out anyway, with the stream's opening, and an idle event follows every heartbeat
until the first chunk.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from ..client import AsyncClient
from ..errors import ModelportError
from ..types import ChatChunk, ChatResponse, Usage
from ._errors import Failure
from ._exchange import Exchange

__all__ = ["Chat", "Encoder", "Framing", "Relayed", "call", "chat", "relay"]

T = TypeVar("T")


class Chat(Protocol):
    """What a surface's parser gives for a chat request."""

    @property
    def model(self) -> str: ...

    @property
    def options(self) -> dict[str, Any]: ...

    @property
    def stream(self) -> bool: ...

    @property
    def warnings(self) -> tuple[str, ...]: ...


class Encoder(Protocol):
    """Turns a stream's chunks into the bytes of one surface (SSE or NDJSON)."""

    def chunk(self, chunk: ChatChunk) -> bytes: ...

    def end(self) -> bytes: ...


@dataclass(frozen=True, slots=True)
class Framing:
    """How a surface frames a stream besides its chunks."""

    content_type: bytes
    error: Callable[[Failure], bytes]
    """The last event of a stream that failed after it started."""
    start: Callable[[], bytes] | None = None
    """What goes out with the headers (``message_start``, ``response.created``)."""
    idle: Callable[[], bytes] | None = None
    """What keeps a silent stream alive (``ping``, an SSE comment); with ``heartbeat``."""
    heartbeat: float = 10.0
    """Seconds without a chunk before the headers go out, then between idle events."""


class _Result(Protocol):
    @property
    def service(self) -> str | None: ...

    @property
    def usage(self) -> Usage | None: ...


R = TypeVar("R", bound=_Result)


class Relayed(Protocol):
    """A chat or text-completion stream of the client, as :func:`relay` reads it."""

    async def __anext__(self) -> ChatChunk: ...

    @property
    def done(self) -> bool: ...

    @property
    def response(self) -> _Result: ...

    @property
    def warnings(self) -> tuple[str, ...]: ...

    async def aclose(self) -> None: ...


async def call(ex: Exchange, model: str, work: Awaitable[R], operation: str) -> R:
    """One client call for ``model``: its result, noted for the access log and the
    metrics (``operation``: the GenAI operation name, ``chat``, ``embeddings``...).
    """
    ex.model = model
    ex.operation = operation
    began = time.perf_counter()
    try:
        result = await work
    finally:
        ex.upstream += time.perf_counter() - began
    ex.note(result.service, result.usage)
    return result


async def chat(
    ex: Exchange,
    client: AsyncClient,
    request: Chat,
    messages: Sequence[Any],
    *,
    reply: Callable[[ChatResponse, float], object],
    stream: Callable[[], tuple[Encoder, Framing]],
) -> None:
    """A chat request, answered whole (``reply`` builds the body from the response and
    the seconds it took) or streamed (``stream`` makes the encoder and framing).
    """
    ex.model = request.model
    ex.operation = "chat"
    ex.warn(*request.warnings)
    if request.stream:
        encoder, framing = stream()
        chunks = client.chat_stream(request.model, messages, **request.options)
        await relay(ex, chunks, encoder, framing)
        return
    started = time.perf_counter()
    response = await call(
        ex, request.model, client.chat(request.model, messages, **request.options), "chat"
    )
    ex.warn(*response.warnings)
    await ex.json(200, reply(response, time.perf_counter() - started))


async def relay(ex: Exchange, stream: Relayed, encoder: Encoder, framing: Framing) -> None:
    """Relay a chat stream (see the module): the first chunk before any header, then
    each chunk as it arrives; a failure after the headers is the last error event.
    """
    try:
        try:
            first = await _first(ex, stream, framing)
        except ModelportError as exc:
            if not ex.streaming:
                raise  # before any header: a whole answer with the failure's status
            await _failed(ex, exc, framing)
            return
        if not ex.streaming:
            # The client's warnings are known once the stream has begun (a heartbeat that
            # had to open the stream earlier sent its headers without them).
            ex.warn(*stream.warnings)
            await _open(ex, framing)
        if first is not None:
            await ex.write(encoder.chunk(first))
        clock = time.perf_counter
        following = stream.__anext__
        encode = encoder.chunk
        write = ex.write
        waited = 0.0  # each wait for the service timed (the rest is the gateway's own)
        try:
            while True:
                began = clock()
                try:
                    chunk = await following()
                except StopAsyncIteration:
                    waited += clock() - began
                    break
                waited += clock() - began
                await write(encode(chunk))
        except ModelportError as exc:
            await _failed(ex, exc, framing)
            return
        finally:
            ex.upstream += waited
        if stream.done:
            ex.note(stream.response.service, stream.response.usage)
        await ex.write(encoder.end())
    finally:
        await stream.aclose()


async def _open(ex: Exchange, framing: Framing) -> None:
    await ex.open_stream(framing.content_type)
    if framing.start is not None:
        await ex.write(framing.start())


async def _failed(ex: Exchange, exc: ModelportError, framing: Framing) -> None:
    ex.failed(exc)
    await ex.write(framing.error(ex.surface.failure_for(exc)))


async def _first(ex: Exchange, stream: Relayed, framing: Framing) -> ChatChunk | None:
    """The first chunk (``None``: the stream ended without one), with the heartbeat
    running beside it when the surface has one.
    """
    beat = None if framing.idle is None else asyncio.ensure_future(_beat(ex, framing))
    began = time.perf_counter()
    try:
        first = await stream.__anext__()
        ex.first_token = time.perf_counter()
        return first
    except StopAsyncIteration:
        return None
    finally:
        ex.upstream += time.perf_counter() - began
        if beat is not None:
            beat.cancel()
            await asyncio.gather(beat, return_exceptions=True)


async def _beat(ex: Exchange, framing: Framing) -> None:
    assert framing.idle is not None
    while True:
        await asyncio.sleep(framing.heartbeat)
        if not ex.streaming:
            await _open(ex, framing)
        await ex.write(framing.idle())

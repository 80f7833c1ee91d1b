"""The context-managed iterators of a streamed reply: ``ChatStream`` and
``CompletionStream``, and their async twins. Each yields :class:`ChatChunk` deltas and
then holds the whole reply (a chat's or a text completion's) in ``.response``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from typing import Generic, TypeVar

from .errors import InvalidRequestError
from .types import ChatChunk, ChatResponse, CompletionResponse, Timings

__all__ = [
    "AsyncChatStream",
    "AsyncCompletionStream",
    "ChatStream",
    "CompletionItem",
    "CompletionStream",
    "StreamItem",
    "with_client_timings",
]

StreamItem = ChatChunk | ChatResponse
"""What a stream source yields: chunks, then the final response as its last item."""
CompletionItem = ChatChunk | CompletionResponse
"""What a completion stream's source yields: chunks, then the whole completion."""

R = TypeVar("R", ChatResponse, CompletionResponse)
S = TypeVar("S")


def with_client_timings(response: R, started: float, first: float | None) -> R:
    """Fill the time to first token from the client's own clock if the server did not."""
    if first is None:
        return response
    ttft = (first - started) * 1000.0
    timings = response.timings
    if timings is None:
        return replace(response, timings=Timings(time_to_first_token_ms=ttft))
    if timings.time_to_first_token_ms is None:
        return replace(response, timings=replace(timings, time_to_first_token_ms=ttft))
    return response


class _StreamBase(Generic[R]):
    def __init__(self, warnings: list[str] | None = None) -> None:
        self._warnings = warnings if warnings is not None else []
        self._response: R | None = None
        self._closed = False
        self._started = time.perf_counter()
        self._first: float | None = None

    def _take(self, item: ChatChunk | R) -> ChatChunk | None:
        if type(item) is ChatChunk:
            if self._first is None and (item.text or item.thinking or item.tool_calls):
                self._first = time.perf_counter()
            return item
        assert not isinstance(item, ChatChunk)
        if self._warnings and isinstance(item, ChatResponse):
            item = replace(item, warnings=self.warnings)
        self._response = with_client_timings(item, self._started, self._first)
        return None

    @property
    def warnings(self) -> tuple[str, ...]:
        """What the caller should know about how the request is served (see
        :attr:`ChatResponse.warnings`), known once the first chunk has arrived; a chat's
        final :attr:`response` carries the same.
        """
        return tuple(self._warnings)

    @property
    def response(self) -> R:
        """The whole reply, once the stream has been read to the end."""
        if self._response is None:
            raise InvalidRequestError(
                "The stream has not been read to the end, so there is no response yet.",
                hint="Iterate over it first, or call get_response().",
            )
        return self._response

    @property
    def done(self) -> bool:
        """Whether the stream has been read to the end."""
        return self._response is not None


class _SyncStream(_StreamBase[R]):
    def __init__(self, source: Iterator[ChatChunk | R], warnings: list[str] | None = None) -> None:
        super().__init__(warnings)
        self._source: Iterator[ChatChunk | R] = source

    def __iter__(self) -> Iterator[ChatChunk]:
        return self

    def __next__(self) -> ChatChunk:
        while True:
            item = next(self._source)
            chunk = self._take(item)
            if chunk is not None:
                return chunk

    def get_response(self) -> R:
        """Read whatever is left and return the whole reply."""
        for _ in self:
            pass
        return self.response

    def close(self) -> None:
        """Close the underlying connection."""
        if not self._closed:
            self._closed = True
            close = getattr(self._source, "close", None)
            if close is not None:
                close()

    def __enter__(self: S) -> S:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class ChatStream(_SyncStream[ChatResponse]):
    """An iterator of :class:`ChatChunk` that is also a context manager.

    ``for chunk in stream`` yields deltas as they arrive; afterwards ``stream.response``
    holds the accumulated :class:`ChatResponse`. Leaving the ``with`` block (or
    calling :meth:`close`) closes the connection even if the stream was not finished.
    """


class CompletionStream(_SyncStream[CompletionResponse]):
    """A streamed text completion: :class:`ChatChunk` text deltas, then
    ``stream.response``, the whole :class:`CompletionResponse`. A context manager, like
    :class:`ChatStream`.
    """


class _AsyncStream(_StreamBase[R]):
    def __init__(
        self, source: AsyncIterator[ChatChunk | R], warnings: list[str] | None = None
    ) -> None:
        super().__init__(warnings)
        self._source: AsyncIterator[ChatChunk | R] = source

    def __aiter__(self) -> AsyncIterator[ChatChunk]:
        return self

    async def __anext__(self) -> ChatChunk:
        while True:
            item = await self._source.__anext__()
            chunk = self._take(item)
            if chunk is not None:
                return chunk

    async def get_response(self) -> R:
        """Read whatever is left and return the whole reply."""
        async for _ in self:
            pass
        return self.response

    async def aclose(self) -> None:
        """Close the underlying connection."""
        if not self._closed:
            self._closed = True
            aclose = getattr(self._source, "aclose", None)
            if aclose is not None:
                await aclose()

    async def __aenter__(self: S) -> S:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


class AsyncChatStream(_AsyncStream[ChatResponse]):
    """The async twin of :class:`ChatStream`: ``async for`` and ``async with``."""


class AsyncCompletionStream(_AsyncStream[CompletionResponse]):
    """The async twin of :class:`CompletionStream`: ``async for`` and ``async with``."""

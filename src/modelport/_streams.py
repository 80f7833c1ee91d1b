"""``ChatStream`` and ``AsyncChatStream``: the context-managed iterators of a streamed reply."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace

from .errors import InvalidRequestError
from .types import ChatChunk, ChatResponse, Timings

__all__ = ["AsyncChatStream", "ChatStream", "StreamItem", "with_client_timings"]

StreamItem = ChatChunk | ChatResponse
"""What a stream source yields: chunks, then the final response as its last item."""


def with_client_timings(
    response: ChatResponse, started: float, first: float | None
) -> ChatResponse:
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


class _StreamBase:
    def __init__(self, warnings: list[str] | None = None) -> None:
        self._warnings = warnings if warnings is not None else []
        self._response: ChatResponse | None = None
        self._closed = False
        self._started = time.perf_counter()
        self._first: float | None = None

    def _take(self, item: StreamItem) -> ChatChunk | None:
        if type(item) is ChatChunk:
            if self._first is None and (item.text or item.thinking or item.tool_calls):
                self._first = time.perf_counter()
            return item
        assert isinstance(item, ChatResponse)
        if self._warnings:
            item = replace(item, warnings=self.warnings)
        self._response = with_client_timings(item, self._started, self._first)
        return None

    @property
    def warnings(self) -> tuple[str, ...]:
        """What the caller should know about how the request is served (see
        :attr:`ChatResponse.warnings`), known once the first chunk has arrived; the
        final :attr:`response` carries the same.
        """
        return tuple(self._warnings)

    @property
    def response(self) -> ChatResponse:
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


class ChatStream(_StreamBase):
    """An iterator of :class:`ChatChunk` that is also a context manager.

    ``for chunk in stream`` yields deltas as they arrive; afterwards ``stream.response``
    holds the accumulated :class:`ChatResponse`. Leaving the ``with`` block (or
    calling :meth:`close`) closes the connection even if the stream was not finished.
    """

    def __init__(self, source: Iterator[StreamItem], warnings: list[str] | None = None) -> None:
        super().__init__(warnings)
        self._source = source

    def __iter__(self) -> Iterator[ChatChunk]:
        return self

    def __next__(self) -> ChatChunk:
        while True:
            item = next(self._source)
            chunk = self._take(item)
            if chunk is not None:
                return chunk

    def get_response(self) -> ChatResponse:
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

    def __enter__(self) -> ChatStream:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncChatStream(_StreamBase):
    """The async twin of :class:`ChatStream`: ``async for`` and ``async with``."""

    def __init__(
        self, source: AsyncIterator[StreamItem], warnings: list[str] | None = None
    ) -> None:
        super().__init__(warnings)
        self._source = source

    def __aiter__(self) -> AsyncIterator[ChatChunk]:
        return self

    async def __anext__(self) -> ChatChunk:
        while True:
            item = await self._source.__anext__()
            chunk = self._take(item)
            if chunk is not None:
                return chunk

    async def get_response(self) -> ChatResponse:
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

    async def __aenter__(self) -> AsyncChatStream:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

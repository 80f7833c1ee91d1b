"""The OpenAI surface's streams, pure: the chunks of a streamed chat or text completion
to OpenAI's SSE events, and the error event of a stream that failed after it started.
"""

from __future__ import annotations

from typing import ClassVar

from ...types import ChatChunk, Usage
from .._errors import Failure, openai_body
from .._json import dumps
from .._toolcalls import ToolCallIndexer
from ._translate import finish_reason, usage_body

__all__ = ["ChunkEncoder", "TextChunkEncoder", "error_event"]


class _Encoder:
    """What OpenAI's two streams share: the ``data:`` head every event of the stream
    starts with (id, object, created, model), the last choice event carrying
    ``finish_reason`` (once), and :meth:`end`: the usage event (``choices: []``) only
    for a caller that asked, then ``data: [DONE]``.
    """

    __slots__ = ("_common", "_finished", "_head", "_include_usage", "_usage")

    _OBJECT: ClassVar[bytes]
    """The stream's ``object``, as JSON."""
    _CHOICE: ClassVar[bytes]
    """How a choice event's ``choices`` starts, after the common head."""

    def __init__(self, *, model: str, id: str, created: int, include_usage: bool) -> None:
        self._common = (
            b'data: {"id":' + dumps(id) + b',"object":' + self._OBJECT + b","
            b'"created":%d,"model":' % created + dumps(model) + b","
        )
        self._head = self._common + self._CHOICE
        self._include_usage = include_usage
        self._finished = False
        self._usage: Usage | None = None

    def _last(self, reason: str | None) -> bytes:
        """The choice event that carries ``finish_reason``."""
        raise NotImplementedError

    def _seen(self, chunk: ChatChunk) -> bytes:
        """What every chunk adds after its own events: its usage kept, and the last
        choice event if it is the last chunk.
        """
        if chunk.usage is not None:
            self._usage = chunk.usage
        return self._finish(chunk.finish_reason) if chunk.done else b""

    def _finish(self, reason: str | None) -> bytes:
        if self._finished:
            return b""
        self._finished = True
        return self._last(reason)

    def end(self) -> bytes:
        """The end of a stream that finished: the usage event if asked, then ``[DONE]``."""
        out = self._finish(None)
        if self._include_usage:
            usage = dumps(usage_body(self._usage))
            out += self._common + b'"choices":[],"usage":' + usage + b"}\n\n"
        return out + b"data: [DONE]\n\n"


class ChunkEncoder(_Encoder):
    """Turns the chunks of one streamed reply into ``chat.completion.chunk`` SSE events,
    in OpenAI's order.

    The first event's delta carries ``role``; tool calls get indexes and ids
    (:class:`~modelport.gateway._toolcalls.ToolCallIndexer`); ``finish_reason`` comes
    on the last choice event; :meth:`end` adds the usage event (``choices: []``) only
    for a caller that asked, then ``data: [DONE]``.
    """

    __slots__ = ("_role_sent", "_tools")
    _OBJECT = b'"chat.completion.chunk"'
    _CHOICE = b'"choices":[{"index":0,"delta":'

    def __init__(self, *, model: str, id: str, created: int, include_usage: bool) -> None:
        super().__init__(model=model, id=id, created=created, include_usage=include_usage)
        self._role_sent = False
        self._tools = ToolCallIndexer()

    def _event(self, delta: dict[str, object], finish: str | None = None) -> bytes:
        if not self._role_sent:
            delta = {"role": "assistant", **delta}
            self._role_sent = True
        reason = b"null" if finish is None else dumps(finish)
        return self._head + dumps(delta) + b',"finish_reason":' + reason + b"}]}\n\n"

    def chunk(self, chunk: ChatChunk) -> bytes:
        """The events for one chunk (possibly none)."""
        text = chunk.text
        if (
            text
            and self._role_sent
            and not chunk.thinking
            and not chunk.tool_calls
            and chunk.usage is None
            and not chunk.done
        ):  # most chunks: a text delta, nothing else
            return self._head + b'{"content":' + dumps(text) + _TEXT_TAIL
        out = b""
        if text or chunk.thinking:
            delta: dict[str, object] = {}
            if chunk.thinking:
                delta["reasoning_content"] = chunk.thinking
            if text:
                delta["content"] = text
            out += self._event(delta)
        if chunk.tool_calls:
            for fragment in self._tools.deltas(chunk.tool_calls):
                out += self._event({"tool_calls": [fragment]})
        return out + self._seen(chunk)

    def _last(self, reason: str | None) -> bytes:
        return self._event({}, finish_reason(reason, tool_calls=self._tools.count > 0))


class TextChunkEncoder(_Encoder):
    """Turns the chunks of one streamed text completion into ``text_completion`` SSE
    events: one a text delta, the last (empty text) with ``finish_reason``; :meth:`end`
    as for a chat.
    """

    __slots__ = ()
    _OBJECT = b'"text_completion"'
    _CHOICE = b'"choices":[{"text":'

    def _event(self, text: str, finish: str | None = None) -> bytes:
        reason = b"null" if finish is None else dumps(finish)
        tail = b',"index":0,"logprobs":null,"finish_reason":' + reason + b"}]}\n\n"
        return self._head + dumps(text) + tail

    def chunk(self, chunk: ChatChunk) -> bytes:
        """The events for one chunk (possibly none)."""
        return (self._event(chunk.text) if chunk.text else b"") + self._seen(chunk)

    def _last(self, reason: str | None) -> bytes:
        return self._event("", finish_reason(reason))


_TEXT_TAIL = b'},"finish_reason":null}]}\n\n'
"""What follows a text delta's content in its event."""


def error_event(failure: Failure) -> bytes:
    """The last event of a stream that failed after it started (no ``[DONE]`` follows)."""
    return b"data: " + dumps(openai_body(failure)) + b"\n\n"

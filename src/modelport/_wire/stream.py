"""Pieces every streaming dialect shares: the reply accumulator and the think-tag splitter."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

from .._http.decoders import LineTooLongError, MalformedLineError
from .._http.jsonio import loads
from .._http.mapping import ErrorContext
from ..errors import ModelportError, ProtocolError, StreamError
from ..types import ChatChunk, ChatResponse, FinishReason, Timings, ToolCall, Usage

__all__ = [
    "ChatAccumulator",
    "ChatStreamDecoder",
    "DecoderBase",
    "ThinkTagSplitter",
    "guard_shape",
    "loads",
]

# ``loads`` lives in the one JSON boundary; the decoders here use it for every event.


T = TypeVar("T")


SHAPE_ERRORS = (
    KeyError,
    TypeError,
    ValueError,  # LineTooLongError and MalformedLineError among them
    IndexError,
    AttributeError,
    RecursionError,
    OverflowError,
)
"""What reading a body or stream of a surprising shape can raise: each becomes a
:class:`~modelport.ProtocolError` (or a :class:`~modelport.StreamError` after output)."""


class DecoderBase(Generic[T]):
    """A stream decoder that hands back every item decoded before a failure.

    Subclasses implement ``_feed(data, out)`` and ``_finish(out)``, appending items to
    ``out`` and raising a :class:`ModelportError` for a failure; the failure is kept
    in ``error`` for the transport to raise once the items before it are delivered.
    Low-level decoding errors (a huge or malformed line), and any surprise in the
    shape of what arrived (a missing key, a wrong type, a number too large), go through
    ``_decode_error``: this is the stream's boundary, and nothing foreign crosses it.
    """

    error: ModelportError | None = None
    done: bool = False
    """Whether the stream reached its own end; nothing after it is read."""

    def feed(self, data: bytes) -> list[T]:
        out: list[T] = []
        if self.error is None:
            try:
                self._feed(data, out)
            except (ModelportError, *SHAPE_ERRORS) as exc:
                self.error = self._failure(exc)
        return out

    def finish(self) -> list[T]:
        out: list[T] = []
        if self.error is None:
            try:
                self._finish(out)
            except (ModelportError, *SHAPE_ERRORS) as exc:
                self.error = self._failure(exc)
        return out

    def _failure(self, exc: Exception) -> ModelportError:
        if isinstance(exc, ModelportError):
            return exc
        error = self._decode_error(exc)
        error.__cause__ = exc
        return error

    def _feed(self, data: bytes, out: list[T]) -> None:
        raise NotImplementedError

    def _finish(self, out: list[T]) -> None:
        raise NotImplementedError

    def _decode_error(self, exc: Exception) -> ModelportError:
        raise NotImplementedError

    def interrupted(self, error: ModelportError) -> ModelportError:
        raise NotImplementedError


def guard_shape(ctx: ErrorContext, what: str, parse: Callable[[], T]) -> T:
    """Run a parser; a body of the wrong shape becomes a :class:`ProtocolError`.

    Parsers index into JSON freely; this is the one place where a ``KeyError`` or
    ``TypeError`` from a surprising body is turned into a typed error.
    """
    try:
        return parse()
    except ModelportError:
        raise
    except SHAPE_ERRORS as exc:
        raise ProtocolError(
            f"{ctx.where()} sent {what} in a shape modelport does not understand "
            f"({type(exc).__name__}: {exc}).",
            hint="Is this URL really a model server of that kind? Report it if it is.",
            **ctx.kwargs(),
        ) from exc


class ChatAccumulator:
    """Collects streamed chunks into the final :class:`ChatResponse`.

    Also turns failures part-way into a :class:`StreamError` that keeps the text
    received so far.
    """

    __slots__ = (
        "_text",
        "_thinking",
        "ctx",
        "finish_reason",
        "model",
        "raw",
        "started",
        "stop_sequence",
        "timings",
        "tool_calls",
        "usage",
    )

    def __init__(self, ctx: ErrorContext, model: str) -> None:
        self.ctx = ctx
        self.model = model
        self._text: list[str] = []
        self._thinking: list[str] = []
        self.tool_calls: list[ToolCall] = []
        self.finish_reason: FinishReason | None = None
        self.usage: Usage | None = None
        self.timings: Timings | None = None
        self.raw: Mapping[str, Any] = {}
        self.started = False
        self.stop_sequence: str | None = None

    def add(self, chunk: ChatChunk) -> ChatChunk:
        """Record a chunk on its way to the caller."""
        if chunk.text:
            self._text.append(chunk.text)
        if chunk.thinking:
            self._thinking.append(chunk.thinking)
        if chunk.tool_calls:
            self.tool_calls.extend(chunk.tool_calls)
        self.started = True
        return chunk

    @property
    def text(self) -> str:
        return "".join(self._text)

    @property
    def thinking(self) -> str:
        return "".join(self._thinking)

    def response(self) -> ChatResponse:
        thinking = self.thinking
        return ChatResponse(
            text=self.text,
            model=self.model,
            service=self.ctx.service,
            thinking=thinking or None,
            tool_calls=tuple(self.tool_calls),
            finish_reason=self.finish_reason,
            usage=self.usage,
            timings=self.timings,
            raw=self.raw,
            stop_sequence=self.stop_sequence,
        )

    def interrupted(self, error: ModelportError) -> ModelportError:
        """The error for a stream that broke: the cause itself if nothing was received."""
        if not self.started:
            return error
        return self.stream_error(f"The stream from {self.ctx.where()} broke off: {error.message}")

    def stream_error(self, message: str, *, status_code: int | None = 200) -> StreamError:
        """A :class:`StreamError` keeping what arrived; the stream's response was a 200."""
        text = self.text
        got = f" ({len(text)} characters received before it)" if text else ""
        return StreamError(
            f"{message.rstrip('.')}{got}.",
            partial=text,
            partial_thinking=self.thinking,
            hint="The text received so far is in the error's .partial.",
            **self.ctx.kwargs(status_code),
        )

    def decode_error(self, exc: Exception) -> ModelportError:
        """Map a low-level decoder failure (a huge or malformed line)."""
        if isinstance(exc, (LineTooLongError, MalformedLineError)):
            detail = str(exc)
        else:
            detail = f"{type(exc).__name__}: {exc}"
        if not self.started:
            return ProtocolError(
                f"{self.ctx.where()} sent a stream modelport cannot read: {detail}.",
                **self.ctx.kwargs(),
            )
        return self.stream_error(f"The stream from {self.ctx.where()} became unreadable: {detail}")

    def final_chunk(
        self, text: str = "", thinking: str = "", tool_calls: tuple[ToolCall, ...] = ()
    ) -> ChatChunk:
        """The last chunk of a stream: what it carries, with the finish reason, usage
        and timings gathered so far.
        """
        return ChatChunk(
            text=text,
            thinking=thinking,
            tool_calls=tool_calls,
            finish_reason=self.finish_reason,
            usage=self.usage,
            timings=self.timings,
            done=True,
            stop_sequence=self.stop_sequence,
        )

    def ended_early(self) -> StreamError:
        return self.stream_error(
            f"The stream from {self.ctx.where()} ended before the reply finished"
        )


class ChatStreamDecoder(DecoderBase[ChatChunk]):
    """Base of the chat stream decoders: what arrives is collected in ``acc``, which
    builds the final response and the errors that keep the partial text.
    """

    __slots__ = ("acc", "error")

    def __init__(self, ctx: ErrorContext, model: str) -> None:
        self.acc = ChatAccumulator(ctx, model)
        self.error: ModelportError | None = None

    def response(self) -> ChatResponse:
        return self.acc.response()

    def interrupted(self, error: ModelportError) -> ModelportError:
        return self.acc.interrupted(error)

    def _decode_error(self, exc: Exception) -> ModelportError:
        return self.acc.decode_error(exc)


_OPEN = "<think>"
_CLOSE = "</think>"


class ThinkTagSplitter:
    """Split ``<think>...</think>`` out of streamed content, across any chunking.

    Only a think block at the very start of the reply is split out, as reasoning
    models emit it; tags later in the text are left alone.

    >>> s = ThinkTagSplitter()
    >>> [s.feed(p) for p in ["<thi", "nk>plan", " more</th", "ink>\\n\\nAns", "wer"]] + [s.finish()]
    [('', ''), ('', 'plan'), ('', ' more'), ('Ans', ''), ('wer', ''), ('', '')]
    >>> s = ThinkTagSplitter(); s.feed("Hello"), s.finish()
    (('Hello', ''), ('', ''))
    """

    __slots__ = ("_buffer", "_state")

    def __init__(self) -> None:
        self._state = 0  # 0: before any text, 1: inside <think>, 2: content, 3: after </think>
        self._buffer = ""

    def feed(self, text: str) -> tuple[str, str]:
        """Return ``(content, thinking)`` that can be released now."""
        if self._state == 2:
            return text, ""
        buffer = self._buffer + text
        if self._state == 0:
            stripped = buffer.lstrip()
            if not stripped or (len(stripped) < len(_OPEN) and _OPEN.startswith(stripped)):
                self._buffer = buffer
                return "", ""
            if not stripped.startswith(_OPEN):
                self._state, self._buffer = 2, ""
                return buffer, ""
            self._state, buffer = 1, stripped[len(_OPEN) :]
        if self._state == 1:
            end = buffer.find(_CLOSE)
            if end == -1:
                keep = _partial_suffix(buffer, _CLOSE)
                self._buffer = buffer[len(buffer) - keep :] if keep else ""
                return "", buffer[: len(buffer) - keep]
            thinking, buffer = buffer[:end], buffer[end + len(_CLOSE) :]
            self._state = 3
            content, _ = self._after(buffer)
            return content, thinking
        content, _ = self._after(buffer)
        return content, ""

    def _after(self, buffer: str) -> tuple[str, str]:
        stripped = buffer.lstrip()
        if stripped:
            self._state, self._buffer = 2, ""
            return stripped, ""
        self._buffer = ""
        return "", ""

    def finish(self) -> tuple[str, str]:
        buffer, self._buffer = self._buffer, ""
        if self._state == 1:
            return "", buffer
        return buffer if self._state in (0, 2) else "", ""


def _partial_suffix(text: str, tag: str) -> int:
    """Length of the longest suffix of ``text`` that is a proper prefix of ``tag``."""
    for size in range(min(len(tag) - 1, len(text)), 0, -1):
        if text.endswith(tag[:size]):
            return size
    return 0

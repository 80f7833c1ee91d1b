"""Incremental, pure stream decoders: bytes in, lines / JSON objects / SSE events out.

Each decoder has ``feed(data) -> list`` (call it with each chunk as it arrives, cut
anywhere, even inside a UTF-8 character) and ``finish() -> list`` (at end of
stream). They do no I/O, so the sync and async clients share them. A line longer
than ``max_line_bytes`` raises :class:`LineTooLongError` instead of buffering without
bound.
"""

from __future__ import annotations

from typing import NamedTuple

from .jsonio import BadJSON, loads

__all__ = [
    "DEFAULT_MAX_LINE_BYTES",
    "LineDecoder",
    "LineTooLongError",
    "MalformedLineError",
    "NDJSONDecoder",
    "SSEDecoder",
    "SSEEvent",
]

DEFAULT_MAX_LINE_BYTES = 16 * 1024 * 1024
"""16 MiB: Ollama's own client allows 8 MB lines (images echoed back, context arrays).
The same bound holds for one whole SSE event, however many ``data:`` lines it has."""


class LineTooLongError(ValueError):
    """A stream line (or one SSE event) exceeded the decoder's bound."""

    def __init__(self, limit: int, what: str = "a stream line") -> None:
        super().__init__(f"{what} longer than {limit} bytes")
        self.limit = limit


class MalformedLineError(ValueError):
    """A stream line was not the JSON it should be."""

    def __init__(self, line: bytes, reason: str) -> None:
        shown = line[:200].decode("utf-8", "replace")
        super().__init__(f"malformed stream line ({reason}): {shown!r}")
        self.line = line


class LineDecoder:
    """Split a byte stream into lines (without their ``\\n`` or ``\\r\\n``).

    >>> d = LineDecoder()
    >>> d.feed(b"a\\r\\nb"), d.feed(b"c\\n\\n"), d.finish()
    ([b'a'], [b'bc', b''], [])
    >>> d = LineDecoder(); d.feed(b"tail"), d.finish()
    ([], [b'tail'])
    """

    __slots__ = ("_max", "_parts", "_size")

    def __init__(self, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> None:
        # The unfinished line is kept as a list of pieces and joined once, when its
        # newline arrives: a long line costs linear time, not quadratic.
        self._parts: list[bytes] = []
        self._size = 0
        self._max = max_line_bytes

    def feed(self, data: bytes) -> list[bytes]:
        """Add bytes; return every line completed by them."""
        if b"\n" not in data:
            if data:
                self._size += len(data)
                if self._size > self._max:
                    self._parts, self._size = [], 0
                    raise LineTooLongError(self._max)
                self._parts.append(data)
            return []
        if self._parts:
            self._parts.append(data)
            data = b"".join(self._parts)
            self._parts, self._size = [], 0
        lines = data.split(b"\n")
        tail = lines.pop()
        if len(data) > self._max:  # only then can a line be too long
            if len(tail) > self._max:
                raise LineTooLongError(self._max)
            for line in lines:
                if len(line) > self._max:
                    raise LineTooLongError(self._max)
        if tail:
            self._parts, self._size = [tail], len(tail)
        if b"\r" in data:
            return [line[:-1] if line.endswith(b"\r") else line for line in lines]
        return lines

    def finish(self) -> list[bytes]:
        """Return the last, unterminated line, if any."""
        tail = b"".join(self._parts)
        self._parts, self._size = [], 0
        if tail.endswith(b"\r"):
            tail = tail[:-1]
        return [tail] if tail else []


class NDJSONDecoder:
    """Decode newline-delimited JSON; blank lines are skipped.

    >>> d = NDJSONDecoder()
    >>> d.feed(b'{"a": 1}\\n{"b"'), d.feed(b': "\\xc3'), d.feed(b'\\xa9"}\\n'), d.finish()
    ([{'a': 1}], [], [{'b': 'é'}], [])
    """

    __slots__ = ("_lines", "_pending")

    def __init__(self, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> None:
        self._lines = LineDecoder(max_line_bytes)
        self._pending: MalformedLineError | None = None

    def feed(self, data: bytes) -> list[object]:
        """Add bytes; return the JSON values of every completed line.

        A malformed line is raised on the *next* call when values came before it in
        the same chunk, so those values still reach the caller.
        """
        return self._parse(self._lines.feed(data))

    def finish(self) -> list[object]:
        """Decode a final line that had no newline (or raise a pending error)."""
        return self._parse(self._lines.finish())

    def _parse(self, lines: list[bytes]) -> list[object]:
        if self._pending is not None:
            raise self._pending
        values: list[object] = []
        for line in lines:
            if line.strip():
                try:
                    values.append(loads(line))
                except BadJSON as exc:
                    error = MalformedLineError(line, "invalid JSON")
                    error.__cause__ = exc
                    if not values:
                        raise error from exc
                    self._pending = error
                    break
        return values


class SSEEvent(NamedTuple):
    """One server-sent event (a named tuple: a stream creates thousands of them)."""

    data: str
    event: str | None = None
    id: str | None = None

    def json(self) -> object:
        """The ``data`` parsed as JSON; raises :class:`MalformedLineError` if it is not."""
        try:
            return loads(self.data)
        except BadJSON as exc:
            raise MalformedLineError(self.data.encode(), "invalid JSON in SSE data") from exc


class SSEDecoder:
    """Decode ``text/event-stream`` into :class:`SSEEvent` objects (WHATWG rules).

    Events are dispatched on a blank line; ``data`` lines are joined with ``\\n``;
    comments (``:``) are ignored; a final event without its blank line is still
    delivered by :meth:`finish`.

    >>> d = SSEDecoder()
    >>> d.feed(b"data: {\\"x\\": 1}\\n\\nda")
    [SSEEvent(data='{"x": 1}', event=None, id=None)]
    >>> d.feed(b"ta: [DONE]\\n\\n")
    [SSEEvent(data='[DONE]', event=None, id=None)]
    >>> d = SSEDecoder()
    >>> d.feed(b": ping\\nevent: error\\ndata: a\\ndata: b\\n"), d.finish()
    ([], [SSEEvent(data='a\\nb', event='error', id=None)])
    """

    __slots__ = ("_data", "_event", "_id", "_lines", "_max", "_pending", "_size")

    def __init__(self, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> None:
        self._lines = LineDecoder(max_line_bytes)
        self._max = max_line_bytes
        self._size = 0  # the characters of data held for the event being built
        self._data: list[str] = []
        self._event: str | None = None
        self._id: str | None = None
        self._pending: ValueError | None = None

    def feed(self, data: bytes) -> list[SSEEvent]:
        """Add bytes; return every event completed by them."""
        return self._decode(self._lines.feed(data))

    def finish(self) -> list[SSEEvent]:
        """Deliver a last event that was not followed by a blank line."""
        events = self._decode(self._lines.finish())
        if self._data:
            events.append(SSEEvent("\n".join(self._data), self._event, self._id))
            self._data = []
            self._size = 0
            self._event = None
        return events

    def _decode(self, lines: list[bytes]) -> list[SSEEvent]:
        # A bad line fails the next call when events came before it, so they arrive.
        if self._pending is not None:
            raise self._pending
        events: list[SSEEvent] = []
        try:
            self._decode_into(lines, events)
        except (MalformedLineError, LineTooLongError) as error:
            if not events:
                raise
            self._pending = error
        return events

    def _decode_into(self, lines: list[bytes], events: list[SSEEvent]) -> None:
        for raw in lines:
            if not raw:
                data = self._data
                if data:
                    text = data[0] if len(data) == 1 else "\n".join(data)
                    events.append(SSEEvent(text, self._event, self._id))
                    self._data = []
                    self._size = 0
                self._event = None
                continue
            # The hot path: a "data: {...}" line.
            if raw.startswith(b"data: "):
                self._add_data(raw[6:])
                continue
            if raw.startswith(b":"):
                continue
            name, _, value = raw.partition(b":")
            if value.startswith(b" "):
                value = value[1:]
            if name == b"data":
                self._add_data(value)
            elif name == b"event":
                self._event = _text(value)
            elif name == b"id" and b"\0" not in value:
                self._id = _text(value)
            # "retry" and unknown fields are ignored, as the spec says.

    def _add_data(self, raw: bytes) -> None:
        # One event may not grow past the bound, however many lines carry it.
        self._size += len(raw) + 1
        if self._size > self._max:
            self._data, self._size = [], 0
            raise LineTooLongError(self._max, "one server-sent event")
        self._data.append(_text(raw))


def _text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedLineError(raw, "invalid UTF-8") from exc

"""One streamed message as Anthropic's events: a state machine fed the client's chunks.

::

    NEW --start/ping/chunk--> STARTED --chunk--> [block open] --...--> DONE
                                 message_start     content_block_start
                                                   deltas of its own type
                                                   content_block_stop
    DONE: message_delta (stop_reason, usage), message_stop; or an error event

* ``message_start`` is sent once, by whatever comes first: the first chunk, a
  :meth:`~StreamEncoder.ping` (the plumbing pings every 10 s after sending the headers
  and until the first chunk), or :meth:`~StreamEncoder.start`.
* A block opens when output of another kind arrives: thinking (``thinking_delta``,
  then one ``signature_delta`` when it closes), text (``text_delta``), each tool call
  (its block opens, gets its whole arguments as one ``input_json_delta`` and closes:
  the client hands over whole calls). Output of a kind that went before opens a new
  block of that kind (interleaved thinking), so nothing is reordered or held back.
* A message with no output still gets one empty text block: Claude Code repeats the
  request unstreamed when it sees no ``content_block_start``.
* Nothing is sent after ``message_stop`` or an ``error`` event.
"""

from __future__ import annotations

from typing import Any

from ...types import ChatChunk, Usage
from .._errors import Failure
from .._json import dumps
from ._failures import error_event
from ._replies import ToolUseIds, message_id, stop_reason, thinking_signature, tool_input

__all__ = ["StreamEncoder"]

_PING = b'event: ping\ndata: {"type":"ping"}\n\n'
_STOP = b'event: message_stop\ndata: {"type":"message_stop"}\n\n'


def _event(name: str, data: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + dumps(data) + b"\n\n"


class StreamEncoder:
    """The events of one streamed message, from the client's chunks.

    ``model`` is the id the caller asked for; ``input_tokens`` what ``message_start``
    says before the service reports usage (an estimate, or 0).
    """

    __slots__ = (
        "_calls",
        "_done",
        "_id",
        "_ids",
        "_input",
        "_model",
        "_next",
        "_open",
        "_reason",
        "_started",
        "_stop",
        "_thinking",
        "_usage",
    )

    def __init__(self, *, model: str, id: str | None = None, input_tokens: int | None = None):
        self._model = model
        self._id = id or message_id()
        self._input = input_tokens or 0
        self._started = self._done = self._calls = False
        self._open: str | None = None  # the kind of the open block
        self._next = 0  # the index of the next block (the open one is _next - 1)
        self._thinking: list[str] = []  # the open thinking block's text, for its signature
        self._ids = ToolUseIds()
        self._usage: Usage | None = None
        self._reason: str | None = None
        self._stop: str | None = None  # the stop string the server said ended the reply

    def start(self) -> bytes:
        """``message_start``, the first time anything asks for it; then nothing."""
        if self._started:
            return b""
        self._started = True
        message: dict[str, Any] = {
            "id": self._id,
            "type": "message",
            "role": "assistant",
            "model": self._model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": self._input, "output_tokens": 0},
        }
        return _event("message_start", {"type": "message_start", "message": message})

    def ping(self) -> bytes:
        """A ``ping`` (after ``message_start`` if it was not sent yet)."""
        return b"" if self._done else self.start() + _PING

    def chunk(self, chunk: ChatChunk) -> bytes:
        """The events for one chunk; the last chunk (``done``) also ends the message."""
        if self._done:
            return b""
        out = self.start()
        if chunk.thinking:
            out += self._block("thinking") + self._delta(
                "thinking_delta", "thinking", chunk.thinking
            )
            self._thinking.append(chunk.thinking)
        if chunk.text:
            out += self._block("text") + self._delta("text_delta", "text", chunk.text)
        for call in chunk.tool_calls:
            out += self._close()
            block = {"type": "tool_use", "id": self._ids(call), "name": call.name, "input": {}}
            out += self._started_block(block)
            out += self._delta("input_json_delta", "partial_json", dumps(tool_input(call)).decode())
            out += self._close()
            self._calls = True
        if chunk.usage is not None:
            self._usage = chunk.usage
        if chunk.done:
            self._reason = chunk.finish_reason
            self._stop = chunk.stop_sequence if chunk.finish_reason == "stop" else None
            out += self._finish()
        return out

    def end(self) -> bytes:
        """The end of a stream that finished (idempotent): open block closed,
        ``message_delta`` and ``message_stop``.
        """
        return b"" if self._done else self.start() + self._finish()

    def error(self, error: BaseException | Failure) -> bytes:
        """The ``error`` event for a failure after the stream started; nothing follows."""
        if self._done:
            return b""
        self._done = True
        return self.start() + error_event(error)

    # ------------------------------------------------------------------ blocks

    def _block(self, kind: str) -> bytes:
        if self._open == kind:
            return b""
        empty: dict[str, Any] = {"type": kind, kind: ""}
        if kind == "thinking":
            empty["signature"] = ""
        return self._close() + self._started_block(empty)

    def _started_block(self, block: dict[str, Any]) -> bytes:
        self._open = block["type"]
        index = self._next
        self._next += 1
        data = {"type": "content_block_start", "index": index, "content_block": block}
        return _event("content_block_start", data)

    def _delta(self, kind: str, key: str, value: str) -> bytes:
        # The hot path (one per text chunk): only the value goes through json.dumps.
        head = (
            'event: content_block_delta\ndata: {"type":"content_block_delta",'
            f'"index":{self._next - 1},"delta":{{"type":"{kind}","{key}":'
        )
        return head.encode() + dumps(value) + b"}}\n\n"

    def _close(self) -> bytes:
        if self._open is None:
            return b""
        out = b""
        if self._open == "thinking":
            out = self._delta(
                "signature_delta", "signature", thinking_signature("".join(self._thinking))
            )
            self._thinking = []
        self._open = None
        stop = {"type": "content_block_stop", "index": self._next - 1}
        return out + _event("content_block_stop", stop)

    def _finish(self) -> bytes:
        self._done = True
        out = self._close()
        if self._next == 0:
            out += self._started_block({"type": "text", "text": ""}) + self._close()
        usage: dict[str, int] = {}
        if self._usage is not None and self._usage.prompt_tokens is not None:
            usage["input_tokens"] = self._usage.prompt_tokens
        usage["output_tokens"] = (self._usage.completion_tokens if self._usage else None) or 0
        reason = stop_reason(self._reason, tool_calls=self._calls, stop_sequence=self._stop)
        delta = {
            "stop_reason": reason,
            "stop_sequence": self._stop if reason == "stop_sequence" else None,
        }
        return (
            out
            + _event("message_delta", {"type": "message_delta", "delta": delta, "usage": usage})
            + _STOP
        )

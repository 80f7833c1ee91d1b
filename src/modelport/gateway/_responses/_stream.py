"""One streamed response as Responses events: a state machine from the client's
chunks to SSE bytes.

The grammar (``event: <type>`` and ``data: <json>`` per event)::

    response.created  response.in_progress
    ( reasoning item:  output_item.added  content_part.added
                       reasoning_text.delta*  reasoning_text.done  content_part.done
                       output_item.done
    | message item:    output_item.added  content_part.added
                       output_text.delta*  output_text.done  content_part.done
                       output_item.done
    | tool call item:  output_item.added  function_call_arguments.delta
                       function_call_arguments.done  output_item.done
                       (custom_tool_call_input.delta/.done for a custom tool)
    )*
    response.completed | response.incomplete | response.failed

(every type but the first two and the last three starts with ``response.`` too).
Every event carries ``sequence_number`` (0, 1, 2, ...); item events carry the item's
``output_index`` and ``item_id``, part events ``content_index`` (always 0: one part per
item). One item is open at a time: thinking opens a reasoning item, text a message,
and what comes next closes it; each tool call is an item of its own, whole, as the
client hands calls over whole. So tool-call text never reaches ``output_text``.

The last event is exactly one of the three final events, whichever path ends the
stream: a chunk with ``done``, :meth:`EventEncoder.end` (the stream ended), or
:meth:`EventEncoder.fail` (it failed after it started). After that the encoder writes
nothing more. The final response (:attr:`EventEncoder.response`) is the one
:func:`response_body` gives for the same reply when the reply came in the usual order
(thinking, text, tool calls).

``KEEP_ALIVE`` is an SSE comment (clients skip it): what the plumbing writes while the
service reads a long prompt.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ...types import ChatChunk, ToolCall, Usage
from .._errors import Failure
from .._json import dumps
from ._failures import error_body
from ._items import IdFactory, new_id
from ._objects import (
    CallItems,
    call_text,
    ending,
    message_item,
    reasoning_item,
    reasoning_part,
    response_object,
    text_part,
    usage_body,
)
from ._request import ResponsesCall

__all__ = ["KEEP_ALIVE", "EventEncoder"]

KEEP_ALIVE = b": keep-alive\n\n"
"""An SSE comment line: keeps the connection busy, and every client skips it."""

_KINDS = {
    # item type: (part, delta event, done event)
    "reasoning": (reasoning_part, "response.reasoning_text.delta", "response.reasoning_text.done"),
    "message": (text_part, "response.output_text.delta", "response.output_text.done"),
}
_CALLS = {
    "function_call": ("response.function_call_arguments", "arguments"),
    "custom_tool_call": ("response.custom_tool_call_input", "input"),
}


class EventEncoder:
    """Turns the chunks of one streamed reply into Responses events (see the module).

    Args:
        call: the request, for the fields the response repeats and its custom tools.
        id: the response's id (``resp_...``).
        created_at: when the request came, in seconds since the epoch.
        ids: makes item ids (tests pass a counter).
        clock: the time for ``completed_at`` (``time.time``).
    """

    __slots__ = (
        "_call",
        "_calls",
        "_clock",
        "_created_at",
        "_id",
        "_ids",
        "_open",
        "_output",
        "_seq",
        "_started",
        "_texts",
        "_usage",
        "finished",
        "response",
    )

    def __init__(
        self,
        call: ResponsesCall,
        *,
        id: str,
        created_at: int,
        ids: IdFactory = new_id,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._call = call
        self._id = id
        self._created_at = created_at
        self._ids = ids
        self._clock = clock
        self._calls = CallItems(call.custom_tools, ids)
        self._seq = 0
        self._started = False
        self._output: list[dict[str, Any]] = []  # items added so far, in output order
        self._open: dict[str, Any] | None = None  # the reasoning or message item taking text
        self._texts: list[str] = []  # the open item's text, as it came
        self._usage: Usage | None = None
        self.finished = False
        """Whether the final event was written (nothing is written after it)."""
        self.response: dict[str, Any] | None = None
        """The final response object, once finished: what a store keeps."""

    # ------------------------------------------------------------------ the paths in

    def keep_alive(self) -> bytes:
        """An SSE comment, to write while nothing else is (:data:`KEEP_ALIVE`)."""
        return KEEP_ALIVE

    def start(self) -> bytes:
        """``response.created`` and ``response.in_progress``, once (with the headers)."""
        if self._started or self.finished:
            return b""
        self._started = True
        response = self._response("in_progress")
        return self._event("response.created", response=response) + self._event(
            "response.in_progress", response=response
        )

    def chunk(self, chunk: ChatChunk) -> bytes:
        """The events for one chunk (possibly none); a ``done`` chunk ends the stream."""
        if self.finished:
            return b""
        out = self.start()
        if chunk.thinking:
            out += self._text("reasoning", chunk.thinking)
        if chunk.text:
            out += self._text("message", chunk.text)
        for call in chunk.tool_calls:
            out += self._close("completed") + self._tool_call(call)
        if chunk.usage is not None:
            self._usage = chunk.usage
        if chunk.done:
            out += self._finish(*ending(chunk.finish_reason))
        return out

    def end(self) -> bytes:
        """The end of a stream that finished without a ``done`` chunk: it completed."""
        if self.finished:
            return b""
        return self.start() + self._finish(*ending(None))

    def fail(self, failure: Failure) -> bytes:
        """The end of a stream that failed after it started: ``response.failed``,
        carrying the error; the item it broke off in is closed as incomplete.
        """
        if self.finished:
            return b""
        error = error_body(failure)["error"]
        if failure.code == "rate_limit_exceeded" and failure.retry_after:
            # Codex reads the wait from the message ("try again in 7s").
            error["message"] = f"{error['message']} Please try again in {failure.retry_after}s."
        return self.start() + self._finish("failed", None, error)

    # ------------------------------------------------------------------ items

    def _text(self, kind: str, delta: str) -> bytes:
        out = b""
        item = self._open
        if item is None or item["type"] != kind:
            out += self._close("completed")
            out += self._add(kind)
            item = self._open
            assert item is not None
        self._texts.append(delta)
        _, delta_event, _ = _KINDS[kind]
        extra: dict[str, Any] = {"logprobs": []} if kind == "message" else {}
        return out + self._event(delta_event, **self._where(item), delta=delta, **extra)

    def _add(self, kind: str) -> bytes:
        if kind == "message":
            item = message_item(self._ids("msg"), None, "in_progress")
        else:
            item = reasoning_item(self._ids("rs"), None, "in_progress")
        self._open = item
        self._texts = []
        self._output.append(item)
        part, _, _ = _KINDS[kind]
        return self._event(
            "response.output_item.added", output_index=len(self._output) - 1, item=item
        ) + self._event("response.content_part.added", **self._where(item), part=part(""))

    def _close(self, status: str) -> bytes:
        item = self._open
        if item is None:
            return b""
        self._open = None
        text = "".join(self._texts)
        part, _, done_event = _KINDS[item["type"]]
        whole = part(text)
        extra: dict[str, Any] = {"logprobs": []} if item["type"] == "message" else {}
        where = self._where(item)
        out = self._event(done_event, **where, text=text, **extra)
        out += self._event("response.content_part.done", **where, part=whole)
        done = {**item, "status": status, "content": [whole]}
        self._output[where["output_index"]] = done
        return out + self._event(
            "response.output_item.done", output_index=where["output_index"], item=done
        )

    def _tool_call(self, call: ToolCall) -> bytes:
        item = self._calls.item(call)
        prefix, field = _CALLS[item["type"]]
        index = len(self._output)
        self._output.append(item)
        text = call_text(item)
        where = {"item_id": item["id"], "output_index": index}
        added = {**item, field: "", "status": "in_progress"}
        out = self._event("response.output_item.added", output_index=index, item=added)
        if text:
            out += self._event(f"{prefix}.delta", **where, delta=text)
        done: dict[str, Any] = {field: text}
        if item["type"] == "function_call":
            done["name"] = item["name"]
        out += self._event(f"{prefix}.done", **where, **done)
        return out + self._event("response.output_item.done", output_index=index, item=item)

    def _where(self, item: dict[str, Any]) -> dict[str, Any]:
        # The open item is always the last one added.
        return {"item_id": item["id"], "output_index": len(self._output) - 1, "content_index": 0}

    # ------------------------------------------------------------------ the end

    def _finish(
        self, status: str, details: dict[str, str] | None, error: dict[str, Any] | None = None
    ) -> bytes:
        item_status = "completed" if status == "completed" else "incomplete"
        if error is None and not any(i["type"] != "reasoning" for i in self._output):
            # A reply with neither text nor tool calls is one empty message.
            out = self._close("completed") + self._add("message")
            out += self._close(item_status)
        else:
            out = self._close(item_status)
        self.finished = True
        self.response = self._response(status, details, error)
        return out + self._event(f"response.{status}", response=self.response)

    def _response(
        self,
        status: str,
        details: dict[str, str] | None = None,
        error: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        final = status != "in_progress"
        return response_object(
            self._call,
            id=self._id,
            created_at=self._created_at,
            status=status,
            output=self._output,
            usage=usage_body(self._usage) if final else None,
            incomplete_details=details,
            error=error,
            completed_at=int(self._clock()) if final and status != "failed" else None,
        )

    def _event(self, kind: str, **fields: object) -> bytes:
        data = {"type": kind, "sequence_number": self._seq, **fields}
        self._seq += 1
        return b"event: " + kind.encode() + b"\ndata: " + dumps(data) + b"\n\n"

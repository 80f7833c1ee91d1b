"""The Responses objects: the response, its output items and usage, from the client's
:class:`~modelport.ChatResponse`.

A reply becomes ``output`` items in this order, the order in which a stream produces
them: a ``reasoning`` item for its thinking (the text as ``content`` of type
``reasoning_text``, with an empty ``summary``: the gateway does not summarise); a
``message`` with one ``output_text`` part (``annotations: []``) for its text, or an
empty one when the reply has neither text nor tool calls; then one ``function_call``
per tool call (``arguments`` a JSON string; text that was not JSON, as it came), or a
``custom_tool_call`` (``input``) for a tool the request declared ``custom``.

``status`` is ``incomplete`` when the reply was cut (``incomplete_details.reason``
``max_output_tokens`` for the finish reason ``length``, ``content_filter`` for that
one), else ``completed``; the item the reply ended in shares that status. Token counts
the server did not report are 0; ``usage`` is ``null`` when it reported none. Cached
and reasoning token counts are not known: 0.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ...types import ChatResponse, ToolCall, Usage
from .._toolcalls import arguments_text
from ._items import IdFactory, new_id
from ._request import ResponsesCall
from ._tools import CUSTOM_TOOL_ARGUMENT

__all__ = [
    "CallItems",
    "deleted_body",
    "ending",
    "message_item",
    "reasoning_item",
    "response_body",
    "response_object",
    "usage_body",
]

_INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}


def ending(finish_reason: str | None) -> tuple[str, dict[str, str] | None]:
    """``status`` and ``incomplete_details`` for a finish reason.

    >>> ending("length"), ending("stop")
    (('incomplete', {'reason': 'max_output_tokens'}), ('completed', None))
    """
    reason = _INCOMPLETE.get(finish_reason or "")
    return ("incomplete", {"reason": reason}) if reason else ("completed", None)


def usage_body(usage: Usage | None) -> dict[str, Any] | None:
    """OpenAI's Responses usage object; ``None`` when the server reported none."""
    if usage is None:
        return None
    prompt = usage.prompt_tokens or 0
    completion = usage.completion_tokens or 0
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": usage.total_tokens or prompt + completion,
    }


def text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def reasoning_part(text: str) -> dict[str, Any]:
    return {"type": "reasoning_text", "text": text}


def message_item(item_id: str, text: str | None, status: str) -> dict[str, Any]:
    """A ``message`` item; ``text=None`` has no part yet (as a stream first adds it)."""
    return {
        "type": "message",
        "id": item_id,
        "status": status,
        "role": "assistant",
        "content": [] if text is None else [text_part(text)],
    }


def reasoning_item(item_id: str, text: str | None, status: str) -> dict[str, Any]:
    """A ``reasoning`` item, its text as ``content`` (``None``: no part yet)."""
    return {
        "type": "reasoning",
        "id": item_id,
        "status": status,
        "summary": [],
        "content": [] if text is None else [reasoning_part(text)],
    }


class CallItems:
    """Turns tool calls into ``function_call`` or ``custom_tool_call`` items, giving
    each a ``call_id`` (the server's id, or a fresh one where it gave none or reused
    one) that later ``function_call_output`` items answer.
    """

    __slots__ = ("_custom", "_ids", "_used")

    def __init__(self, custom: frozenset[str], ids: IdFactory) -> None:
        self._custom = custom
        self._ids = ids
        self._used: set[str] = set()

    def item(self, call: ToolCall) -> dict[str, Any]:
        """The whole item, with a fresh item id."""
        call_id = call.id
        while not call_id or call_id in self._used:
            call_id = self._ids("call")
        self._used.add(call_id)
        if call.name in self._custom:
            return {
                "type": "custom_tool_call",
                "id": self._ids("ctc"),
                "call_id": call_id,
                "name": call.name,
                "input": custom_input(call),
                "status": "completed",
            }
        return {
            "type": "function_call",
            "id": self._ids("fc"),
            "call_id": call_id,
            "name": call.name,
            "arguments": arguments_text(call),
            "status": "completed",
        }


def custom_input(call: ToolCall) -> str:
    """A custom tool's input: its one string argument, else whatever the model wrote."""
    value = call.arguments.get(CUSTOM_TOOL_ARGUMENT)
    if call.raw_arguments is None and isinstance(value, str) and len(call.arguments) == 1:
        return value
    return arguments_text(call)


def call_text(item: Mapping[str, Any]) -> str:
    """The text a call item streams: its arguments, or a custom call's input."""
    text = item["input"] if item["type"] == "custom_tool_call" else item["arguments"]
    return str(text)


def response_object(
    call: ResponsesCall,
    *,
    id: str,
    created_at: int,
    status: str,
    output: Sequence[Mapping[str, Any]] = (),
    usage: dict[str, Any] | None = None,
    incomplete_details: Mapping[str, Any] | None = None,
    error: Mapping[str, Any] | None = None,
    completed_at: int | None = None,
) -> dict[str, Any]:
    """The ``response`` object: the given state, and the request fields it repeats."""
    return {
        "id": id,
        "object": "response",
        "created_at": created_at,
        "status": status,
        "completed_at": completed_at,
        "background": False,
        "error": error,
        "incomplete_details": incomplete_details,
        "model": call.model,
        "output": list(output),
        **call.echo,
        "usage": usage,
    }


def response_body(
    reply: ChatResponse,
    call: ResponsesCall,
    *,
    id: str,
    created_at: int,
    completed_at: int | None = None,
    ids: IdFactory = new_id,
) -> dict[str, Any]:
    """The whole response for a reply that was not streamed."""
    status, details = ending(reply.finish_reason)
    output: list[dict[str, Any]] = []
    if reply.thinking:
        output.append(reasoning_item(ids("rs"), reply.thinking, "completed"))
    if reply.text or not reply.tool_calls:
        output.append(message_item(ids("msg"), reply.text, "completed"))
    if status != "completed" and not reply.tool_calls:
        output[-1]["status"] = status  # the item the reply was cut in
    items = CallItems(call.custom_tools, ids)
    output.extend(items.item(tool_call) for tool_call in reply.tool_calls)
    return response_object(
        call,
        id=id,
        created_at=created_at,
        status=status,
        output=output,
        usage=usage_body(reply.usage),
        incomplete_details=details,
        completed_at=completed_at,
    )


def deleted_body(response_id: str) -> dict[str, Any]:
    """What ``DELETE /v1/responses/{id}`` answers."""
    return {"id": response_id, "object": "response", "deleted": True}

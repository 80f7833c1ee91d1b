"""Tool calls between modelport's whole :class:`~modelport.ToolCall` objects and each
surface's wire shape, one small state machine per choice.

Whatever the service (OpenAI-style indexed string fragments, or Ollama's whole calls
with arguments as objects and often no id), the client hands the gateway whole
calls: the library's stream decoders assemble fragments (a new id at a used index is
a new call) and keep arguments that are not valid JSON as ``raw_arguments``. Here:

* **to OpenAI** (:class:`ToolCallIndexer`): each call gets the next ``index`` and an
  ``id`` (its own, or a fresh ``call_...``); a call whose id was already given keeps
  its index. Each call is sent as a first delta with ``index``, ``id``, ``type`` and
  the function name (``arguments: ""``), then its arguments as a JSON string
  fragment; arguments that were not valid JSON are sent as the text received.
* **to Ollama** (:func:`ollama_call`): ``arguments`` is always an object; arguments
  that were not valid JSON are kept, never dropped, as a string under the key
  :data:`RAW_ARGUMENTS_KEY` (``{"raw_arguments": "<text>"}``).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from typing import Any

from ..types import ToolCall

__all__ = [
    "RAW_ARGUMENTS_KEY",
    "ToolCallIndexer",
    "arguments_text",
    "new_call_id",
    "ollama_call",
    "openai_call",
]

RAW_ARGUMENTS_KEY = "raw_arguments"
"""Where the Ollama surface keeps tool-call arguments that were not a JSON object."""


def new_call_id() -> str:
    """A fresh id in OpenAI's style, for a call that came without one."""
    return f"call_{secrets.token_hex(12)}"


def arguments_text(call: ToolCall) -> str:
    """The arguments as OpenAI's JSON string: the text received if it was not JSON."""
    if call.raw_arguments is not None:
        return call.raw_arguments
    return json.dumps(dict(call.arguments), ensure_ascii=False)


def openai_call(call: ToolCall, call_id: str | None = None) -> dict[str, Any]:
    """A whole call in a non-streamed OpenAI message."""
    return {
        "id": call_id or call.id or new_call_id(),
        "type": "function",
        "function": {"name": call.name, "arguments": arguments_text(call)},
    }


def ollama_call(call: ToolCall) -> dict[str, Any]:
    """A call in Ollama's shape: arguments as an object, whatever arrived."""
    if call.raw_arguments is not None:
        arguments: dict[str, Any] = {RAW_ARGUMENTS_KEY: call.raw_arguments}
    else:
        arguments = dict(call.arguments)
    out: dict[str, Any] = {"function": {"name": call.name, "arguments": arguments}}
    if call.id:
        out["id"] = call.id
    return out


class ToolCallIndexer:
    """Gives the calls of one reply their ``index`` and ``id`` (OpenAI's deltas, or
    Ollama's whole calls).

    >>> indexer = ToolCallIndexer()
    >>> [d["index"] for d in indexer.deltas([ToolCall("f", {}, id="a"), ToolCall("g")])]
    [0, 0, 1, 1]
    >>> indexer.count
    2
    """

    __slots__ = ("_by_id", "count")

    def __init__(self) -> None:
        self._by_id: dict[str, int] = {}
        self.count = 0

    def number(self, call: ToolCall) -> tuple[int, str, bool]:
        """The call's index and id, and whether it is new (not seen by its id before)."""
        if call.id and call.id in self._by_id:
            return self._by_id[call.id], call.id, False
        index = self.count
        self.count += 1
        call_id = call.id or new_call_id()
        self._by_id[call_id] = index
        return index, call_id, True

    def deltas(self, calls: Sequence[ToolCall]) -> list[dict[str, Any]]:
        """The ``tool_calls`` delta fragments for calls that just arrived, in order."""
        out: list[dict[str, Any]] = []
        for call in calls:
            index, call_id, new = self.number(call)
            if new:
                out.append(
                    {
                        "index": index,
                        "id": call_id,
                        "type": "function",
                        "function": {"name": call.name, "arguments": ""},
                    }
                )
            out.append({"index": index, "function": {"arguments": arguments_text(call)}})
        return out

    def ollama(self, calls: Sequence[ToolCall]) -> list[dict[str, Any]]:
        """Whole calls in Ollama's shape, each with its ``id`` and ``function.index``."""
        out: list[dict[str, Any]] = []
        for call in calls:
            index, call_id, _ = self.number(call)
            function = ollama_call(call)["function"]
            out.append({"id": call_id, "function": {"index": index, **function}})
        return out

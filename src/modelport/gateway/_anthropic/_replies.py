"""A whole reply as Anthropic's ``Message``, and the pieces the stream shares with it:
ids, the thinking signature, tool-use blocks, stop reasons and usage.

Content blocks come in the order thinking, text, tool_use; a reply with none of them
has one empty text block (Claude Code needs a block). ``stop_reason``:

=====================================  ==================
finish reason                          stop_reason
=====================================  ==================
``length``                             ``max_tokens``
tool calls in the reply                ``tool_use``
``content_filter``                     ``refusal``
``stop`` on a stop sequence the        ``stop_sequence`` (with ``stop_sequence`` set)
server names (vLLM's ``stop_reason``)
anything else                          ``end_turn``
=====================================  ==================

Other servers (llama.cpp's chat endpoint, Ollama, LM Studio) do not say which stop
string ended a reply, so their stops are ``end_turn``.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from ...types import ChatResponse, ToolCall, Usage
from .._toolcalls import RAW_ARGUMENTS_KEY

__all__ = [
    "ToolUseIds",
    "message_body",
    "message_id",
    "stop_reason",
    "thinking_signature",
    "tool_input",
    "usage_body",
]

_SIGNED = b"modelport thinking v1\x00"


def message_id() -> str:
    """A fresh message id in Anthropic's style."""
    return f"msg_{secrets.token_hex(12)}"


def thinking_signature(thinking: str) -> str:
    """The opaque, non-empty signature of a thinking block: a digest of its text, so the
    same thinking streamed or not has the same signature. Clients send it back; this
    surface accepts any signature, so nothing checks it.
    """
    digest = hashlib.sha256(_SIGNED + thinking.encode("utf-8", "surrogatepass")).digest()
    return base64.b64encode(digest).decode("ascii")


def tool_input(call: ToolCall) -> dict[str, Any]:
    """A call's arguments as ``input``, always an object: text that was not JSON is kept
    under ``raw_arguments`` (and sent back as that text when replayed).
    """
    if call.raw_arguments is not None:
        return {RAW_ARGUMENTS_KEY: call.raw_arguments}
    return dict(call.arguments)


class ToolUseIds:
    """The ids of one message's tool_use blocks: the service's own, or a fresh
    ``toolu_...`` for a call without one or with an id already used in the message.
    """

    __slots__ = ("_used",)

    def __init__(self) -> None:
        self._used: set[str] = set()

    def __call__(self, call: ToolCall) -> str:
        call_id = call.id if call.id and call.id not in self._used else None
        call_id = call_id or f"toolu_{secrets.token_hex(12)}"
        self._used.add(call_id)
        return call_id


def stop_reason(
    finish_reason: str | None, *, tool_calls: bool, stop_sequence: str | None = None
) -> str:
    """Anthropic's ``stop_reason`` for a reply (see the module's table)."""
    if finish_reason == "length":
        return "max_tokens"
    if tool_calls:
        return "tool_use"
    if finish_reason == "content_filter":
        return "refusal"
    return "end_turn" if stop_sequence is None else "stop_sequence"


def usage_body(usage: Usage | None) -> dict[str, int]:
    """``usage``: input and output tokens, 0 where the service did not say."""
    return {
        "input_tokens": (usage.prompt_tokens if usage else None) or 0,
        "output_tokens": (usage.completion_tokens if usage else None) or 0,
    }


def _matched_stop(response: ChatResponse, stop_sequences: Sequence[str]) -> str | None:
    """The stop sequence the server says ended the reply (vLLM's ``stop_reason``)."""
    if not stop_sequences or response.finish_reason != "stop":
        return None
    choices = response.raw.get("choices") if isinstance(response.raw, Mapping) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], Mapping):
        return None
    said = choices[0].get("stop_reason")
    return said if isinstance(said, str) and said in stop_sequences else None


def message_body(
    response: ChatResponse,
    *,
    model: str,
    id: str | None = None,
    stop_sequences: Sequence[str] = (),
) -> dict[str, Any]:
    """The ``Message`` for a whole reply; ``model`` is the id the caller asked for."""
    content: list[dict[str, Any]] = []
    if response.thinking:
        content.append(
            {
                "type": "thinking",
                "thinking": response.thinking,
                "signature": thinking_signature(response.thinking),
            }
        )
    if response.text:
        content.append({"type": "text", "text": response.text})
    ids = ToolUseIds()
    for call in response.tool_calls:
        content.append(
            {"type": "tool_use", "id": ids(call), "name": call.name, "input": tool_input(call)}
        )
    if not content:
        content.append({"type": "text", "text": ""})
    matched = _matched_stop(response, stop_sequences)
    reason = stop_reason(
        response.finish_reason, tool_calls=bool(response.tool_calls), stop_sequence=matched
    )
    return {
        "id": id or message_id(),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": reason,
        "stop_sequence": matched if reason == "stop_sequence" else None,
        "usage": usage_body(response.usage),
    }

"""Responses items as chat messages, and as the copies a stored response keeps.

An item list (a request's ``input``, or a stored conversation: earlier input and
output) becomes chat messages, as the dicts the client takes (``role``, ``content``,
``images``, ``tool_calls``, ``tool_call_id``, ``thinking``; the client parses tool-call
arguments and keeps text that is not JSON, as for the other surfaces):

==============================  ===================================================
item                            message
==============================  ===================================================
``message`` (``type`` may be    its role (``developer`` is ``system``); text parts
left out)                       (``input_text``, ``output_text``, ``refusal``) joined
                                by newlines; ``input_image`` parts as ``images``
``function_call``,              a tool call of the assistant message just before it,
``custom_tool_call``            or of a new one; ``call_id`` is the call's id; a
                                custom call's ``input`` is its one string argument
``function_call_output``,       a ``tool`` message answering ``call_id``
``custom_tool_call_output``
``reasoning``                   the ``thinking`` of the next assistant message (its
                                ``content`` texts, else its ``summary``);
                                ``encrypted_content`` is ignored
any other type                  skipped, with a warning (items of OpenAI's built-in
                                tools; ``item_reference``)
==============================  ===================================================

Anything of the wrong shape is an :class:`InvalidRequestError` naming where it is
(``input[3].content[0]``).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ...errors import CapabilityError, InvalidRequestError
from ._tools import CUSTOM_TOOL_ARGUMENT, safe_text

__all__ = ["ChatMessage", "IdFactory", "Item", "new_id", "normalize_items", "to_messages"]

Item = Mapping[str, Any]
"""One Responses item: a JSON object."""

ChatMessage = dict[str, Any]
"""A chat message as the client takes it: ``{"role", "content", ...}``."""

IdFactory = Callable[[str], str]
"""Makes a fresh id from a prefix (``resp``, ``msg``, ``fc``, ...); tests pass their own."""


def new_id(prefix: str) -> str:
    """A fresh id in OpenAI's style: ``resp_`` and 48 hex digits."""
    return f"{prefix}_{secrets.token_hex(24)}"


_ROLES = {"user": "user", "assistant": "assistant", "system": "system", "developer": "system"}
_CALLS = ("function_call", "custom_tool_call")
_OUTPUTS = ("function_call_output", "custom_tool_call_output")
_TEXT_PARTS = {"input_text": "text", "output_text": "text", "text": "text", "refusal": "refusal"}
_PREFIXES = {
    "message": "msg",
    "function_call": "fc",
    "custom_tool_call": "ctc",
    "function_call_output": "fco",
    "custom_tool_call_output": "ctco",
    "reasoning": "rs",
}


def _kind(item: Item, where: str) -> str:
    kind = item.get("type")
    if kind is None and "role" in item:
        return "message"
    if not isinstance(kind, str) or not kind:
        raise InvalidRequestError(f"{where} needs a 'type' (or a 'role', for a message).")
    return kind


class _Conversation:
    """Messages built item by item: calls join the assistant message just before them,
    reasoning waits for the next assistant message.
    """

    __slots__ = ("messages", "open", "thinking", "warnings")

    def __init__(self) -> None:
        self.messages: list[ChatMessage] = []
        self.open: int | None = None  # the assistant message that later calls join
        self.thinking: list[str] = []
        self.warnings: list[str] = []

    def add(self, message: ChatMessage) -> None:
        if message["role"] == "assistant":
            if self.thinking:
                message["thinking"] = "\n\n".join(self.thinking)
            self.open = len(self.messages)
        else:
            self.open = None
        self.thinking = []
        self.messages.append(message)

    def call(self, call: dict[str, Any]) -> None:
        if self.open is None:
            self.add({"role": "assistant", "content": "", "tool_calls": [call]})
            return
        self.messages[self.open].setdefault("tool_calls", []).append(call)

    def reason(self, text: str) -> None:
        self.open = None  # what follows reasoning is a new assistant turn
        if text:
            self.thinking.append(text)


def to_messages(
    items: Sequence[object], where: str = "input"
) -> tuple[list[ChatMessage], list[str]]:
    """The messages of ``items``, and warnings naming what was skipped."""
    turn = _Conversation()
    for index, item in enumerate(items):
        at = f"{where}[{index}]"
        if not isinstance(item, Mapping):
            raise InvalidRequestError(
                f"{at} must be an object (a message or another item), not {type(item).__name__}."
            )
        kind = _kind(item, at)
        if kind == "message":
            turn.add(_message(item, at))
        elif kind in _CALLS:
            turn.call(_call(item, kind, at))
        elif kind in _OUTPUTS:
            turn.add(_output(item, kind, at))
        elif kind == "reasoning":
            turn.reason(_reasoning(item, at))
        else:
            turn.warnings.append(
                f"input item {safe_text(kind)} skipped (not something a local model can use)"
            )
    return turn.messages, turn.warnings


def _message(item: Item, where: str) -> ChatMessage:
    role = item.get("role")
    mapped = _ROLES.get(role) if isinstance(role, str) else None
    if mapped is None:
        raise InvalidRequestError(
            f"{where} has unknown role {safe_text(role)!r}; "
            "use user, assistant, system or developer."
        )
    text, images = _content(item.get("content"), where, "content")
    return _with_images({"role": mapped, "content": text}, images)


def _with_images(message: ChatMessage, images: list[str]) -> ChatMessage:
    if images:
        message["images"] = images
    return message


def _content(value: object, where: str, field: str) -> tuple[str, list[str]]:
    if isinstance(value, str):
        return value, []
    if not isinstance(value, list):
        raise InvalidRequestError(f"{where}: {field} must be a string or a list of parts.")
    texts: list[str] = []
    images: list[str] = []
    for index, part in enumerate(value):
        at = f"{where}.{field}[{index}]"
        if not isinstance(part, Mapping):
            raise InvalidRequestError(f"{at}: a content part must be an object.")
        kind = part.get("type")
        if kind in _TEXT_PARTS:
            key = _TEXT_PARTS[kind]
            text = part.get(key)
            if not isinstance(text, str):
                raise InvalidRequestError(f"{at}: {kind} needs a '{key}' string.")
            texts.append(text)
        elif kind == "input_image":
            images.append(_image(part, at))
        elif kind == "input_file":
            raise CapabilityError(
                f"{at}: input_file parts are not supported by this gateway (local models "
                "take text and images).",
                hint="Send the file's text as an input_text part.",
            )
        else:
            raise InvalidRequestError(
                f"{at}: content part type {safe_text(kind)!r} is not supported."
            )
    return "\n".join(texts), images


def _image(part: Item, where: str) -> str:
    url = part.get("image_url")
    if isinstance(url, Mapping):  # the Chat Completions shape, sent here by mistake
        url = url.get("url")
    if isinstance(url, str) and url:
        return url
    if part.get("file_id") is not None:
        raise CapabilityError(
            f"{where}: an image by file_id needs OpenAI's Files API, which this gateway "
            "does not have.",
            hint="Send the image as a data: URL (or an http(s) URL) in 'image_url'.",
        )
    raise InvalidRequestError(
        f"{where}: input_image needs an 'image_url' (a data: or http(s) URL)."
    )


def _string(item: Item, key: str, where: str, kind: str) -> str:
    value = item.get(key)
    if not isinstance(value, str) or not value:
        raise InvalidRequestError(f"{where}: {kind} needs a '{key}' string.")
    return value


def _call(item: Item, kind: str, where: str) -> dict[str, Any]:
    name = _string(item, "name", where, kind)
    call_id = _string(item, "call_id", where, kind)
    if kind == "custom_tool_call":
        text = item.get("input")
        if not isinstance(text, str):
            raise InvalidRequestError(f"{where}: custom_tool_call 'input' must be a string.")
        arguments: object = {CUSTOM_TOOL_ARGUMENT: text}
    else:
        arguments = item.get("arguments", "")
        if not isinstance(arguments, (str, Mapping)):
            raise InvalidRequestError(f"{where}: function_call 'arguments' must be a JSON string.")
    return {"id": call_id, "function": {"name": name, "arguments": arguments}}


def _output(item: Item, kind: str, where: str) -> ChatMessage:
    call_id = _string(item, "call_id", where, kind)
    value = item.get("output")
    if not isinstance(value, (str, list)):
        raise InvalidRequestError(f"{where}: {kind} 'output' must be a string or a list of parts.")
    text, images = _content(value, where, "output")
    return _with_images({"role": "tool", "content": text, "tool_call_id": call_id}, images)


def _reasoning(item: Item, where: str) -> str:
    texts: dict[str, list[str]] = {}
    for field in ("content", "summary"):
        parts = item.get(field)
        if parts is None:
            continue
        if not isinstance(parts, list):
            raise InvalidRequestError(f"{where}: reasoning '{field}' must be a list of parts.")
        for index, part in enumerate(parts):
            text = part.get("text") if isinstance(part, Mapping) else None
            if not isinstance(text, str):
                raise InvalidRequestError(f"{where}.{field}[{index}] needs a 'text' string.")
            texts.setdefault(field, []).append(text)
    # The reasoning itself where the client sent it back, else what summarised it.
    return "\n".join(texts.get("content") or texts.get("summary") or ())


def normalize_items(items: Sequence[Item], ids: IdFactory = new_id) -> tuple[dict[str, Any], ...]:
    """Copies of checked items as a stored response keeps them: each with an ``id``,
    messages with ``type`` and their content as a list of parts.
    """
    out: list[dict[str, Any]] = []
    for item in items:
        copy = dict(item)
        kind = _kind(item, "input")
        if kind == "message":
            copy["type"] = "message"
            content = copy.get("content")
            parts = (
                [{"type": "input_text", "text": content}] if isinstance(content, str) else content
            )
            if isinstance(parts, list):
                copy["content"] = [_listed_part(part, copy.get("role")) for part in parts]
        elif kind == "reasoning":
            copy.setdefault("summary", [])
        if kind in _PREFIXES:
            copy.setdefault("status", "completed")
        if not isinstance(copy.get("id"), str) or not copy["id"]:
            copy["id"] = ids(_PREFIXES.get(kind, "item"))
        out.append(copy)
    return tuple(out)


def _listed_part(part: Mapping[str, Any], role: object) -> dict[str, Any]:
    """A content part with the fields OpenAI's item lists carry."""
    copy = dict(part)
    kind = copy.get("type")
    if role == "assistant" and kind in ("input_text", "output_text"):
        copy["type"] = "output_text"
        copy.setdefault("annotations", [])
    elif kind == "input_image":
        copy.setdefault("detail", "auto")
    return copy

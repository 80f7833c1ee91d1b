"""Anthropic's messages and content blocks as the client's :class:`~modelport.Message`
objects, one turn at a time.

=======================  ==========================================================
block                    becomes
=======================  ==========================================================
``text``                 the message's text (several blocks joined by a newline)
``image``                ``Message.images``: base64 as a ``data:`` URL, a URL as is
``document``             text sources as text (the title first); PDFs refused
``tool_use``             a :class:`~modelport.ToolCall` of the assistant message
``tool_result``          a ``tool`` message with ``tool_call_id``, in block order
``thinking``             ``Message.thinking`` (whatever the signature)
``redacted_thinking``    dropped: Anthropic's encrypted reasoning, no model reads it
``tool_reference``       the text ``Tool loaded: NAME``; it also loads a deferred tool
server-tool blocks       dropped, with a warning (``server_tool_use``, ``*_tool_result``)
=======================  ==========================================================

A user turn keeps its block order: text before a ``tool_result`` is one user message,
the result a tool message, text after it another user message. An assistant turn is
one message. Anything malformed is an :class:`~modelport.InvalidRequestError` that
names the place (``messages[2].content[0]``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from ...errors import InvalidRequestError
from ...types import ImageInput, Message, ToolCall
from .._toolcalls import RAW_ARGUMENTS_KEY

__all__ = ["BILLING_HEADER", "Conversation", "header_safe", "system_text"]

BILLING_HEADER = "x-anthropic-billing-header:"
"""How Claude Code's first system block starts. It carries a per-request hash, so
sent on it would defeat every server's prompt cache; it is no instruction, and is
dropped (llama.cpp's own Anthropic endpoint blanks the hash for the same reason)."""

_SERVER_BLOCKS = frozenset(("server_tool_use", "mcp_tool_use", "mcp_tool_result"))

Role = Literal["user", "assistant", "system"]
_ROLES: dict[str, Role] = {"user": "user", "assistant": "assistant", "system": "system"}


def header_safe(text: str, limit: int = 300) -> str:
    """``text`` as printable ASCII, for a response header (escapes, never raw bytes).

    >>> header_safe("naïve\\r\\nx")
    'na\\\\xefve\\\\r\\\\nx'
    """
    out = "".join(
        c if " " <= c <= "~" else c.encode("unicode_escape").decode("ascii") for c in text
    )
    return out[:limit]


def _fail(where: str, what: str) -> InvalidRequestError:
    return InvalidRequestError(f"{where} {what}")


def _text_of(block: Mapping[str, Any], where: str, key: str = "text") -> str:
    value = block.get(key)
    if not isinstance(value, str):
        raise _fail(where, f"has no {key} (a string).")
    return value


def system_text(value: object, where: str) -> str:
    """The text of a system prompt: a string, or text blocks (``cache_control`` and
    Claude Code's billing header left out), joined by newlines.
    """
    if isinstance(value, str):
        return value
    if not isinstance(value, list):
        raise _fail(where, "must be a string or a list of text blocks.")
    texts = []
    for index, block in enumerate(value):
        here = f"{where}[{index}]"
        if not isinstance(block, Mapping) or block.get("type") != "text":
            raise _fail(here, "must be a text block: system messages take only text blocks.")
        text = _text_of(block, here)
        if not text.startswith(BILLING_HEADER):
            texts.append(text)
    return "\n".join(texts)


def _image(source: object, where: str) -> str:
    if not isinstance(source, Mapping):
        raise _fail(where, "has no source (an object with a type: base64 or url).")
    kind = source.get("type")
    if kind == "base64":
        data, media = source.get("data"), source.get("media_type")
        if not isinstance(data, str) or not data:
            raise _fail(where, "has a base64 source without data.")
        return f"data:{media if isinstance(media, str) and media else 'image/png'};base64,{data}"
    if kind == "url":
        url = source.get("url")
        if not isinstance(url, str) or not url:
            raise _fail(where, "has a url source without a url.")
        return url
    if kind == "file":
        raise _fail(
            where,
            "names an uploaded file (file_id): the Files API is not available on this "
            "gateway. Send the image as base64 or a URL.",
        )
    raise _fail(where, f"has a source of type {kind!r:.60}; use base64 or url.")


def _document(block: Mapping[str, Any], where: str) -> str:
    source = block.get("source")
    if not isinstance(source, Mapping):
        raise _fail(where, "has no source (an object with a type: text or content).")
    kind = source.get("type")
    if kind == "text":
        text = _text_of(source, f"{where}.source", "data")
    elif kind == "content":
        content = source.get("content")
        if isinstance(content, str):
            text = content
        elif isinstance(content, list):
            parts = []
            for index, part in enumerate(content):
                here = f"{where}.source.content[{index}]"
                if not isinstance(part, Mapping) or part.get("type") != "text":
                    raise _fail(here, "must be a text block.")
                parts.append(_text_of(part, here))
            text = "\n".join(parts)
        else:
            raise _fail(f"{where}.source", "has no content (a string or text blocks).")
    elif kind in ("base64", "url"):
        raise _fail(
            where,
            "is a PDF: no local model server reads PDFs. Extract its text and send it "
            "as a text document or a text block.",
        )
    elif kind == "file":
        raise _fail(where, "names an uploaded file (file_id): the Files API is not available.")
    else:
        raise _fail(where, f"has a source of type {kind!r:.60}; use text or content.")
    title = block.get("title")
    return f"{title}\n{text}" if isinstance(title, str) and title else text


def _tool_call(block: Mapping[str, Any], where: str) -> ToolCall:
    name = block.get("name")
    if not isinstance(name, str) or not name:
        raise _fail(where, "has no name (the tool's name, a string).")
    call_id = block.get("id")
    if call_id is not None and not isinstance(call_id, str):
        raise _fail(where, "has an id that is not a string.")
    arguments = block.get("input")
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, Mapping):
        raise _fail(where, "has an input that is not an object.")
    raw = arguments.get(RAW_ARGUMENTS_KEY)
    if len(arguments) == 1 and isinstance(raw, str):  # arguments this surface kept as text
        return ToolCall(name, {}, id=call_id or None, raw_arguments=raw)
    return ToolCall(name, dict(arguments), id=call_id or None)


class Conversation:
    """The messages of one request, built turn by turn, with what they tell about the
    rest of the request: the warnings for the caller and the deferred tools loaded.
    """

    __slots__ = ("_dropped", "loaded", "messages", "warnings")

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.warnings: list[str] = []
        self.loaded: set[str] = set()
        self._dropped: dict[str, None] = {}  # kinds of server-tool blocks, in order

    def read(self, value: object) -> list[Message]:
        """``messages`` of the request, in order."""
        if not isinstance(value, list) or not value:
            raise InvalidRequestError(
                "'messages' must be a non-empty list of messages (objects with a role and content)."
            )
        for index, item in enumerate(value):
            self._message(item, f"messages[{index}]")
        if self._dropped:
            kinds = ", ".join(self._dropped)
            self.warnings.append(
                header_safe(f"dropped {kinds} blocks: server tools cannot run on a local model")
            )
        return self.messages

    def _message(self, item: object, where: str) -> None:
        if not isinstance(item, Mapping):
            raise _fail(where, "must be an object with a role and content.")
        said = item.get("role")
        role = _ROLES.get(said) if isinstance(said, str) else None
        if role is None:
            raise _fail(where, f"has role {said!r:.60}; use user, assistant or system.")
        if "content" not in item:
            raise _fail(where, "has no content.")
        content = item["content"]
        if role == "system":
            text = system_text(content, f"{where}.content")
            self.messages.append(Message(role="system", content=text))
        elif isinstance(content, str):
            self.messages.append(Message(role=role, content=content))
        elif isinstance(content, list):
            self._turn(role, content, f"{where}.content")
        else:
            raise _fail(f"{where}.content", "must be a string or a list of content blocks.")

    def _turn(self, role: Role, blocks: list[Any], where: str) -> None:
        texts: list[str] = []
        images: list[ImageInput] = []
        calls: list[ToolCall] = []
        thinking: list[str] = []
        emitted = False
        for index, block in enumerate(blocks):
            here = f"{where}[{index}]"
            if not isinstance(block, Mapping):
                raise _fail(here, "must be a content block (an object with a type).")
            kind = block.get("type")
            if not isinstance(kind, str):
                raise _fail(here, "has no type.")
            if self._content(kind, block, here, texts, images):
                continue
            if kind in ("tool_use", "thinking", "redacted_thinking"):
                if role != "assistant":
                    raise _fail(here, f"is a {kind} block; those belong in assistant turns.")
                if kind == "tool_use":
                    calls.append(_tool_call(block, here))
                elif kind == "thinking":
                    thinking.append(_text_of(block, here, "thinking"))
            elif kind == "tool_result":
                if role != "user":
                    raise _fail(here, "is a tool_result block; those belong in user turns.")
                if texts or images:
                    self.messages.append(
                        Message(role=role, content="\n".join(texts), images=images)
                    )
                    texts, images = [], []
                self.messages.append(self._result(block, here))
                emitted = True
            elif kind in _SERVER_BLOCKS or kind.endswith("_tool_result"):
                self._dropped.setdefault(kind)
            else:
                raise _fail(here, f"is a {kind!r:.60} block, which this gateway cannot pass on.")
        if texts or images or calls or thinking or not emitted:
            self.messages.append(
                Message(
                    role=role,
                    content="\n".join(texts),
                    images=images,
                    tool_calls=calls,
                    thinking="\n".join(thinking) if thinking else None,
                )
            )

    def _content(
        self,
        kind: object,
        block: Mapping[str, Any],
        where: str,
        texts: list[str],
        images: list[ImageInput],
    ) -> bool:
        """Add a block that user turns and tool results share; False for another kind."""
        if kind == "text":
            texts.append(_text_of(block, where))
        elif kind == "image":
            images.append(_image(block.get("source"), where))
        elif kind == "document":
            texts.append(_document(block, where))
        elif kind == "tool_reference":
            texts.append(self._reference(block, where))
        else:
            return False
        return True

    def _reference(self, block: Mapping[str, Any], where: str) -> str:
        name = _text_of(block, where, "tool_name")
        self.loaded.add(name)
        return f"Tool loaded: {name}"

    def _result(self, block: Mapping[str, Any], where: str) -> Message:
        call_id = block.get("tool_use_id")
        if not isinstance(call_id, str) or not call_id:
            raise _fail(where, "has no tool_use_id (the id of the tool_use it answers).")
        content = block.get("content")
        texts: list[str] = []
        images: list[ImageInput] = []
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            for index, part in enumerate(content):
                here = f"{where}.content[{index}]"
                kind = part.get("type") if isinstance(part, Mapping) else None
                if not isinstance(part, Mapping) or not self._content(
                    kind, part, here, texts, images
                ):
                    raise _fail(
                        here, f"is a {kind!r:.60} block; a tool result takes text and images."
                    )
        elif content is not None:
            raise _fail(f"{where}.content", "must be a string or a list of blocks.")
        text = "\n".join(texts)
        if block.get("is_error") is True:
            text = f"Error: {text}" if text else "Error"
        return Message(role="tool", content=text, tool_call_id=call_id, images=images)

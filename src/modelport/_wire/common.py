"""What every wire dialect shares: the validated chat request and input normalisation.

:func:`build_chat_request` turns what a caller passed (a string, dicts or
:class:`~modelport.types.Message` objects, and keyword options) into one
:class:`ChatRequest`, refusing mistakes before anything is sent. Dialects then
translate that one shape into their server's JSON.
"""

from __future__ import annotations

import base64
import inspect
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypedDict, Union, get_args, get_origin, get_type_hints

from ..errors import InvalidRequestError
from ..types import ImageInput, Message, ToolCall

__all__ = [
    "CHAT_OPTION_NAMES",
    "ChatOptions",
    "ChatRequest",
    "JsonSchema",
    "MessagesInput",
    "ToolInput",
    "build_chat_request",
    "image_to_base64",
    "normalize_inputs",
    "normalize_message",
    "normalize_tools",
    "parse_arguments",
    "schema_of",
    "split_think_tags",
    "tool_call_from_wire",
]

JsonSchema = Mapping[str, Any]
ToolInput = Mapping[str, Any] | Callable[..., Any]
MessagesInput = str | Message | Mapping[str, Any] | Sequence[Message | Mapping[str, Any]]

_ROLES: frozenset[str] = frozenset(("system", "user", "assistant", "tool"))
_ROLE_ALIASES = {"developer": "system", "function": "tool"}


class ChatOptions(TypedDict, total=False):
    """Keyword options accepted by every ``chat`` and ``chat_stream`` method.

    Each is optional; a server that has no such setting ignores it unless noted.
    """

    system: str
    """A system prompt, put before the messages."""
    tools: Sequence[ToolInput]
    """Tools the model may call: OpenAI-style dicts, or Python functions."""
    tool_choice: str | Mapping[str, Any]
    """``"auto"``, ``"none"``, ``"required"`` or a tool name."""
    response_format: Any
    """A JSON schema dict, ``"json"``, or a class with ``model_json_schema()``."""
    temperature: float
    top_p: float
    max_tokens: int
    stop: str | Sequence[str]
    seed: int
    think: bool | str
    """Reasoning on/off, or a level ``"low"``/``"medium"``/``"high"``."""
    keep_alive: float | str
    """How long the server keeps the model loaded afterwards (Ollama; LM Studio ``ttl``)."""
    context_length: int
    """The context window to load the model with, where the server allows it per request."""
    options: Mapping[str, Any]
    """Raw provider options, passed through unchanged."""
    timeout: float
    """Read timeout for this request, in seconds."""


CHAT_OPTION_NAMES: frozenset[str] = frozenset(ChatOptions.__annotations__)


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """A validated chat request, the same for every server."""

    model: str
    messages: tuple[Message, ...]
    tools: tuple[Mapping[str, Any], ...] = ()
    tool_choice: str | Mapping[str, Any] | None = None
    schema: JsonSchema | None = None
    json_mode: bool = False
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    stop: tuple[str, ...] = ()
    seed: int | None = None
    think: bool | str | None = None
    keep_alive: float | str | None = None
    context_length: int | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    timeout: float | None = None


def build_chat_request(
    model: str, messages: MessagesInput, options: Mapping[str, Any]
) -> ChatRequest:
    """Validate and normalise a chat call; raise :class:`InvalidRequestError` on mistakes."""
    unknown = set(options) - CHAT_OPTION_NAMES
    if unknown:
        raise InvalidRequestError(_unknown_options_message(unknown))
    if not isinstance(model, str) or not model.strip():
        raise InvalidRequestError(
            "The model name is empty.", hint="Pass a model name such as 'llama3.2'."
        )
    normalized = normalize_messages(messages)
    system = options.get("system")
    if system is not None:
        if not isinstance(system, str):
            raise InvalidRequestError("system must be a string.")
        normalized = (Message(role="system", content=system), *normalized)
    if not normalized:
        raise InvalidRequestError(
            "No messages to send.", hint="Pass a prompt string or a list of messages."
        )
    if all(m.role == "system" for m in normalized):
        raise InvalidRequestError(
            "Only system messages were given; there is nothing for the model to answer.",
            hint="Add a user message.",
        )

    schema, json_mode = _response_format(options.get("response_format"))
    stop = options.get("stop")
    stops: tuple[str, ...] = (stop,) if isinstance(stop, str) else tuple(stop or ())
    if not all(isinstance(s, str) for s in stops):
        raise InvalidRequestError("stop must be a string or a list of strings.")
    tool_choice = options.get("tool_choice")
    if tool_choice is not None and not isinstance(tool_choice, (str, Mapping)):
        raise InvalidRequestError("tool_choice must be a string or a dict.")
    extra = options.get("options") or {}
    if not isinstance(extra, Mapping):
        raise InvalidRequestError("options must be a dict of raw provider options.")
    think = options.get("think")
    if think is not None and not isinstance(think, (bool, str)):
        raise InvalidRequestError("think must be True, False or a level such as 'high'.")
    keep_alive = options.get("keep_alive")
    if keep_alive is not None and (
        isinstance(keep_alive, bool) or not isinstance(keep_alive, (int, float, str))
    ):
        raise InvalidRequestError("keep_alive must be seconds (a number) or a duration like '5m'.")

    return ChatRequest(
        model=model.strip(),
        messages=normalized,
        tools=normalize_tools(options.get("tools") or ()),
        tool_choice=tool_choice,
        schema=schema,
        json_mode=json_mode,
        temperature=_number(options, "temperature", low=0.0),
        top_p=_number(options, "top_p", low=0.0, high=1.0),
        max_tokens=_positive_int(options, "max_tokens"),
        stop=stops,
        seed=_int(options, "seed"),
        think=think,
        keep_alive=keep_alive,
        context_length=_positive_int(options, "context_length"),
        options=dict(extra),
        timeout=_number(options, "timeout", low=0.0, strict_low=True),
    )


def _unknown_options_message(unknown: Iterable[str]) -> str:
    import difflib

    parts = []
    for name in sorted(unknown):
        close = difflib.get_close_matches(name, sorted(CHAT_OPTION_NAMES), n=1)
        parts.append(f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    return f"Unknown chat option {', '.join(parts)}. Raw server options go in options={{...}}."


def _number(
    options: Mapping[str, Any],
    key: str,
    *,
    low: float | None = None,
    high: float | None = None,
    strict_low: bool = False,
) -> float | None:
    value = options.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidRequestError(f"{key} must be a number, not {type(value).__name__}.")
    if low is not None and (value < low or (strict_low and value == low)):
        raise InvalidRequestError(
            f"{key} must be {'>' if strict_low else '>='} {low:g}, not {value}."
        )
    if high is not None and value > high:
        raise InvalidRequestError(f"{key} must be <= {high:g}, not {value}.")
    return float(value)


def _int(options: Mapping[str, Any], key: str) -> int | None:
    value = options.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidRequestError(f"{key} must be an integer, not {type(value).__name__}.")
    return value


def _positive_int(options: Mapping[str, Any], key: str) -> int | None:
    value = _int(options, key)
    if value is not None and value <= 0:
        raise InvalidRequestError(f"{key} must be a positive integer, not {value}.")
    return value


# --------------------------------------------------------------------------- messages


def normalize_messages(messages: MessagesInput) -> tuple[Message, ...]:
    """Accept a prompt string, one message, or a sequence of messages or dicts."""
    if isinstance(messages, str):
        return (Message(role="user", content=messages),)
    if isinstance(messages, (Message, Mapping)):
        return (normalize_message(messages, 0),)
    if not isinstance(messages, Sequence):
        raise InvalidRequestError(
            f"messages must be a string or a list of messages, not {type(messages).__name__}."
        )
    items: Sequence[Any] = messages
    return tuple(normalize_message(m, i) for i, m in enumerate(items))


def normalize_message(message: Message | Mapping[str, Any], index: int = 0) -> Message:
    """Turn a dict (OpenAI or Ollama style) into a :class:`Message`, validating it."""
    if isinstance(message, Message):
        if message.role not in _ROLES:
            raise InvalidRequestError(_role_error(message.role, index))
        if not isinstance(message.content, str):
            raise InvalidRequestError(f"Message {index}: content must be a string.")
        return message
    if not isinstance(message, Mapping):
        raise InvalidRequestError(
            f"Message {index} must be a Message or a dict, not {type(message).__name__}."
        )
    role = message.get("role")
    if not isinstance(role, str):
        raise InvalidRequestError(f"Message {index} has no role.", hint="Add 'role': 'user'.")
    role = _ROLE_ALIASES.get(role.lower(), role.lower())
    if role not in _ROLES:
        raise InvalidRequestError(_role_error(message["role"], index))
    content = message.get("content")
    raw_images: Any = message.get("images") or ()
    if isinstance(raw_images, (str, bytes, bytearray, os.PathLike)):
        raw_images = (raw_images,)  # one image, not a sequence of characters
    images: list[ImageInput] = list(raw_images)
    if content is None:
        text = ""
    elif isinstance(content, str):
        text = content
    elif isinstance(content, Sequence):
        text, part_images = _from_content_parts(content, index)
        images.extend(part_images)
    else:
        raise InvalidRequestError(f"Message {index}: content must be a string or a list of parts.")
    tool_calls = tuple(_tool_call_from_dict(tc, index) for tc in message.get("tool_calls") or ())
    thinking = (
        message.get("thinking") or message.get("reasoning_content") or message.get("reasoning")
    )
    tool_call_id = message.get("tool_call_id")
    name = message.get("name") or message.get("tool_name")
    return Message(
        role=role,  # type: ignore[arg-type]
        content=text,
        images=tuple(images),
        tool_calls=tool_calls,
        tool_call_id=str(tool_call_id) if tool_call_id is not None else None,
        name=name if isinstance(name, str) else None,
        thinking=thinking if isinstance(thinking, str) else None,
    )


def _role_error(role: object, index: int) -> str:
    return f"Message {index} has unknown role {role!r}; use one of system, user, assistant, tool."


def _from_content_parts(parts: Sequence[Any], index: int) -> tuple[str, list[ImageInput]]:
    texts: list[str] = []
    images: list[ImageInput] = []
    for part in parts:
        if isinstance(part, str):
            texts.append(part)
            continue
        if not isinstance(part, Mapping):
            raise InvalidRequestError(f"Message {index}: content parts must be dicts.")
        kind = part.get("type")
        if kind in ("text", "input_text"):
            texts.append(str(part.get("text", "")))
        elif kind in ("image_url", "input_image"):
            url = part.get("image_url")
            if isinstance(url, Mapping):
                url = url.get("url")
            if not isinstance(url, str):
                raise InvalidRequestError(f"Message {index}: image part without a URL.")
            images.append(url)
        elif kind == "image":
            data = part.get("data") or part.get("data_url") or part.get("image")
            if not isinstance(data, (str, bytes)):
                raise InvalidRequestError(f"Message {index}: image part without data.")
            images.append(data)
        else:
            raise InvalidRequestError(f"Message {index}: unsupported content part type {kind!r}.")
    return "\n".join(texts), images


def _tool_call_from_dict(data: Any, index: int) -> ToolCall:
    if isinstance(data, ToolCall):
        return data
    if not isinstance(data, Mapping):
        raise InvalidRequestError(f"Message {index}: tool_calls entries must be dicts or ToolCall.")
    try:
        return tool_call_from_wire(data)
    except (KeyError, TypeError):
        raise InvalidRequestError(f"Message {index}: a tool call has no function name.") from None


def tool_call_from_wire(data: Mapping[str, Any]) -> ToolCall:
    """A :class:`ToolCall` from ``{"id", "function": {"name", "arguments"}}`` (OpenAI
    and Ollama shapes; ``arguments`` a JSON string or an object).

    Raises ``KeyError``/``TypeError`` for a wrong shape, for the caller to translate.
    """
    function = data.get("function", data)
    name = function["name"]
    if not isinstance(name, str):
        raise TypeError("a tool call's function name is not a string")
    arguments, raw = parse_arguments(function.get("arguments"))
    call_id = data.get("id")
    return ToolCall(
        name=name,
        arguments=arguments,
        id=str(call_id) if call_id is not None else None,
        raw_arguments=raw,
    )


def parse_arguments(value: Any) -> tuple[dict[str, Any], str | None]:
    """Parse tool-call arguments sent as a dict or a JSON string.

    Returns ``(arguments, raw)``: ``raw`` is the original text when it was not a JSON
    object, so nothing the model produced is lost.

    >>> parse_arguments('{"city": "Paris"}'), parse_arguments({"a": 1}), parse_arguments("")
    (({'city': 'Paris'}, None), ({'a': 1}, None), ({}, None))
    >>> parse_arguments('{"city": "Par')
    ({}, '{"city": "Par')
    """
    if value is None or value == "":
        return {}, None
    if isinstance(value, Mapping):
        return dict(value), None
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            return {}, value
        if isinstance(parsed, dict):
            return parsed, None
        return {}, value
    return {}, json.dumps(value)


# --------------------------------------------------------------------------- images


_DATA_URL = re.compile(r"^data:[^;,]*(;[^,]*)?,", re.IGNORECASE)
_BASE64 = re.compile(r"^[A-Za-z0-9+/\s]+=*$")


def image_to_base64(image: ImageInput) -> tuple[str, str]:
    """Return ``(base64_data, mime_type)`` for bytes, a path, a data URL or base64 text.

    >>> image_to_base64(b"\\x89PNG\\r\\n\\x1a\\n")
    ('iVBORw0KGgo=', 'image/png')
    >>> image_to_base64("data:image/jpeg;base64,/9j/4A==")
    ('/9j/4A==', 'image/jpeg')
    """
    if isinstance(image, (bytes, bytearray)):
        return base64.b64encode(image).decode("ascii"), _sniff_mime(bytes(image))
    if isinstance(image, os.PathLike):
        return _read_image_file(os.fspath(image))
    if not isinstance(image, str):
        raise InvalidRequestError(
            f"An image must be bytes, a path or a string, not {type(image).__name__}."
        )
    match = _DATA_URL.match(image)
    if match:
        mime = image[5 : image.index(";") if ";" in image[: match.end()] else match.end() - 1]
        return image[match.end() :], mime or "image/png"
    if image.startswith(("http://", "https://")):
        raise InvalidRequestError(
            "Image URLs are not fetched; local servers need the image data.",
            hint="Pass the bytes or a file path instead.",
        )
    if len(image) < 4096 and os.path.isfile(image):
        return _read_image_file(image)
    if _BASE64.match(image[:4096]):
        head = base64.b64decode(image[:64] + "=" * (-len(image[:64]) % 4), validate=False)
        return "".join(image.split()), _sniff_mime(head)
    raise InvalidRequestError(
        f"Cannot read image {image[:60]!r}: not a file, a data URL or base64 data."
    )


def _read_image_file(path: str) -> tuple[str, str]:
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise InvalidRequestError(f"Cannot read image file {path!r}: {exc.strerror}.") from exc
    return base64.b64encode(data).decode("ascii"), _sniff_mime(data)


def _sniff_mime(head: bytes) -> str:
    if head.startswith(b"\x89PNG"):
        return "image/png"
    if head.startswith(b"\xff\xd8"):
        return "image/jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return "image/png"


# --------------------------------------------------------------------------- tools & schemas


def normalize_tools(tools: Sequence[ToolInput]) -> tuple[Mapping[str, Any], ...]:
    """Return tools in the OpenAI function format, from dicts or Python functions."""
    if isinstance(tools, (str, Mapping)) or not isinstance(tools, Sequence):
        raise InvalidRequestError("tools must be a list of tool dicts or functions.")
    result: list[Mapping[str, Any]] = []
    for tool in tools:
        if callable(tool) and not isinstance(tool, Mapping):
            result.append(_tool_from_function(tool))
        elif isinstance(tool, Mapping):
            # The full form {"type", "function"} or the short {"name", "parameters"}.
            function = tool.get("function", tool)
            if not isinstance(function, Mapping) or not isinstance(function.get("name"), str):
                raise InvalidRequestError("Each tool needs a function name.")
            result.append({"type": tool.get("type", "function"), "function": dict(function)})
        else:
            raise InvalidRequestError(
                f"A tool must be a dict or a function, not {type(tool).__name__}."
            )
    return tuple(result)


_JSON_TYPES: dict[Any, str] = {
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    list: "array",
    dict: "object",
}


def _tool_from_function(func: Callable[..., Any]) -> Mapping[str, Any]:
    """Describe a Python function as a tool from its signature and docstring."""
    name = getattr(func, "__name__", None)
    if not isinstance(name, str) or name == "<lambda>":
        raise InvalidRequestError("A function used as a tool needs a name (not a lambda).")
    doc = inspect.getdoc(func) or ""
    summary, arg_docs = _parse_docstring(doc)
    try:
        hints = get_type_hints(func)
    except Exception:  # unresolvable forward references: fall back to no types
        hints = {}
    properties: dict[str, Any] = {}
    required: list[str] = []
    for param in inspect.signature(func).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD) or param.name == "self":
            continue
        schema = _annotation_schema(hints.get(param.name))
        if param.name in arg_docs:
            schema["description"] = arg_docs[param.name]
        properties[param.name] = schema
        if param.default is param.empty:
            required.append(param.name)
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": summary,
            "parameters": {"type": "object", "properties": properties, "required": required},
        },
    }


def _annotation_schema(annotation: Any) -> dict[str, Any]:
    if annotation in _JSON_TYPES:
        return {"type": _JSON_TYPES[annotation]}
    origin = get_origin(annotation)
    if origin in (list, tuple, Sequence):
        args = get_args(annotation)
        schema: dict[str, Any] = {"type": "array"}
        if args and args[0] is not Ellipsis:
            schema["items"] = _annotation_schema(args[0])
        return schema
    if origin in (dict, Mapping):
        return {"type": "object"}
    members = [a for a in get_args(annotation) if a is not type(None)]
    if origin is Union or type(annotation).__name__ == "UnionType":
        if len(members) == 1:
            return _annotation_schema(members[0])
        return {"anyOf": [_annotation_schema(a) for a in members]}
    if type(annotation).__name__ == "_LiteralGenericAlias" or str(origin) == "typing.Literal":
        return {"enum": list(get_args(annotation))}
    return {}


def _parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """Split a Google-style docstring into its summary and ``Args:`` descriptions."""
    lines = doc.splitlines()
    summary_lines: list[str] = []
    args: dict[str, str] = {}
    in_args = False
    current: str | None = None
    for line in lines:
        stripped = line.strip()
        if stripped.lower() in ("args:", "arguments:", "parameters:"):
            in_args = True
            continue
        if in_args:
            if stripped.endswith(":") and " " not in stripped:
                in_args = False  # the next section, e.g. "Returns:"
                continue
            match = re.match(r"^(\w+)\s*(\([^)]*\))?\s*:\s*(.*)$", stripped)
            if match:
                current = match.group(1)
                args[current] = match.group(3)
            elif current and stripped:
                args[current] = f"{args[current]} {stripped}".strip()
        elif not args:
            summary_lines.append(stripped)
    summary = " ".join(line for line in summary_lines if line).strip()
    return summary, args


def schema_of(response_format: Any) -> JsonSchema:
    """The JSON schema of a ``response_format``: a dict, or a class with ``model_json_schema()``."""
    schema, _ = _response_format(response_format)
    if schema is None:
        raise InvalidRequestError("response_format has no schema.")
    return schema


def _response_format(value: Any) -> tuple[JsonSchema | None, bool]:
    if value is None:
        return None, False
    if value == "json" or (isinstance(value, Mapping) and value.get("type") == "json_object"):
        return None, True
    if isinstance(value, Mapping):
        if value.get("type") == "json_schema":  # already in the OpenAI wrapper
            inner = value.get("json_schema") or {}
            schema = inner.get("schema") if isinstance(inner, Mapping) else None
            if not isinstance(schema, Mapping):
                raise InvalidRequestError("response_format json_schema has no 'schema'.")
            return dict(schema), False
        if value.get("type") == "text":
            return None, False
        return dict(value), False
    method = getattr(value, "model_json_schema", None)
    if callable(method):
        schema = method()
        if isinstance(schema, Mapping):
            return dict(schema), False
    raise InvalidRequestError(
        "response_format must be a JSON schema dict, 'json', or a class with model_json_schema()."
    )


# --------------------------------------------------------------------------- inputs & thinking


def normalize_inputs(input: str | Sequence[str]) -> list[str]:
    """Embedding inputs as a non-empty list of strings."""
    if isinstance(input, str):
        inputs = [input]
    elif isinstance(input, Sequence) and all(isinstance(item, str) for item in input):
        inputs = list(input)
    else:
        raise InvalidRequestError("input must be a string or a list of strings.")
    if not inputs:
        raise InvalidRequestError("input is empty; pass at least one string to embed.")
    return inputs


_THINK_OPEN = "<think>"
_THINK_CLOSE = "</think>"


def split_think_tags(text: str) -> tuple[str, str | None]:
    """Split ``<think>...</think>`` reasoning out of a reply.

    >>> split_think_tags("<think>plan</think>\\n\\nAnswer")
    ('Answer', 'plan')
    >>> split_think_tags("no tags")
    ('no tags', None)
    >>> split_think_tags("<think>cut off")
    ('', 'cut off')
    """
    stripped = text.lstrip()
    if not stripped.startswith(_THINK_OPEN):
        return text, None
    body = stripped[len(_THINK_OPEN) :]
    end = body.find(_THINK_CLOSE)
    if end == -1:
        return "", body.strip()
    return body[end + len(_THINK_CLOSE) :].lstrip(), body[:end].strip()

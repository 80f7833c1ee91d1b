"""What every wire dialect shares: the validated chat request and input normalisation.

:func:`build_chat_request` turns what a caller passed (a string, dicts or
:class:`~modelport.types.Message` objects, and keyword options) into one
:class:`ChatRequest`, refusing mistakes before anything is sent. Dialects then
translate that one shape into their server's JSON.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypedDict, TypeGuard

from .._http.jsonio import BadJSON, loads
from .._http.settings import MAX_SECONDS
from ..errors import InvalidRequestError
from ..types import (
    ChatResponse,
    CompletionChoice,
    CompletionResponse,
    EmbedInput,
    ImageInput,
    Message,
    ToolCall,
    Usage,
)
from .inputs import JsonSchema, ToolInput, normalize_tools, response_format

__all__ = [
    "CHAT_OPTION_NAMES",
    "ChatOptions",
    "ChatRequest",
    "CompleteOptions",
    "CompletionRequest",
    "MessagesInput",
    "PromptInput",
    "RerankRequest",
    "arguments_json",
    "build_chat_request",
    "EmbedInputs",
    "is_text",
    "build_completion_request",
    "build_rerank_request",
    "build_stream_completion_request",
    "completion_from_replies",
    "normalize_inputs",
    "normalize_message",
    "options_by_table",
    "parse_arguments",
    "require_model",
    "split_think_tags",
    "tool_call_from_wire",
]

MessagesInput = str | Message | Mapping[str, Any] | Sequence[Message | Mapping[str, Any]]

_ROLES: frozenset[str] = frozenset(("system", "user", "assistant", "tool"))
_ROLE_ALIASES = {"developer": "system", "function": "tool"}


class CompleteOptions(TypedDict, total=False):
    """Keyword options accepted by every ``complete`` and ``complete_stream`` method
    (and, with the chat-only ones of :class:`ChatOptions`, by every ``chat``).
    """

    temperature: float
    top_p: float
    max_tokens: int
    stop: str | Sequence[str]
    seed: int
    keep_alive: float | str
    """How long the server keeps the model loaded afterwards (Ollama; LM Studio ``ttl``)."""
    options: Mapping[str, Any]
    """Raw provider options, passed through unchanged."""
    timeout: float
    """Read timeout for this request, in seconds."""
    deadline: float
    """Seconds a non-streamed request may take in all, however the server paces it."""


class ChatOptions(CompleteOptions, total=False):
    """Keyword options accepted by every ``chat`` and ``chat_stream`` method.

    Each is optional; a server that has no such setting ignores it unless noted.
    """

    system: str
    """A system prompt, put before the messages."""
    tools: Sequence[ToolInput]
    """Tools the model may call: OpenAI-style dicts, or Python functions."""
    tool_choice: str | Mapping[str, Any]
    """``"auto"``, ``"none"``, ``"required"`` or a tool name."""
    response_format: Mapping[str, Any] | Literal["json"] | type[object]
    """A JSON schema dict, ``"json"``, or a class with ``model_json_schema()``."""
    think: bool | str
    """Reasoning on/off, or a level ``"low"``/``"medium"``/``"high"``."""
    think_budget: int
    """The most tokens the model may think for, where the server takes a budget
    (llama.cpp ``thinking_budget_tokens``, vLLM ``thinking_token_budget``); ``0`` stops
    thinking at once. Never sent to a server that has no such setting."""
    context_length: int
    """The context window to load the model with, where the server allows it per request."""


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
    think_budget: int | None = None
    keep_alive: float | str | None = None
    context_length: int | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    timeout: float | None = None
    deadline: float | None = None


def build_chat_request(
    model: str, messages: MessagesInput, options: Mapping[str, Any]
) -> ChatRequest:
    """Validate and normalise a chat call; raise :class:`InvalidRequestError` on mistakes."""
    unknown = set(options) - CHAT_OPTION_NAMES
    if unknown:
        raise InvalidRequestError(_unknown_options_message(unknown))
    model = require_model(model)
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
    for index, message in enumerate(normalized):
        for image in message.images:
            if not isinstance(image, _IMAGE_TYPES):
                raise InvalidRequestError(_image_error(index, image))
    if all(m.role == "system" for m in normalized):
        raise InvalidRequestError(
            "Only system messages were given; there is nothing for the model to answer.",
            hint="Add a user message.",
        )

    schema, json_mode = response_format(options.get("response_format"))
    stops = _checked_stops(options)
    tool_choice = options.get("tool_choice")
    if tool_choice is not None and not isinstance(tool_choice, (str, Mapping)):
        raise InvalidRequestError("tool_choice must be a string or a dict.")
    extra = _checked_extra(options)
    think = options.get("think")
    if think is not None and not isinstance(think, (bool, str)):
        raise InvalidRequestError("think must be True, False or a level such as 'high'.")
    keep_alive = _checked_keep_alive(options)

    return ChatRequest(
        model=model,
        messages=normalized,
        tools=normalize_tools(options.get("tools") or ()),
        tool_choice=tool_choice,
        schema=schema,
        json_mode=json_mode,
        temperature=_checked_number(options, "temperature", low=0.0),
        top_p=_checked_number(options, "top_p", low=0.0, high=1.0),
        max_tokens=_checked_positive_int(options, "max_tokens"),
        stop=stops,
        seed=_checked_int(options, "seed"),
        think=think,
        think_budget=_checked_budget(options.get("think_budget")),
        keep_alive=keep_alive,
        context_length=_checked_positive_int(options, "context_length"),
        options=extra,
        timeout=_checked_seconds(options, "timeout"),
        deadline=_checked_seconds(options, "deadline"),
    )


def _checked_stops(options: Mapping[str, Any]) -> tuple[str, ...]:
    stop = options.get("stop")
    if stop is not None and not isinstance(stop, (str, list, tuple)):
        raise InvalidRequestError("stop must be a string or a list of strings.")
    stops: tuple[str, ...] = (stop,) if isinstance(stop, str) else tuple(stop or ())
    if not all(isinstance(s, str) for s in stops):
        raise InvalidRequestError("stop must be a string or a list of strings.")
    return stops


def _checked_keep_alive(options: Mapping[str, Any]) -> float | str | None:
    keep_alive = options.get("keep_alive")
    if keep_alive is not None and (
        isinstance(keep_alive, bool)
        or not isinstance(keep_alive, (int, float, str))
        or (not isinstance(keep_alive, str) and not -(2**31) < keep_alive < 2**31)
    ):
        raise InvalidRequestError(
            "keep_alive must be seconds (a finite number) or a duration like '5m'."
        )
    return keep_alive


def _checked_extra(options: Mapping[str, Any]) -> dict[str, Any]:
    extra = options.get("options") or {}
    if not isinstance(extra, Mapping):
        raise InvalidRequestError("options must be a dict of raw provider options.")
    return dict(extra)


def _checked_seconds(options: Mapping[str, Any], key: str) -> float | None:
    return _checked_number(options, key, low=0.0, strict_low=True, high=MAX_SECONDS)


def _unknown_options_message(
    unknown: Iterable[str], names: frozenset[str] = CHAT_OPTION_NAMES, what: str = "chat"
) -> str:
    import difflib

    parts = []
    for name in sorted(unknown):
        close = difflib.get_close_matches(name, sorted(names), n=1)
        parts.append(f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    return f"Unknown {what} option {', '.join(parts)}. Raw server options go in options={{...}}."


# --------------------------------------------------------------------------- text completion


COMPLETE_OPTION_NAMES: frozenset[str] = frozenset(CompleteOptions.__annotations__)


@dataclass(frozen=True, slots=True)
class CompletionRequest:
    """A validated legacy text completion: prompts sent as given, no chat template."""

    model: str
    prompts: tuple[str, ...]
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    stop: tuple[str, ...] = ()
    seed: int | None = None
    keep_alive: float | str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    timeout: float | None = None
    deadline: float | None = None


PromptInput = str | Sequence[str]


def build_completion_request(
    model: str, prompt: PromptInput, options: Mapping[str, Any]
) -> CompletionRequest:
    """Validate a ``complete`` call; raise :class:`InvalidRequestError` on mistakes."""
    unknown = set(options) - COMPLETE_OPTION_NAMES
    if unknown:
        raise InvalidRequestError(
            _unknown_options_message(unknown, COMPLETE_OPTION_NAMES, "completion")
        )
    model = require_model(model)
    if isinstance(prompt, str):
        prompts: tuple[str, ...] = (prompt,)
    elif isinstance(prompt, Sequence) and all(isinstance(p, str) for p in prompt):
        prompts = tuple(prompt)
    else:
        raise InvalidRequestError("prompt must be a string or a list of strings.")
    if not prompts:
        raise InvalidRequestError("There is no prompt to complete.", hint="Pass a string.")
    return CompletionRequest(
        model=model,
        prompts=prompts,
        temperature=_checked_number(options, "temperature", low=0.0),
        top_p=_checked_number(options, "top_p", low=0.0, high=1.0),
        max_tokens=_checked_positive_int(options, "max_tokens"),
        stop=_checked_stops(options),
        seed=_checked_int(options, "seed"),
        keep_alive=_checked_keep_alive(options),
        options=_checked_extra(options),
        timeout=_checked_seconds(options, "timeout"),
        deadline=_checked_seconds(options, "deadline"),
    )


def require_model(model: object, hint: str = "Pass a model name such as 'llama3.2'.") -> str:
    """The model name, stripped; an empty or non-string name is the caller's mistake.

    >>> require_model(" llama3.2 ")
    'llama3.2'
    >>> require_model("")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    modelport.errors.InvalidRequestError: The model name is empty. ...
    """
    if not isinstance(model, str) or not model.strip():
        raise InvalidRequestError("The model name is empty.", hint=hint)
    return model.strip()


def options_by_table(
    req: ChatRequest | CompletionRequest, table: Mapping[str, str]
) -> dict[str, Any]:
    """The request's options named by ``table`` (request field -> wire name), for the
    ones the caller set: one table per dialect, instead of the same lines in each.

    >>> req = ChatRequest("m", (), temperature=0.5, stop=("x",), max_tokens=None)
    >>> options_by_table(req, {"temperature": "temperature", "stop": "stop", "max_tokens": "n"})
    {'temperature': 0.5, 'stop': ['x']}
    """
    out: dict[str, Any] = {}
    for name, wire_name in table.items():
        value = getattr(req, name, None)  # a completion has no context_length
        if value is None or value == ():
            continue
        out[wire_name] = list(value) if isinstance(value, tuple) else value
    return out


def _checked_number(
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
    try:
        finite = math.isfinite(value)
    except OverflowError:  # an integer too large for a float
        finite = False
    if not finite:
        raise InvalidRequestError(f"{key} must be a finite number, not {value!r:.40}.")
    if low is not None and (value < low or (strict_low and value == low)):
        raise InvalidRequestError(
            f"{key} must be {'>' if strict_low else '>='} {low:g}, not {value}."
        )
    if high is not None and value > high:
        raise InvalidRequestError(f"{key} must be <= {high:g}, not {value}.")
    return float(value)


def _checked_int(options: Mapping[str, Any], key: str) -> int | None:
    value = options.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidRequestError(f"{key} must be an integer, not {type(value).__name__}.")
    if not -(2**63) <= value < 2**64:  # what servers parse: a 64-bit integer
        raise InvalidRequestError(f"{key} must fit in 64 bits.")
    return value


MAX_THINK_BUDGET = 2**31
"""The largest thinking budget a server parses (a 32-bit token count)."""


def _checked_budget(value: object) -> int | None:
    """A thinking budget: ``None``, 0 or a positive integer below :data:`MAX_THINK_BUDGET`."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidRequestError(
            f"think_budget must be an integer (tokens), not {type(value).__name__}."
        )
    if value < 0:
        raise InvalidRequestError(f"think_budget must be 0 or a positive integer, not {value}.")
    if value >= MAX_THINK_BUDGET:
        raise InvalidRequestError(f"think_budget must be below {MAX_THINK_BUDGET}, not {value}.")
    return value


def _checked_positive_int(options: Mapping[str, Any], key: str) -> int | None:
    value = _checked_int(options, key)
    if value is not None and value <= 0:
        raise InvalidRequestError(f"{key} must be a positive integer, not {value}.")
    return value


def build_stream_completion_request(
    model: str, prompt: PromptInput, options: Mapping[str, Any]
) -> CompletionRequest:
    """:func:`build_completion_request` for a stream, which completes one prompt."""
    req = build_completion_request(model, prompt, options)
    if len(req.prompts) != 1:
        raise InvalidRequestError(
            f"A streamed completion takes one prompt, not {len(req.prompts)}.",
            hint="Stream each prompt on its own, or use complete() for a list.",
        )
    return req


@dataclass(frozen=True, slots=True)
class RerankRequest:
    """A validated rerank: documents to score against a query."""

    model: str
    query: str
    documents: tuple[str, ...]
    top_n: int | None = None


def build_rerank_request(
    model: str, query: str, documents: Sequence[str], top_n: int | None
) -> RerankRequest:
    """Validate a ``rerank`` call; raise :class:`InvalidRequestError` on mistakes."""
    model = require_model(model)
    if not isinstance(query, str):
        raise InvalidRequestError(f"query must be a string, not {type(query).__name__}.")
    if (
        isinstance(documents, (str, bytes))
        or not isinstance(documents, Sequence)
        or not all(isinstance(d, str) for d in documents)
    ):
        raise InvalidRequestError("documents must be a list of strings.")
    if not documents:
        raise InvalidRequestError("There are no documents to rerank.")
    return RerankRequest(
        model=model,
        query=query,
        documents=tuple(documents),
        top_n=_checked_positive_int({"top_n": top_n}, "top_n"),
    )


def completion_from_replies(replies: Sequence[ChatResponse]) -> CompletionResponse:
    """A :class:`CompletionResponse` from one reply per prompt (a streamed completion, or
    a server that completes one prompt a request, as Ollama's ``/api/generate``): the
    choices in order, the usage summed.
    """
    first = replies[0]
    usage = first.usage
    for reply in replies[1:]:
        usage = _sum_usage(usage, reply.usage)
    return CompletionResponse(
        choices=tuple(
            CompletionChoice(r.text, i, r.finish_reason, r.stop_sequence)
            for i, r in enumerate(replies)
        ),
        model=first.model,
        service=first.service,
        usage=usage,
        timings=first.timings if len(replies) == 1 else None,
        raw=first.raw,
    )


def _sum_usage(a: Usage | None, b: Usage | None) -> Usage | None:
    """Two usages added; a count either one lacks is unknown in the sum.

    >>> _sum_usage(Usage(1, 2, 3), Usage(4, None, None))
    Usage(prompt_tokens=5, completion_tokens=None, total_tokens=None)
    """
    if a is None or b is None:
        return a or b

    def add(x: int | None, y: int | None) -> int | None:
        return None if x is None or y is None else x + y

    return Usage(
        add(a.prompt_tokens, b.prompt_tokens),
        add(a.completion_tokens, b.completion_tokens),
        add(a.total_tokens, b.total_tokens),
    )


# --------------------------------------------------------------------------- messages


def normalize_messages(messages: MessagesInput) -> tuple[Message, ...]:
    """Accept a prompt string, one message, or a sequence of messages or dicts."""
    if isinstance(messages, str):
        return (Message(role="user", content=messages),)
    if type(messages) is list:  # the common case, without the abstract checks below
        return tuple([normalize_message(m, i) for i, m in enumerate(messages)])
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
    if type(message) is not dict and not isinstance(message, Mapping):
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
    raw_images: object = message.get("images")
    images: list[ImageInput] = []
    if raw_images:
        if isinstance(raw_images, _IMAGE_TYPES) or not isinstance(raw_images, Iterable):
            raw_images = (raw_images,)  # one image, not a sequence of characters
        given = list(raw_images)
        if not _images(given):
            bad = next(i for i in given if not isinstance(i, _IMAGE_TYPES))
            raise InvalidRequestError(_image_error(index, bad))
        images = given
    if content is None:
        text = ""
    elif isinstance(content, str):
        text = content
    elif isinstance(content, Sequence):
        text, part_images = _from_content_parts(content, index)
        images.extend(part_images)
    else:
        raise InvalidRequestError(f"Message {index}: content must be a string or a list of parts.")
    raw_calls = message.get("tool_calls") or ()
    if not isinstance(raw_calls, (list, tuple)):
        raise InvalidRequestError(f"Message {index}: tool_calls must be a list.")
    tool_calls = tuple(_tool_call_from_dict(tc, index) for tc in raw_calls)
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


_IMAGE_TYPES = (str, bytes, bytearray, os.PathLike)


def _image_error(index: int, image: object) -> str:
    return (
        f"Message {index}: images must be bytes, file paths or strings (data URLs, base64), "
        f"not {type(image).__name__}."
    )


def _images(items: list[object]) -> TypeGuard[list[ImageInput]]:
    return all(isinstance(item, _IMAGE_TYPES) for item in items)


def _tool_call_from_dict(data: object, index: int) -> ToolCall:
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


def arguments_json(call: ToolCall) -> str:
    """A call's arguments as OpenAI's JSON string: the text received if it was not JSON.

    >>> arguments_json(ToolCall("f", {"city": "Paris"}))
    '{"city": "Paris"}'
    >>> arguments_json(ToolCall("f", raw_arguments="{"))
    '{'
    """
    if call.raw_arguments is not None:
        return call.raw_arguments
    return json.dumps(dict(call.arguments), ensure_ascii=False)


def parse_arguments(value: object) -> tuple[dict[str, Any], str | None]:
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
            parsed = loads(value)
        except BadJSON:
            return {}, value
        if isinstance(parsed, dict):
            return parsed, None
        return {}, value
    try:
        return {}, json.dumps(value)
    except (TypeError, ValueError, RecursionError):
        return {}, repr(value)


# --------------------------------------------------------------------------- inputs & thinking


EmbedInputs = list[str] | list[int] | list[list[int]]
"""Embedding inputs checked and ready to send: strings, or token ids as the caller gave them."""


def _is_token(item: object) -> bool:
    return isinstance(item, int) and not isinstance(item, bool)


def _strings(items: list[object]) -> TypeGuard[list[str]]:
    return all(isinstance(item, str) for item in items)


def _tokens(items: Sequence[object]) -> TypeGuard[Sequence[int]]:
    return all(_is_token(item) for item in items)


def _token_lists(items: list[object]) -> TypeGuard[list[Sequence[int]]]:
    return all(
        isinstance(item, Sequence) and not isinstance(item, str) and item and _tokens(item)
        for item in items
    )


def normalize_inputs(input: EmbedInput) -> EmbedInputs:
    """Embedding inputs as a non-empty list of strings, or token ids passed on as given
    (one list of ints, or a list of non-empty lists of ints).

    >>> normalize_inputs("hi"), normalize_inputs([1, 2]), normalize_inputs([[1], [2, 3]])
    (['hi'], [1, 2], [[1], [2, 3]])
    """
    if isinstance(input, str):
        return [input]
    if not isinstance(input, Sequence) or not input:
        if isinstance(input, Sequence):
            raise InvalidRequestError("input is empty; pass at least one string to embed.")
        raise InvalidRequestError("input must be a string or a list of strings.")
    items: list[object] = list(input)
    if _strings(items):
        return items
    if _tokens(items):
        return list(items)
    if _token_lists(items):
        return [list(item) for item in items]
    raise InvalidRequestError(
        "input must be a string, a list of strings, or token ids (a list of ints, or a "
        "list of non-empty lists of ints)."
    )


def is_text(inputs: EmbedInputs) -> TypeGuard[list[str]]:
    """Whether ``inputs`` are strings (not token ids)."""
    return isinstance(inputs[0], str)


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

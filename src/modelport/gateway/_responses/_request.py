"""A ``POST /v1/responses`` body as client arguments.

Fields the gateway has no use for (``prompt_cache_key``, ``client_metadata``,
``include``, ``text.verbosity``, ``truncation``, ``service_tier``, ``user``, and
whatever OpenAI adds next) are ignored, never refused. ``background: true`` and a
``conversation`` are refused with :class:`UnsupportedFeatureError` (answered 501).

==========================  ========================================================
request                     client
==========================  ========================================================
``input``, ``instructions``  messages (see :mod:`._items`); instructions first, as a
                            system message (not carried over from a previous response,
                            as OpenAI does)
``tools``, ``tool_choice``  ``tools``, ``tool_choice`` (see :mod:`._tools`)
``temperature``, ``top_p``  the same
``max_output_tokens``       ``max_tokens``
``text.format``             ``response_format`` (``json_schema`` or ``json_object``)
``reasoning.effort``        ``think``: ``none`` is off, ``minimal`` is ``low``,
                            ``xhigh`` is ``high``, others as sent
``parallel_tool_calls``     ``false`` is passed on as a raw option
==========================  ========================================================
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ...errors import InvalidRequestError
from .._body import json_object, model_of
from ._failures import UnsupportedFeatureError
from ._items import ChatMessage, IdFactory, Item, new_id, normalize_items, to_messages
from ._tools import translate_choice, translate_tools

__all__ = ["ResponsesCall", "parse_request"]

_EFFORT: dict[str, bool | str] = {"none": False, "minimal": "low", "xhigh": "high"}
"""``reasoning.effort`` values that ``think`` spells otherwise."""


@dataclass(frozen=True, slots=True)
class ResponsesCall:
    """A ``POST /v1/responses`` request, as client arguments and what the response
    repeats.

    ``input`` is the request's own items (checked, each with an ``id``), as a stored
    response keeps them; ``echo`` holds the request fields the response object repeats;
    ``custom_tools`` names the tools whose calls come back as ``custom_tool_call``;
    ``warnings`` says what was dropped, for the ``x-modelport-warning`` header.
    """

    model: str
    input: tuple[dict[str, Any], ...] = ()
    input_messages: tuple[ChatMessage, ...] = ()
    options: dict[str, Any] = field(default_factory=dict)
    stream: bool = False
    store: bool = True
    previous_response_id: str | None = None
    instructions: str | None = None
    custom_tools: frozenset[str] = frozenset()
    warnings: tuple[str, ...] = ()
    echo: Mapping[str, Any] = field(default_factory=dict)

    def messages(self, history: Sequence[Item] = ()) -> list[ChatMessage]:
        """The messages to send (as the client takes them): the instructions, then
        ``history`` (a stored conversation, :meth:`ResponseStore.conversation`), then
        this request's input.
        """
        out: list[ChatMessage] = []
        if self.instructions:
            out.append({"role": "system", "content": self.instructions})
        if history:
            out.extend(to_messages(history, "history")[0])
        out.extend(dict(message) for message in self.input_messages)
        return out

    def context(self, history: Sequence[Item] = ()) -> tuple[Item, ...]:
        """The items a stored response keeps as its input: ``history`` and this input."""
        return (*history, *self.input)


def parse_request(body: object, *, ids: IdFactory = new_id) -> ResponsesCall:
    """A ``POST /v1/responses`` body as client arguments.

    Raises:
        UnsupportedFeatureError: background mode or a conversation was asked for.
        InvalidRequestError: the body is of a wrong shape (the message says where).
    """
    body = json_object(body)
    model = model_of(body)
    if body.get("background") is True:
        raise UnsupportedFeatureError(
            "Background mode (background: true) is not supported by the modelport gateway: "
            "it relays each response while it is made.",
            hint="Send the request without 'background' (streamed, if it takes long).",
        )
    if body.get("conversation") is not None:
        raise UnsupportedFeatureError(
            "Conversations (the 'conversation' field) are not supported by the modelport gateway.",
            hint="Continue with 'previous_response_id', or send the whole conversation as 'input'.",
        )
    previous = body.get("previous_response_id")
    if previous is not None and (not isinstance(previous, str) or not previous):
        raise InvalidRequestError("'previous_response_id' must be a response id (resp_...).")
    raw = _input(body.get("input"), continued=previous is not None)
    messages, warnings = to_messages(raw)
    instructions = body.get("instructions")
    if instructions is not None and not isinstance(instructions, str):
        raise InvalidRequestError("'instructions' must be a string.")
    store = body.get("store")
    if store is not None and not isinstance(store, bool):
        raise InvalidRequestError("'store' must be true or false.")
    tools = translate_tools(body.get("tools"))
    choice, tools = translate_choice(body.get("tool_choice"), tools)
    options = _options(body)
    if tools.chat:
        options["tools"] = list(tools.chat)
        if choice is not None:
            options["tool_choice"] = choice
    return ResponsesCall(
        model=model,
        input=normalize_items(raw, ids),
        input_messages=tuple(messages),
        options=options,
        stream=body.get("stream") is True,
        store=store is not False,
        previous_response_id=previous,
        instructions=instructions,
        custom_tools=tools.custom,
        warnings=(*tools.warnings, *warnings),
        echo=_echo(body, tools.echo, store is not False),
    )


def _input(value: object, *, continued: bool) -> list[Any]:
    if isinstance(value, str):
        return [{"type": "message", "role": "user", "content": value}]
    if value is None:
        value = []
    if not isinstance(value, list):
        raise InvalidRequestError(
            f"'input' must be a string or a list of items, not {type(value).__name__}."
        )
    if not value and not continued:
        raise InvalidRequestError(
            "The request has no input: send 'input' (a string or a list of items), or "
            "'previous_response_id' to continue a stored response."
        )
    return value


def _options(body: Mapping[str, Any]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for name in ("temperature", "top_p"):
        if body.get(name) is not None:
            options[name] = body[name]
    if body.get("max_output_tokens") is not None:
        options["max_tokens"] = body["max_output_tokens"]
    response_format = _format(body.get("text"))
    if response_format is not None:
        options["response_format"] = response_format
    think = _think(body.get("reasoning"))
    if think is not None:
        options["think"] = think
    if body.get("parallel_tool_calls") is False:
        options["options"] = {"parallel_tool_calls": False}
    return options


def _format(text: object) -> dict[str, Any] | None:
    if text is None:
        return None
    if not isinstance(text, Mapping):
        raise InvalidRequestError("'text' must be an object (with 'format').")
    fmt = text.get("format")
    if fmt is None:
        return None
    kind = fmt.get("type") if isinstance(fmt, Mapping) else None
    if kind in (None, "text"):
        if not isinstance(fmt, Mapping):
            raise InvalidRequestError("text.format must be an object with a 'type'.")
        return None
    if kind == "json_object":
        return {"type": "json_object"}
    if kind != "json_schema":
        raise InvalidRequestError(
            f"text.format type {str(kind)[:40]!r} is not supported; use text, json_object "
            "or json_schema."
        )
    assert isinstance(fmt, Mapping)
    schema = fmt.get("schema")
    if not isinstance(schema, Mapping):
        raise InvalidRequestError("text.format json_schema needs a 'schema' object.")
    inner: dict[str, Any] = {"name": fmt.get("name") or "response", "schema": schema}
    if isinstance(fmt.get("strict"), bool):
        inner["strict"] = fmt["strict"]
    return {"type": "json_schema", "json_schema": inner}


def _think(reasoning: object) -> bool | str | None:
    if reasoning is None:
        return None
    if not isinstance(reasoning, Mapping):
        raise InvalidRequestError("'reasoning' must be an object (with 'effort').")
    effort = reasoning.get("effort")
    if effort is None:
        return None
    if not isinstance(effort, str):
        raise InvalidRequestError("reasoning.effort must be a string such as 'low' or 'high'.")
    return _EFFORT.get(effort, effort)


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _echo(
    body: Mapping[str, Any], tools: Sequence[Mapping[str, Any]], store: bool
) -> dict[str, Any]:
    """The request fields the response object repeats, as OpenAI's does."""
    reasoning = _mapping(body.get("reasoning"))
    fmt = _mapping(body.get("text")).get("format") or {"type": "text"}
    metadata = body.get("metadata")
    truncation = body.get("truncation")
    return {
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "metadata": metadata if isinstance(metadata, Mapping) else {},
        "parallel_tool_calls": body.get("parallel_tool_calls") is not False,
        "previous_response_id": body.get("previous_response_id"),
        "reasoning": {"effort": reasoning.get("effort"), "summary": reasoning.get("summary")},
        "store": store,
        "temperature": body.get("temperature"),
        "text": {"format": fmt},
        "tool_choice": body.get("tool_choice") or "auto",
        "tools": list(tools),
        "top_p": body.get("top_p"),
        "truncation": truncation if isinstance(truncation, str) else "disabled",
    }

"""A ``POST /v1/messages`` (or ``/v1/messages/count_tokens``) body as the client's
arguments: the model, :class:`~modelport.Message` objects, and chat options by the
names :class:`~modelport.client.AsyncClient` takes.

Top-level fields this surface does not know (``metadata``, ``context_management``,
``output_config``, ``service_tier``, and whatever comes next) are ignored, never
refused. ``thinking``:

* ``enabled`` turns thinking on (``think=True``); its ``budget_tokens`` is kept in
  :attr:`MessagesCall.thinking_budget` for the client option that will carry it
  (llama.cpp ``thinking_budget_tokens``, vLLM ``thinking_token_budget``);
* ``disabled`` turns it off;
* ``adaptive`` (what Claude Code sends), and any kind still to come, leave the
  server's default: the model decides. A truthy ``think`` would make Ollama refuse
  every model that cannot think.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ...errors import InvalidRequestError
from ...types import Message
from .._body import json_object, model_of
from ._blocks import Conversation, header_safe, system_text

__all__ = ["MessagesCall", "parse_count_request", "parse_messages_request"]

_CHOICES = {"auto": "auto", "any": "required", "none": "none"}
_EMPTY_SCHEMA: Mapping[str, Any] = {"type": "object", "properties": {}}


@dataclass(frozen=True, slots=True)
class MessagesCall:
    """A Messages request as client arguments, and what the answer needs from it."""

    model: str
    messages: list[Message]
    options: dict[str, Any] = field(default_factory=dict)
    """Chat options by the client's names (``tools``, ``tool_choice``, ``max_tokens``,
    ``temperature``, ``top_p``, ``stop``, ``think``, raw ``options``)."""
    stream: bool = False
    thinking_budget: int | None = None
    """``thinking.budget_tokens``: for a client option not there yet (see the module)."""
    stop_sequences: tuple[str, ...] = ()
    """To tell a ``stop_sequence`` stop from an end of turn in the answer."""
    warnings: tuple[str, ...] = ()
    """What was dropped, one line each, for the ``x-modelport-warning`` header."""


def parse_messages_request(body: object) -> MessagesCall:
    """A ``POST /v1/messages`` body as client arguments.

    Raises:
        InvalidRequestError: a shape Anthropic's API would refuse too, or a PDF; the
            message names the field (``messages[1].content[0] has no tool_use_id``).
    """
    return _parse(body, count=False)


def parse_count_request(body: object) -> MessagesCall:
    """A ``POST /v1/messages/count_tokens`` body: a Messages body without
    ``max_tokens`` (ignored if sent) and never streamed.
    """
    return _parse(body, count=True)


def _parse(body: object, *, count: bool) -> MessagesCall:
    body = json_object(body)
    model = model_of(body)
    conversation = Conversation()
    messages = conversation.read(body.get("messages"))
    system = body.get("system")
    if system is not None:
        text = system_text(system, "system")
        if text:
            messages.insert(0, Message(role="system", content=text))
    options: dict[str, Any] = {}
    if not count and body.get("max_tokens") is not None:
        options["max_tokens"] = _positive(body["max_tokens"], "max_tokens")
    for name in ("temperature", "top_p"):
        value = body.get(name)
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise InvalidRequestError(f"{name} must be a number.")
            options[name] = value
    stops = _stop_sequences(body.get("stop_sequences"))
    if stops:
        options["stop"] = list(stops)
    warnings = conversation.warnings
    tools, dropped = _tools(body.get("tools"), conversation.loaded, warnings)
    if tools:
        options["tools"] = tools
    choice = _tool_choice(body.get("tool_choice"), tools, dropped)
    if choice is not None:
        options["tool_choice"] = choice
    think, budget = _thinking(body.get("thinking"))
    if think is not None:
        options["think"] = think
    top_k = body.get("top_k")
    if top_k is not None:
        if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 0:
            raise InvalidRequestError("top_k must be a whole number, 0 or more.")
        options["options"] = {"top_k": top_k}
    if body.get("mcp_servers"):
        warnings.append("dropped mcp_servers: this gateway does not connect to MCP servers")
    return MessagesCall(
        model,
        messages,
        options,
        stream=not count and body.get("stream") is True,
        thinking_budget=budget,
        stop_sequences=stops,
        warnings=tuple(warnings),
    )


def _positive(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InvalidRequestError(f"{name} must be a positive integer.")
    return value


def _stop_sequences(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        raise InvalidRequestError("stop_sequences must be a list of strings.")
    return tuple(value)


def _tools(
    value: object, loaded: set[str], warnings: list[str]
) -> tuple[list[dict[str, Any]], set[str]]:
    """The custom tools in the client's (OpenAI) form, and the names of those dropped:
    server tools (any ``type`` but ``custom``), which a local model cannot run, and
    ``defer_loading`` tools no ``tool_reference`` has loaded yet.
    """
    if value is None:
        return [], set()
    if not isinstance(value, list):
        raise InvalidRequestError("tools must be a list of tools.")
    tools: list[dict[str, Any]] = []
    dropped: set[str] = set()
    for index, tool in enumerate(value):
        where = f"tools[{index}]"
        if not isinstance(tool, Mapping):
            raise InvalidRequestError(f"{where} must be an object with a name and input_schema.")
        kind, name = tool.get("type"), tool.get("name")
        if kind not in (None, "custom"):
            warnings.append(
                header_safe(
                    f"dropped server tool {name!r:.60} ({kind}): a local model cannot run it"
                )
            )
            if isinstance(name, str):
                dropped.add(name)
            continue
        if not isinstance(name, str) or not name:
            raise InvalidRequestError(f"{where} has no name (a string).")
        if tool.get("defer_loading") is True and name not in loaded:
            continue
        schema = tool.get("input_schema")
        if schema is None:
            schema = _EMPTY_SCHEMA
        if not isinstance(schema, Mapping):
            raise InvalidRequestError(f"{where}.input_schema must be a JSON schema object.")
        description = tool.get("description")
        if description is not None and not isinstance(description, str):
            raise InvalidRequestError(f"{where}.description must be a string.")
        function: dict[str, Any] = {"name": name}
        if description:
            function["description"] = description
        function["parameters"] = dict(schema)
        tools.append({"type": "function", "function": function})
    return tools, dropped


def _tool_choice(
    value: object, tools: list[dict[str, Any]], dropped: set[str]
) -> str | dict[str, Any] | None:
    """``tool_choice`` in OpenAI's form; left out when no tool is left to choose."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise InvalidRequestError('tool_choice must be an object such as {"type": "auto"}.')
    kind = value.get("type")
    choice: str | dict[str, Any]
    if isinstance(kind, str) and kind in _CHOICES:
        choice = _CHOICES[kind]
    elif kind == "tool":
        name = value.get("name")
        if not isinstance(name, str) or not name:
            raise InvalidRequestError("tool_choice of type 'tool' needs the tool's name.")
        if name in dropped:
            raise InvalidRequestError(
                f"tool_choice names {name!r:.60}, a server tool a local model cannot run."
            )
        if name not in [tool["function"]["name"] for tool in tools]:
            raise InvalidRequestError(f"tool_choice names {name!r:.60}, which is not in tools.")
        choice = {"type": "function", "function": {"name": name}}
    else:
        raise InvalidRequestError(
            f"tool_choice type must be auto, any, tool or none, not {kind!r:.60}."
        )
    return choice if tools else None


def _thinking(value: object) -> tuple[bool | None, int | None]:
    if value is None:
        return None, None
    if not isinstance(value, Mapping):
        raise InvalidRequestError(
            'thinking must be an object such as {"type": "enabled", "budget_tokens": 2048}.'
        )
    kind = value.get("type")
    if kind == "enabled":
        budget = value.get("budget_tokens")
        return True, None if budget is None else _positive(budget, "thinking.budget_tokens")
    if kind == "disabled":
        return False, None
    return None, None

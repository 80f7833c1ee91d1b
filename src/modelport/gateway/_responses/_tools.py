"""Responses tools and ``tool_choice`` as the client's chat tools.

* ``function`` tools translate directly (``strict`` kept; no ``parameters`` is an
  empty object schema).
* ``custom`` (freeform) tools become a function of one string argument named
  :data:`CUSTOM_TOOL_ARGUMENT` (``"input"``, the field a ``custom_tool_call`` carries);
  a grammar the tool declares (Codex's ``apply_patch`` has a Lark one) is written into
  that argument's description, so the model sees the format it must follow. Calls of
  these tools come back as ``custom_tool_call`` items.
* Every other type (``web_search``, ``web_search_preview``, ``file_search``,
  ``code_interpreter``, ``image_generation``, ``local_shell``, ``mcp``, ``namespace``,
  ``computer_use_preview``, and types not invented yet) is run by OpenAI's servers or
  needs their state: it is dropped and named in a warning.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ...errors import InvalidRequestError

__all__ = ["CUSTOM_TOOL_ARGUMENT", "Tools", "safe_text", "translate_choice", "translate_tools"]

CUSTOM_TOOL_ARGUMENT = "input"
"""The one string argument a ``custom`` tool has as a function."""

_MODES = ("auto", "none", "required")
_NAMED = ("function", "custom")


@dataclass(frozen=True, slots=True)
class Tools:
    """The tools of one request: as the client takes them, as the response repeats
    them (the kept ones, as sent), the names of the custom ones, and what was dropped.
    """

    chat: tuple[dict[str, Any], ...] = ()
    echo: tuple[Mapping[str, Any], ...] = ()
    custom: frozenset[str] = frozenset()
    warnings: tuple[str, ...] = ()


def safe_text(value: object, limit: int = 60) -> str:
    """Text fit for one header line: printable ASCII (others become ``?``), cut short.

    >>> safe_text("a\\r\\nb é")
    'a??b ?'
    """
    text = "".join(c if " " <= c <= "~" else "?" for c in str(value))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def translate_tools(value: object) -> Tools:
    """The request's ``tools``; raises :class:`InvalidRequestError` for a wrong shape."""
    if value is None:
        return Tools()
    if not isinstance(value, list):
        raise InvalidRequestError("'tools' must be a list of tools.")
    chat: list[dict[str, Any]] = []
    echo: list[Mapping[str, Any]] = []
    custom: set[str] = set()
    warnings: list[str] = []
    names: set[str] = set()
    for index, tool in enumerate(value):
        where = f"tools[{index}]"
        if not isinstance(tool, Mapping):
            raise InvalidRequestError(f"{where} must be an object, not {type(tool).__name__}.")
        kind = tool.get("type")
        if not isinstance(kind, str) or not kind:
            raise InvalidRequestError(f"{where} has no 'type' (function, custom, ...).")
        if kind not in _NAMED:
            warnings.append(_dropped(kind, tool))
            continue
        name = tool.get("name")
        if not isinstance(name, str) or not name:
            raise InvalidRequestError(f"{where}: a {kind} tool needs a 'name'.")
        if name in names:
            raise InvalidRequestError(f"{where}: the name '{name}' is used twice in 'tools'.")
        names.add(name)
        chat.append(_function(tool, name, where) if kind == "function" else _custom(tool, name))
        echo.append(tool)
        if kind == "custom":
            custom.add(name)
    return Tools(tuple(chat), tuple(echo), frozenset(custom), tuple(warnings))


def _dropped(kind: str, tool: Mapping[str, Any]) -> str:
    name = tool.get("name") or tool.get("server_label")
    label = f"{kind} {name}" if isinstance(name, str) and name else kind
    return f"tool {safe_text(label)} dropped (an OpenAI built-in; local models cannot run it)"


def _function(tool: Mapping[str, Any], name: str, where: str) -> dict[str, Any]:
    parameters = tool.get("parameters")
    if parameters is None:
        parameters = {"type": "object", "properties": {}}
    elif not isinstance(parameters, Mapping):
        raise InvalidRequestError(f"{where}: 'parameters' must be a JSON schema object.")
    function: dict[str, Any] = {"name": name}
    if isinstance(tool.get("description"), str):
        function["description"] = tool["description"]
    function["parameters"] = parameters
    if isinstance(tool.get("strict"), bool):
        function["strict"] = tool["strict"]
    return {"type": "function", "function": function}


def _custom(tool: Mapping[str, Any], name: str) -> dict[str, Any]:
    about = "The tool's whole input, as free text."
    fmt = tool.get("format")
    if isinstance(fmt, Mapping) and fmt.get("type") == "grammar":
        syntax = fmt.get("syntax") if isinstance(fmt.get("syntax"), str) else "formal"
        definition = fmt.get("definition")
        if isinstance(definition, str) and definition:
            about = (
                f"The tool's whole input, as free text that follows this {syntax} "
                f"grammar:\n{definition}"
            )
    function: dict[str, Any] = {"name": name}
    if isinstance(tool.get("description"), str):
        function["description"] = tool["description"]
    function["parameters"] = {
        "type": "object",
        "properties": {CUSTOM_TOOL_ARGUMENT: {"type": "string", "description": about}},
        "required": [CUSTOM_TOOL_ARGUMENT],
    }
    return {"type": "function", "function": function}


def translate_choice(value: object, tools: Tools) -> tuple[str | dict[str, Any] | None, Tools]:
    """``tool_choice`` as the client's option, and the tools to offer (``allowed_tools``
    narrows them). A choice of a dropped built-in tool leaves the model free (``None``),
    with a warning; with no tools left there is no choice to make.
    """
    if value is None:
        return None, tools
    if isinstance(value, str):
        if value not in _MODES:
            raise InvalidRequestError(
                "'tool_choice' must be auto, none, required or an object, "
                f"not {safe_text(value)!r}."
            )
        return (value if tools.chat else None), tools
    if not isinstance(value, Mapping) or not isinstance(value.get("type"), str):
        raise InvalidRequestError(
            "'tool_choice' must be auto, none, required or an object with a 'type'."
        )
    kind = value["type"]
    if kind in _NAMED:
        name = value.get("name")
        if not isinstance(name, str) or not name:
            raise InvalidRequestError(f"'tool_choice' of type {kind} needs a 'name'.")
        if name not in _names(tools.echo):
            raise InvalidRequestError(
                f"'tool_choice' names '{safe_text(name)}', which is not among the tools."
            )
        return {"type": "function", "function": {"name": name}}, tools
    if kind == "allowed_tools":
        return _allowed(value, tools)
    warning = f"tool_choice {safe_text(kind)} dropped (its tool is an OpenAI built-in)"
    return None, dataclasses.replace(tools, warnings=(*tools.warnings, warning))


def _names(echo: Sequence[Mapping[str, Any]]) -> list[str]:
    return [tool["name"] for tool in echo]


def _allowed(value: Mapping[str, Any], tools: Tools) -> tuple[str | None, Tools]:
    mode = value.get("mode", "auto")
    if mode not in ("auto", "required"):
        raise InvalidRequestError("'tool_choice' allowed_tools 'mode' must be auto or required.")
    allowed = value.get("tools")
    if not isinstance(allowed, list):
        raise InvalidRequestError("'tool_choice' allowed_tools needs a 'tools' list.")
    wanted = {t.get("name") for t in allowed if isinstance(t, Mapping)}
    keep = [i for i, name in enumerate(_names(tools.echo)) if name in wanted]
    # The response still repeats every tool sent; only the offer narrows.
    narrowed = dataclasses.replace(tools, chat=tuple(tools.chat[i] for i in keep))
    return (mode if narrowed.chat else None), narrowed

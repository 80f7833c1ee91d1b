"""Inputs a caller may give in several forms, normalised for every dialect: images
(bytes, paths, data URLs, base64, URLs) and tools (dicts or Python functions), and
``response_format`` (a schema, ``"json"``, or a class with ``model_json_schema()``).
"""

from __future__ import annotations

import base64
import inspect
import os
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Union, get_args, get_origin, get_type_hints

from ..errors import CapabilityError, InvalidRequestError
from ..types import ImageInput

__all__ = [
    "JsonSchema",
    "ToolInput",
    "data_url",
    "image_to_base64",
    "image_url",
    "normalize_tools",
    "response_format",
]

JsonSchema = Mapping[str, Any]
ToolInput = Mapping[str, Any] | Callable[..., Any]


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
            f"images must be bytes, file paths or strings, not {type(image).__name__}."
        )
    match = _DATA_URL.match(image)
    if match:
        mime = image[5 : image.index(";") if ";" in image[: match.end()] else match.end() - 1]
        return image[match.end() :], mime or "image/png"
    if _is_url(image):
        raise CapabilityError(
            f"This server needs the image data, not a URL ({image[:80]}); modelport does "
            "not download images.",
            hint="Pass the bytes, a file path or a data: URL instead (OpenAI-compatible "
            "servers such as vLLM take URLs).",
        )
    if len(image) < 4096 and os.path.isfile(image):
        return _read_image_file(image)
    if _looks_like_base64(image):
        head = base64.b64decode(image[:64] + "=" * (-len(image[:64]) % 4), validate=False)
        return "".join(image.split()), _sniff_mime(head)
    if len(image) < 4096 and (image.startswith(("/", ".", "~")) or os.sep in image):
        raise InvalidRequestError(f"Cannot read image file {image!r}: there is no such file.")
    raise InvalidRequestError(
        f"Cannot read image {image[:60]!r}: not a file, a data URL or base64 data."
    )


def image_url(image: ImageInput) -> str:
    """An image as OpenAI's ``image_url`` wants it: ``http(s)`` URLs as they are (the
    server fetches them), anything else as a ``data:`` URL.

    >>> image_url("https://example.com/cat.png"), image_url(b"GIF89a")
    ('https://example.com/cat.png', 'data:image/gif;base64,R0lGODlh')
    """
    if isinstance(image, str) and _is_url(image):
        return image
    return data_url(image)


def data_url(image: ImageInput) -> str:
    """An image as a ``data:`` URL (a URL is refused: the server needs the data)."""
    data, mime = image_to_base64(image)
    return f"data:{mime};base64,{data}"


def _is_url(text: str) -> bool:
    return text[:8].lower().startswith(("http://", "https://"))


def _looks_like_base64(text: str) -> bool:
    """Image data in base64: long enough to be an image, and of the base64 alphabet
    (a short path such as ``/tmp/cat`` is base64 too, by its letters alone).
    """
    head = text[:4096]
    return len(text) >= 64 and bool(_BASE64.match(head)) and not head.startswith(("/", "."))


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


def _annotation_schema(annotation: object) -> dict[str, Any]:
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


def response_format(value: object) -> tuple[JsonSchema | None, bool]:
    """``(schema, json_mode)`` of a ``response_format``: a JSON schema dict, ``"json"``,
    the OpenAI wrappers, or a class with ``model_json_schema()``.
    """
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

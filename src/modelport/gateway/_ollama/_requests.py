"""The Ollama surface's requests, pure: ``/api/chat``, ``/api/generate``,
``/api/embed`` (and the legacy ``/api/embeddings``), ``/api/pull`` and ``/api/show``
bodies as client arguments.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ...errors import InvalidRequestError
from .._body import json_object, model_of
from .._calls import ChatCall, EmbedCall
from .._toolcalls import RAW_ARGUMENTS_KEY

__all__ = [
    "parse_chat_request",
    "parse_embed_request",
    "parse_generate_request",
    "parse_pull_request",
]

_SAMPLING: tuple[str, ...] = (
    "top_k",
    "min_p",
    "typical_p",
    "repeat_penalty",
    "repeat_last_n",
    "presence_penalty",
    "frequency_penalty",
)
"""Options passed on as raw options: Ollama takes them in ``options``, llama.cpp and
most OpenAI-compatible servers as top-level fields of the same name."""


_OPTION_FIELDS = frozenset(("format", "options", "keep_alive", "think", "tools"))
"""The fields :func:`_options` reads."""


def _model(body: Mapping[str, Any]) -> str:
    return model_of(body, names=("model", "name"))  # "name" is Ollama's old spelling


def _options(body: Mapping[str, Any]) -> dict[str, Any]:
    """Ollama's ``format``, ``options``, ``keep_alive``, ``think`` and ``tools`` as
    client options.
    """
    out: dict[str, Any] = {}
    if _OPTION_FIELDS.isdisjoint(body):  # most bodies: none of them
        return out
    fmt = body.get("format")
    if fmt == "json" or isinstance(fmt, Mapping):
        out["response_format"] = fmt
    elif fmt not in (None, ""):
        raise InvalidRequestError(
            f'invalid format: {json.dumps(fmt)}; expected "json" or a valid JSON Schema object'
        )
    raw = body.get("options") or {}
    if not isinstance(raw, Mapping):
        raise InvalidRequestError("options must be an object")
    predict = raw.get("num_predict")
    if isinstance(predict, int) and not isinstance(predict, bool) and predict > 0:
        out["max_tokens"] = predict  # -1 (no limit) and -2 (fill the context) set none
    for name in ("temperature", "top_p", "seed", "stop"):
        if raw.get(name) is not None:
            out[name] = raw[name]
    if raw.get("num_ctx") is not None:
        out["context_length"] = raw["num_ctx"]
    if body.get("keep_alive") is not None:
        out["keep_alive"] = _keep_alive(body["keep_alive"])
    if body.get("think") is not None:
        out["think"] = body["think"]
    if body.get("tools"):
        out["tools"] = body["tools"]
    passed = {name: raw[name] for name in _SAMPLING if raw.get(name) is not None}
    if passed:
        out["options"] = passed
    return out


def _keep_alive(value: object) -> object:
    """``keep_alive`` as Ollama takes it: a number of seconds or a duration string
    (``"5m"``, ``"0"``, ``"-1"``); anything else (``false`` above all, which is not
    "unload now") is refused.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise InvalidRequestError(
            f'keep_alive must be a duration ("5m", "1h", "0" to unload) or a number '
            f"of seconds, not {json.dumps(value)}"
        )
    return value


def _unload(body: Mapping[str, Any]) -> bool:
    value = body.get("keep_alive")
    return value is not None and _keep_alive(value) in (0, "0", "0s")


def _message(message: object) -> object:
    """A message as sent, except tool-call arguments this surface kept raw (see
    :data:`~modelport.gateway._toolcalls.RAW_ARGUMENTS_KEY`) go back as their text.
    """
    if not isinstance(message, Mapping) or not message.get("tool_calls"):
        return message
    if not isinstance(message["tool_calls"], list):
        raise InvalidRequestError("tool_calls must be a list of tool calls")
    calls = []
    for call in message["tool_calls"]:
        function = call.get("function") if isinstance(call, Mapping) else None
        arguments = function.get("arguments") if isinstance(function, Mapping) else None
        if isinstance(arguments, Mapping) and set(arguments) == {RAW_ARGUMENTS_KEY}:
            call = {**call, "function": {**function, "arguments": arguments[RAW_ARGUMENTS_KEY]}}  # type: ignore[dict-item]
        calls.append(call)
    return {**message, "tool_calls": calls}


def parse_chat_request(body: object) -> ChatCall:
    """A ``POST /api/chat`` body as client arguments (streams unless ``stream: false``)."""
    body = json_object(body)
    model = _model(body)
    messages = body.get("messages")
    if messages is None:
        messages = []
    if not isinstance(messages, list):
        raise InvalidRequestError("messages must be a list")
    return ChatCall(
        model,
        [_message(m) for m in messages],
        _options(body),
        stream=body.get("stream") is not False,
        unload=_unload(body),
    )


def parse_generate_request(body: object) -> ChatCall:
    """A ``POST /api/generate`` body as a chat: ``system`` then the ``prompt`` (with its
    ``images``). ``raw`` and ``context`` are accepted and ignored; ``suffix`` (fill in
    the middle) is refused, as no chat API can do it.
    """
    body = json_object(body)
    model = _model(body)
    if body.get("suffix"):
        raise InvalidRequestError(
            "suffix (fill-in-the-middle) is not supported by the modelport gateway."
        )
    prompt = body.get("prompt") or ""
    if not isinstance(prompt, str):
        raise InvalidRequestError("prompt must be a string")
    messages: list[Any] = []
    if prompt:
        system = body.get("system")
        if isinstance(system, str) and system:
            messages.append({"role": "system", "content": system})
        user: dict[str, Any] = {"role": "user", "content": prompt}
        if body.get("images"):
            user["images"] = body["images"]
        messages.append(user)
    return ChatCall(
        model,
        messages,
        _options(body),
        stream=body.get("stream") is not False,
        generate=True,
        unload=_unload(body),
    )


def parse_embed_request(body: object, *, legacy: bool = False) -> EmbedCall:
    """``POST /api/embed`` (``input``: a string or strings), or the legacy
    ``/api/embeddings`` (``prompt``: one string). No input only loads the model.
    """
    body = json_object(body)
    model = _model(body)
    value = body.get("prompt" if legacy else "input")
    if value in (None, ""):
        inputs: list[Any] = []
    elif isinstance(value, str):
        inputs = [value]
    else:
        inputs = value
    if not isinstance(inputs, list) or not all(isinstance(i, str) for i in inputs):
        raise InvalidRequestError("invalid input type")
    dimensions = body.get("dimensions")
    if dimensions is not None and (not isinstance(dimensions, int) or dimensions <= 0):
        raise InvalidRequestError("dimensions must be a positive integer")
    return EmbedCall(model, inputs, dimensions=dimensions)


def parse_pull_request(body: object) -> tuple[str, bool]:
    """``POST /api/pull``: the model, and whether to stream progress."""
    body = json_object(body)
    return _model(body), body.get("stream") is not False

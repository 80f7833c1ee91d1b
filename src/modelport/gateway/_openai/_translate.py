"""The OpenAI surface's translation, pure: request JSON to client calls, and replies,
streamed chunks, model lists and embeddings to OpenAI's JSON.

Nothing here does I/O; the surface's handlers (``_surface``) call the client and
write what these functions return.
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Mapping
from typing import Any

from ...errors import InvalidRequestError
from ...types import ChatChunk, ChatResponse, EmbedResponse, Usage
from .._body import json_object, model_of
from .._calls import ChatCall, EmbedCall
from .._errors import Failure, openai_body
from .._json import dumps
from .._models import model_body, models_body
from .._toolcalls import ToolCallIndexer, openai_call

__all__ = [
    "ChatCall",
    "ChunkEncoder",
    "EmbedCall",
    "completion_body",
    "embeddings_body",
    "error_event",
    "finish_reason",
    "model_body",
    "models_body",
    "parse_chat_request",
    "parse_embed_request",
    "usage_body",
]

_PASSED = ("temperature", "top_p", "seed", "stop", "tool_choice")
"""Request fields that are client options of the same name."""
_RAW = ("presence_penalty", "frequency_penalty", "top_k", "min_p", "repeat_penalty", "logit_bias")
"""Sampling fields passed to the service as raw options (both dialects know them)."""
_FINISH = frozenset(("stop", "length", "tool_calls", "content_filter", "function_call"))


def parse_chat_request(body: object) -> ChatCall:
    """A ``POST /v1/chat/completions`` body as client arguments; unknown fields ignored.

    Raises:
        InvalidRequestError: no model or messages, or ``n`` > 1.
    """
    body = json_object(body)
    model = model_of(body)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidRequestError("The request has no messages ('messages' must be a list).")
    n = body.get("n")
    if n is not None and n != 1:
        raise InvalidRequestError(
            f"n={n} is not supported: this gateway returns one choice per request.",
            hint="Send n separate requests instead.",
        )
    options: dict[str, Any] = {}
    for name in _PASSED:
        if body.get(name) is not None:
            options[name] = body[name]
    tokens = body.get("max_completion_tokens")
    if tokens is None:
        tokens = body.get("max_tokens")
    if tokens is not None:
        options["max_tokens"] = tokens
    if body.get("tools"):
        options["tools"] = body["tools"]
    response_format = body.get("response_format")
    if response_format is not None and not (
        isinstance(response_format, Mapping) and response_format.get("type") == "text"
    ):
        options["response_format"] = response_format
    if isinstance(body.get("reasoning_effort"), str):
        options["think"] = body["reasoning_effort"]
    raw = {name: body[name] for name in _RAW if body.get(name) is not None}
    if raw:
        options["options"] = raw
    stream = body.get("stream") is True
    stream_options = body.get("stream_options")
    include_usage = (
        stream
        and isinstance(stream_options, Mapping)
        and stream_options.get("include_usage") is True
    )
    return ChatCall(model, messages, options, stream, include_usage=include_usage)


def parse_embed_request(body: object) -> EmbedCall:
    """A ``POST /v1/embeddings`` body: a string, a list of strings, or token ids."""
    body = json_object(body)
    model = model_of(body)
    # Strings, or token ids passed on as given: the client checks their shape, and the
    # servers that cannot take token ids say so (Ollama's error names the fix).
    value = body.get("input")
    inputs = [value] if isinstance(value, str) else value
    if not isinstance(inputs, list) or not inputs:
        raise InvalidRequestError(
            "'input' must be a string, a list of strings, or token ids (a list of integers "
            "or of lists of integers)."
        )
    encoding = body.get("encoding_format")
    if encoding not in (None, "float", "base64"):
        raise InvalidRequestError(f"encoding_format must be 'float' or 'base64', not {encoding!r}.")
    return EmbedCall(model, inputs, base64=encoding == "base64")


# --------------------------------------------------------------------------- replies


def finish_reason(reason: str | None, *, tool_calls: bool = False) -> str:
    """One of OpenAI's finish reasons (a server's own, such as Ollama's ``load``, is ``stop``)."""
    if tool_calls and reason in (None, "stop"):
        return "tool_calls"
    return reason if reason in _FINISH else "stop"


def usage_body(usage: Usage | None) -> dict[str, int]:
    """OpenAI's usage object; counts the server did not report are 0."""
    prompt = (usage.prompt_tokens if usage else None) or 0
    completion = (usage.completion_tokens if usage else None) or 0
    total = (usage.total_tokens if usage else None) or prompt + completion
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": total}


def completion_body(response: ChatResponse, *, model: str, id: str, created: int) -> dict[str, Any]:
    """A ``chat.completion`` body; ``model`` is the id the caller used."""
    message: dict[str, Any] = {
        "role": "assistant",
        "content": response.text if response.text or not response.tool_calls else None,
    }
    if response.thinking:
        message["reasoning_content"] = response.thinking
    if response.tool_calls:
        message["tool_calls"] = [openai_call(call) for call in response.tool_calls]
    body: dict[str, Any] = {
        "id": id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": finish_reason(
                    response.finish_reason, tool_calls=bool(response.tool_calls)
                ),
                "logprobs": None,
            }
        ],
    }
    if response.usage is not None:
        body["usage"] = usage_body(response.usage)
    return body


# --------------------------------------------------------------------------- streams


class ChunkEncoder:
    """Turns the chunks of one streamed reply into SSE events, in OpenAI's order.

    The first event's delta carries ``role``; tool calls get indexes and ids
    (:class:`~modelport.gateway._toolcalls.ToolCallIndexer`); ``finish_reason`` comes
    on the last choice event; :meth:`end` adds the usage event (``choices: []``) only
    for a caller that asked, then ``data: [DONE]``.
    """

    __slots__ = (
        "_finished",
        "_head",
        "_include_usage",
        "_role_sent",
        "_tail",
        "_tools",
        "_usage",
        "_usage_head",
    )

    def __init__(self, *, model: str, id: str, created: int, include_usage: bool) -> None:
        common = (
            b'"id":' + dumps(id) + b',"object":"chat.completion.chunk",'
            b'"created":%d,"model":' % created + dumps(model)
        )
        self._head = b"data: {" + common + b',"choices":[{"index":0,"delta":'
        self._tail = b',"finish_reason":null}]}\n\n'
        self._usage_head = b"data: {" + common + b","
        self._include_usage = include_usage
        self._role_sent = False
        self._finished = False
        self._tools = ToolCallIndexer()
        self._usage: Usage | None = None

    def _event(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        if not self._role_sent:
            delta = {"role": "assistant", **delta}
            self._role_sent = True
        tail = self._tail if finish is None else f',"finish_reason":"{finish}"}}]}}\n\n'.encode()
        return self._head + dumps(delta) + tail

    def chunk(self, chunk: ChatChunk) -> bytes:
        """The events for one chunk (possibly none)."""
        out = b""
        if chunk.text or chunk.thinking:
            delta: dict[str, Any] = {}
            if chunk.thinking:
                delta["reasoning_content"] = chunk.thinking
            if chunk.text:
                delta["content"] = chunk.text
            out += self._event(delta)
        if chunk.tool_calls:
            for fragment in self._tools.deltas(chunk.tool_calls):
                out += self._event({"tool_calls": [fragment]})
        if chunk.usage is not None:
            self._usage = chunk.usage
        if chunk.done:
            out += self._finish(chunk.finish_reason)
        return out

    def _finish(self, reason: str | None) -> bytes:
        if self._finished:
            return b""
        self._finished = True
        return self._event({}, finish_reason(reason, tool_calls=self._tools.count > 0))

    def end(self) -> bytes:
        """The end of a stream that finished: the usage event if asked, then ``[DONE]``."""
        out = self._finish(None)
        if self._include_usage:
            usage = dumps(usage_body(self._usage))
            out += self._usage_head + b'"choices":[],"usage":' + usage + b"}\n\n"
        return out + b"data: [DONE]\n\n"


def error_event(failure: Failure) -> bytes:
    """The last event of a stream that failed after it started (no ``[DONE]`` follows)."""
    return b"data: " + dumps(openai_body(failure)) + b"\n\n"


# --------------------------------------------------------------------------- embeddings


def embeddings_body(response: EmbedResponse, *, model: str, base64_out: bool) -> dict[str, Any]:
    """``POST /v1/embeddings``: floats, or little-endian float32 as base64."""
    data = []
    for index, vector in enumerate(response.vectors):
        embedding: object = vector
        if base64_out:
            embedding = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
        data.append({"object": "embedding", "index": index, "embedding": embedding})
    usage = response.usage
    prompt = (usage.prompt_tokens if usage else None) or 0
    total = (usage.total_tokens if usage else None) or prompt
    return {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": prompt, "total_tokens": total},
    }

"""The OpenAI surface's translation, pure: request JSON to client calls, and replies,
model lists, embeddings, text completions and rerankings to OpenAI's JSON (reranking
in the Jina/Cohere shape llama.cpp and vLLM answer). Streams are :mod:`._stream`'s.

Nothing here does I/O; the surface's handlers (``_surface``) call the client and
write what these functions return.
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ...errors import InvalidRequestError
from ...types import ChatResponse, CompletionResponse, EmbedResponse, RerankResult, Usage
from .._body import json_object, model_of
from .._calls import ChatCall, CompleteCall, EmbedCall, RerankCall
from .._models import model_body, models_body
from .._toolcalls import openai_call

if TYPE_CHECKING:
    from ..._schedule.gate import ServiceView

__all__ = [
    "ChatCall",
    "CompleteCall",
    "EmbedCall",
    "RerankCall",
    "completion_body",
    "embeddings_body",
    "finish_reason",
    "load_fields",
    "model_body",
    "models_body",
    "parse_chat_request",
    "parse_completion_request",
    "parse_embed_request",
    "parse_rerank_request",
    "rerank_body",
    "text_completion_body",
    "usage_body",
]

_PASSED = ("temperature", "top_p", "seed", "stop", "tool_choice")
"""Request fields that are client options of the same name."""
_RAW = ("presence_penalty", "frequency_penalty", "top_k", "min_p", "repeat_penalty", "logit_bias")
"""Sampling fields passed to the service as raw options (both dialects know them)."""
_OPTIONAL = frozenset(
    (
        *_PASSED,
        *_RAW,
        "n",
        "max_completion_tokens",
        "max_tokens",
        "tools",
        "response_format",
        "reasoning_effort",
        "stream_options",
    )
)
"""Every field :func:`parse_chat_request` reads besides the model, messages and stream."""
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
    options: dict[str, Any] = {}
    stream = body.get("stream") is True
    if _OPTIONAL.isdisjoint(body):  # most bodies: model, messages, stream and no more
        return ChatCall(model, messages, options, stream)
    _one_choice(body)
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
    _raw_options(body, options)
    return ChatCall(model, messages, options, stream, include_usage=_include_usage(body, stream))


def _one_choice(body: Mapping[str, Any]) -> None:
    n = body.get("n")
    if n is not None and n != 1:
        raise InvalidRequestError(
            f"n={n} is not supported: this gateway returns one choice per request.",
            hint="Send n separate requests instead.",
        )


def _raw_options(body: Mapping[str, Any], options: dict[str, Any]) -> None:
    raw = {name: body[name] for name in _RAW if body.get(name) is not None}
    if raw:
        options["options"] = raw


def _include_usage(body: Mapping[str, Any], stream: bool) -> bool:
    stream_options = body.get("stream_options")
    return (
        stream
        and isinstance(stream_options, Mapping)
        and stream_options.get("include_usage") is True
    )


_COMPLETE_PASSED = ("temperature", "top_p", "seed", "stop", "max_tokens")
"""``/v1/completions`` fields that are ``complete()`` options of the same name."""


def parse_completion_request(body: object) -> CompleteCall:
    """A ``POST /v1/completions`` body (the legacy text completion) as client arguments;
    the rest of OpenAI's fields (``echo``, ``logprobs``, ``suffix``...) are ignored.

    Raises:
        InvalidRequestError: no model; a prompt that is not text (a string or a list of
            strings); ``n`` > 1; a stream of several prompts.
    """
    body = json_object(body)
    model = model_of(body)
    prompt = body.get("prompt")
    prompts = [prompt] if isinstance(prompt, str) else prompt
    if not isinstance(prompts, list) or not prompts or not all(isinstance(p, str) for p in prompts):
        if (
            isinstance(prompts, list)
            and prompts
            and all(isinstance(p, (int, list)) for p in prompts)
        ):
            raise InvalidRequestError(
                "'prompt' as token ids is not supported: this gateway sends prompts as text.",
                hint="Send the prompt as a string, or a list of strings.",
            )
        raise InvalidRequestError("'prompt' must be a string or a non-empty list of strings.")
    _one_choice(body)
    stream = body.get("stream") is True
    if stream and len(prompts) > 1:
        raise InvalidRequestError(
            f"A streamed completion takes one prompt, not {len(prompts)}.",
            hint="Send one request a prompt, or leave out 'stream' for one choice a prompt.",
        )
    options = {name: body[name] for name in _COMPLETE_PASSED if body.get(name) is not None}
    _raw_options(body, options)
    return CompleteCall(model, prompts, options, stream, _include_usage(body, stream))


def parse_rerank_request(body: object) -> RerankCall:
    """A ``POST /v1/rerank`` (or ``/rerank``) body in the Jina/Cohere shape: ``query``,
    ``documents`` (strings, or objects with ``text``), ``top_n``, ``return_documents``
    (or llama.cpp's ``return_text_documents``).

    Raises:
        InvalidRequestError: no model or query, no documents, or a ``top_n`` that is not
            a positive integer.
    """
    body = json_object(body)
    model = model_of(body)
    query = body.get("query")
    if not isinstance(query, str):
        raise InvalidRequestError("The request has no query ('query' must be a string).")
    given = body.get("documents")
    items = given if isinstance(given, list) else []
    documents = [d.get("text") if isinstance(d, Mapping) else d for d in items]
    if not documents or not all(isinstance(d, str) for d in documents):
        raise InvalidRequestError(
            "'documents' must be a non-empty list of strings (or of objects with 'text')."
        )
    top_n = body.get("top_n")
    if top_n is not None and (isinstance(top_n, bool) or not isinstance(top_n, int) or top_n < 1):
        raise InvalidRequestError(f"top_n must be a positive integer, not {top_n!r:.40}.")
    documents_back = (
        body.get("return_documents") is True or body.get("return_text_documents") is True
    )
    return RerankCall(model, query, [str(d) for d in documents], top_n, documents_back)


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


def prompt_usage_body(usage: Usage | None) -> dict[str, int]:
    """The usage object of an answer that generates nothing (embeddings, reranking)."""
    prompt = (usage.prompt_tokens if usage else None) or 0
    total = (usage.total_tokens if usage else None) or prompt
    return {"prompt_tokens": prompt, "total_tokens": total}


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


def text_completion_body(
    response: CompletionResponse, *, model: str, id: str, created: int
) -> dict[str, Any]:
    """A ``text_completion`` body (``POST /v1/completions``), one choice a prompt."""
    body: dict[str, Any] = {
        "id": id,
        "object": "text_completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "text": choice.text,
                "index": choice.index,
                "logprobs": None,
                "finish_reason": finish_reason(choice.finish_reason),
            }
            for choice in response.choices
        ],
    }
    if response.usage is not None:
        body["usage"] = usage_body(response.usage)
    return body


# --------------------------------------------------------------------------- embeddings


def embeddings_body(response: EmbedResponse, *, model: str, base64_out: bool) -> dict[str, Any]:
    """``POST /v1/embeddings``: floats, or little-endian float32 as base64."""
    data = []
    for index, vector in enumerate(response.vectors):
        embedding: object = vector
        if base64_out:
            embedding = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
        data.append({"object": "embedding", "index": index, "embedding": embedding})
    return {
        "object": "list",
        "data": data,
        "model": model,
        "usage": prompt_usage_body(response.usage),
    }


# --------------------------------------------------------------------------- rerank


def rerank_body(result: RerankResult, *, model: str, documents: bool) -> dict[str, Any]:
    """``POST /v1/rerank``: llama.cpp's answer (``model``, ``object``, ``usage``,
    ``results`` of ``index`` and ``relevance_score``), most relevant first; with
    ``documents``, each result's ``document: {text}`` as vLLM and Cohere give it.
    """
    results: list[dict[str, Any]] = []
    for item in result.results:
        entry: dict[str, Any] = {"index": item.index, "relevance_score": item.score}
        if documents:
            entry["document"] = {"text": item.document}
        results.append(entry)
    return {
        "model": model,
        "object": "list",
        "usage": prompt_usage_body(result.usage),
        "results": results,
    }


def load_fields(view: ServiceView | None) -> dict[str, Any]:
    """A service's load in ``/health`` (with the key): its limit, queue, loaded models,
    and each model's in-flight count, limit, queue and state (``null`` where unknown).
    """
    if view is None:
        return {"max_in_flight": None, "queued": 0, "loaded_models": [], "models": []}
    return {
        "max_in_flight": view.max_in_flight,
        "queued": view.queued,
        "loaded_models": list(view.loaded_models),
        "models": [
            {
                "id": m.id,
                "in_flight": m.in_flight,
                "max_in_flight": m.max_in_flight,
                "queued": m.queued,
                "state": m.state,
            }
            for m in view.models
        ],
    }

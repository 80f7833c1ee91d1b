"""The one adapter between the fuzz tests and modelport's internals.

Every decoder and parser the fuzz tests exercise is reached through a plain function
here, so when the internals move (issue 11's refactor builds "one JSON boundary")
only this file changes. The properties themselves live in the ``test_*`` modules and
know nothing of module paths or constructor signatures.

Each function either returns a result or raises. The property every test checks is
that what it raises is a :class:`modelport.ModelportError`; anything else (a
RecursionError, TypeError, struct.error, OverflowError...) is a defect.

One translation is made here on purpose: the low-level byte decoders of
``modelport._http.decoders`` report a line past the cap or a malformed line with their
own exception types (``LineTooLongError``, ``MalformedLineError``, both ValueErrors),
which the stream decoders above them turn into ProtocolError/StreamError. Those two,
and only those two, are mapped to ProtocolError here, so that the property catches
every *other* exception the byte decoders let out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from modelport import ChatChunk, ChatResponse, ModelportError, ProtocolError

__all__ = [
    "StreamResult",
    "body_json",
    "chat_stream_ollama",
    "chat_stream_openai",
    "decode_lines",
    "decode_ndjson",
    "decode_sse",
    "error_from_response",
    "error_message",
    "parse_arguments",
    "parse_ollama_chat",
    "parse_ollama_embed",
    "parse_ollama_ps",
    "parse_ollama_show",
    "parse_ollama_tags",
    "parse_openai_chat",
    "parse_openai_embeddings",
    "parse_openai_models",
    "pull_stream",
    "tool_call",
]

BASE_URL = "http://127.0.0.1:9"


def _ctx() -> Any:
    from modelport._http.mapping import ErrorContext

    return ErrorContext(service="fuzz", base_url=BASE_URL, server="the fuzz server")


# ------------------------------------------------------------------ byte decoders


def _byte_decoder_errors() -> tuple[type[BaseException], ...]:
    from modelport._http.decoders import LineTooLongError, MalformedLineError

    return (LineTooLongError, MalformedLineError)


def _drive_bytes(decoder: Any, chunks: Iterable[bytes]) -> list[Any]:
    items: list[Any] = []
    try:
        for chunk in chunks:
            items.extend(decoder.feed(chunk))
        items.extend(decoder.finish())
    except _byte_decoder_errors() as exc:
        raise ProtocolError(f"the byte decoder refused the stream: {exc}") from exc
    return items


def _cap(max_bytes: int | None) -> dict[str, int]:
    return {} if max_bytes is None else {"max_line_bytes": max_bytes}


def decode_lines(chunks: Iterable[bytes], max_bytes: int | None = None) -> list[bytes]:
    """Every line of the byte stream (``LineDecoder``)."""
    from modelport._http.decoders import LineDecoder

    return _drive_bytes(LineDecoder(**_cap(max_bytes)), chunks)


def decode_ndjson(chunks: Iterable[bytes], max_bytes: int | None = None) -> list[Any]:
    """Every JSON value of an NDJSON byte stream (``NDJSONDecoder``)."""
    from modelport._http.decoders import NDJSONDecoder

    return _drive_bytes(NDJSONDecoder(**_cap(max_bytes)), chunks)


def decode_sse(
    chunks: Iterable[bytes], max_bytes: int | None = None
) -> list[tuple[str, str | None, str | None]]:
    """Every event of a ``text/event-stream`` as ``(data, event, id)`` (``SSEDecoder``)."""
    from modelport._http.decoders import SSEDecoder

    events = _drive_bytes(SSEDecoder(**_cap(max_bytes)), chunks)
    return [(e.data, e.event, e.id) for e in events]


# ------------------------------------------------------------------ chat stream decoders


@dataclass(frozen=True)
class StreamResult:
    """What a stream decoder delivered, driven as the transport drives it."""

    chunks: tuple[ChatChunk, ...]
    response: ChatResponse | None
    error: ModelportError | None


def _drive_stream(decoder: Any, chunks: Iterable[bytes], *, chat: bool = True) -> StreamResult:
    """Feed each chunk, deliver the items, stop at the decoder's error (the transport
    raises it after the items before it); at the end, ``finish()`` and the response."""
    delivered: list[Any] = []
    for chunk in chunks:
        delivered.extend(decoder.feed(chunk))
        if decoder.error is not None:
            return StreamResult(tuple(delivered), None, decoder.error)
        if decoder.done:  # the stream's own end: the transport reads no further
            return StreamResult(tuple(delivered), decoder.response() if chat else None, None)
    delivered.extend(decoder.finish())
    if decoder.error is not None:
        return StreamResult(tuple(delivered), None, decoder.error)
    return StreamResult(tuple(delivered), decoder.response() if chat else None, None)


def chat_stream_openai(chunks: Iterable[bytes], *, dialect: str = "default") -> StreamResult:
    """An SSE chat stream through the ``openai_chat`` dialect's decoder.

    ``dialect``: ``"default"``, ``"split_think"`` (``<think>`` tags split out, as for
    LM Studio and llama.cpp).
    """
    from modelport._wire.openai_chat import DEFAULT_DIALECT, OpenAIChatStream, OpenAIDialect

    chosen = OpenAIDialect(split_think=True) if dialect == "split_think" else DEFAULT_DIALECT
    return _drive_stream(OpenAIChatStream(_ctx(), "fuzz-model", chosen), chunks)


def chat_stream_ollama(chunks: Iterable[bytes]) -> StreamResult:
    """An NDJSON ``/api/chat`` stream through the Ollama dialect's decoder."""
    from modelport._wire.ollama_native import OllamaChatStream

    return _drive_stream(OllamaChatStream(_ctx(), "fuzz-model"), chunks)


def pull_stream(chunks: Iterable[bytes]) -> StreamResult:
    """An NDJSON ``/api/pull`` progress stream (the steps are the ``chunks``)."""
    from modelport._wire.ollama_native import OllamaPullStream

    return _drive_stream(OllamaPullStream(_ctx(), "fuzz-model"), chunks, chat=False)


# ------------------------------------------------------------------ bodies


def body_json(body: bytes, status: int = 200) -> Any:
    """A whole response body through the JSON boundary every reply goes through."""
    from modelport._http.ops import Request, Response

    return Response(status, {}, body, Request("POST", "/fuzz")).json(_ctx())


def parse_openai_chat(data: Any, *, split_think: bool = False) -> ChatResponse:
    from modelport._wire.openai_chat import OpenAIDialect, parse_chat_completion

    dialect = OpenAIDialect(split_think=split_think)
    return parse_chat_completion(data, _ctx(), dialect=dialect, model="fuzz-model")


def parse_openai_embeddings(data: Any) -> Any:
    from modelport._wire.openai_chat import parse_embeddings

    return parse_embeddings(data, _ctx(), model="fuzz-model")


def parse_openai_models(data: Any) -> list[Mapping[str, Any]]:
    from modelport._wire.openai_chat import parse_model_list

    return parse_model_list(data, _ctx())


def parse_ollama_chat(data: Any) -> ChatResponse:
    from modelport._wire.ollama_native import parse_chat

    return parse_chat(data, _ctx(), model="fuzz-model")


def parse_ollama_embed(data: Any, count: int = 1) -> Any:
    from modelport._wire.ollama_native import parse_embed

    return parse_embed(data, _ctx(), model="fuzz-model", count=count)


def parse_ollama_tags(data: Any) -> list[Mapping[str, Any]]:
    from modelport._wire.ollama_models import parse_tags

    return parse_tags(data, _ctx())


def parse_ollama_ps(data: Any) -> list[Mapping[str, Any]]:
    from modelport._wire.ollama_models import parse_ps

    return parse_ps(data, _ctx())


def parse_ollama_show(data: Any) -> Any:
    from modelport._wire.ollama_models import parse_show

    return parse_show(data, _ctx())


# ------------------------------------------------------------------ errors and tool calls


def error_message(body: bytes, content_type: str = "") -> tuple[str, list[str]]:
    """The message and codes an error body carries, as every error answer is read
    (``facts_from_response`` reads bodies with ``extract``)."""
    from modelport._classify import extract

    message, codes, _ = extract(body, content_type)
    return message, codes


def error_from_response(
    status: int, body: bytes, headers: Mapping[str, str] | None = None
) -> ModelportError:
    """The error an HTTP error status and its body map to (returned, not raised)."""
    from modelport._classify import facts_from_response, generic

    facts = facts_from_response(
        status, body, dict(headers or {}), _ctx(), path="/fuzz", model="fuzz-model"
    )
    return generic(facts, _ctx())


def parse_arguments(value: Any) -> tuple[dict[str, Any], str | None]:
    """Tool-call arguments as a server sent them: ``(arguments, raw text or None)``."""
    from modelport._wire.common import parse_arguments as parse

    return parse(value)


def tool_call(data: Any) -> Any:
    """A ToolCall from a server's tool-call object, through the shape guard every
    reply parser puts around it."""
    from modelport._wire.common import tool_call_from_wire
    from modelport._wire.stream import guard_shape

    return guard_shape(_ctx(), "a tool call", lambda: tool_call_from_wire(data))

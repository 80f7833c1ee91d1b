"""The ``ollama_native`` wire dialect: modelport types <-> Ollama's ``/api/*`` JSON.

Pure translation, no I/O: request bodies for ``/api/chat``, ``/api/embed`` and
friends; parsers for replies and metrics; and the NDJSON stream decoders for chat and
pull. Model lists are parsed in :mod:`.ollama_models`, Ollama's error rows live in
:mod:`modelport._classify.ollama`. Every response field is treated as optional,
because Ollama leaves out any field whose value is zero (Go ``omitempty``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from .._classify import Rules, classify, facts_from_data
from .._coerce import opt_int, opt_pos_int
from .._http.decoders import DEFAULT_MAX_LINE_BYTES, MalformedLineError, NDJSONDecoder
from .._http.mapping import ErrorContext
from ..errors import ModelportError, ProtocolError, StreamError
from ..types import (
    ChatChunk,
    ChatResponse,
    EmbedResponse,
    Message,
    PullProgress,
    Timings,
    ToolCall,
    Usage,
)
from .common import ChatRequest, CompletionRequest, options_by_table, parse_arguments
from .inputs import image_to_base64
from .stream import ChatStreamDecoder, DecoderBase, guard_shape

__all__ = [
    "OPTIONS",
    "OllamaChatStream",
    "OllamaPullStream",
    "build_chat_body",
    "build_embed_body",
    "build_generate_body",
    "build_load_body",
    "finish_reason",
    "keep_alive_value",
    "parse_chat",
    "parse_embed",
    "parse_legacy_embedding",
    "parse_timings",
    "parse_usage",
]

KeepAlive = float | str | timedelta


# --------------------------------------------------------------------------- requests


def keep_alive_value(value: KeepAlive) -> float | int | str:
    """``keep_alive`` as Ollama accepts it: numbers of seconds as JSON numbers.

    Ollama parses a string as a Go duration, so ``"10"`` (no unit) is a 400; numeric
    strings are therefore sent as numbers. Strings with units pass through.

    >>> [keep_alive_value(v) for v in (300, "10", "-1", " 1.5 ")]
    [300, 10, -1, 1.5]
    >>> keep_alive_value("5m"), keep_alive_value(timedelta(minutes=2)), keep_alive_value(2.0)
    ('5m', 120, 2)
    """
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if isinstance(value, str):
        text = value.strip()
        try:
            number = float(text)
        except ValueError:
            return text
        if not math.isfinite(number):
            return text
        value = number
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def build_chat_body(req: ChatRequest, *, stream: bool) -> dict[str, Any]:
    """The JSON body for ``POST /api/chat``.

    ``stream`` is always sent: Ollama streams unless told ``"stream": false``.
    ``tool_choice`` has no native equivalent; only ``"none"`` is honoured (no tools sent).
    """
    body: dict[str, Any] = {
        "model": req.model,
        "messages": build_messages(req.messages),
        "stream": stream,
    }
    if req.tools and req.tool_choice != "none":
        body["tools"] = [dict(tool) for tool in req.tools]
    if req.schema is not None:
        body["format"] = dict(req.schema)
    elif req.json_mode:
        body["format"] = "json"
    if req.think is not None:
        body["think"] = req.think
    return _with_options(body, req)


OPTIONS: Mapping[str, str] = {
    "context_length": "num_ctx",
    "max_tokens": "num_predict",
    "temperature": "temperature",
    "top_p": "top_p",
    "stop": "stop",
    "seed": "seed",
}
"""The shared chat options, by their names in Ollama's ``options``."""


def build_generate_body(req: CompletionRequest, prompt: str, *, stream: bool) -> dict[str, Any]:
    """The JSON body for ``POST /api/generate`` with ``raw: true``: the prompt as given,
    no template (a legacy text completion).
    """
    body: dict[str, Any] = {"model": req.model, "prompt": prompt, "raw": True, "stream": stream}
    return _with_options(body, req)


def _with_options(body: dict[str, Any], req: ChatRequest | CompletionRequest) -> dict[str, Any]:
    """``body`` with the request's ``keep_alive`` and ``options``, where it has them."""
    if req.keep_alive is not None:
        body["keep_alive"] = keep_alive_value(req.keep_alive)
    options = _options(req)
    if options:
        body["options"] = options
    return body


def _options(req: ChatRequest | CompletionRequest) -> dict[str, Any]:
    options = options_by_table(req, OPTIONS)
    options.update(req.options)  # raw options are the caller's last word
    return options


def build_messages(messages: Sequence[Message]) -> list[dict[str, Any]]:
    """Messages in Ollama's shape.

    Images become bare base64 (a ``data:`` prefix is a 400), tool-call arguments stay
    objects (a JSON string is a 400), and a tool result that only names its call id
    also gets the ``tool_name`` older servers need to match it.
    """
    names_by_id: dict[str, str] = {}
    out: list[dict[str, Any]] = []
    for message in messages:
        item: dict[str, Any] = {"role": message.role, "content": message.content}
        if message.images:
            item["images"] = [image_to_base64(image)[0] for image in message.images]
        if message.role == "assistant" and message.thinking:
            item["thinking"] = message.thinking
        if message.tool_calls:
            item["tool_calls"] = [_tool_call_out(call) for call in message.tool_calls]
            names_by_id.update({call.id: call.name for call in message.tool_calls if call.id})
        if message.role == "tool":
            name = message.name or names_by_id.get(message.tool_call_id or "")
            if name:
                item["tool_name"] = name
            if message.tool_call_id:
                item["tool_call_id"] = message.tool_call_id
        out.append(item)
    return out


def _tool_call_out(call: ToolCall) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if call.id:
        out["id"] = call.id
    out["function"] = {"name": call.name, "arguments": dict(call.arguments)}
    return out


def build_load_body(
    model: str, *, context_length: int | None = None, keep_alive: KeepAlive | None = None
) -> dict[str, Any]:
    """An empty ``/api/chat`` request: it loads the model (``keep_alive: 0`` unloads it)."""
    body: dict[str, Any] = {"model": model, "messages": []}
    if keep_alive is not None:
        body["keep_alive"] = keep_alive_value(keep_alive)
    if context_length is not None:
        body["options"] = {"num_ctx": context_length}
    return body


def build_embed_body(model: str, inputs: list[str]) -> dict[str, Any]:
    """The JSON body for ``POST /api/embed`` (a batch of inputs)."""
    return {"model": model, "input": inputs}


# --------------------------------------------------------------------------- metrics


def parse_usage(data: Mapping[str, Any]) -> Usage | None:
    """Token counts from ``prompt_eval_count``/``eval_count``; ``None`` when neither is there.

    >>> parse_usage({"prompt_eval_count": 26, "eval_count": 298})
    Usage(prompt_tokens=26, completion_tokens=298, total_tokens=324)
    >>> parse_usage({"eval_count": 5}), parse_usage({})
    (Usage(prompt_tokens=None, completion_tokens=5, total_tokens=None), None)
    """
    prompt = opt_int(data.get("prompt_eval_count"))
    completion = opt_int(data.get("eval_count"))
    if prompt is None and completion is None:
        return None
    total = prompt + completion if prompt is not None and completion is not None else None
    return Usage(prompt, completion, total)


def parse_timings(data: Mapping[str, Any]) -> Timings | None:
    """Timings from Ollama's nanosecond durations; ``None`` when it sent none.

    >>> body = {"eval_count": 10, "eval_duration": 500_000_000, "load_duration": 2_000_000}
    >>> t = parse_timings(body)
    >>> t.tokens_per_second, t.generation_ms, t.load_ms, t.prompt_ms
    (20.0, 500.0, 2.0, None)
    """
    total = opt_pos_int(data.get("total_duration"))
    load = opt_pos_int(data.get("load_duration"))
    prompt_ns = opt_pos_int(data.get("prompt_eval_duration"))
    eval_ns = opt_pos_int(data.get("eval_duration"))
    prompt_n = opt_int(data.get("prompt_eval_count"))
    eval_n = opt_int(data.get("eval_count"))
    if total is None and load is None and prompt_ns is None and eval_ns is None:
        return None
    return Timings(
        tokens_per_second=eval_n / eval_ns * 1e9 if eval_n is not None and eval_ns else None,
        prompt_ms=prompt_ns / 1e6 if prompt_ns else None,
        generation_ms=eval_ns / 1e6 if eval_ns else None,
        load_ms=load / 1e6 if load else None,
        prompt_tokens_per_second=prompt_n / prompt_ns * 1e9
        if prompt_n is not None and prompt_ns
        else None,
        total_ms=total / 1e6 if total else None,
    )


def finish_reason(done_reason: object, has_tool_calls: bool) -> str | None:
    """``done_reason`` as a finish reason; Ollama says ``stop`` even when tools were called.

    >>> finish_reason("stop", True), finish_reason("stop", False), finish_reason("length", True)
    ('tool_calls', 'stop', 'length')
    >>> finish_reason(None, False), finish_reason(None, True)
    (None, 'tool_calls')
    """
    reason = done_reason if isinstance(done_reason, str) and done_reason else None
    if has_tool_calls and reason in (None, "stop"):
        return "tool_calls"
    return reason


# --------------------------------------------------------------------------- replies


def parse_tool_calls(raw: object) -> tuple[ToolCall, ...]:
    """Tool calls as Ollama sends them: ``{"id"?, "function": {"index"?, "name", "arguments"}}``."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise TypeError("tool_calls is not a list")
    calls = []
    for item in raw:
        function = item["function"]
        name = function["name"]
        if not isinstance(name, str):
            raise TypeError("a tool call name is not a string")
        arguments, raw_arguments = parse_arguments(function.get("arguments"))
        call_id = item.get("id")
        calls.append(
            ToolCall(
                name=name,
                arguments=arguments,
                id=str(call_id) if call_id else None,
                raw_arguments=raw_arguments,
            )
        )
    return tuple(calls)


def _message_parts(data: Mapping[str, Any]) -> tuple[str, str, tuple[ToolCall, ...]]:
    message = data.get("message")
    if message is None:  # /api/generate: the text is in ``response``
        text = data.get("response") or ""
        thinking = data.get("thinking") or ""
        if not isinstance(text, str) or not isinstance(thinking, str):
            raise TypeError("response is not text")
        return text, thinking, ()
    # The hot path (every streamed chunk): a plain dict with text content only.
    if type(message) is not dict and not isinstance(message, Mapping):
        raise TypeError("message is not an object")
    text = message.get("content") or ""
    thinking = message.get("thinking") or ""
    if (type(text) is not str or type(thinking) is not str) and not (
        isinstance(text, str) and isinstance(thinking, str)
    ):
        raise TypeError("message content is not text")
    calls = message.get("tool_calls")
    return text, thinking, parse_tool_calls(calls) if calls is not None else ()


def parse_chat(data: object, ctx: ErrorContext, *, model: str) -> ChatResponse:
    """A :class:`ChatResponse` from a non-streamed ``/api/chat`` body."""

    def parse() -> ChatResponse:
        if not isinstance(data, Mapping):
            raise TypeError("the body is not a JSON object")
        if not isinstance(data.get("done"), bool) and not isinstance(data.get("message"), Mapping):
            raise KeyError("message")
        text, thinking, calls = _message_parts(data)
        return ChatResponse(
            text=text,
            model=str(data.get("model") or model),
            service=ctx.service,
            thinking=thinking or None,
            tool_calls=calls,
            finish_reason=finish_reason(data.get("done_reason"), bool(calls)),
            usage=parse_usage(data),
            timings=parse_timings(data),
            raw=data,
        )

    return guard_shape(ctx, "a chat reply", parse)


def _vector(value: object) -> list[float]:
    if not isinstance(value, list):
        raise TypeError("an embedding is not a list of numbers")
    return [float(x) for x in value]


def parse_embed(data: object, ctx: ErrorContext, *, model: str, count: int) -> EmbedResponse:
    """An :class:`EmbedResponse` from an ``/api/embed`` body, checked against the input count."""

    def parse() -> EmbedResponse:
        if not isinstance(data, Mapping):
            raise TypeError("the body is not a JSON object")
        embeddings = data["embeddings"]
        if not isinstance(embeddings, list):
            raise TypeError("'embeddings' is not a list")
        vectors = [_vector(v) for v in embeddings]
        prompt = opt_int(data.get("prompt_eval_count"))
        return EmbedResponse(
            vectors=vectors,
            model=str(data.get("model") or model),
            service=ctx.service,
            usage=Usage(prompt_tokens=prompt, total_tokens=prompt) if prompt is not None else None,
        )

    result = guard_shape(ctx, "embeddings", parse)
    if len(result.vectors) != count:
        raise ProtocolError(
            f"{ctx.where()} returned {len(result.vectors)} embeddings for {count} inputs.",
            **ctx.kwargs(),
        )
    return result


def parse_legacy_embedding(data: object, ctx: ErrorContext) -> list[float]:
    """The vector of a legacy ``/api/embeddings`` body (``{"embedding": [...]}``)."""
    vector: list[float] = guard_shape(
        ctx,
        "an embedding",
        lambda: _vector(data["embedding"] if isinstance(data, Mapping) else None),
    )
    return vector


# --------------------------------------------------------------------------- streaming


class _NDJSONStream:
    """The NDJSON part both stream decoders share: one JSON object per line, and an
    ``{"error": ...}`` line raised through ``_error`` (after the lines before it).
    """

    def __init__(
        self,
        ctx: ErrorContext,
        model: str,
        *,
        rules: Rules | None = None,
        max_event_bytes: int = DEFAULT_MAX_LINE_BYTES,
    ) -> None:
        self._lines = NDJSONDecoder(max_event_bytes)
        self._rules = rules
        self._start(ctx, model)

    def _start(self, ctx: ErrorContext, model: str) -> None:
        raise NotImplementedError

    def _object(self, value: object) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise MalformedLineError(repr(value)[:200].encode(), "not an object")
        if value.get("error") is not None:
            raise self._error(value)
        return value

    def _error(self, data: Mapping[str, Any]) -> ModelportError:
        raise NotImplementedError


class OllamaChatStream(_NDJSONStream, ChatStreamDecoder):
    """Decodes an NDJSON ``/api/chat`` stream into :class:`ChatChunk` objects.

    Content and thinking arrive as deltas; each tool call arrives whole in some
    chunk; the ``done`` line carries usage, timings and ``done_reason``. An
    ``{"error": ...}`` line fails the stream (a :class:`StreamError` keeping the text
    so far once output has started; before that, classified by ``rules`` as Ollama
    would have answered it), and so does a stream that ends without ``done``.
    """

    __slots__ = ("_lines", "_rules", "done")

    def _start(self, ctx: ErrorContext, model: str) -> None:
        ChatStreamDecoder.__init__(self, ctx, model)
        self.done = False

    def _feed(self, data: bytes, out: list[ChatChunk]) -> None:
        self._chunks(self._lines.feed(data), out)

    def _finish(self, out: list[ChatChunk]) -> None:
        self._chunks(self._lines.finish(), out)
        if not self.done:
            raise self.acc.ended_early()

    def _chunks(self, values: list[Any], out: list[ChatChunk]) -> None:
        # One line at a time, so the chunks before a bad line still reach the caller.
        acc = self.acc
        for data in values:
            if self.done:
                break
            if type(data) is not dict or data.get("error") is not None:
                data = self._object(data)
            chunk = self._chunk(data)  # a shape error here is the decoder's (DecoderBase)
            if chunk is not None:
                out.append(acc.add(chunk))

    def _chunk(self, data: dict[str, Any]) -> ChatChunk | None:
        acc = self.acc
        text, thinking, calls = _message_parts(data)
        if isinstance(data.get("model"), str) and data["model"]:
            acc.model = data["model"]
        if data.get("done") is not True:
            if not (text or thinking or calls):
                return None
            return ChatChunk(text=text, thinking=thinking, tool_calls=calls)
        self.done = True
        acc.usage = parse_usage(data)
        acc.timings = parse_timings(data)
        acc.finish_reason = finish_reason(data.get("done_reason"), bool(acc.tool_calls or calls))
        acc.raw = data
        return acc.final_chunk(text, thinking, calls)

    def _error(self, data: Mapping[str, Any]) -> ModelportError:
        acc = self.acc
        ctx = acc.ctx
        facts = facts_from_data(data, ctx, arrived="stream", path="/api/chat", model=acc.model)
        if not acc.started:
            return classify(facts, ctx, self._rules)
        return acc.stream_error(f"{ctx.where()} reported an error mid-stream: {facts.message}")


class OllamaPullStream(_NDJSONStream, DecoderBase[PullProgress]):
    """Decodes an NDJSON ``/api/pull`` stream into :class:`PullProgress` steps.

    Only ``status == "success"`` ends a pull well. An ``{"error": ...}`` line raises
    the error ``rules`` make of it (:class:`~modelport.ModelNotFoundError` when the
    registry has no such manifest), and a stream that ends before ``success`` raises
    :class:`StreamError`.
    """

    __slots__ = ("_last", "_lines", "_rules", "ctx", "done", "error", "model")

    def _start(self, ctx: ErrorContext, model: str) -> None:
        self.ctx = ctx
        self.model = model
        self.error: ModelportError | None = None
        self.done = False
        self._last: str | None = None

    def interrupted(self, error: ModelportError) -> ModelportError:
        if self._last is None:
            return error
        return self._broke_off(f"broke off: {error.message}")

    def _decode_error(self, exc: Exception) -> ModelportError:
        return ProtocolError(
            f"{self.ctx.where()} sent a pull progress stream modelport cannot read: {exc}.",
            **self.ctx.kwargs(),
        )

    def _feed(self, data: bytes, out: list[PullProgress]) -> None:
        self._steps(self._lines.feed(data), out)

    def _finish(self, out: list[PullProgress]) -> None:
        self._steps(self._lines.finish(), out)
        if not self.done:
            last = f" (last status: {self._last!r})" if self._last else ""
            raise self._broke_off(f"ended before it reported success{last}")

    def _broke_off(self, what: str) -> StreamError:
        return StreamError(
            f"The download of {self.model!r} from {self.ctx.where()} {what}.",
            hint="Run pull again; Ollama resumes partial downloads.",
            **self.ctx.kwargs(200),
        )

    def _steps(self, values: list[Any], out: list[PullProgress]) -> None:
        for value in values:
            if self.done:
                break
            data = self._object(value)
            status = data.get("status")
            if not isinstance(status, str):
                raise self._decode_error(ValueError(f"a line has no status: {data!r:.200}"))
            total = opt_int(data.get("total"))
            completed = opt_int(data.get("completed"))
            if completed is None and total is not None:
                completed = 0  # Ollama leaves "completed" out while it is zero
            digest = data.get("digest")
            self._last = status
            self.done = status == "success"
            out.append(
                PullProgress(
                    status=status,
                    completed=completed,
                    total=total,
                    digest=digest if isinstance(digest, str) else None,
                )
            )

    def _error(self, data: Mapping[str, Any]) -> ModelportError:
        facts = facts_from_data(
            data, self.ctx, arrived="stream", path="/api/pull", model=self.model
        )
        return classify(facts, self.ctx, self._rules)

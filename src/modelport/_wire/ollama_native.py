"""The ``ollama_native`` wire dialect: modelport types <-> Ollama's ``/api/*`` JSON.

Pure translation and classification, no I/O: request bodies for ``/api/chat``,
``/api/embed`` and friends; parsers for replies, model lists (``/api/tags``,
``/api/show``, ``/api/ps``) and metrics; Ollama's error rows; and the NDJSON stream
decoders for chat and pull. Every response field is treated as optional, because
Ollama leaves out any field whose value is zero (Go ``omitempty``).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from .._http.decoders import LineDecoder, MalformedLineError
from .._http.mapping import ErrorContext, extract_error, is_context_overflow
from ..errors import (
    AuthenticationError,
    CapabilityError,
    ContextLengthExceededError,
    InvalidRequestError,
    ModelNotFoundError,
    ModelportError,
    ProtocolError,
    ServerError,
    ServiceUnavailableError,
    StreamError,
)
from ..types import (
    Capabilities,
    ChatChunk,
    ChatResponse,
    EmbedResponse,
    Message,
    PullProgress,
    Timings,
    ToolCall,
    Usage,
)
from .common import ChatRequest, image_to_base64, parse_arguments
from .stream import ChatStreamDecoder, DecoderBase, guard_shape, loads

__all__ = [
    "OllamaChatStream",
    "OllamaPullStream",
    "ShowFacts",
    "build_chat_body",
    "build_embed_body",
    "build_load_body",
    "classify_error",
    "finish_reason",
    "keep_alive_value",
    "parse_chat",
    "parse_embed",
    "parse_legacy_embedding",
    "parse_ps",
    "parse_show",
    "parse_tags",
    "parse_timings",
    "parse_usage",
    "stream_error_before_output",
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
    if req.keep_alive is not None:
        body["keep_alive"] = keep_alive_value(req.keep_alive)
    options = _options(req)
    if options:
        body["options"] = options
    return body


def _options(req: ChatRequest) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if req.context_length is not None:
        options["num_ctx"] = req.context_length
    if req.max_tokens is not None:
        options["num_predict"] = req.max_tokens
    if req.temperature is not None:
        options["temperature"] = req.temperature
    if req.top_p is not None:
        options["top_p"] = req.top_p
    if req.stop:
        options["stop"] = list(req.stop)
    if req.seed is not None:
        options["seed"] = req.seed
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
            item["images"] = [_image_data(image) for image in message.images]
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


def _image_data(image: Any) -> str:
    """Bare base64; an image URL is refused: Ollama takes only the bytes."""
    if isinstance(image, str) and image.startswith(("http://", "https://")):
        raise CapabilityError(
            f"Ollama needs the image data, not a URL ({image[:80]}); modelport does not "
            "download images.",
            hint="Send the bytes, a file path or a data: URL instead.",
        )
    return image_to_base64(image)[0]


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


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _positive(value: Any) -> int | None:
    number = _int(value)
    return number if number is not None and number > 0 else None


def parse_usage(data: Mapping[str, Any]) -> Usage | None:
    """Token counts from ``prompt_eval_count``/``eval_count``; ``None`` when neither is there.

    >>> parse_usage({"prompt_eval_count": 26, "eval_count": 298})
    Usage(prompt_tokens=26, completion_tokens=298, total_tokens=324)
    >>> parse_usage({"eval_count": 5}), parse_usage({})
    (Usage(prompt_tokens=None, completion_tokens=5, total_tokens=None), None)
    """
    prompt = _int(data.get("prompt_eval_count"))
    completion = _int(data.get("eval_count"))
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
    total = _positive(data.get("total_duration"))
    load = _positive(data.get("load_duration"))
    prompt_ns = _positive(data.get("prompt_eval_duration"))
    eval_ns = _positive(data.get("eval_duration"))
    prompt_n = _int(data.get("prompt_eval_count"))
    eval_n = _int(data.get("eval_count"))
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


def finish_reason(done_reason: Any, has_tool_calls: bool) -> str | None:
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


def parse_tool_calls(raw: Any) -> tuple[ToolCall, ...]:
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
    if message is None:
        return "", "", ()
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


def parse_chat(data: Any, ctx: ErrorContext, *, model: str) -> ChatResponse:
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


def _vector(value: Any) -> list[float]:
    if not isinstance(value, list):
        raise TypeError("an embedding is not a list of numbers")
    return [float(x) for x in value]


def parse_embed(data: Any, ctx: ErrorContext, *, model: str, count: int) -> EmbedResponse:
    """An :class:`EmbedResponse` from an ``/api/embed`` body, checked against the input count."""

    def parse() -> EmbedResponse:
        embeddings = data["embeddings"]
        if not isinstance(embeddings, list):
            raise TypeError("'embeddings' is not a list")
        vectors = [_vector(v) for v in embeddings]
        prompt = _int(data.get("prompt_eval_count"))
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


def parse_legacy_embedding(data: Any, ctx: ErrorContext) -> list[float]:
    """The vector of a legacy ``/api/embeddings`` body (``{"embedding": [...]}``)."""
    vector: list[float] = guard_shape(ctx, "an embedding", lambda: _vector(data["embedding"]))
    return vector


# --------------------------------------------------------------------------- model lists


def _entries(data: Any) -> list[Mapping[str, Any]]:
    models = data["models"]
    if not isinstance(models, list):
        raise TypeError("'models' is not a list")
    entries: list[Mapping[str, Any]] = []
    for entry in models:
        name = entry.get("name") or entry.get("model")  # "model" only since v0.1.42
        if not isinstance(name, str) or not name:
            raise TypeError("a model entry has no name")
        entries.append({**entry, "name": name})
    return entries


def parse_tags(data: Any, ctx: ErrorContext) -> list[Mapping[str, Any]]:
    """The entries of ``/api/tags``, each with a ``name``."""
    entries: list[Mapping[str, Any]] = guard_shape(ctx, "the model list", lambda: _entries(data))
    return entries


def parse_ps(data: Any, ctx: ErrorContext) -> list[Mapping[str, Any]]:
    """The entries of ``/api/ps`` (the loaded models), each with a ``name``."""
    entries: list[Mapping[str, Any]] = guard_shape(
        ctx, "the loaded model list", lambda: _entries(data)
    )
    return entries


@dataclass(frozen=True, slots=True)
class ShowFacts:
    """What ``/api/show`` (or a v0.30+ ``/api/tags`` entry) says about one model.

    ``capabilities`` is ``None`` when the server predates the ``capabilities`` field
    (v0.6.4); ``inferred`` then holds what the server's own detection rules imply
    from ``model_info``, the projector and the template.
    """

    capabilities: Capabilities | None
    capability_names: tuple[str, ...] = ()
    inferred: Capabilities = field(default_factory=Capabilities)
    context_length: int | None = None
    architecture: str | None = None
    embedding_length: int | None = None
    parameter_count: int | None = None
    details: Mapping[str, Any] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)
    """Long texts (license, template, parameters, ...) for a single-model lookup."""


def capabilities_from_names(names: Sequence[str]) -> Capabilities:
    """Ollama's capability names as :class:`Capabilities` (every field known).

    >>> capabilities_from_names(["completion", "vision"])
    Capabilities(chat=True, tools=False, vision=True, embedding=False, thinking=False)
    """
    present = set(names)
    return Capabilities(
        chat="completion" in present,
        tools="tools" in present,
        vision="vision" in present,
        embedding="embedding" in present,
        thinking="thinking" in present,
    )


_EXTRA_SHOW_FIELDS = ("license", "template", "parameters", "modelfile", "system", "modified_at")


def parse_show(data: Any, ctx: ErrorContext) -> ShowFacts:
    """The facts of an ``/api/show`` body."""

    def parse() -> ShowFacts:
        if not isinstance(data, Mapping):
            raise TypeError("the body is not a JSON object")
        info = data.get("model_info") or {}
        if not isinstance(info, Mapping):
            raise TypeError("model_info is not an object")
        details = data.get("details") or {}
        if not isinstance(details, Mapping):
            raise TypeError("details is not an object")
        arch = info.get("general.architecture")
        arch = arch if isinstance(arch, str) and arch else None
        names = data.get("capabilities")
        capabilities = None
        if isinstance(names, list):
            capabilities = capabilities_from_names([n for n in names if isinstance(n, str)])
        template = data.get("template")
        return ShowFacts(
            capabilities=capabilities,
            capability_names=tuple(names) if isinstance(names, list) else (),
            inferred=_inferred(info, arch, data.get("projector_info"), template),
            context_length=_positive(info.get(f"{arch}.context_length")) if arch else None,
            architecture=arch,
            embedding_length=_positive(info.get(f"{arch}.embedding_length")) if arch else None,
            parameter_count=_positive(info.get("general.parameter_count")),
            details=details,
            extra={k: data[k] for k in _EXTRA_SHOW_FIELDS if data.get(k)},
        )

    return guard_shape(ctx, "model details", parse)


def _inferred(
    info: Mapping[str, Any], arch: str | None, projector: Any, template: Any
) -> Capabilities:
    """Capabilities by Ollama's own detection rules, for servers older than ``capabilities``."""
    embedding = chat = None
    if arch:  # a GGUF with pooling_type embeds; one without generates
        embedding = f"{arch}.pooling_type" in info
        chat = not embedding
    vision = True if projector or (arch and f"{arch}.vision.block_count" in info) else None
    tools = True if isinstance(template, str) and ".Tools" in template else None
    return Capabilities(chat=chat, tools=tools, vision=vision, embedding=embedding)


def facts_from_tags_entry(entry: Mapping[str, Any]) -> ShowFacts | None:
    """Facts from a v0.30+ ``/api/tags`` entry, which carries capabilities and context.

    ``None`` when the entry lacks them: then ask ``/api/show``.
    """
    names = entry.get("capabilities")
    details = entry.get("details")
    if not isinstance(names, list) or not isinstance(details, Mapping):
        return None
    context = _positive(details.get("context_length"))
    if context is None:
        return None
    return ShowFacts(
        capabilities=capabilities_from_names([n for n in names if isinstance(n, str)]),
        capability_names=tuple(n for n in names if isinstance(n, str)),
        context_length=context,
        embedding_length=_positive(details.get("embedding_length")),
        details=details,
    )


# --------------------------------------------------------------------------- errors


_FEATURE = re.compile(r"does not support (\w+)", re.IGNORECASE)
_MANIFEST_MISSING = re.compile(
    r"manifest.*(does not exist|not found|unknown)|file does not exist", re.IGNORECASE
)
_FEATURE_HINTS = {
    "tools": "Send it without tools, or pick a model whose capabilities include tools "
    "(see `modelport models`).",
    "thinking": "Leave think unset (or send think=False) for this model.",
    "chat": "It is an embedding model: use embed() with it instead.",
    "generate": "It is an embedding model: use embed() with it instead.",
    "insert": "This model cannot fill in the middle.",
}


def classify_error(
    status: int,
    body: bytes,
    content_type: str,
    ctx: ErrorContext,
    *,
    path: str = "",
    model: str | None = None,
) -> ModelportError | None:
    """Ollama's own error rows; ``None`` leaves the status to the generic mapping.

    A 404 with a JSON body means the model is missing; a plain-text 404 (gin's
    ``404 page not found``) means this server does not have the endpoint.
    """
    message, _, parsed = extract_error(body, content_type)
    is_json = isinstance(parsed, Mapping) and "error" in parsed
    kw = ctx.kwargs(status)
    where = ctx.where()
    said = f": {message}" if message else ""
    if status == 401:
        signin = parsed.get("signin_url") if is_json and isinstance(parsed, Mapping) else None
        hint = ctx.auth_hint + (f" Or sign this machine in at {signin}" if signin else "")
        return AuthenticationError(
            f"{where} refused the request as unauthorized{said}.", hint=hint, **kw
        )
    if status == 403:
        if not body.strip():
            return AuthenticationError(
                f"{where} refused the request with 403 and an empty body. Ollama does this "
                "when it listens on a loopback address and the request's Host header is not "
                "a local name (its guard against DNS rebinding), which happens behind a "
                "reverse proxy or tunnel that forwards the public Host header.",
                hint="Make the proxy send a local Host header (nginx: "
                "`proxy_set_header Host localhost:11434;`), or start Ollama with "
                "OLLAMA_HOST set to a non-loopback address.",
                **kw,
            )
        return AuthenticationError(
            f"{where} refused the request (403){said}.",
            hint="Cloud models need ollama.com access, which OLLAMA_NO_CLOUD can disable.",
            **kw,
        )
    if status == 404:
        if is_json:
            return _model_missing(ctx, model, message, status)
        return CapabilityError(
            f"{where} does not have the endpoint {path or 'requested'} (404{said}).",
            hint="This Ollama is older than that feature, or the server is not Ollama; "
            "upgrade Ollama.",
            **kw,
        )
    if status == 400:
        feature = _FEATURE.search(message)
        if feature:
            what = feature.group(1).lower()
            name = f" {model!r}" if model else ""
            return CapabilityError(
                f"The model{name} on {where} does not support {what} ({message}).",
                hint=_FEATURE_HINTS.get(what),
                **kw,
            )
    if 400 <= status < 500 and is_context_overflow(message):
        hint = (
            "Shorten the input, or leave Ollama's truncation on."
            if path.startswith("/api/embed")
            else "Shorten the conversation, or ask for a larger window with context_length= "
            "(Ollama's num_ctx)."
        )
        return ContextLengthExceededError(
            f"The prompt does not fit the model's context on {where}{said}.", hint=hint, **kw
        )
    if status == 503:
        return ServiceUnavailableError(
            f"{where} is busy (503){said}.",
            hint="Too many requests are queued; retry shortly, or raise OLLAMA_NUM_PARALLEL / "
            "OLLAMA_MAX_QUEUE on the server.",
            **kw,
        )
    if status == 500:
        if "must be of type" in message:
            return InvalidRequestError(
                f"{where} rejected an option{said}.",
                hint="Check the value types in options={...}.",
                retriable=False,
                **kw,
            )
        if path == "/api/pull" and _MANIFEST_MISSING.search(message):
            return _pull_missing(ctx, model, message, status)
        hint = "Check the Ollama server log."
        if "timed out waiting for llama runner" in message:
            hint = (
                "The model took too long to load; raise OLLAMA_LOAD_TIMEOUT on the server, "
                "or use a smaller model."
            )
        return ServerError(f"{where} failed (500){said}.", hint=hint, **kw)
    return None


def _model_missing(
    ctx: ErrorContext, model: str | None, message: str, status: int | None
) -> ModelNotFoundError:
    name = f" {model!r}" if model else ""
    said = f" ({message})" if message else ""
    return ModelNotFoundError(
        f"{ctx.where()} has no model{name}{said}.",
        model=model,
        hint=f"Pull it with `ollama pull {model}`." if model else "Pull it with `ollama pull`.",
        **ctx.kwargs(status),
    )


def _pull_missing(
    ctx: ErrorContext, model: str | None, message: str, status: int | None
) -> ModelNotFoundError:
    return ModelNotFoundError(
        f"{ctx.where()} could not find {model!r} in the registry ({message}).",
        model=model,
        hint="Check the name and tag at https://ollama.com/library.",
        **ctx.kwargs(status),
    )


def stream_error_before_output(
    message: str, ctx: ErrorContext, *, model: str | None, status: int = 200
) -> ModelportError:
    """The error for an in-band ``{"error": ...}`` line that came before any output.

    It is classified as Ollama would have answered it without streaming (a 500 unless
    the message says otherwise); the error keeps the real HTTP status.
    """
    body = json.dumps({"error": message}).encode()
    if is_context_overflow(message) or _FEATURE.search(message):
        pseudo = 400
    elif re.search(r"model .* not found", message, re.IGNORECASE):
        pseudo = 404
    else:
        pseudo = 500
    error = classify_error(pseudo, body, "application/json", ctx, model=model)
    assert error is not None  # every pseudo status above has a row
    error.status_code = status
    return error


# --------------------------------------------------------------------------- streaming


def _json_line(line: bytes) -> Any:
    try:
        return loads(line)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        raise MalformedLineError(line, "invalid JSON") from exc


class OllamaChatStream(ChatStreamDecoder):
    """Decodes an NDJSON ``/api/chat`` stream into :class:`ChatChunk` objects.

    Content and thinking arrive as deltas; each tool call arrives whole in some
    chunk; the ``done`` line carries usage, timings and ``done_reason``. An
    ``{"error": ...}`` line fails the stream (a :class:`StreamError` keeping the text
    so far once output has started), and so does a stream that ends without ``done``.
    """

    __slots__ = ("_done", "_lines")

    def __init__(self, ctx: ErrorContext, model: str) -> None:
        super().__init__(ctx, model)
        self._lines = LineDecoder()
        self._done = False

    def _feed(self, data: bytes, out: list[ChatChunk]) -> None:
        self._objects(self._lines.feed(data), out)

    def _finish(self, out: list[ChatChunk]) -> None:
        self._objects(self._lines.finish(), out)
        if not self._done:
            raise self.acc.ended_early()

    def _objects(self, lines: list[bytes], out: list[ChatChunk]) -> None:
        # One line at a time, so the chunks before a bad line still reach the caller.
        acc = self.acc
        for line in lines:
            if self._done:
                break
            if not line.strip():
                continue
            data = _json_line(line)
            if not isinstance(data, dict):
                raise acc.decode_error(
                    MalformedLineError(json.dumps(data).encode(), "not an object")
                )
            if data.get("error") is not None:
                raise self._error(data["error"])
            try:
                chunk = self._chunk(data)
            except (KeyError, TypeError, AttributeError, ValueError) as exc:
                raise acc.decode_error(exc) from exc
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
        self._done = True
        acc.usage = parse_usage(data)
        acc.timings = parse_timings(data)
        acc.finish_reason = finish_reason(data.get("done_reason"), bool(acc.tool_calls or calls))
        acc.raw = data
        return ChatChunk(
            text=text,
            thinking=thinking,
            tool_calls=calls,
            finish_reason=acc.finish_reason,
            usage=acc.usage,
            timings=acc.timings,
            done=True,
        )

    def _error(self, error: Any) -> ModelportError:
        message = error if isinstance(error, str) else json.dumps(error)
        acc = self.acc
        if not acc.started:
            return stream_error_before_output(message, acc.ctx, model=acc.model)
        return acc.stream_error(
            f"{acc.ctx.where()} reported an error mid-stream: {message}", status_code=200
        )


class OllamaPullStream(DecoderBase[PullProgress]):
    """Decodes an NDJSON ``/api/pull`` stream into :class:`PullProgress` steps.

    Only ``status == "success"`` ends a pull well. An ``{"error": ...}`` line raises
    (:class:`ModelNotFoundError` when the registry has no such manifest), and a
    stream that ends before ``success`` raises :class:`StreamError`.
    """

    __slots__ = ("_last", "_lines", "_success", "ctx", "error", "model")

    def __init__(self, ctx: ErrorContext, model: str) -> None:
        self.ctx = ctx
        self.model = model
        self.error: ModelportError | None = None
        self._lines = LineDecoder()
        self._success = False
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
        self._objects(self._lines.feed(data), out)

    def _finish(self, out: list[PullProgress]) -> None:
        self._objects(self._lines.finish(), out)
        if not self._success:
            last = f" (last status: {self._last!r})" if self._last else ""
            raise self._broke_off(f"ended before it reported success{last}")

    def _broke_off(self, what: str) -> StreamError:
        return StreamError(
            f"The download of {self.model!r} from {self.ctx.where()} {what}.",
            hint="Run pull again; Ollama resumes partial downloads.",
            **self.ctx.kwargs(200),
        )

    def _objects(self, lines: list[bytes], out: list[PullProgress]) -> None:
        for line in lines:
            if self._success:
                break
            if not line.strip():
                continue
            data = _json_line(line)
            if not isinstance(data, dict):
                raise self._decode_error(ValueError(f"a line is not an object: {data!r}"))
            if data.get("error") is not None:
                raise self._pull_error(data["error"])
            status = data.get("status")
            if not isinstance(status, str):
                raise self._decode_error(ValueError(f"a line has no status: {data!r}"))
            total = _int(data.get("total"))
            completed = _int(data.get("completed"))
            if completed is None and total is not None:
                completed = 0  # Ollama leaves "completed" out while it is zero
            digest = data.get("digest")
            self._last = status
            self._success = status == "success"
            out.append(
                PullProgress(
                    status=status,
                    completed=completed,
                    total=total,
                    digest=digest if isinstance(digest, str) else None,
                )
            )

    def _pull_error(self, error: Any) -> ModelportError:
        message = error if isinstance(error, str) else json.dumps(error)
        if _MANIFEST_MISSING.search(message):
            return _pull_missing(self.ctx, self.model, message, 200)
        return ServerError(
            f"{self.ctx.where()} could not pull {self.model!r}: {message}.",
            hint="Run pull again; Ollama resumes partial downloads.",
            **self.ctx.kwargs(200),
        )

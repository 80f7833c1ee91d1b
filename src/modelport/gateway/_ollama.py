"""The Ollama surface's translation, pure: Ollama's request JSON to client calls, and
replies, NDJSON lines, model lists and embeddings to Ollama's JSON.

What a non-Ollama service cannot say is filled from what the client knows: model
names are the client's ids; ``digest`` is a stable hash of the id; ``modified_at`` is
the model's own date where the service gives one; durations are the service's own
timings in nanoseconds, and ``total_duration`` is measured by the gateway when the
service does not report it. Fields nobody knows are left out, as Ollama leaves out
zero values.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from ..errors import InvalidRequestError
from ..types import ChatChunk, ChatResponse, EmbedResponse, ModelInfo, Timings, Usage
from ._body import json_object, model_of
from ._errors import Failure, ollama_body
from ._toolcalls import RAW_ARGUMENTS_KEY, new_call_id, ollama_call

__all__ = [
    "VERSION",
    "ChatCall",
    "EmbedCall",
    "StreamEncoder",
    "chat_body",
    "embed_body",
    "error_line",
    "generate_body",
    "legacy_embedding_body",
    "load_body",
    "parse_chat_request",
    "parse_embed_request",
    "parse_generate_request",
    "parse_pull_request",
    "ps_body",
    "show_body",
    "tags_body",
]

VERSION = "0.12.10"
"""The Ollama API version the surface answers like (tool-call ids, ``context_length``
in ``/api/ps``, ``capabilities`` in ``/api/show``)."""

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
_STARTED = datetime.now(timezone.utc)


@dataclass(frozen=True, slots=True)
class ChatCall:
    """A ``/api/chat`` or ``/api/generate`` request as client arguments. No messages
    means "load the model" (``unload`` when ``keep_alive`` is 0).
    """

    model: str
    messages: list[Any]
    options: dict[str, Any] = field(default_factory=dict)
    stream: bool = True
    generate: bool = False
    unload: bool = False


@dataclass(frozen=True, slots=True)
class EmbedCall:
    """A ``/api/embed`` (or legacy ``/api/embeddings``) request."""

    model: str
    inputs: list[str]
    dimensions: int | None = None


def _model(body: Mapping[str, Any]) -> str:
    return model_of(body, names=("model", "name"))  # "name" is Ollama's old spelling


def _options(body: Mapping[str, Any]) -> dict[str, Any]:
    """Ollama's ``format``, ``options``, ``keep_alive``, ``think`` and ``tools`` as
    client options.
    """
    out: dict[str, Any] = {}
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


def _message(message: Any) -> Any:
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
        body.get("stream") is not False,
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
        model, messages, _options(body), body.get("stream") is not False, True, _unload(body)
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
    return EmbedCall(model, inputs, dimensions)


def parse_pull_request(body: object) -> tuple[str, bool]:
    """``POST /api/pull``: the model, and whether to stream progress."""
    body = json_object(body)
    return _model(body), body.get("stream") is not False


# --------------------------------------------------------------------------- replies


def _now() -> str:
    return _timestamp(datetime.now(timezone.utc))


def _timestamp(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _ns(ms: float | None) -> int | None:
    return None if ms is None else int(ms * 1_000_000)


def _done_reason(reason: str | None) -> str:
    # The native API has no "tool_calls": a reply that calls tools ends with "stop".
    return "length" if reason == "length" else "stop"


def _metrics(usage: Usage | None, timings: Timings | None, elapsed: float) -> dict[str, Any]:
    out: dict[str, Any] = {}
    total = _ns(timings.total_ms) if timings else None
    out["total_duration"] = total if total else int(elapsed * 1e9)
    for key, value in (
        ("load_duration", _ns(timings.load_ms) if timings else None),
        ("prompt_eval_count", usage.prompt_tokens if usage else None),
        ("prompt_eval_duration", _ns(timings.prompt_ms) if timings else None),
        ("eval_count", usage.completion_tokens if usage else None),
        ("eval_duration", _ns(timings.generation_ms) if timings else None),
    ):
        if value:  # Ollama leaves out zeros and what it does not know
            out[key] = value
    return out


class _ToolCallNumbers:
    """The Ollama side of the tool-call state machine of one reply: each call gets the
    next ``function.index`` and an id (its own, or a fresh one).
    """

    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0

    def wire(self, calls: Sequence[Any]) -> list[dict[str, Any]]:
        out = []
        for call in calls:
            item = ollama_call(call)
            item.setdefault("id", new_call_id())
            item["function"] = {"index": self.count, **item["function"]}
            self.count += 1
            out.append({"id": item.pop("id"), **item})
        return out


def _message_out(text: str, thinking: str | None, calls: list[dict[str, Any]]) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": text}
    if thinking:
        message["thinking"] = thinking
    if calls:
        message["tool_calls"] = calls
    return message


def chat_body(response: ChatResponse, *, model: str, elapsed: float) -> dict[str, Any]:
    """A whole ``/api/chat`` reply; ``model`` is the name the caller used."""
    calls = _ToolCallNumbers().wire(response.tool_calls)
    return {
        "model": model,
        "created_at": _now(),
        "message": _message_out(response.text, response.thinking, calls),
        "done": True,
        "done_reason": _done_reason(response.finish_reason),
        **_metrics(response.usage, response.timings, elapsed),
    }


def generate_body(response: ChatResponse, *, model: str, elapsed: float) -> dict[str, Any]:
    """A whole ``/api/generate`` reply."""
    body: dict[str, Any] = {"model": model, "created_at": _now(), "response": response.text}
    if response.thinking:
        body["thinking"] = response.thinking
    body.update(done=True, done_reason=_done_reason(response.finish_reason))
    body.update(_metrics(response.usage, response.timings, elapsed))
    return body


def load_body(model: str, *, generate: bool, unload: bool) -> dict[str, Any]:
    """The answer to a request without messages or prompt (load, or unload)."""
    body: dict[str, Any] = {"model": model, "created_at": _now()}
    if generate:
        body["response"] = ""
    else:
        body["message"] = {"role": "assistant", "content": ""}
    body.update(done=True, done_reason="unload" if unload else "load")
    return body


def _line(data: Mapping[str, Any]) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


class StreamEncoder:
    """Turns the chunks of one streamed reply into Ollama's NDJSON lines.

    Deltas go out as ``done: false`` lines (tool calls whole, arguments as objects);
    the last line has ``done: true``, ``done_reason`` and the counts and durations.
    Tool calls that arrive with the last chunk get a line of their own before it, as
    Ollama's own stream has them.
    """

    __slots__ = ("_done", "_generate", "_model", "_started", "_tools")

    def __init__(self, *, model: str, generate: bool) -> None:
        self._model = model
        self._generate = generate
        self._started = time.perf_counter()
        self._done = False
        self._tools = _ToolCallNumbers()

    def _delta(self, text: str, thinking: str, calls: list[dict[str, Any]]) -> bytes:
        data: dict[str, Any] = {"model": self._model, "created_at": _now()}
        if self._generate:
            data["response"] = text
            if thinking:
                data["thinking"] = thinking
        else:
            data["message"] = _message_out(text, thinking, calls)
        data["done"] = False
        return _line(data)

    def chunk(self, chunk: ChatChunk) -> bytes:
        """The lines for one chunk (possibly none)."""
        out = b""
        calls = self._tools.wire(chunk.tool_calls) if not self._generate else []
        if chunk.text or chunk.thinking or calls:
            out += self._delta(chunk.text, chunk.thinking, calls)
        if chunk.done:
            out += self._final(chunk.finish_reason, chunk.usage, chunk.timings)
        return out

    def _final(self, reason: str | None, usage: Usage | None, timings: Timings | None) -> bytes:
        self._done = True
        data: dict[str, Any] = {"model": self._model, "created_at": _now()}
        if self._generate:
            data["response"] = ""
        else:
            data["message"] = {"role": "assistant", "content": ""}
        data.update(done=True, done_reason=_done_reason(reason))
        data.update(_metrics(usage, timings, time.perf_counter() - self._started))
        return _line(data)

    def end(self) -> bytes:
        """The ``done`` line, if the stream ended without one."""
        return b"" if self._done else self._final(None, None, None)


def error_line(failure: Failure) -> bytes:
    """The last line of a stream that failed after it started (no ``done`` follows)."""
    return _line(ollama_body(failure))


# --------------------------------------------------------------------------- models


def _digest(info: ModelInfo) -> str:
    digest = info.details.get("digest") if info.details else None
    if isinstance(digest, str) and len(digest) == 64:
        return digest
    return hashlib.sha256(info.id.encode()).hexdigest()


def _modified(info: ModelInfo) -> str:
    value = info.details.get("modified_at") if info.details else None
    return value if isinstance(value, str) and value else _timestamp(_STARTED)


def _details(info: ModelInfo) -> dict[str, Any]:
    family = info.family or ""
    return {
        "parent_model": "",
        "format": info.format or "",
        "family": family,
        "families": [family] if family else None,
        "parameter_size": info.parameter_size or "",
        "quantization_level": info.quantization or "",
    }


def tags_body(models: Sequence[ModelInfo]) -> dict[str, Any]:
    """``GET /api/tags``: every model of every service, named by the client's ids."""
    return {
        "models": [
            {
                "name": info.id,
                "model": info.id,
                "modified_at": _modified(info),
                "size": info.size_bytes or 0,
                "digest": _digest(info),
                "details": _details(info),
            }
            for info in models
        ]
    }


def _capabilities(info: ModelInfo) -> list[str]:
    caps = info.capabilities
    names = []
    if caps.chat or (caps.chat is None and caps.embedding is not True):
        names.append("completion")
    names += [
        name
        for name, has in (
            ("tools", caps.tools),
            ("vision", caps.vision),
            ("embedding", caps.embedding),
            ("thinking", caps.thinking),
        )
        if has
    ]
    return names


def show_body(info: ModelInfo) -> dict[str, Any]:
    """``POST /api/show``: details, ``model_info`` with ``general.architecture`` and
    ``<arch>.context_length`` (the most the model supports), and capabilities.
    """
    arch = info.family or "unknown"
    model_info: dict[str, Any] = {"general.architecture": arch}
    context = info.context_length or info.loaded_context_length
    if context:
        model_info[f"{arch}.context_length"] = context
    return {
        "license": "",
        "modelfile": "",
        "parameters": "",
        "template": "",
        "details": _details(info),
        "model_info": model_info,
        "capabilities": _capabilities(info),
        "modified_at": _modified(info),
    }


def ps_body(models: Sequence[ModelInfo]) -> dict[str, Any]:
    """``GET /api/ps``: the loaded models, with their context where known."""
    entries = []
    for info in models:
        if not info.loaded:
            continue
        entry: dict[str, Any] = {
            "name": info.id,
            "model": info.id,
            "size": info.size_bytes or 0,
            "digest": _digest(info),
            "details": _details(info),
        }
        expires = info.details.get("expires_at") if info.details else None
        if isinstance(expires, str):
            entry["expires_at"] = expires
        if info.loaded_context_length:
            entry["context_length"] = info.loaded_context_length
        entries.append(entry)
    return {"models": entries}


def _cut(vector: list[float], dimensions: int | None) -> list[float]:
    """The vector as the service gave it; cut to ``dimensions`` and re-normalised when
    asked (what Ollama does with ``dimensions``).
    """
    if not dimensions or dimensions >= len(vector):
        return vector
    cut = vector[:dimensions]
    norm = math.sqrt(sum(x * x for x in cut))
    return [x / norm for x in cut] if norm else cut


def embed_body(
    response: EmbedResponse, *, model: str, dimensions: int | None, elapsed: float
) -> dict[str, Any]:
    """``POST /api/embed``: the service's vectors (Ollama's own are L2-normalised; other
    services' are passed on as they come), cut to ``dimensions`` when asked.
    """
    body: dict[str, Any] = {
        "model": model,
        "embeddings": [_cut(v, dimensions) for v in response.vectors],
        "total_duration": int(elapsed * 1e9),
    }
    usage = response.usage
    if usage is not None and usage.prompt_tokens:
        body["prompt_eval_count"] = usage.prompt_tokens
    return body


def legacy_embedding_body(response: EmbedResponse) -> dict[str, Any]:
    """``POST /api/embeddings``: one vector, not normalised (as Ollama's legacy route)."""
    return {"embedding": response.vectors[0] if response.vectors else []}

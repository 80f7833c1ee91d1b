"""The Ollama surface's replies, pure: whole ``/api/chat`` and ``/api/generate``
bodies, and a stream as NDJSON lines.

Durations are the service's own timings in nanoseconds, and ``total_duration`` is
measured by the gateway when the service does not report it. Fields nobody knows are
left out, as Ollama leaves out zero values.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from ...types import ChatChunk, ChatResponse, Timings, Usage
from .._errors import Failure, ollama_body
from .._json import dumps
from .._toolcalls import ToolCallIndexer

__all__ = [
    "StreamEncoder",
    "chat_body",
    "error_line",
    "generate_body",
    "load_body",
    "timestamp",
]


def _now() -> str:
    return timestamp(datetime.now(timezone.utc))


def timestamp(moment: datetime) -> str:
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


def _message_out(text: str, thinking: str | None, calls: list[dict[str, Any]]) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": text}
    if thinking:
        message["thinking"] = thinking
    if calls:
        message["tool_calls"] = calls
    return message


def chat_body(response: ChatResponse, *, model: str, elapsed: float) -> dict[str, Any]:
    """A whole ``/api/chat`` reply; ``model`` is the name the caller used."""
    calls = ToolCallIndexer().ollama(response.tool_calls)
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
    return dumps(data) + b"\n"


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
        self._tools = ToolCallIndexer()

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
        calls = self._tools.ollama(chunk.tool_calls) if not self._generate else []
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

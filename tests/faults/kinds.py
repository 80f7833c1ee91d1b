"""The provider kinds the fault tests run against, and the bytes each one's server sends.

Each :class:`Kind` knows its provider class (imported lazily, so a provider that has
not landed yet skips its tests instead of breaking the module), the chat path, and
how its server frames a reply and a stream: SSE for the OpenAI family (OpenAI-
compatible, llama.cpp, LM Studio), NDJSON for Ollama.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from modelport.providers.base import Provider

__all__ = ["KINDS", "NDJSON_KINDS", "SSE_KINDS", "Kind"]


@dataclass(frozen=True)
class Kind:
    """One provider kind and its server's wire format."""

    name: str
    module: str
    class_name: str
    chat_path: str
    stream_type: str
    model: str = "test-model"

    def provider_class(self) -> type[Provider]:
        """The provider class; skips the test if its module has not landed yet."""
        full = f"modelport.providers.{self.module}"
        if importlib.util.find_spec(full) is None:
            pytest.skip(f"{full} does not exist yet")
        cls: type[Provider] = getattr(importlib.import_module(full), self.class_name)
        return cls

    def provider(self, url: str, *, timeout: float, **kwargs: Any) -> Provider:
        """A provider for ``url`` with ``timeout`` as its read timeout for everything.

        Options that only some providers have are passed when the class accepts them:
        LM Studio's longer first-request timeout (JIT loading) is pinned to
        ``timeout`` so a silent server cannot stretch a test, and its home directory
        (where it reads an API token) points nowhere.
        """
        cls = self.provider_class()
        accepted = inspect.signature(cls.__init__).parameters
        if "jit_timeout" in accepted:
            kwargs.setdefault("jit_timeout", timeout)
        if "load_timeout" in accepted:
            kwargs.setdefault("load_timeout", timeout)
        if "home" in accepted:
            kwargs.setdefault("home", Path("/nonexistent-modelport-fault-tests"))
        return cls(url, timeout=timeout, **kwargs)

    # ---- what its server sends -------------------------------------------------------

    def reply(self, text: str) -> bytes:
        """A whole (non-streamed) chat reply."""
        raise NotImplementedError

    def piece(self, text: str) -> bytes:
        """One streamed piece of the reply, framed."""
        raise NotImplementedError

    def finish(self) -> bytes:
        """The end of a successful stream, framed."""
        raise NotImplementedError

    def error(self, message: str) -> bytes:
        """An in-band error in the stream, framed."""
        raise NotImplementedError

    def frame(self, payload: bytes) -> bytes:
        """Frame raw bytes as one stream item (an SSE data line, or an NDJSON line)."""
        raise NotImplementedError

    def line_prefix(self) -> bytes:
        """What starts a stream item before its JSON (``data: `` for SSE)."""
        return b""

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class OpenAIFamily(Kind):
    chat_path: str = "/v1/chat/completions"
    stream_type: str = "text/event-stream"

    def reply(self, text: str) -> bytes:
        return _json(
            {
                "id": "chatcmpl-fault",
                "object": "chat.completion",
                "created": 1747835957,
                "model": self.model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
            }
        )

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        return self.frame(
            _json(
                {
                    "id": "chatcmpl-fault",
                    "object": "chat.completion.chunk",
                    "created": 1747835957,
                    "model": self.model,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                }
            )
        )

    def piece(self, text: str) -> bytes:
        return self._chunk({"content": text})

    def finish(self) -> bytes:
        return self._chunk({}, "stop") + b"data: [DONE]\n\n"

    def error(self, message: str) -> bytes:
        return self.frame(_json({"error": {"message": message, "type": "server_error"}}))

    def frame(self, payload: bytes) -> bytes:
        return b"data: " + payload + b"\n\n"

    def line_prefix(self) -> bytes:
        return b"data: "


@dataclass(frozen=True)
class OllamaKind(Kind):
    chat_path: str = "/api/chat"
    stream_type: str = "application/x-ndjson"
    model: str = "llama3.2"

    def _line(self, text: str, **extra: Any) -> dict[str, Any]:
        return {
            "model": self.model,
            "created_at": "2025-07-07T20:22:19.184789Z",
            "message": {"role": "assistant", "content": text},
            **extra,
        }

    def reply(self, text: str) -> bytes:
        return _json(self._final(text))

    def _final(self, text: str = "") -> dict[str, Any]:
        return self._line(
            text,
            done=True,
            done_reason="stop",
            total_duration=182242375,
            prompt_eval_count=5,
            eval_count=3,
        )

    def piece(self, text: str) -> bytes:
        return self.frame(_json(self._line(text, done=False)))

    def finish(self) -> bytes:
        return self.frame(_json(self._final()))

    def error(self, message: str) -> bytes:
        return self.frame(_json({"error": message}))

    def frame(self, payload: bytes) -> bytes:
        return payload + b"\n"


def _json(value: Any) -> bytes:
    return json.dumps(value).encode()


OPENAI = OpenAIFamily("openai", "openai_compatible", "OpenAICompatibleProvider")
LLAMACPP = OpenAIFamily("llamacpp", "llamacpp", "LlamaCppProvider")
LMSTUDIO = OpenAIFamily("lmstudio", "lmstudio", "LMStudioProvider")
OLLAMA = OllamaKind("ollama", "ollama", "OllamaProvider")

SSE_KINDS = [OPENAI, LLAMACPP, LMSTUDIO]
NDJSON_KINDS = [OLLAMA]
KINDS = [*SSE_KINDS, *NDJSON_KINDS]

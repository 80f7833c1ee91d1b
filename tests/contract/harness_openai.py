"""Fake OpenAI-compatible servers (generic, and llama.cpp's llama-server) for the contract."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from modelport.providers import LlamaCppProvider, OpenAICompatibleProvider
from modelport.providers.base import Provider

from .harness import EMBED_VECTOR, MIDSTREAM_ERROR, MODELS, USAGE, Harness, sse


def _chunk(model: str, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


@dataclass
class OpenAIHarness(Harness):
    """vLLM-style server: OpenAI bodies, errors as ``{"object": "error", "message": ...}``."""

    kind: str = "openai"
    base_url: str = "http://127.0.0.1:8000/v1"

    def make_provider(self, transport: httpx.MockTransport, **kwargs: Any) -> Provider:
        return OpenAICompatibleProvider(self.base_url, transport=transport, **kwargs)

    def route(self, request: httpx.Request, body: Any) -> tuple[str, str | None]:
        path = request.url.path
        if path == "/v1/models":
            return "models", None
        if path == "/v1/chat/completions":
            return ("stream" if body.get("stream") else "chat"), body.get("model")
        if path == "/v1/embeddings":
            return "embed", body.get("model")
        return "other", None

    def models_response(self, request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            json={
                "object": "list",
                "data": [{"id": m, "object": "model", "owned_by": "vllm"} for m in MODELS],
            },
        )

    def chat_response(self, model: str, text: str) -> httpx.Response:
        return httpx.Response(
            200,
            json={
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": USAGE["prompt"],
                    "completion_tokens": USAGE["completion"],
                    "total_tokens": USAGE["prompt"] + USAGE["completion"],
                },
            },
        )

    def stream_events(self, model: str, pieces: list[str], finish: bool) -> list[Any]:
        events = [_chunk(model, {"role": "assistant", "content": ""})]
        events += [_chunk(model, {"content": p}) for p in pieces]
        if finish:
            events.append(_chunk(model, {}, "stop"))
            events.append(
                {
                    "id": "chatcmpl-1",
                    "object": "chat.completion.chunk",
                    "model": model,
                    "choices": [],
                    "usage": {
                        "prompt_tokens": USAGE["prompt"],
                        "completion_tokens": USAGE["completion"],
                        "total_tokens": USAGE["prompt"] + USAGE["completion"],
                    },
                }
            )
        return events

    def stream_response(
        self, model: str, pieces: list[str], *, finish: bool = True, error: str | None = None
    ) -> httpx.Response:
        events = self.stream_events(model, pieces, finish and error is None)
        if error is not None:
            events.append({"error": {"message": error, "type": "server_error", "code": 500}})
        body = sse(events, done=finish and error is None)
        return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})

    def embed_response(self, model: str, count: int) -> httpx.Response:
        return httpx.Response(
            200,
            json={
                "object": "list",
                "model": model,
                "data": [
                    {"object": "embedding", "index": i, "embedding": EMBED_VECTOR}
                    for i in range(count)
                ],
                "usage": {"prompt_tokens": 2 * count, "total_tokens": 2 * count},
            },
        )

    def error_response(self, scenario: str, model: str) -> httpx.Response:
        if scenario == "missing":
            return httpx.Response(
                404,
                json={
                    "object": "error",
                    "message": f"The model `{model}` does not exist.",
                    "type": "NotFoundError",
                    "code": 404,
                },
            )
        if scenario == "overflow":
            return httpx.Response(
                400,
                json={
                    "object": "error",
                    "message": "This model's maximum context length is 4096 tokens. However, you "
                    "requested 5000 tokens in the messages.",
                    "type": "BadRequestError",
                    "code": 400,
                },
            )
        if scenario == "busy":
            return httpx.Response(503, json={"object": "error", "message": "Service Unavailable"})
        return httpx.Response(500, json={"object": "error", "message": MIDSTREAM_ERROR})


@dataclass
class LlamaCppHarness(OpenAIHarness):
    """llama-server: its own error shapes, ``/health``, ``/props`` and ``meta`` blocks."""

    kind: str = "llamacpp"
    base_url: str = "http://127.0.0.1:8080"

    def make_provider(self, transport: httpx.MockTransport, **kwargs: Any) -> Provider:
        return LlamaCppProvider(self.base_url, transport=transport, **kwargs)

    def route(self, request: httpx.Request, body: Any) -> tuple[str, str | None]:
        if request.url.path in ("/health", "/props"):
            return "health", None
        return super().route(request, body)

    def health_response(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/health":
            return httpx.Response(200, json={"status": "ok"})
        return httpx.Response(
            200,
            json={
                "default_generation_settings": {"n_ctx": 2048},
                "total_slots": 1,
                "model_path": "models/alpha.gguf",
                "modalities": {"vision": False},
                "chat_template_caps": {"supports_tools": True},
                "build_info": "b1234-abcdef",
            },
        )

    def models_response(self, request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            json={
                "object": "list",
                "data": [
                    {
                        "id": m,
                        "object": "model",
                        "owned_by": "llamacpp",
                        "meta": {
                            "n_ctx": 2048,
                            "n_ctx_train": 8192,
                            "n_params": 134515008,
                            "size": 96576768,
                            "ftype": "Q4_1",
                            "n_embd": 576,
                        },
                    }
                    for m in MODELS
                ],
            },
        )

    def error_response(self, scenario: str, model: str) -> httpx.Response:
        if scenario == "missing":
            # llama-server in router mode; a single-model server answers any name.
            return httpx.Response(
                404,
                json={
                    "error": {
                        "code": 404,
                        "message": f"model '{model}' not found",
                        "type": "not_found_error",
                    }
                },
            )
        if scenario == "overflow":
            return httpx.Response(
                400,
                json={
                    "error": {
                        "code": 400,
                        "message": "request (6031 tokens) exceeds the available context size "
                        "(2048 tokens), try increasing it",
                        "type": "exceed_context_size_error",
                        "n_prompt_tokens": 6031,
                        "n_ctx": 2048,
                    }
                },
            )
        if scenario == "busy":
            return httpx.Response(
                503,
                json={
                    "error": {"code": 503, "message": "Loading model", "type": "unavailable_error"}
                },
            )
        return httpx.Response(
            500, json={"error": {"code": 500, "message": MIDSTREAM_ERROR, "type": "server_error"}}
        )

    def stream_response(
        self, model: str, pieces: list[str], *, finish: bool = True, error: str | None = None
    ) -> httpx.Response:
        events = self.stream_events(model, pieces, finish and error is None)
        if error is not None:
            events.append({"error": {"code": 500, "message": error, "type": "server_error"}})
        body = sse(events, done=finish and error is None)
        return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})

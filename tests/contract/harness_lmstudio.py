"""A fake LM Studio 0.4 for the provider contract.

It speaks LM Studio's real formats: the native ``/api/v1/models`` list, REST
``/api/v0``, the OpenAI-compatible ``/v1/*``, errors as ``{"error": "text"}`` or
``{"error": {...}}``, and an HTTP **200** "Unexpected endpoint or method" for any
route it does not know.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from modelport.providers import LMStudioProvider
from modelport.providers.base import Provider

from .harness import MIDSTREAM_ERROR, MODELS
from .harness_openai import OpenAIHarness


@dataclass
class LMStudioHarness(OpenAIHarness):
    kind: str = "lmstudio"
    base_url: str = "http://127.0.0.1:1234"

    def make_provider(self, transport: httpx.MockTransport, **kwargs: Any) -> Provider:
        kwargs.setdefault("home", "/nonexistent-lmstudio-home")
        return LMStudioProvider(self.base_url, transport=transport, **kwargs)

    def route(self, request: httpx.Request, body: Any) -> tuple[str, str | None]:
        path = request.url.path
        if path in ("/api/v1/models", "/api/v0/models", "/v1/models"):
            return "models", None
        if path == "/lmstudio-greeting":
            return "health", None
        if path in ("/v1/chat/completions", "/api/v0/chat/completions"):
            return ("stream" if body.get("stream") else "chat"), body.get("model")
        if path in ("/v1/embeddings", "/api/v0/embeddings"):
            return "embed", body.get("model")
        return "other", None

    def health_response(self, request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"lmstudio": True})

    def models_response(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/api/v1/models":
            return httpx.Response(200, json={"models": [_v1_entry(m) for m in MODELS]})
        if path == "/api/v0/models":
            return httpx.Response(
                200, json={"object": "list", "data": [_v0_entry(m) for m in MODELS]}
            )
        return httpx.Response(
            200,
            json={
                "data": [
                    {"id": m, "object": "model", "owned_by": "organization_owner"} for m in MODELS
                ],
                "object": "list",
            },
        )

    def other_response(self, request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            json={"error": f"Unexpected endpoint or method. ({request.method} {request.url.path})"},
        )

    def error_response(self, scenario: str, model: str) -> httpx.Response:
        if scenario == "missing":
            return httpx.Response(
                400,
                json={
                    "error": {
                        "message": f'Invalid model identifier "{model}". Please specify a valid '
                        f"downloaded model (e.g., {', '.join(MODELS)}).",
                        "type": "invalid_request_error",
                        "param": "model",
                        "code": "model_not_found",
                    }
                },
            )
        if scenario == "overflow":
            return httpx.Response(
                400,
                json={
                    "error": "The number of tokens to keep from the initial prompt is greater than "
                    "the context length (n_keep: 13055>= n_ctx: 4096). Try to load the model with "
                    "a larger context length, or provide a shorter input."
                },
            )
        if scenario == "busy":
            return httpx.Response(503, json={"error": "Service Unavailable"})
        return httpx.Response(500, json={"error": MIDSTREAM_ERROR})


def _v1_entry(model: str) -> dict[str, Any]:
    embedding = model == "embedder"
    entry: dict[str, Any] = {
        "type": "embedding" if embedding else "llm",
        "publisher": "lmstudio-community",
        "key": model,
        "display_name": model.title(),
        "quantization": {"name": "Q4_K_M", "bits_per_weight": 4},
        "size_bytes": 1000,
        "params_string": None if embedding else "1B",
        "loaded_instances": [{"id": model, "config": {"context_length": 4096}}],
        "max_context_length": 32768,
        "format": "gguf",
    }
    if not embedding:
        entry["architecture"] = "llama"
        entry["capabilities"] = {"vision": False, "trained_for_tool_use": True}
    return entry


def _v0_entry(model: str) -> dict[str, Any]:
    return {
        "id": model,
        "object": "model",
        "type": "embeddings" if model == "embedder" else "llm",
        "publisher": "lmstudio-community",
        "arch": "llama",
        "compatibility_type": "gguf",
        "quantization": "Q4_K_M",
        "state": "loaded",
        "max_context_length": 32768,
        "loaded_context_length": 4096,
    }

"""A fake llama-server in router mode for the provider contract.

It answers as the real router does (bodies recorded in tests/fixtures/llamacpp/router):
``/props`` says ``role: "router"``; ``/v1/models`` lists every model with its
``status``, and ``meta`` only for loaded ones; ``/props?model=NAME&autoload=false``
answers for loaded models only; ``/models/load`` and ``/models/unload`` change what is
loaded, one model at a time (``--models-max 1``); a chat to any listed model loads it
on demand; an unknown model is a **400** ``model 'x' not found``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx

from modelport.providers import LlamaCppProvider
from modelport.providers.base import Provider
from tests.conftest import load_fixture

from .harness import MODELS
from .harness_openai import LlamaCppHarness

META = load_fixture("llamacpp/router/v1_models_alpha_loaded.json")["data"][0]["meta"]


def _error(status: int, message: str, kind: str) -> httpx.Response:
    return httpx.Response(
        status, json={"error": {"code": status, "message": message, "type": kind}}
    )


@dataclass
class LlamaCppRouterHarness(LlamaCppHarness):
    manages_models: bool = True
    loaded: set[str] = field(default_factory=lambda: {"alpha"})

    def make_provider(self, transport: httpx.MockTransport, **kwargs: Any) -> Provider:
        kwargs.setdefault("poll_interval", 0)
        return LlamaCppProvider(self.base_url, transport=transport, **kwargs)

    def route(self, request: httpx.Request, body: Any) -> tuple[str, str | None]:
        if request.url.path in ("/v1/models", "/models"):
            return "models", None
        operation, model = super().route(request, body)
        if operation in ("chat", "stream", "embed") and model in MODELS:
            self._load(model)  # the router loads a listed model on demand
        return operation, model

    def health_response(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/health":
            return httpx.Response(200, json={"status": "ok"})
        model = request.url.params.get("model")
        if model is None:
            return httpx.Response(200, json=load_fixture("llamacpp/router/props_router.json"))
        if model not in self.loaded:
            return _error(400, "model is not loaded", "invalid_request_error")
        return httpx.Response(200, json=load_fixture("llamacpp/router/props_model_alpha.json"))

    def models_response(self, request: httpx.Request) -> httpx.Response:
        entries = []
        for name in MODELS:
            entry: dict[str, Any] = {
                "id": name,
                "aliases": [],
                "tags": [],
                "object": "model",
                "owned_by": "llamacpp",
                "status": {
                    "value": "loaded" if name in self.loaded else "unloaded",
                    "args": ["llama-server", "--alias", name, "--model", f"/models/{name}.gguf"],
                },
                "architecture": {"input_modalities": ["text"], "output_modalities": ["text"]},
                "source": "models_dir",
            }
            if name in self.loaded:
                entry["meta"] = META
            entries.append(entry)
        return httpx.Response(200, json={"data": entries, "object": "list"})

    def error_response(self, scenario: str, model: str) -> httpx.Response:
        if scenario == "missing":
            return _error(400, f"model '{model}' not found", "invalid_request_error")
        return super().error_response(scenario, model)

    def other_response(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else {}
        model = body.get("model")
        if request.method == "POST" and request.url.path == "/models/load":
            if model not in MODELS:
                return _error(404, "File Not Found", "not_found_error")
            if model in self.loaded:
                return _error(400, "model is already running", "invalid_request_error")
            self._load(model)
            return httpx.Response(200, json={"success": True})
        if request.method == "POST" and request.url.path == "/models/unload":
            if model not in MODELS:
                return _error(400, "model is not found", "invalid_request_error")
            if model not in self.loaded:
                return _error(400, "model is not running", "invalid_request_error")
            self.loaded.discard(model)
            return httpx.Response(200, json={"success": True})
        return _error(404, "File Not Found", "not_found_error")

    def _load(self, model: str) -> None:
        self.loaded = {model}  # --models-max 1: the other one is evicted

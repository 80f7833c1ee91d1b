"""A model's digest: what the server reports about it, hashed, so that it changes when
the model does (another file, size, quantization, context, template or capabilities).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict

from .types import ModelInfo

__all__ = ["model_digest"]

_SHA256 = re.compile(r"[0-9a-f]{64}")

_DETAILS = ("model_path", "meta", "chat_template_sha256", "chat_template_caps", "modalities")
"""The server-reported facts in ``ModelInfo.details`` that describe the model itself
(not its state: loaded, in use, expiring)."""


def model_digest(info: ModelInfo) -> str:
    """A SHA-256 digest (64 hex digits) of what ``info``'s server reports about the model.

    A digest the server gives itself (Ollama's) is returned as it is. Otherwise the
    digest covers the id, kind, file (``details["model_path"]``), format, family,
    parameter size, quantization, size in bytes, both context lengths, capabilities,
    the chat template's hash and llama.cpp's ``meta``; what changes with use (loaded
    or not, expiry) is left out. Clients that cache by digest (Ollama's ``/api/tags``)
    so see a restarted server with another file or template as a new model.

    >>> info = ModelInfo(id="chat/m", name="m", service="chat", kind="llamacpp")
    >>> model_digest(info) == model_digest(info) and len(model_digest(info))
    64
    """
    given = info.details.get("digest") if info.details else None
    if isinstance(given, str) and _SHA256.fullmatch(given):
        return given
    facts = {
        "id": info.id,
        "kind": info.kind,
        "format": info.format,
        "family": info.family,
        "parameter_size": info.parameter_size,
        "quantization": info.quantization,
        "size_bytes": info.size_bytes,
        "context_length": info.context_length,
        "loaded_context_length": info.loaded_context_length,
        "capabilities": asdict(info.capabilities),
        "details": {key: info.details.get(key) for key in _DETAILS if key in info.details},
    }
    text = json.dumps(facts, sort_keys=True, default=repr, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()

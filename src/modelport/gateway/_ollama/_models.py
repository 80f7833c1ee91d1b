"""The Ollama surface's model lists and embeddings, pure: ``/api/tags``,
``/api/show``, ``/api/ps``, ``/api/embed`` and ``/api/embeddings``.

What a non-Ollama service cannot say is filled from what the client knows: model
names are the client's ids; ``digest`` is a stable hash of the id; ``modified_at`` is
the model's own date where the service gives one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from ..._digest import model_digest
from ...types import EmbedResponse, ModelInfo
from ._replies import timestamp

__all__ = [
    "embed_body",
    "legacy_embedding_body",
    "ps_body",
    "show_body",
    "tags_body",
]

_STARTED = datetime.now(timezone.utc)


def _modified(info: ModelInfo) -> str:
    value = info.details.get("modified_at") if info.details else None
    return value if isinstance(value, str) and value else timestamp(_STARTED)


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


def _tag_details(info: ModelInfo) -> dict[str, Any]:
    """A listed model's details; an alias is marked ``family: "alias"`` with the ids it
    stands for in ``alias_of``.
    """
    if not info.alias_of:
        return _details(info)
    return {
        **_details(info),
        "family": "alias",
        "families": ["alias"],
        "alias_of": list(info.alias_of),
    }


def tags_body(models: Sequence[ModelInfo]) -> dict[str, Any]:
    """``GET /api/tags``: every model of every service, named by the client's ids, then
    the aliases (size 0, ``details.family`` ``"alias"``).
    """
    return {
        "models": [
            {
                "name": info.id,
                "model": info.id,
                "modified_at": _modified(info),
                "size": 0 if info.alias_of else info.size_bytes or 0,
                "digest": model_digest(info),
                "details": _tag_details(info),
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
        if not info.loaded or info.alias_of:  # an alias is a name, not a running model
            continue
        entry: dict[str, Any] = {
            "name": info.id,
            "model": info.id,
            "size": info.size_bytes or 0,
            "digest": model_digest(info),
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

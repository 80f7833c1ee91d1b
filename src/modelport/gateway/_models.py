"""The model list every SDK reads: OpenAI's entry (``id``, ``object``, ``created``,
``owned_by``, and what modelport knows) plus Anthropic's (``type``, ``display_name``,
``created_at``), and a list with Anthropic's paging fields (one page, always).

An alias from the configuration is listed with ``owned_by: "modelport-alias"`` and
``modelport: {"alias_of": [ids]}``. The OpenAI surface, which owns ``GET /v1/models``
and ``GET /v1/models/{id}``, answers with these, so the openai and anthropic SDKs both
parse them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from ..types import ModelInfo

__all__ = ["ALIAS_OWNER", "model_body", "models_body"]

ALIAS_OWNER = "modelport-alias"
"""The ``owned_by`` of an alias from the configuration, which a client tells apart by
it; ``modelport.alias_of`` lists the model ids it stands for."""


def _rfc3339(seconds: int) -> str:
    """Seconds since the epoch as an RFC 3339 UTC time.

    >>> _rfc3339(0)
    '1970-01-01T00:00:00Z'
    """
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def model_body(info: ModelInfo, id: str | None = None) -> dict[str, Any]:
    """One model for both SDKs; ``created_at`` is ``created`` (the epoch when unknown,
    as Anthropic's API documents for an unknown release date).
    """
    model = id or info.id
    body: dict[str, Any] = {
        "id": model,
        "object": "model",
        "created": 0,
        "owned_by": ALIAS_OWNER if info.alias_of else info.service,
        "kind": info.kind,
        "context_length": info.loaded_context_length or info.context_length,
        "loaded": info.loaded,
        "capabilities": info.capabilities.names(),
        "type": "model",
        "display_name": model,
        "created_at": _rfc3339(0),
    }
    if info.alias_of:
        body["modelport"] = {"alias_of": list(info.alias_of)}
    return body


def models_body(models: Sequence[ModelInfo]) -> dict[str, Any]:
    """``GET /v1/models``: every model of every service, by the client's ids."""
    data = [model_body(info) for info in models]
    return {
        "object": "list",
        "data": data,
        "has_more": False,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
    }

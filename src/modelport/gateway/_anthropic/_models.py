"""The model list both SDKs read: OpenAI's entry (``id``, ``object``, ``created``,
``owned_by``, and what modelport knows) plus Anthropic's (``type``, ``display_name``,
``created_at``), and a list with Anthropic's paging fields (one page, always).

The OpenAI surface answers ``GET /v1/models`` and ``GET /v1/models/{id}`` with these.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from ...types import ModelInfo
from .._openai import model_body as openai_model_body

__all__ = ["model_body", "models_body"]


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
    entry = openai_model_body(info, id)
    entry["type"] = "model"
    entry["display_name"] = entry["id"]
    entry["created_at"] = _rfc3339(entry["created"])
    return entry


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

"""The model list both SDKs read (a superset of OpenAI's and Anthropic's entries):
defined once in :mod:`modelport.gateway._models`, answered by the OpenAI surface, which
owns ``GET /v1/models`` and ``GET /v1/models/{id}``.
"""

from __future__ import annotations

from .._models import model_body, models_body

__all__ = ["model_body", "models_body"]

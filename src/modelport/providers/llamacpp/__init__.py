"""llama.cpp's ``llama-server``: one model (``-m``), or many in router mode.

One module per job: :mod:`.listing` (what the server says about itself and its models,
as pure functions, shared with discovery) and :mod:`.provider` (the provider: listing,
chat, embeddings, and model management on a router). Its error rules live with the
others, in :mod:`modelport._classify.llamacpp`. The provider is loaded on first use, so
discovery reading the listing functions loads nothing else.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .provider import LlamaCppProvider

__all__ = ["LlamaCppProvider"]


def __getattr__(name: str) -> object:
    if name == "LlamaCppProvider":
        return import_module(".provider", __name__).LlamaCppProvider
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

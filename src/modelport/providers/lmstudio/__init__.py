"""LM Studio: the OpenAI-compatible API plus what LM Studio adds around it.

One module per job: :mod:`.config` (where LM Studio keeps its files and port),
:mod:`.listing` (its three model-list API families, as pure functions),
:mod:`.provider` (the provider: chat, embeddings, model management). Its error rules
live with the others, in :mod:`modelport._classify.lmstudio`. The provider is loaded
on first use, so reading the config (as discovery does) loads nothing else.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from ..._coerce import duration_seconds
from .config import find_lmstudio_home, server_port_from_config

if TYPE_CHECKING:
    from .provider import LMStudioProvider

__all__ = ["LMStudioProvider", "duration_seconds", "find_lmstudio_home", "server_port_from_config"]


def __getattr__(name: str) -> object:
    if name == "LMStudioProvider":
        return import_module(".provider", __name__).LMStudioProvider
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

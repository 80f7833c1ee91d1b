"""A chat, embeddings, text completion or rerank request as the client's arguments:
what the OpenAI and Ollama surfaces' parsers give their handlers (one set for both).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..types import EmbedInput

__all__ = ["ChatCall", "CompleteCall", "EmbedCall", "RerankCall"]


@dataclass(frozen=True, slots=True)
class ChatCall:
    """A chat request as client arguments, with what its answer needs."""

    model: str
    messages: list[Any]
    options: dict[str, Any] = field(default_factory=dict)
    stream: bool = False
    include_usage: bool = False
    """OpenAI: the caller asked for the usage event at the end of the stream."""
    generate: bool = False
    """Ollama: an ``/api/generate`` request (answered in its shape)."""
    unload: bool = False
    """Ollama: no messages and ``keep_alive`` 0: unload the model."""
    warnings: tuple[str, ...] = ()
    """What was dropped, for the ``x-modelport-warning`` header."""


@dataclass(frozen=True, slots=True)
class EmbedCall:
    """An embeddings request as client arguments."""

    model: str
    inputs: EmbedInput
    base64: bool = False
    """OpenAI: vectors as base64 little-endian float32."""
    dimensions: int | None = None
    """Ollama: cut the vectors to this size (re-normalised)."""


@dataclass(frozen=True, slots=True)
class CompleteCall:
    """A legacy text completion request as client arguments."""

    model: str
    prompts: list[str]
    options: dict[str, Any] = field(default_factory=dict)
    stream: bool = False
    include_usage: bool = False
    """OpenAI: the caller asked for the usage event at the end of the stream."""


@dataclass(frozen=True, slots=True)
class RerankCall:
    """A rerank request as client arguments."""

    model: str
    query: str
    documents: list[str]
    top_n: int | None = None
    return_documents: bool = False
    """Each result carries its document's text (``document: {text}``)."""

"""Capabilities as data: what a model can do when the server does not say.

Servers are asked first (Ollama ``/api/show``, LM Studio ``type``/``capabilities``,
llama.cpp ``/props``). Only when a server says nothing does this small name table
fill in what a model's name makes near-certain; everything else stays ``None``.
"""

from __future__ import annotations

import re
from dataclasses import fields

from .types import Capabilities

__all__ = ["guess_capabilities", "merge_capabilities"]

_EMBEDDING = re.compile(
    r"(^|[/_.:-])(text-)?embed|bge-|(^|[/_-])e5-|minilm|gte-|nomic-embed|mxbai-embed|arctic-embed"
    r"|snowflake-arctic-embed|jina-embeddings|rerank",
    re.IGNORECASE,
)
_VISION = re.compile(
    r"llava|vision|-vl\b|-vl-|vl-|qwen2\.5vl|pixtral|moondream|minicpm-v|gemma3(?!n)", re.IGNORECASE
)
_THINKING = re.compile(
    r"deepseek-r1|qwq|qwen3(?!-coder)|gpt-oss|magistral|phi4-reasoning|-thinking", re.IGNORECASE
)


def guess_capabilities(name: str) -> Capabilities:
    """Capabilities implied by a model name alone.

    >>> guess_capabilities("nomic-embed-text:latest")
    Capabilities(chat=False, tools=None, vision=None, embedding=True, thinking=None, rerank=None)
    >>> guess_capabilities("qwen2.5-vl-7b-instruct").vision
    True
    >>> guess_capabilities("my-model")
    Capabilities(chat=None, tools=None, vision=None, embedding=None, thinking=None, rerank=None)
    """
    if _EMBEDDING.search(name):
        return Capabilities(chat=False, embedding=True)
    return Capabilities(
        vision=True if _VISION.search(name) else None,
        thinking=True if _THINKING.search(name) else None,
    )


def merge_capabilities(primary: Capabilities, fallback: Capabilities) -> Capabilities:
    """Each field from ``primary`` where it says something, else from ``fallback``."""
    return Capabilities(
        **{
            f.name: said
            if (said := getattr(primary, f.name)) is not None
            else getattr(fallback, f.name)
            for f in fields(Capabilities)
        }
    )

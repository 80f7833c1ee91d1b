"""What a request needs of a model, and how targets are ordered and warned about by it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

from ..types import Capabilities
from .state import Target

__all__ = ["Feature", "capability_warnings", "prefer_capable"]

Feature = Literal["chat", "tools", "vision", "embedding", "thinking", "rerank"]
"""A capability a request needs (a field of :class:`~modelport.Capabilities`)."""

_FLAG: dict[Feature, Callable[[Capabilities], bool | None]] = {
    "chat": lambda c: c.chat,
    "tools": lambda c: c.tools,
    "vision": lambda c: c.vision,
    "embedding": lambda c: c.embedding,
    "thinking": lambda c: c.thinking,
    "rerank": lambda c: c.rerank,
}
"""Each feature's field of :class:`~modelport.Capabilities`."""

_SAYING: dict[Feature, str] = {
    "chat": "chat",
    "tools": "tools",
    "vision": "images (vision)",
    "embedding": "embeddings",
    "thinking": "thinking",
    "rerank": "reranking",
}


def _has(target: Target, feature: Feature) -> bool | None:
    info = target.info
    return None if info is None else _FLAG[feature](info.capabilities)


def prefer_capable(targets: Sequence[Target], needs: Sequence[Feature]) -> list[Target]:
    """``targets`` with those whose model is said to have every feature in ``needs``
    first, those that say nothing next, those said to lack one last; otherwise in
    their order. Capabilities steer; they never remove a target (the server decides).
    """
    if not needs or len(targets) < 2:
        return list(targets)

    def rank(target: Target) -> tuple[int, ...]:
        return tuple({True: 0, None: 1, False: 2}[_has(target, need)] for need in needs)

    return sorted(targets, key=rank)


def capability_warnings(target: Target, needs: Sequence[Feature]) -> tuple[str, ...]:
    """What to tell the caller about a request sent to a model said to lack a feature
    it uses: the server was asked anyway and may have ignored that part.
    """
    info = target.info
    if info is None:
        return ()
    return tuple(
        f"Model {info.name!r} on {target.state.name} is reported not to support "
        f"{_SAYING[need]}; the request was sent anyway, and the server may have ignored "
        "that part of it."
        for need in needs
        if _has(target, need) is False
    )

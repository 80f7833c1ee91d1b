"""Aliases: one name for model ids across services, globs for agents' fixed names.

Pure functions over the aliases as written (``name -> targets``). A target is a model id
(``gpu/qwen3:8b``, or a bare name) or the name of another exact alias. Globs (``*``,
``?``, ``[...]``) match requested names; they are never followed as targets.
"""

from __future__ import annotations

from collections.abc import Sequence
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .model import AliasConfig

__all__ = ["find_cycle", "is_glob", "resolve"]


def is_glob(name: str) -> bool:
    """Whether a name is a pattern (``claude-*``) rather than a name.

    >>> is_glob("claude-*"), is_glob("coder")
    (True, False)
    """
    return any(char in name for char in "*?[")


def resolve(aliases: Sequence[AliasConfig], name: str) -> tuple[str, ...]:
    """The model ids ``name`` stands for (``(name,)`` when it is no alias).

    The exact alias of that name comes first; else the first glob, in the order
    written, that matches it. Targets naming exact aliases are followed (a cycle, which
    the configuration refuses, is cut); repeats are dropped, first place kept.
    """
    exact = {a.name: a for a in aliases if not a.glob}
    entry = exact.get(name) or next(
        (a for a in aliases if a.glob and fnmatchcase(name, a.name)), None
    )
    if entry is None:
        return (name,)
    found: list[str] = []

    def expand(targets: Sequence[str], seen: frozenset[str]) -> None:
        for target in targets:
            if target in exact:
                if target not in seen:
                    expand(exact[target].targets, seen | {target})
            else:
                found.append(target)

    expand(entry.targets, frozenset({entry.name}))
    return tuple(dict.fromkeys(found))


def find_cycle(aliases: Sequence[AliasConfig]) -> list[str] | None:
    """The first chain of exact aliases that leads back to itself, drawn as names
    (``["a", "b", "a"]``), or ``None``.
    """
    exact = {a.name: a.targets for a in aliases if not a.glob}
    done: set[str] = set()

    def visit(name: str, stack: list[str]) -> list[str] | None:
        if name in stack:
            return [*stack[stack.index(name) :], name]
        if name in done or name not in exact:
            return None
        stack.append(name)
        for target in exact[name]:
            cycle = visit(target, stack)
            if cycle is not None:
                return cycle
        stack.pop()
        done.add(name)
        return None

    for alias in aliases:
        if not alias.glob:
            cycle = visit(alias.name, [])
            if cycle is not None:
                return cycle
    return None

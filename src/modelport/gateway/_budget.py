"""The memory request bodies may hold at once, across every request in flight.

Each body's bytes are counted from the moment they are promised (its
``Content-Length``) or arrive (a chunked body) until its request is answered, since
the parsed body lives as long as its request. A request that would take the total
beyond the cap is refused (503 with ``Retry-After``) before its body is read.

>>> budget = BodyBudget(100)
>>> budget.take(60), budget.take(60), budget.held
(True, False, 60)
>>> budget.give(60); budget.held
0
"""

from __future__ import annotations

__all__ = ["BodyBudget"]


class BodyBudget:
    """At most ``limit`` bytes of request bodies held at once (one event loop: no lock)."""

    __slots__ = ("held", "limit")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0

    def take(self, size: int) -> bool:
        """Count ``size`` more bytes, if that stays within the limit."""
        if self.held + size > self.limit:
            return False
        self.held += size
        return True

    def give(self, size: int) -> None:
        """Give back bytes taken before."""
        self.held = max(0, self.held - size)

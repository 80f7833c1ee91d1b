"""Retry decisions as pure functions: which errors to retry and how long to wait."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import ModelportError

__all__ = ["RetryPolicy"]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with full jitter, honouring ``Retry-After``.

    Attempt ``n`` (0-based) waits a random time in
    ``[0, min(max_delay, base_delay * 2**n)]``. An error with ``retry_after`` (a 429,
    or a 503 that says) waits that long instead; one that asks for more than
    ``max_retry_after`` is not waited for at all (``None``: fail over instead).
    Only errors whose ``retriable`` flag is set are retried.

    >>> policy = RetryPolicy(max_retries=2, base_delay=0.5, rand=lambda: 1.0)
    >>> from modelport.errors import ServerError, InvalidRequestError
    >>> [policy.delay(n, ServerError("x")) for n in range(3)]
    [0.5, 1.0, None]
    >>> policy.delay(0, InvalidRequestError("bad")) is None
    True
    """

    max_retries: int = 2
    base_delay: float = 0.25
    max_delay: float = 8.0
    max_retry_after: float = 60.0
    rand: Callable[[], float] = random.random

    def delay(self, attempt: int, error: ModelportError) -> float | None:
        """Seconds to wait before retry number ``attempt + 1``, or ``None`` to stop."""
        if attempt >= self.max_retries or not error.retriable:
            return None
        retry_after = getattr(error, "retry_after", None)  # 429s, and 503s that say
        if retry_after is not None:
            if retry_after > self.max_retry_after:
                return None  # waiting that long is worse than failing over
            return float(retry_after)
        ceiling = min(self.max_delay, self.base_delay * 2.0**attempt)
        return ceiling * float(self.rand())

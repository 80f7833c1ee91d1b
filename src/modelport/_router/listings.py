"""Each service's model list, cached for a time-to-live."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from ..types import ModelInfo
from .state import ServiceState

__all__ = ["ModelLists"]


class ModelLists:
    """The model-list cache: what each service listed last, and whether it is fresh.

    Fetching a list is the client core's (one refresh per service at a time, under
    :attr:`ServiceState.refresh`); this says when a cached one serves.
    """

    def __init__(self, *, ttl: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.clock = clock
        self.lock = threading.Lock()

    def cached(self, state: ServiceState) -> list[ModelInfo] | None:
        """The service's list, while it is younger than the time-to-live."""
        if state.models is not None and self.clock() - state.models_at < self.ttl:
            return state.models
        return None

    def listed(self, state: ServiceState, models: list[ModelInfo]) -> None:
        """A fresh model list arrived: cache it."""
        with self.lock:
            state.models = models
            state.models_at = self.clock()

    def stale(self, state: ServiceState) -> None:
        """The service's model list no longer says what is loaded: list it again."""
        with self.lock:
            state.models_at = float("-inf")

    def after_wait(
        self, state: ServiceState, refresh: bool, seen_at: float
    ) -> list[ModelInfo] | None:
        """What a caller that waited for a service's refresh lock can use without asking
        the server: the list another caller fetched meanwhile (``models_at`` moved on
        from ``seen_at``), or, unless it asked for a refresh, a cached one.
        """
        if state.models_at != seen_at and state.models is not None:
            return state.models
        return None if refresh else self.cached(state)

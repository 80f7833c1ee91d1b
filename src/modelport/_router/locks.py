"""The locks flows take (one for sync, one for async callers)."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncio

__all__ = ["LockBox"]


class LockBox:
    """A lock for sync callers and one for async callers (one per event loop)."""

    __slots__ = ("_async", "_loop", "lock")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._async: asyncio.Lock | None = None
        self._loop: object = None

    def alock(self) -> asyncio.Lock:
        import asyncio

        loop = asyncio.get_running_loop()
        if self._async is None or self._loop is not loop:
            self._async, self._loop = asyncio.Lock(), loop
        return self._async

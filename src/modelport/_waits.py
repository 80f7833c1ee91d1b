"""The waits at the scheduler's gate, collected per request for whoever asks (the gateway's
access log and metrics), without importing the scheduler.
"""

from __future__ import annotations

import time
from contextvars import ContextVar

__all__ = ["QUEUE_WAIT", "note_wait"]

QUEUE_WAIT: ContextVar[list[float] | None] = ContextVar("modelport_queue_wait", default=None)
"""Where the waits at the scheduler's gate are collected (seconds, one per admission) for
the requests made in this context, when someone collects them: the gateway sets a list
per request for its access log and metrics. A list, so that tasks started on the way
(``asyncio.wait_for``) add to the same one."""


def note_wait(started: float) -> None:
    """Add the wait at the gate since ``started`` (``time.monotonic()``) to the waits
    collected in this context, if anyone collects them.
    """
    waits = QUEUE_WAIT.get()
    if waits is not None:
        waits.append(time.monotonic() - started)

"""Model-aware scheduling: limits, a FIFO queue, waits for loads, swap-aware order, TTL.

A pure state machine (:class:`Scheduler`): events in (a request arrives, finishes, is
cancelled; a model loaded; time passed), decisions out (start it there, let it wait,
reject it with a retry-after, load or unload a model). No sockets, no clock, no asyncio:
the gateway or a client drives it. Its state sits behind :class:`ScheduleStore` (leases
for requests in flight, queue positions, model states), kept in memory today.
"""

from __future__ import annotations

from .plan import Snapshot, next_deadline, plan
from .scheduler import Scheduler
from .store import MemoryStore, ScheduleStore
from .types import (
    DEFAULT_MAX_QUEUE,
    DEFAULT_MAX_WAIT,
    CancelLoad,
    Decision,
    Expired,
    Fail,
    Lease,
    LimitsSource,
    Load,
    ModelLimits,
    ModelState,
    ModelStatus,
    Reject,
    ServerHints,
    ServiceLimits,
    ServiceLoad,
    Start,
    StaticLimits,
    Target,
    Ticket,
    Unload,
    Wait,
    with_hints,
)

__all__ = [
    "DEFAULT_MAX_QUEUE",
    "DEFAULT_MAX_WAIT",
    "CancelLoad",
    "Decision",
    "Expired",
    "Fail",
    "Lease",
    "LimitsSource",
    "Load",
    "MemoryStore",
    "ModelLimits",
    "ModelState",
    "ModelStatus",
    "Reject",
    "ScheduleStore",
    "Scheduler",
    "ServerHints",
    "ServiceLimits",
    "ServiceLoad",
    "Snapshot",
    "Start",
    "StaticLimits",
    "Target",
    "Ticket",
    "Unload",
    "Wait",
    "next_deadline",
    "plan",
    "with_hints",
]

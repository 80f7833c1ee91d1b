"""Where the scheduler keeps its state: one small interface, one in-memory implementation.

The state is three things: the leases of requests in flight (with an expiry, so the
slots of a gateway that died come free), the tickets of requests waiting (in arrival
order), and what is believed about each model (loaded, loading, unloaded). A store
shared by several gateways (Redis, say) would implement the same methods atomically;
the decisions, which only read a snapshot of this state, would not change.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Protocol

from .types import Lease, ModelState, Target, Ticket

__all__ = ["MemoryStore", "ScheduleStore"]


class ScheduleStore(Protocol):
    """The state the scheduler reads and writes."""

    def add_lease(self, lease: Lease) -> None:
        """Hold a slot for a request in flight."""
        ...

    def drop_lease(self, request_id: str) -> Lease | None:
        """Release a request's slot; the lease, or ``None`` if it had none (any more)."""
        ...

    def renew_leases(self, owner: str, expires: float) -> None:
        """Push back the expiry of every lease ``owner`` still holds."""
        ...

    def expire_leases(self, now: float) -> list[Lease]:
        """Drop and return the leases whose expiry has passed, whoever held them."""
        ...

    def leases(self) -> list[Lease]:
        """Every lease held, by every owner."""
        ...

    def add_ticket(self, ticket: Ticket) -> None:
        """Put a request in the queue (behind every ticket with a lower ``seq``)."""
        ...

    def drop_ticket(self, request_id: str) -> Ticket | None:
        """Take a request out of the queue; the ticket, or ``None``."""
        ...

    def put_ticket(self, ticket: Ticket) -> None:
        """Replace a ticket already queued (same request id), keeping its place."""
        ...

    def tickets(self, owner: str) -> list[Ticket]:
        """``owner``'s waiting requests, first come first."""
        ...

    def next_seq(self) -> int:
        """A number larger than any given before: the arrival order of tickets."""
        ...

    def models(self) -> dict[Target, ModelState]:
        """What is believed about each model the scheduler has heard of."""
        ...

    def set_models(self, states: Iterable[tuple[Target, ModelState | None]]) -> None:
        """Record model states (``None`` forgets one)."""
        ...


class MemoryStore:
    """The state in this process's memory (one gateway, or several schedulers in one
    process sharing it).
    """

    def __init__(self) -> None:
        self._leases: dict[str, Lease] = {}
        self._tickets: dict[str, Ticket] = {}
        self._models: dict[Target, ModelState] = {}
        self._seq = 0

    def add_lease(self, lease: Lease) -> None:
        """Hold a slot."""
        self._leases[lease.request_id] = lease

    def drop_lease(self, request_id: str) -> Lease | None:
        """Release a slot."""
        return self._leases.pop(request_id, None)

    def renew_leases(self, owner: str, expires: float) -> None:
        """Extend ``owner``'s leases."""
        for key, lease in self._leases.items():
            if lease.owner == owner:
                self._leases[key] = replace(lease, expires=expires)

    def expire_leases(self, now: float) -> list[Lease]:
        """Drop the leases past their expiry."""
        gone = [lease for lease in self._leases.values() if lease.expires <= now]
        for lease in gone:
            del self._leases[lease.request_id]
        return gone

    def leases(self) -> list[Lease]:
        """Every lease."""
        return list(self._leases.values())

    def add_ticket(self, ticket: Ticket) -> None:
        """Queue a request."""
        self._tickets[ticket.request_id] = ticket

    def drop_ticket(self, request_id: str) -> Ticket | None:
        """Unqueue a request."""
        return self._tickets.pop(request_id, None)

    def put_ticket(self, ticket: Ticket) -> None:
        """Replace a queued ticket."""
        if ticket.request_id in self._tickets:
            self._tickets[ticket.request_id] = ticket

    def tickets(self, owner: str) -> list[Ticket]:
        """``owner``'s queue in arrival order."""
        mine = [t for t in self._tickets.values() if t.owner == owner]
        return sorted(mine, key=lambda t: t.seq)

    def next_seq(self) -> int:
        """The next arrival number."""
        self._seq += 1
        return self._seq

    def models(self) -> dict[Target, ModelState]:
        """A copy of the model states."""
        return dict(self._models)

    def set_models(self, states: Iterable[tuple[Target, ModelState | None]]) -> None:
        """Record (or forget) model states."""
        for target, state in states:
            if state is None:
                self._models.pop(target, None)
            else:
                self._models[target] = state

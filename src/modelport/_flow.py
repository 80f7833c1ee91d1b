"""Flows: the client's logic written once, as generators of *steps*.

A flow is a generator, like a provider operation one level down
(:mod:`modelport._http.ops`): it yields steps to a driver (:mod:`modelport._drive`)
and reads each step's result from the step itself once the driver resumes it. The sync
driver carries out a step by calling, threading and sleeping; the async one by
awaiting. So discovery, listing, target selection, failover and streaming are written
once (:mod:`modelport._core`); the clients in :mod:`modelport.client` only drive.

===================================  ===================================================
step                                 the driver...
===================================  ===================================================
``call(provider, op)``               runs one of the provider's operations; returns its
                                     result (an error is raised at the yield).
``each(flows)``                      runs flows at once; returns each one's result or
                                     error, in order.
``exclusive(box, flow)``             runs a flow holding a lock (sync or async).
``wait_for(sync, aio)``              calls ``sync()`` (in the caller's thread) or awaits
                                     ``aio()``: whatever blocks on something other than
                                     an operation (discovery, the scheduler's queue).
``open_items(provider, op)``         starts a provider's item operation; returns the
                                     running iterator and its first item.
``Pipe(items)``                      hands every remaining item to the consumer.
``sleep(s)`` / ``emit(item)``        as in operations (:mod:`modelport._http.ops`).
===================================  ===================================================

The steps form a closed union (:data:`FlowStep`): a driver matches on it, and a step
it does not know is a bug it reports. This module sits below the providers (what a step
needs of a provider, a lock or a waiter is a Protocol here), so that providers, discovery
and the client core all run on the same drivers.
"""

from __future__ import annotations

import threading
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Generator,
    Iterator,
    Sequence,
)
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from ._http.ops import Emit, ItemOp, Op, Sleep

if TYPE_CHECKING:
    import asyncio
    from typing import TypeAlias

    from .errors import ModelportError

__all__ = [
    "Call",
    "Each",
    "Exclusive",
    "Flow",
    "FlowStep",
    "Locks",
    "Open",
    "Opened",
    "Pipe",
    "Runs",
    "WaitFor",
    "call",
    "each",
    "exclusive",
    "open_items",
    "wait_for",
]

T = TypeVar("T")
I = TypeVar("I")  # noqa: E741 - the type of the items a stream produces


class Runs(Protocol):
    """What a :class:`Call` or an :class:`Open` needs of a provider: to run one of its
    operations (its requests through its own transport), sync or async; and what it is
    (for the spans that record each attempt, :mod:`modelport._trace`).
    """

    @property
    def name(self) -> str: ...

    @property
    def kind(self) -> str: ...

    @property
    def base_url(self) -> str: ...

    def _run_op(self, op: Op[T]) -> T: ...

    async def _arun_op(self, op: Op[T]) -> T: ...

    def _iterate_op(self, op: ItemOp[I]) -> Generator[I, None, None]: ...

    def _aiterate_op(self, op: ItemOp[I]) -> AsyncGenerator[I, None]: ...


class Locks(Protocol):
    """What an :class:`Exclusive` step holds: a lock for each kind of caller."""

    lock: threading.Lock

    def alock(self) -> asyncio.Lock: ...


@dataclass(slots=True)
class Call(Generic[T]):
    """Run one of ``provider``'s operations; the driver fills :attr:`result`."""

    provider: Runs
    op: Op[T]
    result: T = field(init=False, repr=False)


@dataclass(slots=True)
class Each(Generic[T]):
    """Run ``flows`` at once; the driver fills :attr:`results` (each a value or an error)."""

    flows: Sequence[Flow[T]]
    results: list[T | ModelportError] = field(init=False, repr=False)


@dataclass(slots=True)
class Exclusive(Generic[T]):
    """Run ``flow`` holding ``box``'s lock; the driver fills :attr:`result`."""

    box: Locks
    flow: Flow[T]
    result: T = field(init=False, repr=False)


@dataclass(slots=True)
class WaitFor(Generic[T]):
    """Wait for something that is not an operation: the sync driver calls ``sync()``,
    the async one awaits ``aio()``; either fills :attr:`result`.
    """

    sync: Callable[[], T]
    aio: Callable[[], Awaitable[T]]
    result: T = field(init=False, repr=False)


@dataclass(slots=True)
class Opened(Generic[I]):
    """A running item operation, and its first item (none if it produced nothing)."""

    items: Generator[I, None, None] | AsyncGenerator[I, None]
    first: list[I]


@dataclass(slots=True)
class Open(Generic[I]):
    """Start ``op``, an item operation; the driver fills :attr:`opened`."""

    provider: Runs
    op: ItemOp[I]
    opened: Opened[I] = field(init=False, repr=False)


@dataclass(slots=True)
class Pipe(Generic[I]):
    """Hand every remaining item of ``items`` (what :class:`Open` started) to the consumer."""

    items: Iterator[I] | AsyncIterator[I]


FlowStep: TypeAlias = (
    "Call[Any] | Each[Any] | Exclusive[Any] | WaitFor[Any] | Open[Any] | Pipe[Any] | Sleep"
    " | Emit[Any]"
)
"""Every step a flow may yield (a step's type argument is its own result's or items')."""

Flow: TypeAlias = Generator[FlowStep, None, T]
"""A client flow: yields steps to a driver, which fills their results; returns ``T``."""


def call(provider: Runs, op: Op[T]) -> Generator[Call[T], None, T]:
    """Run one of ``provider``'s operations; return its result."""
    step = Call(provider, op)
    yield step
    return step.result


def each(flows: Sequence[Flow[T]]) -> Generator[Each[T], None, list[T | ModelportError]]:
    """Run ``flows`` at once; return each one's result or error, in order."""
    step = Each(flows)
    yield step
    return step.results


def exclusive(box: Locks, flow: Flow[T]) -> Generator[Exclusive[T], None, T]:
    """Run ``flow`` holding ``box``'s lock."""
    step = Exclusive(box, flow)
    yield step
    return step.result


def wait_for(
    sync: Callable[[], T], aio: Callable[[], Awaitable[T]]
) -> Generator[WaitFor[T], None, T]:
    """Call ``sync()`` (sync driver) or await ``aio()`` (async driver); return its result."""
    step = WaitFor(sync, aio)
    yield step
    return step.result


def open_items(provider: Runs, op: ItemOp[I]) -> Generator[Open[I], None, Opened[I]]:
    """Start ``op``; return it running, with its first item."""
    step = Open(provider, op)
    yield step
    return step.opened

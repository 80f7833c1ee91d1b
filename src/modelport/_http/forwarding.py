"""The chain of gateways a request has passed: the ``x-modelport-gateway`` header.

A modelport gateway sends its id upstream on every request, so that a gateway that
finds its own id in an incoming chain knows the request went round in a loop. A
request that arrived with a chain (it came through other gateways first) is sent on
with that chain and the gateway's own id last: :func:`forwarding` sets it for the
work done on that request's behalf (in its task and the tasks it starts), and every
request the client sends meanwhile carries it (:func:`with_chain`).

>>> gateway_chain("a1, b2,c3")
('a1', 'b2', 'c3')
>>> with forwarding(("a1", "b2")):
...     current_chain()
'a1, b2'
>>> current_chain() is None
True
"""

from __future__ import annotations

import re
from collections.abc import Generator, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import replace
from typing import TypeVar

from .ops import Gather, Request, Stream

__all__ = [
    "GATEWAY_HEADER",
    "MAX_GATEWAY_HOPS",
    "current_chain",
    "forwarding",
    "gateway_chain",
    "with_chain",
]

GATEWAY_HEADER = "x-modelport-gateway"
MAX_GATEWAY_HOPS = 8
"""The most gateways a request may have passed before the next one refuses it (508)."""

_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_CHAIN: ContextVar[str | None] = ContextVar("modelport_gateway_chain", default=None)

S = TypeVar("S")
R = TypeVar("R")


def gateway_chain(value: str | None) -> tuple[str, ...]:
    """The gateway ids in a header value (``"a1, b2"``), first hop first.

    Raises:
        ValueError: the value is not a comma-separated list of ids (letters, digits,
            ``.``, ``_``, ``-``; at most 64 characters each).
    """
    if value is None or not value.strip():
        return ()
    ids = tuple(part.strip() for part in value.split(","))
    if not all(_ID.fullmatch(part) for part in ids):
        raise ValueError(
            f"{GATEWAY_HEADER} must be a comma-separated list of gateway ids "
            "(letters, digits, '.', '_' and '-', at most 64 characters each)."
        )
    return ids


def current_chain() -> str | None:
    """The header value to send for the request being served, if it came through a
    gateway chain (``None``: send the client's own id, as always).
    """
    return _CHAIN.get()


@contextmanager
def forwarding(chain: Sequence[str]) -> Iterator[None]:
    """Send ``chain`` (the ids already passed, this gateway's last) as the
    ``x-modelport-gateway`` header of every request made inside the block.
    """
    token = _CHAIN.set(", ".join(chain))
    try:
        yield
    finally:
        _CHAIN.reset(token)


def _chained(step: S, chain: str) -> S:
    def add(request: Request) -> Request:
        return replace(request, headers={**request.headers, GATEWAY_HEADER: chain})

    if isinstance(step, Request):
        return add(step)  # type: ignore[return-value]
    if isinstance(step, Gather):
        return Gather([add(r) for r in step.requests])  # type: ignore[return-value]
    if isinstance(step, Stream):
        return Stream(add(step.request), step.decoder)  # type: ignore[return-value]
    return step


def with_chain(op: Generator[S, object, R], chain: str) -> Generator[S, object, R]:
    """``op`` with ``chain`` as the ``x-modelport-gateway`` header of every request
    it sends (results and errors pass through unchanged).
    """
    try:
        step = next(op)
        while True:
            try:
                result = yield _chained(step, chain)
            except GeneratorExit:
                raise
            except BaseException as exc:  # an error raised at the yield goes to ``op``
                step = op.throw(exc)
            else:
                step = op.send(result)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    finally:
        op.close()

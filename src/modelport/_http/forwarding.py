"""The chain of gateways a request has passed: the ``x-modelport-gateway`` header.

A modelport gateway sends its id upstream on every request, so that a gateway that
finds its own id in an incoming chain knows the request went round in a loop. A
request that arrived with a chain (it came through other gateways first) is sent on
with that chain and the gateway's own id last: :func:`forwarding` sets it for the
work done on that request's behalf (in its task and the tasks it starts), and every
request the client sends meanwhile carries it (:func:`forwarded`, added by the drivers),
with the other headers given there (the caller's ``traceparent`` and ``x-request-id``).

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
from collections.abc import Callable, Generator, Mapping, Sequence
from contextvars import ContextVar
from typing import TypeVar

from .ops import Gather, Request, Send, Stream

__all__ = [
    "GATEWAY_HEADER",
    "MAX_GATEWAY_HOPS",
    "current_chain",
    "current_headers",
    "forwarding",
    "gateway_chain",
    "Added",
    "add_headers",
    "forwarded",
    "map_steps",
    "with_headers",
]

GATEWAY_HEADER = "x-modelport-gateway"
MAX_GATEWAY_HOPS = 8
"""The most gateways a request may have passed before the next one refuses it (508)."""

_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_CHAIN: ContextVar[str | None] = ContextVar("modelport_gateway_chain", default=None)
_HEADERS: ContextVar[tuple[tuple[str, str], ...]] = ContextVar(
    "modelport_forwarded_headers", default=()
)

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


def current_headers() -> tuple[tuple[str, str], ...]:
    """The other headers every request made for the request being served carries."""
    return _HEADERS.get()


class forwarding:  # a context manager used as a function: cheaper than a generator
    """Send ``chain`` (the ids already passed, this gateway's last) as the
    ``x-modelport-gateway`` header of every request made inside the block, and
    ``headers`` with it.
    """

    __slots__ = ("_chain", "_headers", "_tokens")

    def __init__(self, chain: Sequence[str], headers: Sequence[tuple[str, str]] = ()) -> None:
        self._chain = ", ".join(chain)
        self._headers = tuple(headers)

    def __enter__(self) -> None:
        self._tokens = (_CHAIN.set(self._chain), _HEADERS.set(self._headers))

    def __exit__(self, *exc: object) -> None:
        chain, headers = self._tokens
        _HEADERS.reset(headers)
        _CHAIN.reset(chain)


Added = tuple[Mapping[str, str], Mapping[str, str]]
"""Headers to add to each request: the first unless the request has its own of that
name, the second always."""


def forwarded() -> Added | None:
    """The headers every request made for the request being served carries: its chain as
    the ``x-modelport-gateway`` header, always, and the forwarded headers
    (:func:`forwarding`) where the request has none of that name (a client span's own
    ``traceparent`` stays). ``None``: the request came through no gateway.
    """
    chain = _CHAIN.get()
    if chain is None:
        return None
    return dict(_HEADERS.get()), {GATEWAY_HEADER: chain}


def add_headers(step: S, added: Added) -> S:
    """``step`` with ``added`` on its request(s) (the drivers call it on each step of an
    operation run with headers). The step itself is changed: the driver fills its
    result in, where the operation reads it.
    """
    before, after = added

    def add(request: Request) -> Request:
        return request.with_headers({**before, **request.headers, **after})

    if isinstance(step, (Send, Stream)):
        step.request = add(step.request)
    elif isinstance(step, Gather):
        step.requests = [add(r) for r in step.requests]
    return step


def with_headers(op: Generator[S, None, R], headers: Mapping[str, str]) -> Generator[S, None, R]:
    """``op`` with ``headers`` on every request it sends."""
    added: Added = ({}, headers)
    return map_steps(op, lambda step: add_headers(step, added))


def map_steps(
    op: Generator[S, None, R],
    rewrite: Callable[[S], S],
    failed: Callable[[S, BaseException], object] | None = None,
) -> Generator[S, None, R]:
    """``op`` with each step it yields passed through ``rewrite`` (which may change the
    step, never replace it: the driver fills the result into the step ``op`` made);
    errors go back to ``op`` unchanged (``failed`` hears of each error raised at a step).
    """
    try:
        step = next(op)
        while True:
            step = rewrite(step)
            try:
                yield step
            except GeneratorExit:
                raise
            except BaseException as exc:  # an error raised at the yield goes to ``op``
                if failed is not None:
                    failed(step, exc)
                step = op.throw(exc)
            else:
                step = op.send(None)
    except StopIteration as stop:
        value: R = stop.value
        return value
    finally:
        op.close()

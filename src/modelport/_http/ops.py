"""Operations: protocol logic written once, run by a sync or an async driver.

An *operation* is a generator that yields *steps* (:class:`Send`, :class:`Gather`,
:class:`Sleep`, :class:`Stream`, :class:`Emit`: a closed set) to a driver
(:mod:`modelport._drive`), which does each one and puts its result in the step before
it resumes the operation. It never does I/O itself, so one body serves
:class:`~modelport.Client` and :class:`~modelport.AsyncClient` alike. Write steps with
the typed helpers and ``yield from``; each reads as one line and gives mypy the
result's type::

    def _op_chat(self, req: ChatRequest) -> Op[ChatResponse]:
        response = yield from send(self._chat_request(req, stream=False))
        return parse_chat(response.json(self.ctx), self.ctx, model=req.model)

===================================  =====================================================
step                                 what the driver does, and what the helper returns
===================================  =====================================================
``send(request)``                    sends one request; returns the :class:`Response`. An
                                     error status is raised *at the yield* as the mapped
                                     :class:`~modelport.ModelportError`, so an operation
                                     can catch it and fall back.
``gather(requests)``                 sends several at once; returns one :data:`Outcome`
                                     each (a response, or the error), in order, so one
                                     failed lookup does not sink the batch.
``sleep(seconds)``                   waits (``time.sleep`` or ``asyncio.sleep``).
``stream(request, decoder)``         (item operations only) sends a streaming request and
                                     hands every decoded item to the consumer as it arrives.
``emit(item)``                       (item operations only) hands one item to the consumer.
===================================  =====================================================

An :data:`Op` returns a value (``run(op, transport)``); an :data:`ItemOp` produces
items (``iterate(op, transport)``: pulls, chat streams) and may use every step.
"""

from __future__ import annotations

import json
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

from ..errors import InvalidRequestError, ModelportError
from .jsonio import parse_json, try_parse_json

if TYPE_CHECKING:
    from typing import TypeAlias

    from .mapping import ErrorContext

__all__ = [
    "Emit",
    "Gather",
    "ItemOp",
    "Op",
    "Outcome",
    "Request",
    "Response",
    "Send",
    "Sleep",
    "Stream",
    "StreamDecoder",
    "emit",
    "gather",
    "send",
    "sleep",
    "stream",
]

T = TypeVar("T")
I = TypeVar("I")  # noqa: E741 - the type of the items an item operation produces
I_co = TypeVar("I_co", covariant=True)


@dataclass(frozen=True, slots=True)
class Request:
    """One HTTP request, described without doing it."""

    method: str
    path: str
    json: object = None
    timeout: float | None = None
    """Read timeout override in seconds; ``None`` uses the transport's default."""
    model: str | None = None
    """The model the request is about, for error messages."""
    headers: Mapping[str, str] = field(default_factory=dict)
    deadline: float | None = None
    """Seconds the whole exchange may take (non-streamed); ``None``: the transport's."""
    check: bool = True
    """Raise the error an error status means; ``False`` hands back any answer (its
    body capped as an error body's is)."""

    def describe(self) -> str:
        return f"{self.method} {self.path}"

    def with_headers(self, headers: Mapping[str, str]) -> Request:
        """The same request with ``headers`` as its own (``dataclasses.replace`` costs
        twice as much, on a gateway's every request; a test keeps every field here).
        """
        return Request(
            self.method,
            self.path,
            self.json,
            self.timeout,
            self.model,
            headers,
            self.deadline,
            self.check,
        )


@dataclass(frozen=True, slots=True)
class Response:
    """A complete HTTP response with its body read."""

    status: int
    headers: Mapping[str, str]
    content: bytes
    request: Request

    def json(self, ctx: ErrorContext) -> object:
        """The body as JSON, or a :class:`ProtocolError` that names the server."""
        return parse_json(self.content, ctx, what=self.request.describe(), status=self.status)

    def json_or_none(self) -> object:
        """The body as JSON, or ``None`` when it is not JSON (for optional lookups)."""
        return try_parse_json(self.content)

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")


Outcome = Response | ModelportError
"""What one request of a :func:`gather` batch came to."""


class StreamDecoder(Protocol[I_co]):
    """Turns the bytes of a streamed body into items; knows what was received so far.

    A failure found while decoding (an in-band error line, a stream that ends early)
    is recorded in ``error`` after the items before it are returned, so the caller
    receives every item the server sent before it raises. ``done`` turns true at the
    stream's own end (``[DONE]``, ``"done": true``): the driver stops reading there.
    """

    error: ModelportError | None
    done: bool

    def feed(self, data: bytes) -> Sequence[I_co]: ...

    def finish(self) -> Sequence[I_co]: ...

    def interrupted(self, error: ModelportError) -> ModelportError:
        """The error to raise when the transport broke with ``error`` part-way."""
        ...


# The steps. Each is a small box: the driver does what it asks and puts the result in
# the box (``Send.response``, ``Gather.outcomes``) before the operation resumes, so the
# operation reads a typed field instead of receiving an untyped value at its ``yield``.


@dataclass(slots=True)
class Send:
    """Send ``request``; the driver fills :attr:`response` (an error is raised at the yield)."""

    request: Request
    response: Response = field(init=False, repr=False)


@dataclass(slots=True)
class Gather:
    """Send ``requests`` at once; the driver fills :attr:`outcomes`, in order."""

    requests: Sequence[Request]
    outcomes: list[Outcome] = field(init=False, repr=False)


@dataclass(frozen=True, slots=True)
class Sleep:
    seconds: float


@dataclass(slots=True)
class Stream(Generic[I_co]):
    request: Request
    decoder: StreamDecoder[I_co]


@dataclass(frozen=True, slots=True)
class Emit(Generic[I_co]):
    item: I_co


Step = Send | Gather | Sleep
"""What a plain operation yields: a closed set the drivers match on."""

Op: TypeAlias = Generator[Step, None, T]
"""An operation: yields steps (the driver fills each one's result), returns ``T``."""
ItemOp: TypeAlias = Generator["Step | Stream[I] | Emit[I]", None, None]
"""An item operation: produces items of type ``I`` for the consumer."""


def send(request: Request) -> Op[Response]:
    """Send one request; return its response (an error status is raised here)."""
    step = Send(request)
    yield step
    return step.response


def gather(requests: Sequence[Request]) -> Op[list[Outcome]]:
    """Send several requests at once; return each one's response or error, in order."""
    step = Gather(requests)
    yield step
    return step.outcomes


def sleep(seconds: float) -> Generator[Sleep, None, None]:
    """Wait ``seconds``."""
    if seconds > 0:
        yield Sleep(seconds)


def stream(request: Request, decoder: StreamDecoder[I]) -> Generator[Stream[I], None, None]:
    """Stream ``request`` through ``decoder``; every item goes to the consumer."""
    yield Stream(request, decoder)


def emit(item: I) -> Generator[Emit[I], None, None]:
    """Hand one item to the consumer."""
    yield Emit(item)


def body_json(value: object) -> bytes:
    """A request body as compact UTF-8 JSON; what cannot be JSON (a set, a lone
    surrogate, ``nan``, nesting too deep) is the caller's mistake, said before sending.
    """
    try:
        return json.dumps(
            value, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        ).encode()
    except (TypeError, ValueError, RecursionError) as exc:  # UnicodeEncodeError is a ValueError
        reason = "it is nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise InvalidRequestError(
            f"The request cannot be sent as JSON: {reason[:200]}.",
            hint="Pass only JSON values (strings, numbers, lists, dicts) in messages, tools, "
            "schemas and options.",
        ) from exc


def response_of(outcome: Outcome) -> Response:
    """The response of an outcome that must have succeeded (raise its error otherwise)."""
    if isinstance(outcome, ModelportError):
        raise outcome
    return outcome

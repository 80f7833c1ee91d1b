"""The drivers: one loop that runs every kind of step, sync, and its async twin.

Flows (:mod:`modelport._flow`, the client's logic) and operations
(:mod:`modelport._http.ops`, a provider's protocol logic) are generators that yield
steps and never do I/O. A driver carries each step out, puts its result in the step
(``Send.response``, ``Call.result``, ...) and resumes the generator, or throws the
:class:`~modelport.ModelportError` the step raised into it at the ``yield``, where the
flow or operation may catch it (a fallback, a failover).

The steps form one closed union (:data:`AnyStep`), matched in one place per mode:

- :func:`run` / :func:`arun` run a flow or an operation to its value; an item step
  (``Emit``, ``Stream``, ``Pipe``) there is a mistake, refused with :class:`TypeError`.
- :func:`iterate` / :func:`aiterate` run one that produces items (a stream, a pull)
  and hand each item on as it comes.

``io`` is the transport an operation's requests go through (its provider's); a flow
has none: its requests are inside the operations its ``Call`` and ``Open`` steps run.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable, Generator, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from ._flow import Call, Each, Exclusive, Open, Opened, Pipe, WaitFor
from ._http.ops import Emit, Gather, Send, Sleep, Stream
from .errors import ModelportError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Sequence
    from typing import TypeAlias

    from ._flow import Flow
    from ._http.transport import AsyncTransport, SyncTransport

__all__ = ["AnyStep", "arun", "aiterate", "iterate", "run"]

T = TypeVar("T")

AnyStep: TypeAlias = (
    "Send | Gather | Sleep | Stream[Any] | Emit[Any] | Call[Any] | Each[Any] | Exclusive[Any]"
    " | WaitFor[Any] | Open[Any] | Pipe[Any]"
)
"""Every step a flow or an operation may yield."""

Driven: TypeAlias = "Generator[AnyStep, None, T]"
"""A flow or an operation, as a driver sees it."""

SyncSleep = Callable[[float], object]
AsyncSleep = Callable[[float], "Awaitable[object]"]


def _pause(seconds: float) -> None:
    from ._http import transport  # read at the call: tests replace ``transport.pause``

    transport.pause(seconds)


async def _apause(seconds: float) -> None:
    from ._http import transport

    await transport.apause(seconds)


def _refused(step: object) -> TypeError:
    return TypeError(f"a flow or operation yielded {step!r}, which no driver runs")


def _no_transport(step: object) -> TypeError:
    return TypeError(
        f"a {type(step).__name__} step outside a provider's operation: a flow sends its "
        "requests inside the operations it runs with call() or open_items()"
    )


def _items_refused(step: object) -> TypeError:
    return TypeError(
        f"{type(step).__name__} produces items: use iterate(), not run(), for this operation"
    )


# --------------------------------------------------------------------------- sync


def run(flow: Driven[T], io: SyncTransport | None = None, sleep: SyncSleep = _pause) -> T:
    """Run ``flow`` (a flow, or with ``io`` an operation) to its value."""
    loop = _drive(flow, io, sleep, False)
    try:
        next(loop)
    except StopIteration as stop:
        value: T = stop.value
        return value
    loop.close()  # pragma: no cover - _drive refuses item steps when not streaming
    raise TypeError("run() met an item")


def iterate(
    flow: Driven[None], io: SyncTransport | None = None, sleep: SyncSleep = _pause
) -> Generator[Any, None, None]:
    """Run ``flow``, yielding its items as they come."""
    return _drive(flow, io, sleep, True)


def _drive(
    flow: Driven[T], io: SyncTransport | None, sleep: SyncSleep, streaming: bool
) -> Generator[Any, None, T]:
    """The one sync loop (see the module's docstring)."""
    error: ModelportError | None = None
    opened: list[Generator[Any, None, None]] = []  # closed on the way out, however far read
    try:
        while True:
            try:
                step = flow.send(None) if error is None else flow.throw(error)
            except StopIteration as stop:
                value: T = stop.value
                return value
            error = None
            try:
                match step:
                    case Send():
                        step.response = _sync_io(io, step).send(step.request)
                    case Stream() if streaming:
                        reading = _sync_io(io, step).open_stream(step.request, step.decoder)
                        try:
                            chunks = reading.chunks
                            if not isinstance(chunks, Iterator):
                                raise _refused(step)
                            for data in chunks:
                                decoded = reading.decoder.feed(data)
                                yield from decoded
                                if reading.after(decoded):
                                    break
                            else:
                                yield from reading.decoder.finish()
                                reading.finished()
                        except Exception as exc:
                            reading.fail(exc)
                        finally:
                            reading.close()
                    case Emit() if streaming:
                        yield step.item
                    case Call():
                        step.result = step.provider._run_op(step.op)
                    case Open():
                        step.opened = _open(step)
                        opened.append(_sync_items(step.opened))
                    case Pipe() if streaming:
                        items = step.items
                        if not isinstance(items, Iterator):
                            raise _refused(step)
                        yield from items
                    case Gather():
                        step.outcomes = _sync_io(io, step).send_all(step.requests)
                    case Sleep():
                        sleep(step.seconds)
                    case Each():
                        step.results = _each(step.flows, sleep)
                    case Exclusive():
                        with step.box.lock:
                            step.result = run(step.flow, None, sleep)
                    case WaitFor():
                        step.result = step.sync()
                    case Emit() | Stream() | Pipe():
                        raise _items_refused(step)
                    case _:
                        raise _refused(step)
            except ModelportError as exc:
                error = exc
    finally:
        flow.close()
        for items in opened:
            items.close()


def _sync_io(io: SyncTransport | None, step: object) -> SyncTransport:
    if io is None:
        raise _no_transport(step)
    return io


def _sync_items(opened: Opened[T]) -> Generator[T, None, None]:
    if not isinstance(opened.items, Generator):
        raise TypeError(f"{opened!r} is not a generator")
    return opened.items


def _open(step: Open[T]) -> Opened[T]:
    items = step.provider._iterate_op(step.op)
    try:
        return Opened(items, [next(items)])
    except StopIteration:
        return Opened(items, [])
    except BaseException:
        items.close()
        raise


def _each(flows: Sequence[Flow[T]], sleep: SyncSleep) -> list[T | ModelportError]:
    def one(flow: Flow[T]) -> T | ModelportError:
        try:
            return run(flow, None, sleep)
        except ModelportError as exc:
            return exc

    if len(flows) <= 1:
        return [one(f) for f in flows]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(8, len(flows))) as pool:
        return list(pool.map(one, flows))


# --------------------------------------------------------------------------- async


async def arun(flow: Driven[T], io: AsyncTransport | None = None, sleep: AsyncSleep = _apause) -> T:
    """Run ``flow`` (a flow, or with ``io`` an operation) to its value."""
    out: list[T] = []
    loop = _adrive(flow, io, sleep, out)
    async for _ in loop:  # pragma: no cover - _adrive refuses item steps when not streaming
        await loop.aclose()
        raise TypeError("arun() met an item")
    return out[0]


def aiterate(
    flow: Driven[None], io: AsyncTransport | None = None, sleep: AsyncSleep = _apause
) -> AsyncGenerator[Any, None]:
    """Run ``flow``, yielding its items as they come (the consumer closes it, as
    :class:`~modelport.AsyncChatStream` does).
    """
    return _adrive(flow, io, sleep, None)


async def _adrive(
    flow: Driven[T], io: AsyncTransport | None, sleep: AsyncSleep, out: list[T] | None
) -> AsyncGenerator[Any, None]:
    """The one async loop: :func:`_drive`'s twin. ``out`` receives the flow's value
    (an async generator cannot return one); ``None``: a stream, whose items go on.
    """
    streaming = out is None
    error: ModelportError | None = None
    opened: list[AsyncGenerator[Any, None]] = []
    try:
        while True:
            try:
                step = flow.send(None) if error is None else flow.throw(error)
            except StopIteration as stop:
                if out is not None:
                    out.append(stop.value)
                return
            error = None
            try:
                match step:
                    case Send():
                        step.response = await _async_io(io, step).send(step.request)
                    case Stream() if streaming:
                        reading = await _async_io(io, step).open_stream(step.request, step.decoder)
                        try:
                            chunks = reading.chunks
                            if not isinstance(chunks, AsyncIterator):
                                raise _refused(step)
                            async for data in chunks:
                                decoded = reading.decoder.feed(data)
                                for item in decoded:
                                    yield item
                                if reading.after(decoded):
                                    break
                            else:
                                for item in reading.decoder.finish():
                                    yield item
                                reading.finished()
                        except Exception as exc:
                            reading.fail(exc)
                        finally:
                            await reading.aclose()
                    case Emit() if streaming:
                        yield step.item
                    case Call():
                        step.result = await step.provider._arun_op(step.op)
                    case Open():
                        step.opened = await _aopen(step)
                        opened.append(_async_items(step.opened))
                    case Pipe() if streaming:
                        piped = step.items
                        if not isinstance(piped, AsyncIterator):
                            raise _refused(step)
                        async for item in piped:
                            yield item
                    case Gather():
                        step.outcomes = await _async_io(io, step).send_all(step.requests)
                    case Sleep():
                        await sleep(step.seconds)
                    case Each():
                        step.results = await _aeach(step.flows, sleep)
                    case Exclusive():
                        async with step.box.alock():
                            step.result = await arun(step.flow, None, sleep)
                    case WaitFor():
                        step.result = await step.aio()
                    case Emit() | Stream() | Pipe():
                        raise _items_refused(step)
                    case _:
                        raise _refused(step)
            except ModelportError as exc:
                error = exc
    finally:
        flow.close()
        for items in opened:
            await items.aclose()


def _async_io(io: AsyncTransport | None, step: object) -> AsyncTransport:
    if io is None:
        raise _no_transport(step)
    return io


def _async_items(opened: Opened[T]) -> AsyncGenerator[T, None]:
    if not isinstance(opened.items, AsyncGenerator):
        raise TypeError(f"{opened!r} is not an async generator")
    return opened.items


async def _aopen(step: Open[T]) -> Opened[T]:
    items = step.provider._aiterate_op(step.op)
    try:
        return Opened(items, [await items.__anext__()])
    except StopAsyncIteration:
        return Opened(items, [])
    except BaseException:
        await items.aclose()
        raise


async def _aeach(flows: Sequence[Flow[T]], sleep: AsyncSleep) -> list[T | ModelportError]:
    import asyncio

    async def one(flow: Flow[T]) -> T | ModelportError:
        try:
            return await arun(flow, None, sleep)
        except ModelportError as exc:
            return exc

    return list(await asyncio.gather(*(one(f) for f in flows)))

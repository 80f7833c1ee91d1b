"""The drivers: what runs every kind of step, sync, and its async twin.

Flows (:mod:`modelport._flow`, the client's logic) and operations
(:mod:`modelport._http.ops`, a provider's protocol logic) are generators that yield
steps and never do I/O. A driver carries each step out, puts its result in the step
(``Send.response``, ``Call.result``, ...) and resumes the generator, or throws the
:class:`~modelport.ModelportError` the step raised into it at the ``yield``, where the
flow or operation may catch it (a fallback, a failover).

The steps form one closed union (:data:`AnyStep`). Each mode does every step that
returns a value in one place (:func:`_do`, :func:`_ado`: one ``match``); its two loops
only pull steps:

- :func:`run` / :func:`arun` run a flow or an operation to its value; an item step
  (``Emit``, ``Stream``, ``Pipe``) there is a mistake, refused with :class:`TypeError`.
- :func:`iterate` / :func:`aiterate` run one that produces items (a stream, a pull)
  and hand each item on as it comes: they do the item steps themselves, a stream's
  read loop included, so no frame of ours sits between the caller and the read.

``io`` is the transport an operation's requests go through (its provider's); a flow
has none: its requests are inside the operations its ``Call`` and ``Open`` steps run.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable, Generator, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from ._flow import Call, Each, Exclusive, Open, Opened, Pipe, WaitFor
from ._http.forwarding import Added, add_headers
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


def run(
    flow: Driven[T],
    io: SyncTransport | None = None,
    sleep: SyncSleep = _pause,
    added: Added | None = None,
) -> T:
    """Run ``flow`` (a flow, or with ``io`` an operation) to its value; ``added``: headers
    for each of its requests (:func:`~modelport._http.forwarding.forwarded`).
    """
    error: ModelportError | None = None
    try:
        while True:
            try:
                step = flow.send(None) if error is None else flow.throw(error)
            except StopIteration as stop:
                value: T = stop.value
                return value
            if added is not None:
                add_headers(step, added)
            error = _do(step, io, sleep, None)
    finally:
        flow.close()


def iterate(
    flow: Driven[None],
    io: SyncTransport | None = None,
    sleep: SyncSleep = _pause,
    added: Added | None = None,
) -> Generator[Any, None, None]:
    """Run ``flow``, yielding its items as they come. A stream's bytes are read here,
    in this loop, so that no other frame of ours sits between the caller and the read.
    """
    error: ModelportError | None = None
    opened: list[Generator[Any, None, None]] = []  # closed on the way out, however far read
    try:
        while True:
            try:
                step = flow.send(None) if error is None else flow.throw(error)
            except StopIteration:
                return
            error = None
            if added is not None:
                add_headers(step, added)
            match step:
                case Stream():
                    try:
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
                    except ModelportError as exc:
                        error = exc
                case Emit():
                    yield step.item
                case Pipe():
                    items = step.items
                    if not isinstance(items, Iterator):
                        raise _refused(step)
                    try:
                        yield from items
                    except ModelportError as exc:
                        error = exc
                case _:
                    error = _do(step, io, sleep, opened)
    finally:
        flow.close()
        for items in opened:
            items.close()


def _do(
    step: AnyStep,
    io: SyncTransport | None,
    sleep: SyncSleep,
    opened: list[Generator[Any, None, None]] | None,
) -> ModelportError | None:
    """Do one step that returns a value (every kind but the item steps), filling its
    result in; the error it raised, to throw into the flow.
    """
    try:
        match step:
            case Send():
                step.response = _sync_io(io, step).send(step.request)
            case Call():
                step.result = step.provider._run_op(step.op)
            case Open():
                step.opened = _open(step)
                if opened is not None:
                    opened.append(_sync_items(step.opened))
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
        return exc
    return None


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


async def arun(
    flow: Driven[T],
    io: AsyncTransport | None = None,
    sleep: AsyncSleep = _apause,
    added: Added | None = None,
) -> T:
    """Run ``flow`` (a flow, or with ``io`` an operation) to its value (:func:`run`)."""
    error: ModelportError | None = None
    try:
        while True:
            try:
                step = flow.send(None) if error is None else flow.throw(error)
            except StopIteration as stop:
                value: T = stop.value
                return value
            if added is not None:
                add_headers(step, added)
            error = await _ado(step, io, sleep, None)
    finally:
        flow.close()


async def aiterate(
    flow: Driven[None],
    io: AsyncTransport | None = None,
    sleep: AsyncSleep = _apause,
    added: Added | None = None,
) -> AsyncGenerator[Any, None]:
    """Run ``flow``, yielding its items as they come (:func:`iterate`'s twin; the
    consumer closes it, as :class:`~modelport.AsyncChatStream` does).
    """
    error: ModelportError | None = None
    opened: list[AsyncGenerator[Any, None]] = []
    try:
        while True:
            try:
                step = flow.send(None) if error is None else flow.throw(error)
            except StopIteration:
                return
            error = None
            if added is not None:
                add_headers(step, added)
            match step:
                case Stream():
                    try:
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
                    except ModelportError as exc:
                        error = exc
                case Emit():
                    yield step.item
                case Pipe():
                    piped = step.items
                    if not isinstance(piped, AsyncIterator):
                        raise _refused(step)
                    try:
                        async for item in piped:
                            yield item
                    except ModelportError as exc:
                        error = exc
                case _:
                    error = await _ado(step, io, sleep, opened)
    finally:
        flow.close()
        for items in opened:
            await items.aclose()


async def _ado(
    step: AnyStep,
    io: AsyncTransport | None,
    sleep: AsyncSleep,
    opened: list[AsyncGenerator[Any, None]] | None,
) -> ModelportError | None:
    """:func:`_do`'s twin."""
    try:
        match step:
            case Send():
                step.response = await _async_io(io, step).send(step.request)
            case Call():
                step.result = await step.provider._arun_op(step.op)
            case Open():
                step.opened = await _aopen(step)
                if opened is not None:
                    opened.append(_async_items(step.opened))
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
        return exc
    return None


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

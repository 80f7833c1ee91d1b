"""Fixtures for the fault tests: the ``lab`` (servers, providers, sync/async driving) and
the checks every scenario makes.

Every call into modelport goes through :func:`bounded`, which runs it in a worker
thread and fails the test if it has not finished within :data:`GUARD` seconds. A
hang (a silent server that is waited on forever) therefore fails fast instead of
freezing the suite; nothing here asserts how fast anything is.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import pytest

import modelport
from modelport import ChatChunk, ChatResponse, ModelportError
from modelport.providers.base import Provider

from .kinds import KINDS, NDJSON_KINDS, SSE_KINDS, Kind
from .servers import FaultServer, Script

T = TypeVar("T")

TIMEOUT = 0.5
"""The read timeout every provider in these tests gets (seconds)."""
GUARD = 15.0
"""How long one call may take before the test calls it a hang. Generous on purpose."""

Mode = Literal["sync", "async"]


def bounded(fn: Callable[[], T], seconds: float = GUARD) -> T:
    """Run ``fn`` in a thread; return its result or raise its exception, or fail the
    test if it is still running after ``seconds`` (a hang)."""
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(("ok", fn()))
        except BaseException as exc:
            outcome.append(("raised", exc))

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        pytest.fail(f"modelport did not return within {seconds} s: it hangs", pytrace=False)
    status, value = outcome[0]
    if status == "raised":
        raise value
    return value  # type: ignore[no-any-return]


@dataclass
class StreamOutcome:
    """What a streaming call delivered: the chunks, then the response or the error."""

    chunks: list[ChatChunk] = field(default_factory=list)
    response: ChatResponse | None = None
    error: BaseException | None = None

    @property
    def text(self) -> str:
        return "".join(c.text for c in self.chunks)

    @property
    def texts(self) -> list[str]:
        return [c.text for c in self.chunks if c.text]


class Lab:
    """Servers and providers for one test, driven synchronously or asynchronously.

    ``lab.chat(target, ...)`` and ``lab.stream(target, ...)`` call the sync API
    (``chat`` / ``chat_stream``) or its async twin (``achat`` / ``achat_stream``,
    ``AsyncClient``) depending on the mode, always under :func:`bounded`.
    """

    def __init__(self, mode: Mode) -> None:
        self.mode = mode
        self.servers: list[FaultServer] = []
        self.providers: list[Provider] = []
        self.clients: list[Any] = []
        self.loop = asyncio.new_event_loop() if mode == "async" else None

    # ---- building -------------------------------------------------------------------------

    def serve(self, routes: Script | dict[str, Script]) -> FaultServer:
        server = FaultServer(routes).start()
        self.servers.append(server)
        return server

    def provider(self, kind: Kind, url: str, **kwargs: Any) -> Provider:
        kwargs.setdefault("timeout", TIMEOUT)
        provider = kind.provider(url, **kwargs)
        self.providers.append(provider)
        return provider

    def client(self, services: Sequence[Any], **kwargs: Any) -> Any:
        """A ``Client`` or ``AsyncClient`` (by mode) whose retry waits are recorded in
        ``client.sleeps`` instead of slept."""
        cls = modelport.Client if self.mode == "sync" else modelport.AsyncClient
        client = cls(services=list(services), **kwargs)
        sleeps: list[float] = []
        if self.mode == "sync":
            client._sleep = sleeps.append
        else:

            async def record(seconds: float) -> None:
                sleeps.append(seconds)

            client._sleep = record
        client.sleeps = sleeps
        self.clients.append(client)
        return client

    # ---- driving -----------------------------------------------------------------------------

    def _run(self, coro: Callable[[], Coroutine[Any, Any, T]], guard: float = GUARD) -> T:
        loop = self.loop
        assert loop is not None
        if loop.is_running():
            # A call that hung (and failed its test) still holds the loop in its worker
            # thread; hand the coroutine to that loop so teardown can still close things.
            return asyncio.run_coroutine_threadsafe(coro(), loop).result(guard)
        return bounded(lambda: loop.run_until_complete(coro()), guard)

    def chat(
        self, target: Any, model: str, messages: Any = "hi", *, guard: float = GUARD, **options: Any
    ) -> ChatResponse:
        """``chat`` (or ``achat``) under the hang guard (``guard`` seconds)."""
        if self.mode == "sync":
            return bounded(lambda: target.chat(model, messages, **options), guard)
        if isinstance(target, Provider):
            return self._run(lambda: target.achat(model, messages, **options), guard)
        return self._run(lambda: target.chat(model, messages, **options), guard)

    def stream(
        self,
        target: Any,
        model: str,
        messages: Any = "hi",
        *,
        on_chunk: Callable[[list[ChatChunk]], None] | None = None,
        guard: float = GUARD,
        **options: Any,
    ) -> StreamOutcome:
        """Stream a chat to the end, recording every chunk; the error (if any) is
        returned in the outcome, not raised, so the chunks before it can be checked."""
        outcome = StreamOutcome()

        def take(chunk: ChatChunk) -> None:
            outcome.chunks.append(chunk)
            if on_chunk is not None:
                on_chunk(outcome.chunks)

        def run_sync() -> None:
            with target.chat_stream(model, messages, **options) as stream:
                for chunk in stream:
                    take(chunk)
            outcome.response = stream.response

        async def run_async() -> None:
            opened = (
                target.achat_stream(model, messages, **options)
                if isinstance(target, Provider)
                else target.chat_stream(model, messages, **options)
            )
            async with opened as stream:
                async for chunk in stream:
                    take(chunk)
            outcome.response = stream.response

        try:
            if self.mode == "sync":
                bounded(run_sync, guard)
            else:
                self._run(run_async, guard)
        except pytest.fail.Exception:
            raise
        except BaseException as exc:
            outcome.error = exc
        return outcome

    def call(
        self,
        sync: Callable[[], T],
        coro: Callable[[], Coroutine[Any, Any, T]],
        *,
        guard: float = GUARD,
    ) -> T:
        """``sync()`` in sync mode, ``await coro()`` in async mode; bounded either way."""
        if self.mode == "sync":
            return bounded(sync, guard)
        return self._run(coro, guard)

    def services(self, client: Any, refresh: bool = False) -> Any:
        """``client.services()`` (awaited for an ``AsyncClient``)."""
        if self.mode == "sync":
            return bounded(lambda: client.services(refresh=refresh))
        return self._run(lambda: client.services(refresh=refresh))

    # ---- checking ------------------------------------------------------------------------------

    def pool(self, provider: Provider) -> Any:
        """modelport's connection pool behind the provider's client for this mode (its
        ``connections`` are httpcore's, read through httpcore's public API)."""
        transport = provider._sync if self.mode == "sync" else provider._async
        assert transport is not None, "the provider has not sent anything in this mode"
        assert transport.pooled is not None, "the provider was given its own transport"
        return transport.pooled

    def assert_no_leak(self, provider: Provider, *servers: FaultServer) -> None:
        """Nothing is left open mid-response: the pool has only idle or closed
        connections (a request still in flight keeps its connection busy), and each
        server sees every connection closed or back to idle keep-alive (a connection
        the client kept after a failure stays busy on the server side and fails this)."""
        for connection in self.pool(provider).connections:
            assert connection.is_idle() or connection.is_closed(), connection
        for server in servers or self.servers:
            assert server.wait_settled(), "a connection was left open mid-response"

    def close(self) -> None:
        for provider in self.providers:
            if self.loop is not None:
                self._run(provider.aclose)
            provider.close()
        for client in self.clients:
            if self.loop is not None:
                self._run(client.aclose)
            else:
                client.close()
        if self.loop is not None and not self.loop.is_running():
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.close()


@pytest.fixture(params=["sync", "async"])
def lab(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Lab]:
    """Servers and providers for one test, in both modes. On teardown every provider is
    closed, and every server must then see every connection closed: nothing leaks."""
    for name in ("OLLAMA_API_KEY", "LM_API_TOKEN", "LMSTUDIO_API_TOKEN", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    lab = Lab(request.param)
    try:
        yield lab
        lab.close()
        for server in lab.servers:
            assert server.wait_all_closed(), "a connection was still open after close()"
            assert not server.errors, f"a server script failed: {server.errors!r}"
    finally:
        for server in lab.servers:
            server.stop()


@pytest.fixture(params=KINDS, ids=str)
def kind(request: pytest.FixtureRequest) -> Kind:
    """Every provider kind (those not landed yet are skipped)."""
    return request.param  # type: ignore[no-any-return]


@pytest.fixture(params=SSE_KINDS, ids=str)
def sse_kind(request: pytest.FixtureRequest) -> Kind:
    """The kinds whose servers stream Server-Sent Events (the OpenAI family)."""
    return request.param  # type: ignore[no-any-return]


@pytest.fixture(params=NDJSON_KINDS, ids=str)
def ndjson_kind(request: pytest.FixtureRequest) -> Kind:
    """The kinds whose servers stream NDJSON (Ollama)."""
    return request.param  # type: ignore[no-any-return]


def check_error(
    error: BaseException | None,
    cls: type[ModelportError],
    provider: Provider,
    *,
    cause: type[BaseException] | None = None,
    status: int | None = None,
) -> Any:
    """The error is exactly ``cls``, names the server and URL, and keeps its cause."""
    assert error is not None, "no error was raised"
    assert type(error) is cls, f"expected {cls.__name__}, got {type(error).__name__}: {error!r}"
    assert isinstance(error, ModelportError)
    assert error.service == provider.name
    assert error.base_url == provider.base_url
    text = str(error)
    assert provider.base_url in text, text
    assert provider.server_name in text, text
    assert error.status_code == status, (error.status_code, status)
    if cause is not None:
        assert isinstance(error.__cause__, cause), (
            f"__cause__ is {error.__cause__!r}, expected {cause.__name__}"
        )
    return error

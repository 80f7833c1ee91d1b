"""``Client`` and ``AsyncClient``: one interface over every configured or discovered server.

Both twins share :class:`~modelport._core.ClientCore`: the configuration, and each
method's logic written once as a flow. Each twin only drives flows: the sync one
calls, sleeps and uses threads; the async one awaits.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from ._core import ClientCore
from ._drive import aiterate, arun, iterate, run
from ._flow import Flow, call
from ._streams import (
    AsyncChatStream,
    AsyncCompletionStream,
    ChatStream,
    CompletionItem,
    CompletionStream,
    StreamItem,
)
from ._wire.common import (
    MessagesInput,
    PromptInput,
    build_chat_request,
    build_completion_request,
    build_rerank_request,
    build_stream_completion_request,
    normalize_inputs,
)
from .errors import ModelportError
from .types import (
    ChatResponse,
    CompletionResponse,
    EmbedInput,
    EmbedResponse,
    ModelInfo,
    PullProgress,
    RerankResult,
    Service,
    TokenCount,
)

if TYPE_CHECKING:
    import asyncio

    from typing_extensions import Unpack

    from ._router import ServiceState
    from ._wire.common import ChatOptions, CompleteOptions

__all__ = ["AsyncClient", "Client"]

T = TypeVar("T")


async def _asleep(seconds: float) -> None:
    import asyncio

    await asyncio.sleep(seconds)


class Client(ClientCore):
    """One synchronous interface over every local model server.

    With no arguments it finds the servers running on this machine on first use.
    See :class:`~modelport._core.ClientCore` for the arguments.
    """

    _sleep: Callable[[float], object] = staticmethod(time.sleep)

    # ------------------------------------------------------------------ the driver

    def _run_flow(self, flow: Flow[T]) -> T:
        return run(flow, None, self._sleep)

    def _iterate_flow(self, flow: Flow[None]) -> Iterator[Any]:
        return iterate(flow, None, self._sleep)

    def _spawn(self, flow: Flow[None]) -> None:
        """Run a background flow (a load the scheduler decided) in a thread of its own."""
        import threading

        def background() -> None:
            try:
                self._run_flow(flow)
            except ModelportError:  # pragma: no cover - the flow reports its own errors
                pass

        threading.Thread(target=background, name="modelport-schedule", daemon=True).start()

    # ------------------------------------------------------------------ public API

    def services(self, refresh: bool = False) -> list[Service]:
        """Every configured or discovered service, with its health."""
        return self._run_flow(self._services(refresh))

    def models(self, refresh: bool = False) -> list[ModelInfo]:
        """Every model on every reachable service."""
        return self._run_flow(self._models(refresh))

    def model_info(self, model: str) -> ModelInfo:
        """One model, with its capabilities queried live from its server."""
        return self._run_flow(self._model_info(model))

    def chat(
        self, model: str, messages: MessagesInput, **options: Unpack[ChatOptions]
    ) -> ChatResponse:
        """Send a chat to whichever service has the model; return the whole reply."""
        return self._run_flow(self._chat(build_chat_request(model, messages, options)))

    def chat_stream(
        self, model: str, messages: MessagesInput, **options: Unpack[ChatOptions]
    ) -> ChatStream:
        """Stream a chat; fails over only before the first chunk arrives."""
        req = build_chat_request(model, messages, options)
        warnings: list[str] = []
        source: Iterator[StreamItem] = self._iterate_flow(self._chat_stream(req, warnings))
        return ChatStream(source, warnings)

    def complete(
        self, model: str, prompt: PromptInput, **options: Unpack[CompleteOptions]
    ) -> CompletionResponse:
        """Continue a prompt (or each of a list) as given, with no chat template (the
        legacy text completion), on whichever service has the model.
        """
        return self._run_flow(self._complete(build_completion_request(model, prompt, options)))

    def complete_stream(
        self, model: str, prompt: str, **options: Unpack[CompleteOptions]
    ) -> CompletionStream:
        """Stream the completion of one prompt; fails over only before the first chunk."""
        req = build_stream_completion_request(model, prompt, options)
        source: Iterator[CompletionItem] = self._iterate_flow(self._complete_stream(req))
        return CompletionStream(source)

    def count_tokens(
        self, model: str, messages: MessagesInput, **options: Unpack[ChatOptions]
    ) -> TokenCount:
        """The prompt tokens this chat would send (messages, tools, system prompt) on the
        service that would serve it: exact where it counts them, else an estimate.
        """
        return self._run_flow(self._count_tokens(build_chat_request(model, messages, options)))

    def rerank(
        self, model: str, query: str, documents: Sequence[str], top_n: int | None = None
    ) -> RerankResult:
        """Score ``documents`` against ``query`` on a service whose model reranks; the most
        relevant first (at most ``top_n``).
        """
        return self._run_flow(self._rerank(build_rerank_request(model, query, documents, top_n)))

    def embed(self, model: str, input: EmbedInput) -> EmbedResponse:
        """Embed a string, a list of strings, or token ids (servers that take them)."""
        return self._run_flow(self._embed(model, normalize_inputs(input)))

    def load(self, model: str, context_length: int | None = None, ttl: float | None = None) -> None:
        """Load a model into memory where its server supports it."""
        self._run_flow(self._manage(model, lambda p, name: p._op_load(name, context_length, ttl)))

    def unload(self, model: str) -> None:
        """Unload a model from memory where its server supports it."""
        self._run_flow(self._manage(model, lambda p, name: p._op_unload(name)))

    def delete(self, model: str) -> None:
        """Delete a downloaded model where its server supports it."""
        self._run_flow(self._manage(model, lambda p, name: p._op_delete(name)))

    def pull(self, model: str) -> Iterator[PullProgress]:
        """Download a model on the first service that can (``"ollama/name"`` to choose)."""
        progress: Iterator[PullProgress] = self._iterate_flow(self._pull(model))
        return progress

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        """Close every connection."""
        if self._gate is not None:
            self._gate.close()
        for state in self.router.states:
            state.provider.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        names = ", ".join(s.name for s in self.router.states) or "not discovered yet"
        return f"Client({names})"


class AsyncClient(ClientCore):
    """The async twin of :class:`Client`: the same methods, awaited; streams are ``async for``."""

    _sleep: Callable[[float], Awaitable[object]] = staticmethod(_asleep)

    # ------------------------------------------------------------------ the driver

    async def _run_flow(self, flow: Flow[T]) -> T:
        if self._gate is not None:
            self._note_loop()
        return await arun(flow, None, self._sleep)

    def _iterate_flow(self, flow: Flow[None]) -> AsyncGenerator[Any, None]:
        if self._gate is not None:
            self._note_loop()
        return aiterate(flow, None, self._sleep)

    def _note_loop(self) -> None:
        """Remember the loop requests run in: the scheduler's loads run there."""
        import asyncio

        self._loop = asyncio.get_running_loop()

    _loop: asyncio.AbstractEventLoop | None = None
    """The event loop of the last request (where the scheduler's loads run)."""

    def _spawn(self, flow: Flow[None]) -> None:
        """Run a background flow (a load the scheduler decided) as a task in the loop the
        requests run in (from any thread: the gate's timer fires in its own).
        """
        loop = self._loop
        if loop is None or loop.is_closed():
            flow.close()
            return
        tasks: set[asyncio.Task[None]] = self.__dict__.setdefault("_tasks", set())

        async def background() -> None:
            try:
                await self._run_flow(flow)
            except ModelportError:  # pragma: no cover - the flow reports its own errors
                pass

        def start() -> None:
            task = loop.create_task(background())
            tasks.add(task)
            task.add_done_callback(tasks.discard)

        try:
            loop.call_soon_threadsafe(start)
        except RuntimeError:  # the loop closed meanwhile: nothing runs there any more
            flow.close()

    # ------------------------------------------------------------------ public API

    async def services(self, refresh: bool = False) -> list[Service]:
        """Every configured or discovered service, with its health."""
        return await self._run_flow(self._services(refresh))

    async def models(self, refresh: bool = False) -> list[ModelInfo]:
        """Every model on every reachable service."""
        return await self._run_flow(self._models(refresh))

    async def model_info(self, model: str) -> ModelInfo:
        """One model, with its capabilities queried live from its server."""
        return await self._run_flow(self._model_info(model))

    async def chat(
        self, model: str, messages: MessagesInput, **options: Unpack[ChatOptions]
    ) -> ChatResponse:
        """Send a chat to whichever service has the model; return the whole reply."""
        return await self._run_flow(self._chat(build_chat_request(model, messages, options)))

    def chat_stream(
        self, model: str, messages: MessagesInput, **options: Unpack[ChatOptions]
    ) -> AsyncChatStream:
        """Stream a chat; fails over only before the first chunk arrives."""
        req = build_chat_request(model, messages, options)
        warnings: list[str] = []
        return AsyncChatStream(self._iterate_flow(self._chat_stream(req, warnings)), warnings)

    async def complete(
        self, model: str, prompt: PromptInput, **options: Unpack[CompleteOptions]
    ) -> CompletionResponse:
        """Continue a prompt (or each of a list) as given, with no chat template (the
        legacy text completion), on whichever service has the model.
        """
        return await self._run_flow(
            self._complete(build_completion_request(model, prompt, options))
        )

    def complete_stream(
        self, model: str, prompt: str, **options: Unpack[CompleteOptions]
    ) -> AsyncCompletionStream:
        """Stream the completion of one prompt; fails over only before the first chunk."""
        req = build_stream_completion_request(model, prompt, options)
        return AsyncCompletionStream(self._iterate_flow(self._complete_stream(req)))

    async def count_tokens(
        self, model: str, messages: MessagesInput, **options: Unpack[ChatOptions]
    ) -> TokenCount:
        """The prompt tokens this chat would send (messages, tools, system prompt) on the
        service that would serve it: exact where it counts them, else an estimate.
        """
        req = build_chat_request(model, messages, options)
        return await self._run_flow(self._count_tokens(req))

    async def rerank(
        self, model: str, query: str, documents: Sequence[str], top_n: int | None = None
    ) -> RerankResult:
        """Score ``documents`` against ``query`` on a service whose model reranks; the most
        relevant first (at most ``top_n``).
        """
        req = build_rerank_request(model, query, documents, top_n)
        return await self._run_flow(self._rerank(req))

    async def embed(self, model: str, input: EmbedInput) -> EmbedResponse:
        """Embed a string, a list of strings, or token ids (servers that take them)."""
        return await self._run_flow(self._embed(model, normalize_inputs(input)))

    async def load(
        self, model: str, context_length: int | None = None, ttl: float | None = None
    ) -> None:
        """Load a model into memory where its server supports it."""
        await self._run_flow(
            self._manage(model, lambda p, name: p._op_load(name, context_length, ttl))
        )

    async def unload(self, model: str) -> None:
        """Unload a model from memory where its server supports it."""
        await self._run_flow(self._manage(model, lambda p, name: p._op_unload(name)))

    async def delete(self, model: str) -> None:
        """Delete a downloaded model where its server supports it."""
        await self._run_flow(self._manage(model, lambda p, name: p._op_delete(name)))

    async def pull(self, model: str) -> AsyncIterator[PullProgress]:
        """Download a model on the first service that can (``"ollama/name"`` to choose)."""
        steps = self._iterate_flow(self._pull(model))
        try:
            async for progress in steps:
                yield progress
        finally:
            await steps.aclose()

    # ------------------------------------------------------------------ lifecycle

    async def _service_metrics(self) -> list[tuple[str, str | None, str | None]]:
        """Each service's own Prometheus metrics, all at once: its name, the model it
        serves when it serves one, and the text (``None``: it did not answer). For the
        gateway's ``/metrics/upstream``.
        """
        import asyncio

        states = list(self.router.states)

        async def one(state: ServiceState) -> str | None:
            provider = state.provider
            try:
                return await self._run_flow(call(provider, provider._op_metrics()))
            except ModelportError:
                return None

        texts = await asyncio.gather(*(one(state) for state in states))
        return [
            (
                state.name,
                state.models[0].name
                if state.models is not None and len(state.models) == 1
                else None,
                text,
            )
            for state, text in zip(states, texts, strict=True)
        ]

    async def aclose(self) -> None:
        """Close every connection."""
        if self._gate is not None:
            self._gate.close()
        for state in self.router.states:
            await state.provider.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        names = ", ".join(s.name for s in self.router.states) or "not discovered yet"
        return f"AsyncClient({names})"

"""Test doubles for code built on modelport: a provider that answers from memory.

>>> from modelport.testing import FakeProvider
>>> import modelport
>>> fake = FakeProvider(models=["llama3.2"], reply="Paris.")
>>> client = modelport.Client(services=[fake])
>>> client.chat("llama3.2", "Capital of France?").text
'Paris.'
>>> fake.requests[-1].messages[-1].content
'Capital of France?'

A reply may be a string, or a function of the :class:`~modelport._wire.common.ChatRequest`
returning a string or a whole :class:`~modelport.ChatResponse`. Queue failures with
:meth:`FakeProvider.fail_next` to test how your code handles them. ``latency`` and
``chunk_delay`` make it slow like a real server (sleeping with ``time.sleep`` in the
sync API and ``asyncio.sleep`` in the async one, so an event loop keeps running and
a cancelled call stops at once). Nothing here opens a socket.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Generator, Iterator, Sequence
from dataclasses import replace
from typing import Any, ClassVar, TypeVar

from ._http.transport import Op
from ._streams import StreamItem
from ._wire.common import ChatRequest
from .errors import CapabilityError, ConfigurationError, ModelportError
from .providers.base import Provider
from .types import (
    Capabilities,
    ChatChunk,
    ChatResponse,
    EmbedResponse,
    ModelInfo,
    ProviderKind,
    Service,
    Usage,
)

__all__ = ["FakeProvider"]

T = TypeVar("T")

Reply = str | Callable[[ChatRequest], "str | ChatResponse"]

_sync_sleep = time.sleep
_async_sleep = asyncio.sleep


def _now(value: Any) -> Op[Any]:
    """An operation that needs no request."""
    yield from ()
    return value


class _Pause:
    """What a fake operation yields to wait: its driver sleeps, then resumes it."""

    __slots__ = ("seconds",)

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds


def _after(seconds: float, answer: Callable[[], T]) -> Op[T]:
    """An operation that waits ``seconds`` (if any), then answers."""
    if seconds > 0:
        yield _Pause(seconds)  # type: ignore[misc]
    return answer()


class _SyncDriver:
    """Runs the fake's operations in the sync API: pauses are ``time.sleep``."""

    def stream(self, request: Any, decoder: Any) -> Any:
        raise NotImplementedError  # the fake streams nothing over HTTP (pulls refuse first)

    def run(self, op: Generator[Any, Any, T]) -> T:
        try:
            step = next(op)
            while True:
                _sync_sleep(step.seconds)
                step = op.send(None)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        finally:
            op.close()


class _AsyncDriver:
    """Runs the fake's operations in the async API: pauses are ``asyncio.sleep``."""

    def stream(self, request: Any, decoder: Any) -> Any:
        raise NotImplementedError  # the fake streams nothing over HTTP (pulls refuse first)

    async def run(self, op: Generator[Any, Any, T]) -> T:
        try:
            step = next(op)
            while True:
                await _async_sleep(step.seconds)
                step = op.send(None)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        finally:
            op.close()


class FakeProvider(Provider):
    """A provider that answers from memory instead of a server.

    Args:
        models: the model names it serves (``ModelInfo`` objects are used as given).
        reply: the text of every reply, or a function of the request.
        name: its service name.
        kind: the kind it pretends to be.
        dimensions: the size of its embedding vectors.
        stream_pieces: how many pieces a streamed reply is cut into.
        latency: seconds before each chat or embedding reply (and a stream's first chunk).
        chunk_delay: seconds between the chunks of a streamed reply.
    """

    kind: ClassVar[ProviderKind] = "openai"
    server_name: ClassVar[str] = "fake server"

    def __init__(
        self,
        models: Sequence[str | ModelInfo] = ("fake-model",),
        reply: Reply = "fake reply",
        *,
        name: str = "fake",
        kind: ProviderKind = "openai",
        dimensions: int = 4,
        stream_pieces: int = 3,
        latency: float = 0.0,
        chunk_delay: float = 0.0,
    ) -> None:
        super().__init__(f"http://127.0.0.1:9/{name}", name=name)
        for label, value in (("latency", latency), ("chunk_delay", chunk_delay)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ConfigurationError(f"{label} must be seconds (>= 0), not {value!r}.")
        self.latency = float(latency)
        self.chunk_delay = float(chunk_delay)
        self.kind = kind  # type: ignore[misc]
        self.reply = reply
        self.dimensions = dimensions
        self.stream_pieces = max(1, stream_pieces)
        self.requests: list[ChatRequest] = []
        self.embedded: list[list[str]] = []
        self._failures: list[ModelportError] = []
        self._models = [self._info(m) for m in models]

    def _info(self, model: str | ModelInfo) -> ModelInfo:
        if isinstance(model, ModelInfo):
            return model
        return ModelInfo(
            id=self._model_id(model),
            name=model,
            service=self.name,
            kind=self.kind,
            loaded=True,
            capabilities=Capabilities(chat=True, tools=True, embedding=True),
        )

    def fail_next(self, *errors: ModelportError) -> None:
        """Make the next chat or embedding requests raise these errors, one each, in order.

        Listing and health checks keep working, as on a server that fails requests.
        """
        self._failures.extend(errors)

    def _maybe_fail(self) -> None:
        if self._failures:
            error = self._failures.pop(0)
            if error.service is None:
                error.service, error.base_url = self.name, self.base_url
            raise error

    def _answer(self, req: ChatRequest) -> ChatResponse:
        self.requests.append(req)
        self._maybe_fail()
        result = self.reply(req) if callable(self.reply) else self.reply
        if isinstance(result, ChatResponse):
            return replace(result, service=self.name)
        prompt = sum(len(m.content.split()) for m in req.messages)
        return ChatResponse(
            text=result,
            model=req.model,
            service=self.name,
            finish_reason="stop",
            usage=Usage(prompt, len(result.split()), prompt + len(result.split())),
        )

    # ------------------------------------------------------------------ drivers (no sockets)

    @property
    def _io(self) -> Any:
        return _SyncDriver()

    @property
    def _aio(self) -> Any:
        return _AsyncDriver()

    # ------------------------------------------------------------------ operations

    def _op_health(self) -> Op[Service]:
        return _now(self._service(model_count=len(self._models), version="fake"))

    def _op_models(self) -> Op[list[ModelInfo]]:
        return _now(list(self._models))

    def _op_chat(self, req: ChatRequest) -> Op[ChatResponse]:
        return _after(self.latency, lambda: self._answer(req))

    def _op_embed(self, model: str, inputs: list[str]) -> Op[EmbedResponse]:
        def answer() -> EmbedResponse:
            self.embedded.append(inputs)
            self._maybe_fail()
            dims = range(self.dimensions)
            vectors = [[float((len(text) + i) % 7) for i in dims] for text in inputs]
            return EmbedResponse(vectors=vectors, model=model, service=self.name)

        return _after(self.latency, answer)

    def _op_load(self, model: str, context_length: int | None, ttl: float | None) -> Op[None]:
        raise CapabilityError("The fake server cannot load models.", service=self.name)

    # ------------------------------------------------------------------ streams

    def _pieces(self, response: ChatResponse) -> list[ChatChunk]:
        text = response.text
        size = max(1, -(-len(text) // self.stream_pieces))
        chunks = [ChatChunk(text=text[i : i + size]) for i in range(0, len(text), size)]
        chunks.append(
            ChatChunk(
                tool_calls=tuple(response.tool_calls),
                finish_reason=response.finish_reason,
                usage=response.usage,
                done=True,
            )
        )
        return chunks

    def _chat_items(self, req: ChatRequest) -> Iterator[StreamItem]:
        if self.latency:
            _sync_sleep(self.latency)
        response = self._answer(req)
        for index, chunk in enumerate(self._pieces(response)):
            if index and self.chunk_delay:
                _sync_sleep(self.chunk_delay)
            yield chunk
        yield response

    async def _achat_items(self, req: ChatRequest) -> AsyncIterator[StreamItem]:
        if self.latency:
            await _async_sleep(self.latency)
        response = self._answer(req)
        for index, chunk in enumerate(self._pieces(response)):
            if index and self.chunk_delay:
                await _async_sleep(self.chunk_delay)
            yield chunk
        yield response

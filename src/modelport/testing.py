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
:meth:`FakeProvider.fail_next` to test how your code handles them, and give it a
``latency`` (and a ``chunk_delay`` between streamed pieces) to test timeouts, load
balancing or streaming without a real server. Nothing here opens a socket.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import ClassVar

from ._http.ops import ItemOp, Op, emit, sleep
from ._http.settings import check_seconds
from ._streams import StreamItem
from ._wire.common import ChatRequest, EmbedInputs
from .errors import CapabilityError, ModelportError
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

Reply = str | Callable[[ChatRequest], "str | ChatResponse"]


class FakeProvider(Provider):
    """A provider that answers from memory instead of a server.

    Args:
        models: the model names it serves (``ModelInfo`` objects are used as given).
        reply: the text of every reply, or a function of the request.
        name: its service name.
        kind: the kind it pretends to be.
        dimensions: the size of its embedding vectors.
        stream_pieces: how many pieces a streamed reply is cut into.
        latency: seconds each request takes before it answers (slept, without
            blocking an event loop in async code).
        chunk_delay: seconds between the pieces of a streamed reply.
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
        self.kind = kind  # type: ignore[misc]
        self.reply = reply
        self.dimensions = dimensions
        self.stream_pieces = max(1, stream_pieces)
        self.latency = check_seconds("latency", latency, allow_zero=True)
        self.chunk_delay = check_seconds("chunk_delay", chunk_delay, allow_zero=True)
        self.requests: list[ChatRequest] = []
        self.embedded: list[EmbedInputs] = []
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

    # ------------------------------------------------------------------ operations

    def _op_health(self) -> Op[Service]:
        yield from sleep(self.latency)
        return self._service(model_count=len(self._models), version="fake")

    def _op_models(self, refresh: bool = False) -> Op[list[ModelInfo]]:
        yield from sleep(self.latency)
        return list(self._models)

    def _op_chat(self, req: ChatRequest) -> Op[ChatResponse]:
        yield from sleep(self.latency)
        return self._answer(req)

    def _op_chat_stream(self, req: ChatRequest) -> ItemOp[StreamItem]:
        response = yield from self._op_chat(req)
        for index, chunk in enumerate(self._pieces(response)):
            if index:
                yield from sleep(self.chunk_delay)
            yield from emit(chunk)
        yield from emit(response)

    def _op_embed(self, model: str, inputs: EmbedInputs) -> Op[EmbedResponse]:
        yield from sleep(self.latency)
        self.embedded.append(inputs)
        self._maybe_fail()
        sizes = [len(item) if isinstance(item, (str, list)) else 1 for item in inputs]
        vectors = [[float((size + i) % 7) for i in range(self.dimensions)] for size in sizes]
        return EmbedResponse(vectors=vectors, model=model, service=self.name)

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

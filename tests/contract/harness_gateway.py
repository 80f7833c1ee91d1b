"""The contract suite against modelport's own gateway: an :class:`OllamaProvider` talks
to ``modelport.gateway`` (its Ollama surface), which has a fake service behind it.

Whatever modelport can say to Ollama, the gateway must answer. The fake service
(:class:`ScenarioService`) plays each scenario of the contract at the level of the
client (a missing model, a context overflow, a busy server, a crash, a stream that
breaks), and the gateway must turn it into what an Ollama server would have sent.
The provider's requests reach the app in-process, on an event loop of its own.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

import httpx

import modelport
from modelport import (
    Capabilities,
    ChatChunk,
    ChatResponse,
    ContextLengthExceededError,
    EmbedResponse,
    ModelInfo,
    ModelNotFoundError,
    ServiceUnavailableError,
    StreamError,
    Usage,
)
from modelport._http.ops import ItemOp, Op, emit, sleep
from modelport.gateway import Gateway, create_app
from modelport.testing import FakeProvider

from .harness import (
    ECHO_PREFIX,
    EMBED_VECTOR,
    MIDSTREAM_ERROR,
    MODELS,
    STREAM_PIECES_BEFORE_FAILURE,
    USAGE,
    Call,
)
from .harness_ollama import OllamaHarness

T = TypeVar("T")
SERVICE = "up"


class _Loop:
    """One event loop in a thread for every gateway the suite starts."""

    _shared: _Loop | None = None

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()

    @classmethod
    def get(cls) -> _Loop:
        if cls._shared is None:
            cls._shared = cls()
        return cls._shared

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=30)


class ScenarioService(FakeProvider):
    """The contract's scenarios, played by the service behind the gateway."""

    def __init__(self) -> None:
        models = [
            ModelInfo(
                id=f"{SERVICE}/{name}",
                name=name,
                service=SERVICE,
                kind="openai",
                loaded=True,
                capabilities=Capabilities(chat=True, embedding=name == "embedder"),
            )
            for name in MODELS
        ]
        super().__init__(models=models, name=SERVICE, reply=self._reply)

    @staticmethod
    def _reply(req: Any) -> ChatResponse:
        model = req.model
        if model == "missing":
            raise ModelNotFoundError(f"model '{model}' not found", model=model)
        if model == "overflow":
            raise ContextLengthExceededError(
                "the prompt is longer than the context length currently available to the model"
            )
        if model == "busy":
            raise ServiceUnavailableError("server busy, please try again")
        if model == "crash":
            raise RuntimeError("the runner crashed")  # a failure the gateway did not expect
        last = next(m.content for m in reversed(req.messages) if m.role == "user")
        usage = Usage(USAGE["prompt"], USAGE["completion"], USAGE["prompt"] + USAGE["completion"])
        return ChatResponse(text=ECHO_PREFIX + last, model=model, finish_reason="stop", usage=usage)

    def _op_chat_stream(self, req: Any) -> ItemOp[Any]:
        if req.model in ("midstream", "truncated"):
            for piece in STREAM_PIECES_BEFORE_FAILURE:
                yield from emit(ChatChunk(text=piece))
            why = MIDSTREAM_ERROR if req.model == "midstream" else "the stream ended early"
            raise StreamError(why, partial="".join(STREAM_PIECES_BEFORE_FAILURE))
        yield from super()._op_chat_stream(req)

    def _op_embed(self, model: str, inputs: list[str]) -> Op[EmbedResponse]:
        yield from sleep(self.latency)
        return EmbedResponse(vectors=[list(EMBED_VECTOR) for _ in inputs], model=model)


class GatewayHarness(OllamaHarness):
    """An Ollama provider in front of the gateway in front of :class:`ScenarioService`."""

    def __init__(self) -> None:
        super().__init__()
        self._app: Gateway | None = None

    def listed(self, name: str) -> str:
        return f"{SERVICE}/{name}"  # the gateway lists models by the client's ids

    def _gateway(self) -> Gateway:
        if self._app is None:
            client = modelport.AsyncClient(services=[ScenarioService()], max_retries=0)
            self._app = create_app(client)
        return self._app

    async def _forward(self, request: httpx.Request) -> tuple[int, list[Any], bytes]:
        transport = httpx.ASGITransport(app=self._gateway())
        forwarded = httpx.Request(
            request.method, request.url, headers=request.headers, content=request.content
        )
        response = await transport.handle_async_request(forwarded)
        body = b"".join([part async for part in response.stream])  # type: ignore[union-attr]
        return response.status_code, list(response.headers.raw), body

    def handler(self, request: httpx.Request) -> httpx.Response:
        import json

        body = json.loads(request.content) if request.content else None
        self.calls.append(Call(request.method, request.url.path, body, request.headers))
        status, headers, content = _Loop.get().run(self._forward(request))
        return httpx.Response(status, headers=headers, content=content)

"""The Anthropic Messages surface's routes and handlers (its translation is the rest
of this package): ``POST /v1/messages``, ``POST /v1/messages/count_tokens``, and
Claude Code's side paths, answered quietly.

From the client's features:

* :data:`THINK_BUDGET_OPTION`: the client's chat option (``think_budget``) that carries
  ``thinking.budget_tokens`` to servers that take a budget.
* ``count_tokens`` answers :meth:`modelport.AsyncClient.count_tokens` for the same
  chat: exact where the service counts (llama.cpp, vLLM), the estimate elsewhere.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import replace
from typing import Any

from ...types import ChatResponse
from .._errors import Failure, failure_for
from .._exchange import SSE, Exchange
from .._pipeline import Encoder, Framing, chat
from .._surface import ErrorShape, Route, Surface
from ._failures import error_reply, prompt_too_long
from ._paths import QUIET_PATHS, QuietPath
from ._replies import message_body
from ._requests import MessagesCall, parse_count_request, parse_messages_request
from ._stream import StreamEncoder
from ._tokens import count_tokens_body, estimate_input_tokens

__all__ = ["HEARTBEAT", "THINK_BUDGET_OPTION", "AnthropicSurface"]

HEARTBEAT = 10.0
"""Seconds without a chunk before the headers go out, then between ``ping`` events."""
THINK_BUDGET_OPTION: str | None = "think_budget"
"""The client's chat option for a thinking budget (``None``: only turn thinking on)."""


class AnthropicSurface(Surface):
    """Anthropic's Messages API."""

    name = "anthropic"

    def routes(self) -> Iterable[Route]:
        yield Route("/v1/messages", {"POST": self.messages}, body=True)
        yield Route("/v1/messages/count_tokens", {"POST": self.count_tokens}, body=True)
        quiet: dict[str, dict[str, Callable[[Exchange, object], Awaitable[None]]]] = {}
        for side in QUIET_PATHS:
            quiet.setdefault(side.path, {})[side.method] = _answer(side)
        for path, methods in quiet.items():
            yield Route(path, methods, public=True, quiet=True)

    def claims(self, path: str) -> bool:
        return path.startswith("/v1/messages")

    def failure_for(self, error: BaseException) -> Failure:
        failure = failure_for(error)
        if failure.code == "context_length_exceeded":  # worded as Claude Code reads it
            return replace(failure, message=prompt_too_long(failure.message, error))
        return failure

    def error(self, failure: Failure) -> ErrorShape:
        reply = error_reply(failure)
        return reply.status, reply.headers, reply.body

    # ------------------------------------------------------------------ handlers

    async def messages(self, ex: Exchange, body: object) -> None:
        request = parse_messages_request(body)
        options = _options(request)

        def reply(response: ChatResponse, _: float) -> dict[str, Any]:
            return message_body(
                response, model=request.model, stop_sequences=request.stop_sequences
            )

        def stream() -> tuple[Encoder, Framing]:
            encoder = StreamEncoder(model=request.model, input_tokens=_estimate(request))
            framing = Framing(SSE, encoder.error, encoder.start, encoder.ping, HEARTBEAT)
            return encoder, framing

        await chat(
            ex,
            self.client,
            replace(request, options=options),
            request.messages,
            reply=reply,
            stream=stream,
        )

    async def count_tokens(self, ex: Exchange, body: object) -> None:
        request = parse_count_request(body)
        ex.model = request.model
        ex.warn(*request.warnings)
        await self.client.model_info(request.model)  # an unknown model is a 404, as chat's
        counted = await self.client.count_tokens(
            request.model, request.messages, **_options(request)
        )
        ex.note(counted.service)
        await ex.json(200, count_tokens_body(counted.count))


def _estimate(request: MessagesCall) -> int:
    return estimate_input_tokens(request.messages, request.options.get("tools") or ())


def _options(request: MessagesCall) -> dict[str, Any]:
    if THINK_BUDGET_OPTION is None or request.thinking_budget is None:
        return request.options
    return {**request.options, THINK_BUDGET_OPTION: request.thinking_budget}


def _answer(side: QuietPath) -> Callable[[Exchange, object], Awaitable[None]]:
    async def answer(ex: Exchange, _: object) -> None:
        content_type = b"application/json" if side.body else b"text/plain; charset=utf-8"
        await ex.raw(side.status, side.body, content_type)

    return answer

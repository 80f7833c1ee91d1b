"""The Responses surface's routes and handlers (its translation and store are the
rest of this package): ``POST /v1/responses``, ``GET`` and ``DELETE
/v1/responses/{id}``, ``GET /v1/responses/{id}/input_items``.

Each gateway keeps its own :class:`ResponseStore` (in this process's memory).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from ...types import ChatResponse
from .._errors import Failure, headers_for
from .._exchange import SSE, Exchange
from .._pipeline import Encoder, Framing, chat
from .._surface import App, ErrorShape, Route, Surface
from ._failures import error_body, failure_for
from ._items import new_id
from ._objects import response_body
from ._request import parse_request
from ._store import ResponseStore, parse_list_query
from ._stream import EventEncoder

__all__ = ["HEARTBEAT", "ResponsesSurface"]

HEARTBEAT = 10.0
"""Seconds without a chunk before the headers go out, then between keep-alive comments."""
_PREFIX = "/v1/responses/"
_ITEMS = "/input_items"


class ResponsesSurface(Surface):
    """OpenAI's Responses API, with its stored responses."""

    name = "responses"

    def __init__(self, app: App) -> None:
        super().__init__(app)
        self.store = ResponseStore()
        self._stored = Route(_PREFIX + "{id}", {"GET": self.get, "DELETE": self.delete})
        self._items = Route(_PREFIX + "{id}" + _ITEMS, {"GET": self.input_items})

    def routes(self) -> Iterable[Route]:
        yield Route("/v1/responses", {"POST": self.create}, body=True)

    def route_with_parameter(self, path: str) -> tuple[Route, str] | None:
        if not path.startswith(_PREFIX):
            return None
        rest = path[len(_PREFIX) :]
        if rest.endswith(_ITEMS) and "/" not in rest[: -len(_ITEMS)] and len(rest) > len(_ITEMS):
            return self._items, rest[: -len(_ITEMS)]
        if rest and "/" not in rest:
            return self._stored, rest
        return None

    def claims(self, path: str) -> bool:
        return path.startswith("/v1/responses")

    def failure_for(self, error: BaseException) -> Failure:
        return failure_for(error)

    def error(self, failure: Failure) -> ErrorShape:
        return failure.status, headers_for(failure), error_body(failure)

    # ------------------------------------------------------------------ handlers

    async def create(self, ex: Exchange, body: object) -> None:
        request = parse_request(body)
        ex.model = request.model
        previous = request.previous_response_id
        history = self.store.conversation(previous) if previous else ()
        response_id = new_id("resp")
        created = int(time.time())
        encoders: list[EventEncoder] = []

        def reply(response: ChatResponse, _: float) -> dict[str, Any]:
            out = response_body(
                response, request, id=response_id, created_at=created, completed_at=int(time.time())
            )
            self.store.keep(request, out, history)
            return out

        def stream() -> tuple[Encoder, Framing]:
            encoder = EventEncoder(request, id=response_id, created_at=created)
            encoders.append(encoder)
            framing = Framing(SSE, encoder.fail, encoder.start, encoder.keep_alive, HEARTBEAT)
            return encoder, framing

        await chat(ex, self.client, request, request.messages(history), reply=reply, stream=stream)
        for encoder in encoders:
            if encoder.response is not None:
                self.store.keep(request, encoder.response, history)

    async def get(self, ex: Exchange, response_id: str) -> None:
        await ex.json(200, self.store.get(response_id))

    async def delete(self, ex: Exchange, response_id: str) -> None:
        await ex.json(200, self.store.delete(response_id))

    async def input_items(self, ex: Exchange, response_id: str) -> None:
        query = parse_list_query(ex.scope.get("query_string", b""))
        await ex.json(200, self.store.input_items(response_id, query))

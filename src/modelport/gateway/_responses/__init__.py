"""The OpenAI Responses surface's translation and state, pure: ``POST /v1/responses``
bodies to client calls, replies and streamed chunks to Responses objects and events,
and the store behind ``previous_response_id`` and the stored-response routes.

Nothing here does I/O. A handler uses it like this::

    call = parse_request(body)                       # InvalidRequestError, 501 for background
    history = store.conversation(call.previous_response_id) if call.previous_response_id else ()
    messages = call.messages(history)                # 400 previous_response_not_found above
    # not streamed
    reply = await client.chat(call.model, messages, **call.options)
    body = response_body(reply, call, id=new_id("resp"), created_at=int(time.time()))
    store.keep(call, body, history)                  # stores nothing for store: false
    # streamed
    encoder = EventEncoder(call, id=new_id("resp"), created_at=int(time.time()))
    ...encoder.start(), encoder.chunk(chunk) per chunk, encoder.end() or encoder.fail(failure)
    store.keep(call, encoder.response, history)      # once the stream finished

Errors go through :func:`failure_for` (this surface's rows, then the gateway's table)
and :func:`error_body`. ``call.warnings`` are for the ``x-modelport-warning`` header.
"""

from __future__ import annotations

from ._failures import (
    PreviousResponseNotFoundError,
    ResponseNotFoundError,
    UnsupportedFeatureError,
    error_body,
    failure_for,
)
from ._items import IdFactory, Item, new_id
from ._objects import deleted_body, response_body
from ._request import ResponsesCall, parse_request
from ._store import (
    DEFAULT_MAX_AGE,
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_RESPONSES,
    ListQuery,
    ResponseStore,
    parse_list_query,
)
from ._stream import KEEP_ALIVE, EventEncoder
from ._tools import CUSTOM_TOOL_ARGUMENT

__all__ = [
    "CUSTOM_TOOL_ARGUMENT",
    "DEFAULT_MAX_AGE",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_RESPONSES",
    "KEEP_ALIVE",
    "EventEncoder",
    "IdFactory",
    "Item",
    "ListQuery",
    "PreviousResponseNotFoundError",
    "ResponseNotFoundError",
    "ResponseStore",
    "ResponsesCall",
    "UnsupportedFeatureError",
    "deleted_body",
    "error_body",
    "failure_for",
    "new_id",
    "parse_list_query",
    "parse_request",
    "response_body",
]

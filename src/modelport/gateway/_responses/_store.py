"""The responses a gateway keeps for ``previous_response_id`` and the stored-response
routes: bounded, in memory, per gateway process.

A create with ``store`` (the default) keeps the response and the items it answered:
the stored conversation it continued (if any) and its own input. Continuing from it
sends that conversation, the response's output, then the new input. ``store: false``
keeps nothing, and so do responses that failed.

Bounds, the oldest response evicted first (by when it was kept):

* :data:`DEFAULT_MAX_RESPONSES` responses (1,000);
* :data:`DEFAULT_MAX_BYTES` of JSON (64 MiB): each response counts with its whole
  conversation, so a long chain fills the store sooner than its distinct text would;
  a response larger than the whole store is not kept;
* :data:`DEFAULT_MAX_AGE` seconds since it was kept (one hour).

A response's own copy of its conversation outlives the responses it continued: a
chain breaks only where the response named by ``previous_response_id`` itself is gone
(then 400 ``previous_response_not_found``, as OpenAI answers).

Behind a load balancer each gateway has its own store: use sticky sessions, or send
the whole conversation as ``input`` with ``store: false``, as Codex does.

The store is not thread-safe: it is meant for one event loop, whose handlers call it
between awaits (no method awaits, so each runs whole).
"""

from __future__ import annotations

import json
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple
from urllib.parse import parse_qsl

from ...errors import ConfigurationError, InvalidRequestError
from .._json import dumps
from ._failures import PreviousResponseNotFoundError, ResponseNotFoundError
from ._items import Item
from ._objects import deleted_body
from ._request import ResponsesCall

__all__ = [
    "DEFAULT_MAX_AGE",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_RESPONSES",
    "ListQuery",
    "ResponseStore",
    "parse_list_query",
]

DEFAULT_MAX_RESPONSES = 1000
"""How many responses a store keeps at most."""
DEFAULT_MAX_BYTES = 64 * 1024 * 1024
"""How many bytes of JSON (responses and their conversations) a store keeps at most."""
DEFAULT_MAX_AGE = 3600.0
"""How many seconds a store keeps a response."""

_KEPT = ("completed", "incomplete")


@dataclass(frozen=True, slots=True)
class ListQuery:
    """A page of ``GET /v1/responses/{id}/input_items``: ``limit`` items (1-100)
    ``after`` or ``before`` an item id, newest first (``desc``) or oldest first.
    """

    limit: int = 20
    order: Literal["asc", "desc"] = "desc"
    after: str | None = None
    before: str | None = None


def parse_list_query(query: str | bytes) -> ListQuery:
    """The query string of an ``input_items`` request; other parameters are ignored."""
    if isinstance(query, bytes):
        query = query.decode("latin-1")
    params = dict(parse_qsl(query))
    limit = params.get("limit", "20")
    if not limit.isdigit() or not 1 <= int(limit) <= 100:
        raise InvalidRequestError("'limit' must be a whole number from 1 to 100.")
    order = params.get("order", "desc")
    if order not in ("asc", "desc"):
        raise InvalidRequestError("'order' must be asc or desc.")
    return ListQuery(int(limit), order, params.get("after"), params.get("before"))  # type: ignore[arg-type]


class _Entry(NamedTuple):
    kept_at: float
    response: bytes
    context: bytes

    @property
    def size(self) -> int:
        return len(self.response) + len(self.context)


class ResponseStore:
    """Responses kept in memory, oldest evicted first (see the module's docstring).

    Args:
        max_responses: how many responses at most.
        max_bytes: how many bytes of JSON at most.
        max_age: seconds a response is kept.
        clock: seconds from any fixed point (``time.monotonic``; tests pass their own).

    Raises:
        ConfigurationError: a bound that is not a positive number.
    """

    def __init__(
        self,
        *,
        max_responses: int = DEFAULT_MAX_RESPONSES,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_age: float = DEFAULT_MAX_AGE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        for name, value in (
            ("max_responses", max_responses),
            ("max_bytes", max_bytes),
            ("max_age", max_age),
        ):
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise ConfigurationError(
                    f"The response store's {name} must be positive, not {value!r}."
                )
        self.max_responses = max_responses
        self.max_bytes = max_bytes
        self.max_age = max_age
        self._clock = clock
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self.size = 0
        """Bytes kept now."""

    def __len__(self) -> int:
        self._expire()
        return len(self._entries)

    def keep(
        self, call: ResponsesCall, response: Mapping[str, Any], history: Sequence[Item] = ()
    ) -> bool:
        """Keep a finished response and the conversation it answered, if the request
        asked to be stored; whether it was kept.
        """
        if not call.store or response.get("status") not in _KEPT:
            return False
        try:
            entry = _Entry(self._clock(), dumps(response), dumps(call.context(history)))
        except (TypeError, ValueError, RecursionError):  # not JSON: nothing to keep
            return False
        if entry.size > self.max_bytes:
            return False
        response_id = str(response["id"])
        self._drop(response_id)
        self._entries[response_id] = entry
        self.size += entry.size
        while len(self._entries) > self.max_responses or self.size > self.max_bytes:
            self._drop(next(iter(self._entries)))
        return True

    def get(self, response_id: str) -> dict[str, Any]:
        """``GET /v1/responses/{id}``: the response as it was kept.

        Raises:
            ResponseNotFoundError: no such response (answered 404).
        """
        return dict(json.loads(self._find(response_id, ResponseNotFoundError).response))

    def conversation(self, response_id: str) -> tuple[Item, ...]:
        """What continuing from a response sends before the new input: the
        conversation it answered, then its output.

        Raises:
            PreviousResponseNotFoundError: no such response (answered 400).
        """
        entry = self._find(response_id, PreviousResponseNotFoundError)
        output = json.loads(entry.response).get("output") or []
        return (*json.loads(entry.context), *output)

    def delete(self, response_id: str) -> dict[str, Any]:
        """``DELETE /v1/responses/{id}``: forget it; the deleted object.

        Raises:
            ResponseNotFoundError: no such response (answered 404).
        """
        self._find(response_id, ResponseNotFoundError)
        self._drop(response_id)
        return deleted_body(response_id)

    def input_items(self, response_id: str, query: ListQuery = ListQuery()) -> dict[str, Any]:
        """``GET /v1/responses/{id}/input_items``: a page of the items the response
        answered (earlier turns of its conversation too), as OpenAI lists them.

        Raises:
            ResponseNotFoundError: no such response (answered 404).
            InvalidRequestError: ``after`` or ``before`` names no item of the list.
        """
        items: list[dict[str, Any]] = json.loads(
            self._find(response_id, ResponseNotFoundError).context
        )
        if query.order == "desc":
            items.reverse()
        ids = [item.get("id") for item in items]
        start, stop = 0, len(items)
        for cursor, after in ((query.after, True), (query.before, False)):
            if cursor is None:
                continue
            if cursor not in ids:
                raise InvalidRequestError(f"There is no item '{cursor}' in this response's input.")
            if after:
                start = max(start, ids.index(cursor) + 1)
            else:
                stop = min(stop, ids.index(cursor))
        page = items[start : min(stop, start + query.limit)] if start < stop else []
        return {
            "object": "list",
            "data": page,
            "first_id": page[0]["id"] if page else None,
            "last_id": page[-1]["id"] if page else None,
            "has_more": start + len(page) < stop,
        }

    def _find(
        self,
        response_id: str,
        missing: type[ResponseNotFoundError] | type[PreviousResponseNotFoundError],
    ) -> _Entry:
        self._expire()
        entry = self._entries.get(response_id)
        if entry is None:
            raise missing(response_id)
        return entry

    def _drop(self, response_id: str) -> None:
        entry = self._entries.pop(response_id, None)
        if entry is not None:
            self.size -= entry.size

    def _expire(self) -> None:
        now = self._clock()
        while self._entries:
            response_id, entry = next(iter(self._entries.items()))
            if now - entry.kept_at <= self.max_age:
                return
            self._drop(response_id)

"""The Responses surface's state, pure: a bounded in-memory store of responses behind
``previous_response_id`` and the stored-response routes, driven by a fake clock."""

from __future__ import annotations

import itertools
from typing import Any

import httpx
import pytest

from modelport import ChatResponse, ConfigurationError, InvalidRequestError, Message, ToolCall
from modelport._wire.common import normalize_messages
from modelport.gateway import _responses as rs

CREATED = 1_796_289_285


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Chat:
    """Turns of a conversation kept in one store, as a handler would run them."""

    def __init__(self, **limits: Any) -> None:
        self.clock = Clock()
        self.store = rs.ResponseStore(clock=self.clock, **limits)
        numbers = itertools.count(1)
        self.ids: rs.IdFactory = lambda prefix: f"{prefix}_{next(numbers)}"

    def turn(
        self, input: Any, answer: ChatResponse | str, previous: str | None = None, **body: Any
    ) -> tuple[rs.ResponsesCall, dict[str, Any], list[Message]]:
        request: dict[str, Any] = {"model": "m", "input": input, **body}
        if previous is not None:
            request["previous_response_id"] = previous
        call = rs.parse_request(request, ids=self.ids)
        history = self.store.conversation(previous) if previous else ()
        messages = list(normalize_messages(call.messages(history)))
        if isinstance(answer, str):
            answer = ChatResponse(text=answer, model="m", finish_reason="stop")
        response = rs.response_body(
            answer, call, id=self.ids("resp"), created_at=CREATED, ids=self.ids
        )
        self.store.keep(call, response, history)
        return call, response, messages


# ---------------------------------------------------------------------------- continuing


def test_previous_response_id_continues_with_the_stored_input_and_output() -> None:
    chat = Chat()
    _, first, _ = chat.turn("Name a colour.", "Blue.")
    _, second, messages = chat.turn("Another one.", "Red.", previous=first["id"])
    assert messages == [
        Message(role="user", content="Name a colour."),
        Message(role="assistant", content="Blue."),
        Message(role="user", content="Another one."),
    ]
    _, _, messages = chat.turn("And a third.", "Green.", previous=second["id"])
    assert [m.content for m in messages] == [
        "Name a colour.",
        "Blue.",
        "Another one.",
        "Red.",
        "And a third.",
    ]


def test_instructions_are_not_carried_over_to_the_next_response() -> None:
    chat = Chat()
    _, first, messages = chat.turn("hi", "Hello.", instructions="Be brief.")
    assert messages[0] == Message(role="system", content="Be brief.")
    _, _, messages = chat.turn("again", "Hello again.", previous=first["id"])
    assert [m.role for m in messages] == ["user", "assistant", "user"]
    _, _, messages = chat.turn("once more", "Hi.", previous=first["id"], instructions="Be kind.")
    assert messages[0] == Message(role="system", content="Be kind.")


def test_a_tool_call_round_trip_through_the_store() -> None:
    chat = Chat()
    tools = [{"type": "function", "name": "get_weather", "parameters": {"type": "object"}}]
    answer = ChatResponse(
        text="",
        model="m",
        thinking="Look it up.",
        tool_calls=(ToolCall("get_weather", {"city": "Paris"}, id="call_w"),),
        finish_reason="tool_calls",
    )
    _, first, _ = chat.turn("Weather in Paris?", answer, tools=tools)
    output = [{"type": "function_call_output", "call_id": "call_w", "output": "sunny"}]
    _, _, messages = chat.turn(output, "It is sunny.", previous=first["id"], tools=tools)
    assert messages == [
        Message(role="user", content="Weather in Paris?"),
        Message(
            role="assistant",
            content="",
            thinking="Look it up.",
            tool_calls=(ToolCall("get_weather", {"city": "Paris"}, id="call_w"),),
        ),
        Message(role="tool", content="sunny", tool_call_id="call_w"),
    ]


def test_store_false_keeps_nothing() -> None:
    chat = Chat()
    _, first, _ = chat.turn("hi", "Hello.", store=False)
    assert len(chat.store) == 0 and chat.store.size == 0
    with pytest.raises(rs.PreviousResponseNotFoundError):
        chat.store.conversation(first["id"])
    with pytest.raises(rs.ResponseNotFoundError):
        chat.store.get(first["id"])


def test_an_unknown_previous_response_is_previous_response_not_found() -> None:
    chat = Chat()
    with pytest.raises(rs.PreviousResponseNotFoundError) as caught:
        chat.turn("hi", "Hello.", previous="resp_unknown")
    failure = rs.failure_for(caught.value)
    assert (failure.status, failure.code) == (400, "previous_response_not_found")
    assert "resp_unknown" in failure.message
    assert rs.error_body(failure)["error"]["param"] == "previous_response_id"


def test_only_finished_responses_are_kept() -> None:
    chat = Chat()
    call = rs.parse_request({"model": "m", "input": "hi"})
    for status in ("failed", "in_progress"):
        body = rs.response_body(
            ChatResponse(text="", model="m"), call, id=f"resp_{status}", created_at=CREATED
        )
        body["status"] = status
        assert chat.store.keep(call, body) is False
    assert len(chat.store) == 0


# ---------------------------------------------------------------------------- routes


def test_get_returns_the_response_as_it_was_kept() -> None:
    chat = Chat()
    _, first, _ = chat.turn("hi", "Hello.")
    kept = chat.store.get(first["id"])
    assert kept == first
    first["output"].clear()  # the caller's dict is not the store's
    assert chat.store.get(first["id"]) == kept


def test_delete_answers_the_deleted_object_then_the_response_is_gone() -> None:
    chat = Chat()
    _, first, _ = chat.turn("hi", "Hello.")
    assert chat.store.delete(first["id"]) == rs.deleted_body(first["id"])
    with pytest.raises(rs.ResponseNotFoundError) as caught:
        chat.store.get(first["id"])
    assert rs.failure_for(caught.value).status == 404
    with pytest.raises(rs.PreviousResponseNotFoundError):
        chat.store.conversation(first["id"])
    with pytest.raises(rs.ResponseNotFoundError):
        chat.store.delete(first["id"])
    assert len(chat.store) == 0 and chat.store.size == 0


def _page(chat: Chat, response_id: str, query: str = "") -> dict[str, Any]:
    return chat.store.input_items(response_id, rs.parse_list_query(query))


def test_input_items_lists_the_whole_conversation_newest_first_by_default() -> None:
    chat = Chat()
    _, first, _ = chat.turn([{"role": "user", "content": "one"}], "uno")
    _, second, _ = chat.turn([{"role": "user", "content": "two"}], "dos", previous=first["id"])
    page = _page(chat, second["id"])
    texts = [item["content"][0]["text"] for item in page["data"]]
    assert texts == ["two", "uno", "one"]  # earlier turns' input and output too
    assert page["object"] == "list" and page["has_more"] is False
    assert page["first_id"] == page["data"][0]["id"] and page["last_id"] == page["data"][-1]["id"]
    assert all(item["id"] for item in page["data"])


def test_input_items_pages_with_limit_order_after_and_before() -> None:
    chat = Chat()
    _, first, _ = chat.turn([{"role": "user", "content": str(n)} for n in range(5)], "done")
    ids = [item["id"] for item in _page(chat, first["id"], "order=asc")["data"]]
    assert len(ids) == 5
    page = _page(chat, first["id"], "order=asc&limit=2")
    assert [i["id"] for i in page["data"]] == ids[:2] and page["has_more"] is True
    page = _page(chat, first["id"], f"order=asc&limit=2&after={ids[1]}")
    assert [i["id"] for i in page["data"]] == ids[2:4] and page["has_more"] is True
    page = _page(chat, first["id"], f"order=asc&after={ids[3]}")
    assert [i["id"] for i in page["data"]] == ids[4:] and page["has_more"] is False
    page = _page(chat, first["id"], f"limit=2&after={ids[3]}")  # newest first
    assert [i["id"] for i in page["data"]] == [ids[2], ids[1]] and page["has_more"] is True
    page = _page(chat, first["id"], f"order=asc&before={ids[2]}")
    assert [i["id"] for i in page["data"]] == ids[:2]
    page = _page(chat, first["id"], f"order=asc&after={ids[4]}")
    assert page["data"] == [] and page["first_id"] is None and page["has_more"] is False


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", rs.ListQuery()),
        ("limit=5&order=asc", rs.ListQuery(limit=5, order="asc")),
        ("after=msg_1&include[]=message.input_image.image_url", rs.ListQuery(after="msg_1")),
        ("before=msg_9&limit=100", rs.ListQuery(limit=100, before="msg_9")),
    ],
)
def test_list_queries_parse(query: str, expected: rs.ListQuery) -> None:
    assert rs.parse_list_query(query) == expected
    assert rs.ListQuery() == rs.ListQuery(limit=20, order="desc", after=None, before=None)


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "limit=abc", "order=sideways"])
def test_bad_list_queries_are_invalid_requests(query: str) -> None:
    with pytest.raises(InvalidRequestError):
        rs.parse_list_query(query)


def test_a_cursor_that_is_not_in_the_list_is_an_invalid_request() -> None:
    chat = Chat()
    _, first, _ = chat.turn("hi", "Hello.")
    with pytest.raises(InvalidRequestError, match="msg_nope"):
        _page(chat, first["id"], "after=msg_nope")
    with pytest.raises(rs.ResponseNotFoundError):
        _page(chat, "resp_nope")


def test_the_sdk_reads_the_stored_response_and_its_input_items() -> None:
    openai = pytest.importorskip("openai")
    chat = Chat()
    _, first, _ = chat.turn(
        [{"role": "developer", "content": "Be brief."}, {"role": "user", "content": "hi"}], "Hello."
    )

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/v1/responses/")
        if path.endswith("/input_items"):
            query = request.url.query.decode()
            body = chat.store.input_items(path.split("/")[0], rs.parse_list_query(query))
            return httpx.Response(200, json=body)
        if request.method == "DELETE":
            return httpx.Response(200, json=chat.store.delete(path))
        return httpx.Response(200, json=chat.store.get(path))

    http = httpx.Client(transport=httpx.MockTransport(handler))
    sdk = openai.OpenAI(base_url="http://gateway.test/v1", api_key="k", http_client=http)
    assert sdk.responses.retrieve(first["id"]).output_text == "Hello."
    items = list(sdk.responses.input_items.list(first["id"], order="asc", limit=1))
    assert [(i.type, i.role, i.content[0].text) for i in items] == [
        ("message", "developer", "Be brief."),
        ("message", "user", "hi"),
    ]
    sdk.responses.delete(first["id"])
    assert len(chat.store) == 0


def test_listed_items_have_every_field_the_sdk_requires() -> None:
    openai = pytest.importorskip("openai")
    chat = Chat()
    history = [
        {"role": "developer", "content": "Be brief."},
        {
            "role": "user",
            "content": [
                {"type": "input_text", "text": "What is this?"},
                {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo="},
            ],
        },
        {"type": "reasoning", "content": [{"type": "reasoning_text", "text": "Look."}]},
        {"role": "assistant", "content": "Let me check."},
        {"type": "function_call", "call_id": "c1", "name": "look", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": "a cat"},
        {"type": "custom_tool_call", "call_id": "c2", "name": "apply_patch", "input": "x"},
        {"type": "custom_tool_call_output", "call_id": "c2", "output": "done"},
    ]
    _, first, _ = chat.turn(history, "A cat.")
    _, second, _ = chat.turn("Sure?", "Yes.", previous=first["id"])
    page = chat.store.input_items(second["id"], rs.ListQuery(limit=100, order="asc"))
    assert len(page["data"]) == len(history) + 2
    listed = openai.types.responses.ResponseItemList.model_validate(page)  # strict
    assert [item.type for item in listed.data][-3:] == [
        "custom_tool_call_output",
        "message",
        "message",
    ]


# ---------------------------------------------------------------------------- bounds


def test_the_oldest_response_is_evicted_beyond_the_count() -> None:
    chat = Chat(max_responses=2)
    _, first, _ = chat.turn("one", "1")
    _, second, _ = chat.turn("two", "2", previous=first["id"])
    _, third, _ = chat.turn("three", "3", previous=second["id"])
    assert len(chat.store) == 2
    with pytest.raises(rs.PreviousResponseNotFoundError):
        chat.store.conversation(first["id"])
    # a later response keeps its whole conversation, even once an earlier one is gone
    _, _, messages = chat.turn("four", "4", previous=third["id"])
    assert [m.content for m in messages] == ["one", "1", "two", "2", "three", "3", "four"]


def test_the_oldest_responses_are_evicted_beyond_the_size() -> None:
    probe = Chat()
    probe.turn("one", "1")
    one = probe.store.size
    assert one > 0
    chat = Chat(max_bytes=int(one * 2.5))
    ids = [chat.turn(text, text)[1]["id"] for text in ("a", "b", "c")]
    assert len(chat.store) == 2 and chat.store.size <= int(one * 2.5)
    with pytest.raises(rs.ResponseNotFoundError):
        chat.store.get(ids[0])
    assert chat.store.get(ids[2])["id"] == ids[2]


def test_a_response_larger_than_the_whole_store_is_not_kept_and_evicts_nothing() -> None:
    chat = Chat(max_bytes=2000)
    _, small, _ = chat.turn("hi", "Hello.")
    call = rs.parse_request({"model": "m", "input": "x" * 5000})
    big = rs.response_body(
        ChatResponse(text="y", model="m"), call, id="resp_big", created_at=CREATED
    )
    assert chat.store.keep(call, big) is False
    assert len(chat.store) == 1 and chat.store.get(small["id"])["id"] == small["id"]


def test_responses_expire_after_the_maximum_age() -> None:
    chat = Chat(max_age=60.0)
    _, first, _ = chat.turn("one", "1")
    chat.clock.now += 30
    _, second, _ = chat.turn("two", "2")
    chat.clock.now += 30  # the first is exactly 60 s old: still kept
    assert chat.store.get(first["id"])["id"] == first["id"]
    chat.clock.now += 0.5
    with pytest.raises(rs.PreviousResponseNotFoundError):
        chat.store.conversation(first["id"])
    assert chat.store.get(second["id"])["id"] == second["id"]
    assert len(chat.store) == 1


def test_the_defaults_are_documented_bounds() -> None:
    store = rs.ResponseStore()
    assert store.max_responses == rs.DEFAULT_MAX_RESPONSES == 1000
    assert store.max_bytes == rs.DEFAULT_MAX_BYTES == 64 * 1024 * 1024
    assert store.max_age == rs.DEFAULT_MAX_AGE == 3600.0


@pytest.mark.parametrize(
    "limits", [{"max_responses": 0}, {"max_bytes": -1}, {"max_age": 0}, {"max_age": float("nan")}]
)
def test_bounds_must_be_positive(limits: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        rs.ResponseStore(**limits)

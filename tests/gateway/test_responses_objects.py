"""The Responses surface's response objects and errors, checked against the real
openai SDK: its pydantic models validate every body strictly, and its client parses
them through ``httpx.MockTransport`` (no sockets)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from modelport import (
    ChatResponse,
    ContextLengthExceededError,
    ModelNotFoundError,
    ToolCall,
    Usage,
)
from modelport.gateway import _responses as rs

from .responses_helpers import counter

openai = pytest.importorskip("openai")
from openai.types.responses import Response  # noqa: E402

CREATED = 1_796_289_285
TOOLS = [
    {"type": "function", "name": "get_weather", "parameters": {"type": "object"}, "strict": False},
    {"type": "custom", "name": "apply_patch", "description": "Edit files."},
]


def call(**body: Any) -> rs.ResponsesCall:
    return rs.parse_request({"model": "smollm2", "input": "Say hi", **body})


def reply(**fields: Any) -> ChatResponse:
    defaults: dict[str, Any] = {
        "text": "Hi there!",
        "model": "/models/SmolLM2-135M-Instruct.Q4_1.gguf",
        "service": "llamacpp",
        "finish_reason": "stop",
        "usage": Usage(prompt_tokens=32, completion_tokens=3, total_tokens=35),
    }
    return ChatResponse(**{**defaults, **fields})


def body_of(answer: ChatResponse, request: rs.ResponsesCall | None = None) -> dict[str, Any]:
    return rs.response_body(
        answer, request or call(), id="resp_1", created_at=CREATED, ids=counter()
    )


def sdk(handler: Callable[[httpx.Request], httpx.Response]) -> Any:
    http = httpx.Client(transport=httpx.MockTransport(handler))
    return openai.OpenAI(
        base_url="http://gateway.test/v1", api_key="k", http_client=http, max_retries=0
    )


def answering(body: Any, status: int = 200) -> Any:
    return sdk(lambda request: httpx.Response(status, json=body))


# ---------------------------------------------------------------------------- bodies


def test_a_text_reply_with_thinking_is_a_completed_response_the_sdk_validates() -> None:
    body = body_of(reply(thinking="The user greets me."))
    assert body["id"] == "resp_1" and body["object"] == "response"
    assert body["created_at"] == CREATED
    assert body["model"] == "smollm2"  # the id asked for, not the server's path
    assert body["status"] == "completed" and body["incomplete_details"] is None
    assert body["error"] is None
    assert body["output"] == [
        {
            "type": "reasoning",
            "id": "rs_1",
            "status": "completed",
            "summary": [],
            "content": [{"type": "reasoning_text", "text": "The user greets me."}],
        },
        {
            "type": "message",
            "id": "msg_2",
            "status": "completed",
            "role": "assistant",
            "content": [
                {"type": "output_text", "text": "Hi there!", "annotations": [], "logprobs": []}
            ],
        },
    ]
    assert body["usage"] == {
        "input_tokens": 32,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": 3,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 35,
    }
    parsed = Response.model_validate(body)  # strict: every required field, every type
    assert parsed.output_text == "Hi there!"


def test_the_response_repeats_the_request_fields_as_openai_does() -> None:
    request = call(
        instructions="Be brief.",
        temperature=0.2,
        top_p=0.5,
        max_output_tokens=16,
        tools=[*TOOLS, {"type": "web_search"}],
        tool_choice="auto",
        parallel_tool_calls=False,
        reasoning={"effort": "low", "summary": "auto"},
        text={"format": {"type": "json_object"}},
        store=False,
        metadata={"run": "7"},
    )
    body = body_of(reply(), request)
    assert {key: body[key] for key in request.echo} == {
        "instructions": "Be brief.",
        "max_output_tokens": 16,
        "metadata": {"run": "7"},
        "parallel_tool_calls": False,
        "previous_response_id": None,
        "reasoning": {"effort": "low", "summary": "auto"},
        "store": False,
        "temperature": 0.2,
        "text": {"format": {"type": "json_object"}},
        "tool_choice": "auto",
        "tools": TOOLS,  # the dropped built-in tool is not repeated
        "top_p": 0.5,
        "truncation": "disabled",
    }
    Response.model_validate(body)


def test_the_sdk_client_parses_the_body_and_finds_its_output_text() -> None:
    body = body_of(reply(thinking="Greet."))
    seen: list[Any] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.method, request.url.path, json.loads(request.content)))
        return httpx.Response(200, json=body)

    response = sdk(handler).responses.create(model="smollm2", input="Say hi")
    assert seen == [("POST", "/v1/responses", {"model": "smollm2", "input": "Say hi"})]
    assert response.id == "resp_1" and response.status == "completed"
    assert response.output_text == "Hi there!"
    assert response.output[0].type == "reasoning"
    assert response.usage is not None and response.usage.total_tokens == 35


@pytest.mark.parametrize(
    ("finish", "reason"), [("length", "max_output_tokens"), ("content_filter", "content_filter")]
)
def test_a_cut_reply_is_incomplete_with_the_reason(finish: str, reason: str) -> None:
    body = body_of(reply(finish_reason=finish))
    assert body["status"] == "incomplete"
    assert body["incomplete_details"] == {"reason": reason}
    assert body["output"][0]["status"] == "incomplete"
    assert Response.model_validate(body).output_text == "Hi there!"


@pytest.mark.parametrize("finish", ["stop", "tool_calls", "load", None])
def test_other_endings_are_completed(finish: str | None) -> None:
    assert body_of(reply(finish_reason=finish))["status"] == "completed"


def test_tool_calls_are_function_call_items_with_ids_and_string_arguments() -> None:
    calls = (
        ToolCall("get_weather", {"city": "Paris"}, id="call_a"),
        ToolCall("get_weather", {"city": "Rome"}),  # no id from the server
        ToolCall("get_weather", {}, id="call_a"),  # the same id again
        ToolCall("get_weather", {}, raw_arguments='{"city": "Ber'),  # not JSON
    )
    body = body_of(reply(text="", tool_calls=calls, finish_reason="tool_calls"))
    items = body["output"]
    assert [item["type"] for item in items] == ["function_call"] * 4  # no empty message
    assert [item["id"] for item in items] == ["fc_1", "fc_3", "fc_5", "fc_7"]
    assert items[0] == {
        "type": "function_call",
        "id": "fc_1",
        "call_id": "call_a",
        "name": "get_weather",
        "arguments": '{"city": "Paris"}',
        "status": "completed",
    }
    call_ids = [item["call_id"] for item in items]
    assert len(set(call_ids)) == 4 and call_ids[0] == "call_a"
    assert [item["arguments"] for item in items[1:]] == ['{"city": "Rome"}', "{}", '{"city": "Ber']
    parsed = Response.model_validate(body)
    assert parsed.output_text == "" and parsed.output[1].type == "function_call"


def test_calls_of_custom_tools_come_back_as_custom_tool_calls() -> None:
    patch = "*** Begin Patch\n*** End Patch"
    calls = (
        ToolCall("apply_patch", {"input": patch}, id="call_p"),
        ToolCall("apply_patch", {"patch": "x"}, id="call_q"),  # not the one argument
        ToolCall("apply_patch", {}, id="call_r", raw_arguments="*** Begin Patch"),
    )
    body = body_of(reply(text="Patching.", tool_calls=calls), call(tools=TOOLS))
    message, *items = body["output"]
    assert message["type"] == "message"
    assert items[0] == {
        "type": "custom_tool_call",
        "id": "ctc_2",
        "call_id": "call_p",
        "name": "apply_patch",
        "input": patch,
        "status": "completed",
    }
    assert [item["input"] for item in items[1:]] == ['{"patch": "x"}', "*** Begin Patch"]
    assert Response.model_validate(body).output_text == "Patching."


def test_a_reply_with_nothing_is_one_empty_message() -> None:
    body = body_of(reply(text="", usage=None))
    assert [item["type"] for item in body["output"]] == ["message"]
    assert body["output"][0]["content"][0]["text"] == ""
    assert body["usage"] is None
    assert Response.model_validate(body).output_text == ""


def test_usage_the_server_did_not_fully_report_counts_as_zero() -> None:
    body = body_of(reply(usage=Usage(prompt_tokens=7)))
    assert body["usage"]["input_tokens"] == 7
    assert body["usage"]["output_tokens"] == 0 and body["usage"]["total_tokens"] == 7


def test_the_deleted_object() -> None:
    assert rs.deleted_body("resp_1") == {"id": "resp_1", "object": "response", "deleted": True}


def test_fresh_ids_look_like_openai_ids() -> None:
    first, second = rs.new_id("resp"), rs.new_id("resp")
    assert first.startswith("resp_") and len(first) == len("resp_") + 48 and first != second


# ---------------------------------------------------------------------------- errors


def test_this_surfaces_errors_have_their_statuses_and_codes() -> None:
    table: Iterator[tuple[Exception, int, str | None, str | None]] = iter(
        [
            (
                rs.UnsupportedFeatureError("Background mode is not supported."),
                501,
                "not_implemented",
                None,
            ),
            (
                rs.PreviousResponseNotFoundError("resp_x"),
                400,
                "previous_response_not_found",
                "previous_response_id",
            ),
            (rs.ResponseNotFoundError("resp_x"), 404, "response_not_found", None),
            (ModelNotFoundError("no model 'x'", model="x"), 404, "model_not_found", None),
            (ContextLengthExceededError("too long"), 400, "context_length_exceeded", None),
        ]
    )
    for error, status, code, param in table:
        failure = rs.failure_for(error)
        assert (failure.status, failure.code) == (status, code)
        body = rs.error_body(failure)
        assert body == {
            "error": {
                "message": failure.message,
                "type": failure.type,
                "code": code,
                "param": param,
            }
        }
    assert "resp_x" in rs.failure_for(rs.ResponseNotFoundError("resp_x")).message


def test_the_sdk_raises_its_own_error_for_each_status() -> None:
    cases = [
        (rs.ResponseNotFoundError("resp_x"), openai.NotFoundError),
        (rs.PreviousResponseNotFoundError("resp_x"), openai.BadRequestError),
        (
            rs.UnsupportedFeatureError("Background mode is not supported."),
            openai.InternalServerError,
        ),
    ]
    for error, expected in cases:
        failure = rs.failure_for(error)
        client = answering(rs.error_body(failure), failure.status)
        with pytest.raises(expected) as caught:
            client.responses.create(model="m", input="hi")
        assert caught.value.status_code == failure.status
        assert caught.value.code == failure.code
        assert str(failure.message) in str(caught.value)

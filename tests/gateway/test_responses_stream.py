"""The Responses surface's stream: one state machine from the client's chunks to the
Responses event grammar, checked event by event, against the non-streamed body,
against the real openai SDK's stream helper, and against what Codex reads."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from modelport import ChatChunk, ChatResponse, RateLimitError, StreamError, ToolCall, Usage
from modelport.gateway import _responses as rs
from tests.conftest import fixture_bytes

from .responses_helpers import check_grammar, codex_reads, codex_text, counter, sse_events

openai = pytest.importorskip("openai")
from openai.types.responses import ResponseStreamEvent  # noqa: E402
from pydantic import TypeAdapter  # noqa: E402

CREATED = 1_796_289_285
DONE_AT = CREATED + 2
USAGE = Usage(prompt_tokens=32, completion_tokens=5, total_tokens=37)
TOOLS = [
    {"type": "function", "name": "get_weather", "parameters": {"type": "object"}},
    {"type": "custom", "name": "apply_patch"},
]
EVENTS: TypeAdapter[Any] = TypeAdapter(ResponseStreamEvent)


def call(**body: Any) -> rs.ResponsesCall:
    return rs.parse_request({"model": "smollm2", "input": "Say hi", "stream": True, **body})


def encoder(request: rs.ResponsesCall | None = None) -> rs.EventEncoder:
    return rs.EventEncoder(
        request or call(), id="resp_1", created_at=CREATED, ids=counter(), clock=lambda: DONE_AT
    )


def stream(chunks: list[ChatChunk], request: rs.ResponsesCall | None = None) -> bytes:
    enc = encoder(request)
    out = enc.start() + b"".join(enc.chunk(c) for c in chunks) + enc.end()
    assert enc.response is not None
    return out


def body(reply: ChatResponse, request: rs.ResponsesCall | None = None) -> dict[str, Any]:
    return rs.response_body(
        reply,
        request or call(),
        id="resp_1",
        created_at=CREATED,
        completed_at=DONE_AT,
        ids=counter(),
    )


def types(raw: bytes) -> list[str]:
    return [e["type"] for e in sse_events(raw)]


def strictly_valid(raw: bytes) -> list[Any]:
    """Every event, validated by the SDK's own pydantic models (not its lenient parse)."""
    return [EVENTS.validate_python(event) for event in sse_events(raw)]


THINK_AND_TEXT = [
    ChatChunk(thinking="The user "),
    ChatChunk(thinking="greets me."),
    ChatChunk(text="Hi"),
    ChatChunk(text=" there!"),
    ChatChunk(finish_reason="stop", usage=USAGE, done=True),
]


# ---------------------------------------------------------------------------- the grammar


def test_thinking_then_text_streams_the_whole_grammar() -> None:
    raw = stream(THINK_AND_TEXT)
    assert types(raw) == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.reasoning_text.delta",
        "response.reasoning_text.delta",
        "response.reasoning_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    final = check_grammar(sse_events(raw))
    reply = ChatResponse(
        text="Hi there!",
        model="x",
        thinking="The user greets me.",
        finish_reason="stop",
        usage=USAGE,
    )
    assert final == body(reply)  # the streamed response is the unstreamed one
    strictly_valid(raw)


def test_the_created_event_carries_the_whole_response_in_progress() -> None:
    created = sse_events(stream(THINK_AND_TEXT))[0]["response"]
    assert created["id"] == "resp_1" and created["status"] == "in_progress"
    assert created["output"] == [] and created["usage"] is None and created["model"] == "smollm2"
    assert created["completed_at"] is None


def test_tool_calls_stream_as_function_call_items_and_never_as_output_text() -> None:
    chunks = [
        ChatChunk(text="Let me look."),
        ChatChunk(
            tool_calls=(
                ToolCall("get_weather", {"city": "Paris"}, id="call_a"),
                ToolCall("get_weather", {"city": "Rome"}),
            )
        ),
        ChatChunk(finish_reason="tool_calls", usage=USAGE, done=True),
    ]
    raw = stream(chunks, call(tools=TOOLS))
    events = sse_events(raw)
    final = check_grammar(events)
    assert [item["type"] for item in final["output"]] == [
        "message",
        "function_call",
        "function_call",
    ]
    text = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    assert text == "Let me look." and "Paris" not in text
    arguments = [e for e in events if e["type"] == "response.function_call_arguments.done"]
    assert [(e["name"], e["arguments"]) for e in arguments] == [
        ("get_weather", '{"city": "Paris"}'),
        ("get_weather", '{"city": "Rome"}'),
    ]
    reply = ChatResponse(
        text="Let me look.",
        model="x",
        tool_calls=tuple(c for chunk in chunks for c in chunk.tool_calls),
        finish_reason="tool_calls",
        usage=USAGE,
    )
    assert final == body(reply, call(tools=TOOLS))
    strictly_valid(raw)


def test_custom_tool_calls_stream_their_input() -> None:
    patch = "*** Begin Patch\n*** End Patch"
    chunks = [
        ChatChunk(tool_calls=(ToolCall("apply_patch", {"input": patch}, id="call_p"),)),
        ChatChunk(finish_reason="tool_calls", done=True),
    ]
    events = sse_events(stream(chunks, call(tools=TOOLS)))
    final = check_grammar(events)
    assert [e["type"] for e in events[2:-1]] == [
        "response.output_item.added",
        "response.custom_tool_call_input.delta",
        "response.custom_tool_call_input.done",
        "response.output_item.done",
    ]
    assert final["output"][0]["type"] == "custom_tool_call" and final["output"][0]["input"] == patch
    assert events[2]["item"]["input"] == "" and events[3]["delta"] == patch


def test_a_reply_cut_by_the_token_limit_ends_with_response_incomplete() -> None:
    chunks = [
        ChatChunk(text="Once upon"),
        ChatChunk(finish_reason="length", usage=USAGE, done=True),
    ]
    raw = stream(chunks)
    events = sse_events(raw)
    final = check_grammar(events)
    assert events[-1]["type"] == "response.incomplete"
    assert final["status"] == "incomplete"
    assert final["incomplete_details"] == {"reason": "max_output_tokens"}
    assert final["output"][0]["status"] == "incomplete"
    reply = ChatResponse(text="Once upon", model="x", finish_reason="length", usage=USAGE)
    assert final == body(reply)
    strictly_valid(raw)


def test_a_failure_after_the_start_is_response_failed_carrying_the_error() -> None:
    enc = encoder()
    raw = enc.start() + enc.chunk(ChatChunk(thinking="Hmm.")) + enc.chunk(ChatChunk(text="Hi th"))
    failure = rs.failure_for(StreamError("The stream from llama.cpp broke off.", partial="Hi th"))
    raw += enc.fail(failure)
    events = sse_events(raw)
    final = check_grammar(events)
    assert events[-1]["type"] == "response.failed"
    assert final["status"] == "failed"
    assert final["error"] == rs.error_body(failure)["error"]
    assert final["error"]["code"] == "upstream_error"
    assert [(i["type"], i["status"]) for i in final["output"]] == [
        ("reasoning", "completed"),
        ("message", "incomplete"),
    ]
    assert final["output"][1]["content"][0]["text"] == "Hi th"  # nothing received is lost
    assert enc.response == final
    # the SDK's models take it, but for the error code, which it lists (and Codex does not)
    for event in events[:-1]:
        EVENTS.validate_python(event)


def test_a_failure_before_any_output_still_opens_and_closes_the_stream() -> None:
    enc = encoder()
    raw = enc.fail(rs.failure_for(StreamError("broke")))
    assert types(raw) == ["response.created", "response.in_progress", "response.failed"]
    assert check_grammar(sse_events(raw))["output"] == []


def test_a_rate_limit_mid_stream_says_when_to_try_again_as_codex_reads_it() -> None:
    failure = rs.failure_for(RateLimitError("Too many requests.", retry_after=7))
    final = sse_events(encoder().fail(failure))[-1]["response"]
    assert final["error"]["code"] == "rate_limit_exceeded"
    assert "try again in 7s" in final["error"]["message"]


def test_a_stream_with_no_chunks_completes_with_one_empty_message() -> None:
    enc = encoder()
    raw = enc.start() + enc.end()
    final = check_grammar(sse_events(raw))
    assert [i["type"] for i in final["output"]] == ["message"]
    assert final == body(ChatResponse(text="", model="x"))


def test_there_is_exactly_one_final_event_whatever_is_called_after_it() -> None:
    enc = encoder()
    raw = enc.start() + enc.start() + b"".join(enc.chunk(c) for c in THINK_AND_TEXT)
    assert enc.finished and enc.response is not None
    after = (
        enc.chunk(ChatChunk(text="late"))
        + enc.end()
        + enc.fail(rs.failure_for(StreamError("x")))
        + enc.start()
    )
    assert after == b""
    check_grammar(sse_events(raw))


def test_the_response_is_known_only_once_the_stream_finished() -> None:
    enc = encoder()
    enc.chunk(ChatChunk(text="Hi"))
    assert enc.response is None and not enc.finished
    enc.end()
    assert enc.response is not None and enc.response["status"] == "completed"


def test_keep_alive_is_an_sse_comment_that_clients_skip() -> None:
    enc = encoder()
    assert enc.keep_alive() == rs.KEEP_ALIVE == b": keep-alive\n\n"
    raw = (
        enc.keep_alive()
        + enc.start()
        + enc.keep_alive()
        + b"".join(enc.chunk(c) for c in THINK_AND_TEXT)
    )
    check_grammar(sse_events(raw))
    assert raw.count(b"\n: keep-alive\n\n") + raw.startswith(b": keep-alive") == 2


def test_later_thinking_opens_a_new_reasoning_item() -> None:
    chunks = [
        ChatChunk(text="A"),
        ChatChunk(thinking="B"),
        ChatChunk(text="C"),
        ChatChunk(done=True, finish_reason="stop"),
    ]
    final = check_grammar(sse_events(stream(chunks)))
    assert [i["type"] for i in final["output"]] == ["message", "reasoning", "message"]


# ---------------------------------------------------------------------------- real clients


def sdk_serving(raw: bytes) -> Any:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=raw, headers={"content-type": "text/event-stream"})

    http = httpx.Client(transport=httpx.MockTransport(handler))
    return openai.OpenAI(
        base_url="http://gateway.test/v1", api_key="k", http_client=http, max_retries=0
    )


def test_the_sdk_stream_helper_accumulates_our_events_into_the_final_response() -> None:
    raw = stream(THINK_AND_TEXT)
    with sdk_serving(raw).responses.stream(model="smollm2", input="Say hi") as events:
        seen = [event.type for event in events]
        final = events.get_final_response()
    assert seen == types(raw)
    assert final.id == "resp_1" and final.output_text == "Hi there!"
    assert final.output[0].type == "reasoning"
    assert final.output[0].content is not None
    assert final.output[0].content[0].text == "The user greets me."


def test_the_sdk_stream_helper_takes_tool_calls_and_keep_alives() -> None:
    enc = encoder(call(tools=TOOLS))
    raw = enc.keep_alive() + enc.start() + enc.keep_alive()
    raw += enc.chunk(ChatChunk(tool_calls=(ToolCall("get_weather", {"city": "Oslo"}, id="c1"),)))
    raw += enc.chunk(ChatChunk(done=True, finish_reason="tool_calls"))
    tools = [{"type": "function", "name": "get_weather", "parameters": {"type": "object"}}]
    with sdk_serving(raw).responses.stream(model="smollm2", input="hi", tools=tools) as events:
        deltas = [e.delta for e in events if e.type == "response.function_call_arguments.delta"]
        final = events.get_final_response()
    assert deltas == ['{"city": "Oslo"}']
    (item,) = final.output
    assert item.type == "function_call" and item.call_id == "c1" and item.arguments == deltas[0]


@pytest.mark.parametrize("ending", ["incomplete", "failed"])
def test_the_sdk_reads_streams_that_did_not_complete_to_their_last_event(ending: str) -> None:
    enc = encoder()
    raw = enc.chunk(ChatChunk(text="Once"))
    if ending == "incomplete":
        raw += enc.chunk(ChatChunk(done=True, finish_reason="length"))
    else:
        raw += enc.fail(rs.failure_for(StreamError("broke")))
    with sdk_serving(raw).responses.stream(model="smollm2", input="hi") as events:
        last = list(events)[-1]
    assert last.type == f"response.{ending}" and last.response.status == ending


def test_codex_gets_the_text_from_output_item_done_and_the_usage_from_completed() -> None:
    items, usage = codex_reads(stream(THINK_AND_TEXT))
    assert [item["type"] for item in items] == ["reasoning", "message"]
    assert codex_text(items) == "Hi there!"
    assert usage is not None and usage["total_tokens"] == 37


def test_codex_reads_tool_calls_and_custom_tool_calls() -> None:
    chunks = [
        ChatChunk(
            tool_calls=(
                ToolCall("exec_command", {"cmd": "ls"}, id="call_1"),
                ToolCall("apply_patch", {"input": "*** Begin Patch"}, id="call_2"),
            )
        ),
        ChatChunk(done=True, finish_reason="tool_calls"),
    ]
    request = call(
        tools=[
            {"type": "function", "name": "exec_command", "parameters": {"type": "object"}},
            TOOLS[1],
        ]
    )
    items, _ = codex_reads(stream(chunks, request))
    assert [(i["type"], i["call_id"]) for i in items] == [
        ("function_call", "call_1"),
        ("custom_tool_call", "call_2"),
    ]


def test_our_events_are_the_events_of_the_stream_codex_accepted() -> None:
    """The recorder's answer that Codex 0.169.0 took (`Hi there!`, exit 0) and ours for
    the same reply have the same events in the same order."""
    accepted = sse_events(fixture_bytes("responses/recorder_responses_stream_accepted.sse"))
    ours = sse_events(
        stream([ChatChunk(text="Hi t"), ChatChunk(text="here!"), ChatChunk(done=True)])
    )
    assert [e["type"] for e in ours] == [e["type"] for e in accepted]
    for mine, theirs in zip(ours, accepted, strict=True):
        assert set(theirs) <= set(mine), (mine["type"], set(theirs) - set(mine))
    assert codex_text(
        codex_reads(fixture_bytes("responses/recorder_responses_stream_accepted.sse"))[0]
    ) == (codex_text(codex_reads(stream([ChatChunk(text="Hi there!"), ChatChunk(done=True)]))[0]))


def test_llama_servers_own_responses_stream_has_the_same_item_events() -> None:
    """llama-server's /v1/responses answer (which Codex also took) is our grammar less
    the sequence numbers and indexes: the same events, in the same order."""
    theirs = sse_events(fixture_bytes("responses/llamacpp_responses_stream.sse"))
    deltas = sum(e["type"] == "response.output_text.delta" for e in theirs)
    ours = sse_events(stream([ChatChunk(text="x")] * deltas + [ChatChunk(done=True)]))
    assert [e["type"] for e in ours] == [e["type"] for e in theirs]

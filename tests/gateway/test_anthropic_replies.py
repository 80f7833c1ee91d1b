"""The Anthropic surface's answers, pure: whole messages, stop reasons, usage, errors,
the model list (a superset both SDKs read), count_tokens and Claude Code's side paths.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

import pytest

from modelport import (
    AllServicesFailedError,
    AuthenticationError,
    Capabilities,
    CapabilityError,
    ChatResponse,
    ConfigurationError,
    ContextLengthExceededError,
    InvalidRequestError,
    Message,
    ModelInfo,
    ModelNotFoundError,
    ModelNotLoadedError,
    ProtocolError,
    RateLimitError,
    RequestTimeoutError,
    ServerError,
    ServiceUnavailableError,
    StreamError,
    ToolCall,
    Usage,
)
from modelport.gateway import _anthropic as an
from modelport.gateway import _errors as errors
from modelport.gateway import _openai as oa
from tests.conftest import load_fixture

# ---------------------------------------------------------------------------- messages


def test_a_reply_has_thinking_text_and_tool_use_blocks_in_that_order() -> None:
    reply = ChatResponse(
        text="I'll check.",
        model="qwen3:8b",
        thinking="The user wants the weather.",
        tool_calls=(ToolCall("get_weather", {"city": "Paris"}, id="call_7"),),
        finish_reason="tool_calls",
        usage=Usage(21, 9, 30),
    )
    body = an.message_body(reply, model="ollama/qwen3", id="msg_1")
    assert body == {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "ollama/qwen3",
        "content": [
            {
                "type": "thinking",
                "thinking": "The user wants the weather.",
                "signature": an.thinking_signature("The user wants the weather."),
            },
            {"type": "text", "text": "I'll check."},
            {"type": "tool_use", "id": "call_7", "name": "get_weather", "input": {"city": "Paris"}},
        ],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {"input_tokens": 21, "output_tokens": 9},
    }


def test_a_message_gets_a_fresh_msg_id_when_none_is_given() -> None:
    first = an.message_body(ChatResponse(text="x", model="m"), model="m")
    second = an.message_body(ChatResponse(text="x", model="m"), model="m")
    assert first["id"].startswith("msg_") and second["id"].startswith("msg_")
    assert first["id"] != second["id"]


def test_the_thinking_signature_is_non_empty_opaque_and_stable() -> None:
    signature = an.thinking_signature("plan")
    assert signature and signature == an.thinking_signature("plan")
    assert signature != an.thinking_signature("other plan")
    assert "plan" not in signature
    assert re.fullmatch(r"[A-Za-z0-9+/=_-]+", signature)
    assert an.thinking_signature("")


def test_calls_without_ids_get_fresh_toolu_ids_and_ids_stay_unique() -> None:
    reply = ChatResponse(
        text="",
        model="m",
        tool_calls=(
            ToolCall("f", {}),
            ToolCall("g", {"a": 1}, id="dup"),
            ToolCall("h", {}, id="dup"),
            ToolCall("k", {}),
        ),
        finish_reason="stop",
    )
    blocks = an.message_body(reply, model="m")["content"]
    ids = [b["id"] for b in blocks]
    assert [b["type"] for b in blocks] == ["tool_use"] * 4
    assert ids[1] == "dup"
    assert all(i.startswith("toolu_") for i in (ids[0], ids[2], ids[3]))
    assert len(set(ids)) == 4


def test_arguments_that_were_not_json_are_kept_under_raw_arguments() -> None:
    reply = ChatResponse(
        text="", model="m", tool_calls=(ToolCall("f", {}, id="t", raw_arguments="{not json"),)
    )
    (block,) = an.message_body(reply, model="m")["content"]
    assert block["input"] == {"raw_arguments": "{not json"}


def test_an_empty_reply_has_one_empty_text_block() -> None:
    body = an.message_body(ChatResponse(text="", model="m", finish_reason="stop"), model="m")
    assert body["content"] == [{"type": "text", "text": ""}]
    only_thinking = an.message_body(ChatResponse(text="", model="m", thinking="hm"), model="m")
    assert [b["type"] for b in only_thinking["content"]] == ["thinking"]


@pytest.mark.parametrize(
    ("reason", "calls", "expected"),
    [
        ("stop", False, "end_turn"),
        (None, False, "end_turn"),
        ("length", False, "max_tokens"),
        ("length", True, "max_tokens"),
        ("tool_calls", True, "tool_use"),
        ("stop", True, "tool_use"),
        (None, True, "tool_use"),
        ("content_filter", False, "refusal"),
        ("load", False, "end_turn"),
        ("cancelled", False, "end_turn"),
        ("error", False, "end_turn"),
    ],
)
def test_stop_reasons(reason: str | None, calls: bool, expected: str) -> None:
    assert an.stop_reason(reason, tool_calls=calls) == expected


def test_a_stop_sequence_the_server_names_sets_stop_sequence() -> None:
    # vLLM names the stop string that ended the reply in choices[0].stop_reason.
    raw = {"choices": [{"finish_reason": "stop", "stop_reason": "END", "message": {}}]}
    reply = ChatResponse(text="x", model="m", finish_reason="stop", raw=raw)
    body = an.message_body(reply, model="m", stop_sequences=("END", "STOP"))
    assert (body["stop_reason"], body["stop_sequence"]) == ("stop_sequence", "END")
    # A stop the caller did not ask for (a token id, an EOS string) is an end of turn.
    other = ChatResponse(
        text="x", model="m", finish_reason="stop", raw={**raw, "choices": [{"stop_reason": 2}]}
    )
    assert an.message_body(other, model="m", stop_sequences=("END",))["stop_reason"] == "end_turn"
    assert an.message_body(reply, model="m")["stop_reason"] == "end_turn"
    assert an.stop_reason("stop", tool_calls=False, stop_sequence="END") == "stop_sequence"


@pytest.mark.parametrize("raw", [{"choices": "x"}, {"choices": []}, {"choices": [3]}, {"x": 1}, {}])
def test_odd_raw_bodies_name_no_stop_sequence(raw: Any) -> None:
    reply = ChatResponse(text="x", model="m", finish_reason="stop", raw=raw)
    assert an.message_body(reply, model="m", stop_sequences=("END",))["stop_sequence"] is None


def test_usage_is_input_and_output_tokens_zero_when_unknown() -> None:
    assert an.usage_body(Usage(5, 2, 7)) == {"input_tokens": 5, "output_tokens": 2}
    assert an.usage_body(Usage(None, 3, None)) == {"input_tokens": 0, "output_tokens": 3}
    assert an.usage_body(None) == {"input_tokens": 0, "output_tokens": 0}


# ---------------------------------------------------------------------------- errors


def _reply(error: BaseException | errors.Failure) -> tuple[int, dict[str, str], dict[str, Any]]:
    reply = an.error_reply(error)
    headers = {k.decode(): v.decode() for k, v in reply.headers}
    json.dumps(reply.body)
    return reply.status, headers, reply.body


@pytest.mark.parametrize(
    ("error", "status", "kind"),
    [
        (InvalidRequestError("bad"), 400, "invalid_request_error"),
        (CapabilityError("no tools here"), 400, "invalid_request_error"),
        (ModelNotFoundError("no model 'x'", model="x"), 404, "not_found_error"),
        (ModelNotLoadedError("not loaded"), 409, "invalid_request_error"),
        (RequestTimeoutError("slow"), 504, "timeout_error"),
        (AuthenticationError("refused our key"), 502, "api_error"),
        (ServerError("boom"), 502, "api_error"),
        (ProtocolError("garbled"), 502, "api_error"),
        (StreamError("cut"), 502, "api_error"),
        (ConfigurationError("bad config"), 500, "api_error"),
        (ValueError("a bug"), 500, "api_error"),
    ],
)
def test_errors_take_anthropics_types_and_statuses(
    error: BaseException, status: int, kind: str
) -> None:
    got_status, headers, body = _reply(error)
    assert (got_status, body["type"], body["error"]["type"]) == (status, "error", kind)
    assert set(body) == {"type", "error"} and set(body["error"]) == {"type", "message"}
    assert body["error"]["message"]
    assert "retry-after" not in headers


def test_no_healthy_service_is_overloaded_529_with_retry_after() -> None:
    down = ServiceUnavailableError("refused")
    status, headers, body = _reply(
        AllServicesFailedError("every service failed", errors=[down, down])
    )
    assert (status, body["error"]["type"]) == (529, "overloaded_error")
    assert int(headers["retry-after"]) >= 1
    busy = ServiceUnavailableError("busy")
    busy.retry_after = 7
    status, headers, body = _reply(busy)
    assert (status, headers["retry-after"], body["error"]["type"]) == (529, "7", "overloaded_error")


def test_a_rate_limit_is_429_with_retry_after() -> None:
    status, headers, body = _reply(RateLimitError("slow down", retry_after=3))
    assert (status, headers["retry-after"], body["error"]["type"]) == (429, "3", "rate_limit_error")


def test_the_gateways_own_refusals_in_anthropics_shape() -> None:
    assert _reply(errors.unauthorized())[:1] == (401,)
    assert _reply(errors.unauthorized())[2]["error"]["type"] == "authentication_error"
    assert _reply(errors.too_large(10))[2]["error"]["type"] == "request_too_large"
    assert _reply(errors.too_large(10))[0] == 413
    route = _reply(errors.route_not_found("GET", "/v1/nope"))
    assert (route[0], route[2]["error"]["type"]) == (404, "not_found_error")
    assert _reply(errors.bad_body("JSONDecodeError"))[2]["error"]["type"] == "invalid_request_error"
    assert _reply(errors.loop())[0] == 508


def test_a_context_overflow_says_the_limit_the_way_claude_code_reads_it() -> None:
    # llama.cpp's own words, as the client keeps them in the message.
    error = ContextLengthExceededError(
        "The prompt does not fit the model's context on llama.cpp server at http://x: "
        "request (24071 tokens) exceeds the available context size (8192 tokens), "
        "try increasing it.",
        context_length=8192,
    )
    status, _, body = _reply(error)
    assert (status, body["error"]["type"]) == (400, "invalid_request_error")
    message = body["error"]["message"]
    # Anthropic's own words, exactly: Claude Code reads the two numbers with
    # /prompt is too long[^0-9]*(\d+)\s*tokens?\s*>\s*(\d+)/i to compact its context, and
    # takes an error whose message matches /^prompt is too long: \d+ tokens > \d+ maximum$/
    # for one of the API's own (strings of its 2.1.328 binary).
    assert message == "prompt is too long: 24071 tokens > 8192 maximum"


@pytest.mark.parametrize(
    ("message", "limit", "numbers"),
    [
        (
            "This model's maximum context length is 4096 tokens. However, you requested "
            "5000 tokens (4900 in the messages, 100 in the completion).",
            None,
            ("4900", "4096"),
        ),
        (
            "This model's maximum context length is 4096 tokens. However, your request has "
            "4500 input tokens.",
            None,
            ("4500", "4096"),
        ),
        (
            "The prompt does not fit the 2048-token context that LM Studio loaded 'm' with",
            2048,
            None,
        ),
        ("the input length exceeds the context length", 4096, None),
    ],
)
def test_context_overflows_from_other_servers(
    message: str, limit: int | None, numbers: tuple[str, str] | None
) -> None:
    _, _, body = _reply(ContextLengthExceededError(message, context_length=limit))
    said = body["error"]["message"]
    assert said.lower().startswith("prompt is too long")
    if numbers:
        found = re.match(r"prompt is too long[^0-9]*(\d+)\s*tokens?\s*>\s*(\d+)", said, re.I)
        assert found and found.groups() == numbers
    if limit:
        assert f"{limit} tokens" in said


def test_a_context_overflow_behind_failover_keeps_its_limit() -> None:
    cause = ContextLengthExceededError("too long", context_length=4096)
    status, _, body = _reply(AllServicesFailedError("every service failed", errors=[cause]))
    assert status == 400 and "4096 tokens" in body["error"]["message"]


def test_an_overflow_failure_without_the_error_still_says_prompt_is_too_long() -> None:
    failure = errors.failure_for(
        ContextLengthExceededError(
            "request (10 tokens) exceeds the available context size (8 tokens)"
        )
    )
    _, _, body = _reply(failure)
    assert body["error"]["message"] == "prompt is too long: 10 tokens > 8 maximum"


def test_an_error_after_the_stream_started_is_an_error_event() -> None:
    raw = an.error_event(ServerError("upstream died"))
    assert raw.startswith(b"event: error\ndata: ") and raw.endswith(b"\n\n")
    data = json.loads(raw.split(b"data: ", 1)[1])
    assert data == {"type": "error", "error": {"type": "api_error", "message": "upstream died"}}
    overloaded = json.loads(an.error_event(ServiceUnavailableError("busy")).split(b"data: ", 1)[1])
    assert overloaded["error"]["type"] == "overloaded_error"


# ---------------------------------------------------------------------------- models


INFO = ModelInfo(
    id="ollama/qwen3:8b",
    name="qwen3:8b",
    service="ollama",
    kind="ollama",
    context_length=40960,
    loaded=True,
    capabilities=Capabilities(chat=True, tools=True, thinking=True),
)


def test_a_model_entry_is_the_openai_entry_plus_anthropics_fields() -> None:
    entry = an.model_body(INFO)
    assert {k: entry[k] for k in oa.model_body(INFO)} == oa.model_body(INFO)
    assert entry["type"] == "model"
    assert entry["display_name"] == "ollama/qwen3:8b"
    assert entry["object"] == "model"
    created = datetime.fromisoformat(entry["created_at"].replace("Z", "+00:00"))
    assert created.timestamp() == entry["created"]
    assert entry["created_at"].endswith("Z")
    assert (
        an.model_body(INFO, "qwen")["id"] == "qwen"
        and an.model_body(INFO, "qwen")["display_name"] == "qwen"
    )


def test_the_model_list_has_anthropics_paging_fields() -> None:
    other = ModelInfo(id="lmstudio/gemma", name="gemma", service="lmstudio", kind="lmstudio")
    body = an.models_body([INFO, other])
    assert body["object"] == "list"
    assert [m["id"] for m in body["data"]] == ["ollama/qwen3:8b", "lmstudio/gemma"]
    assert (body["has_more"], body["first_id"], body["last_id"]) == (
        False,
        "ollama/qwen3:8b",
        "lmstudio/gemma",
    )
    empty = an.models_body([])
    assert (empty["data"], empty["first_id"], empty["last_id"], empty["has_more"]) == (
        [],
        None,
        None,
        False,
    )


# ---------------------------------------------------------------------------- count_tokens


def test_the_count_tokens_answer() -> None:
    assert an.count_tokens_body(4249) == {"input_tokens": 4249}


def test_the_estimate_is_within_a_few_percent_on_claude_codes_request() -> None:
    # Measured: llama.cpp counted 4,249 SmolLM2 tokens for this request, whose template
    # renders no tools (docs/records/agent-clients.md section 5).
    body = load_fixture("anthropic/claude_code_2.1.328_messages_request.json")
    call = an.parse_count_request(body)
    tools = call.options["tools"]
    estimate = an.estimate_input_tokens(call.messages, tools, tools_rendered=False)
    assert abs(estimate - 4249) / 4249 < 0.05, estimate
    with_tools = an.estimate_input_tokens(call.messages, tools)
    tool_chars = len(json.dumps(tools, separators=(",", ":"), ensure_ascii=False))
    assert with_tools - estimate == pytest.approx(tool_chars / 4, abs=2)


def test_the_estimate_counts_every_part_of_the_conversation() -> None:
    base = an.estimate_input_tokens([Message(role="user", content="x" * 400)])
    assert base >= 100
    calls = an.estimate_input_tokens(
        [
            Message(role="user", content="x" * 400),
            Message(role="assistant", tool_calls=(ToolCall("f", {"q": "y" * 400}),)),
        ]
    )
    assert calls >= base + 100
    image = an.estimate_input_tokens(
        [Message(role="user", content="x" * 400, images=("https://x/y.png",))]
    )
    assert image >= base + an.IMAGE_TOKENS
    assert an.estimate_input_tokens([]) == 0


# ---------------------------------------------------------------------------- side paths


def test_claude_codes_side_paths_are_listed_for_a_quiet_answer() -> None:
    paths = {(p.method, p.path): p for p in an.QUIET_PATHS}
    hello = paths[("HEAD", "/api/hello")]
    assert 200 <= hello.status < 300 and "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC" in hello.why
    batch = paths[("POST", "/api/event_logging/batch")]
    assert 200 <= batch.status < 300 and "13939" in batch.why
    assert ("POST", "/api/event_logging/v2/batch") in paths
    assert all(p.path.startswith("/") and p.why for p in an.QUIET_PATHS)
    assert an.QUERY_TOLERATED == ("beta",)

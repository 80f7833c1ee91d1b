"""The Responses surface's request translation, pure: ``POST /v1/responses`` bodies in,
client arguments (model, messages, options, stream) out, and a clear
:class:`InvalidRequestError` for every malformed shape."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelport import CapabilityError, InvalidRequestError, Message, ToolCall
from modelport._wire.common import build_chat_request, normalize_messages
from modelport.gateway import _responses as rs
from tests.conftest import load_fixture

CODEX = "responses/codex_0.169.0_responses_request.json"
PNG = "data:image/png;base64,iVBORw0KGgo="
PARAMS = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


def parse(**body: Any) -> rs.ResponsesCall:
    return rs.parse_request({"model": "m", **body})


def messages(call: rs.ResponsesCall) -> list[Message]:
    """The messages as the client reads them (the surface hands it dicts)."""
    return list(normalize_messages(call.messages()))


# ---------------------------------------------------------------------------- input


def test_a_string_input_is_one_user_message_and_no_options() -> None:
    call = parse(input="Say hi")
    assert call.model == "m"
    assert messages(call) == [Message(role="user", content="Say hi")]
    assert call.options == {}
    assert (call.stream, call.store, call.previous_response_id) == (False, True, None)
    assert call.warnings == ()


def test_message_items_of_every_role_with_text_and_image_parts() -> None:
    call = parse(
        input=[
            {
                "type": "message",
                "id": "msg_1",
                "role": "developer",
                "content": [{"type": "input_text", "text": "Be brief."}],
            },
            {"role": "system", "content": "Answer in English."},
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "What is"},
                    {"type": "input_text", "text": "this?"},
                    {"type": "input_image", "image_url": PNG, "detail": "auto"},
                ],
            },
            {
                "type": "message",
                "role": "assistant",
                "status": "completed",
                "content": [{"type": "output_text", "text": "A cat.", "annotations": []}],
            },
            {"role": "assistant", "content": [{"type": "refusal", "refusal": "No."}]},
        ]
    )
    assert messages(call) == [
        Message(role="system", content="Be brief."),
        Message(role="system", content="Answer in English."),
        Message(role="user", content="What is\nthis?", images=(PNG,)),
        Message(role="assistant", content="A cat."),
        Message(role="assistant", content="No."),
    ]


def test_instructions_become_the_first_system_message() -> None:
    call = parse(instructions="Be brief.", input=[{"role": "user", "content": "hi"}])
    assert messages(call) == [
        Message(role="system", content="Be brief."),
        Message(role="user", content="hi"),
    ]
    assert call.instructions == "Be brief."


def test_function_calls_and_outputs_become_tool_calls_and_tool_messages() -> None:
    call = parse(
        input=[
            {"role": "user", "content": "Weather in Paris and Rome?"},
            {
                "type": "reasoning",
                "id": "rs_1",
                "summary": [],
                "content": [{"type": "reasoning_text", "text": "Two cities."}],
                "encrypted_content": "gAAAAB-opaque",
            },
            {
                "type": "function_call",
                "id": "fc_1",
                "call_id": "call_1",
                "name": "get_weather",
                "arguments": '{"city":"Paris"}',
                "status": "completed",
            },
            {
                "type": "function_call",
                "call_id": "call_2",
                "name": "get_weather",
                "arguments": '{"city":"Rome"',
            },
            {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
            {
                "type": "function_call_output",
                "call_id": "call_2",
                "output": [{"type": "input_text", "text": "rain"}],
            },
        ]
    )
    assert messages(call) == [
        Message(role="user", content="Weather in Paris and Rome?"),
        Message(
            role="assistant",
            content="",
            thinking="Two cities.",
            tool_calls=(
                ToolCall("get_weather", {"city": "Paris"}, id="call_1"),
                ToolCall("get_weather", {}, id="call_2", raw_arguments='{"city":"Rome"'),
            ),
        ),
        Message(role="tool", content="sunny", tool_call_id="call_1"),
        Message(role="tool", content="rain", tool_call_id="call_2"),
    ]


def test_calls_after_an_assistant_message_join_it_and_reasoning_goes_to_the_next_reply() -> None:
    call = parse(
        input=[
            {"role": "user", "content": "Go"},
            {"type": "reasoning", "summary": [{"type": "summary_text", "text": "Plan."}]},
            {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "On it."}],
            },
            {"type": "function_call", "call_id": "c1", "name": "run", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "ok"},
            {"type": "function_call", "call_id": "c2", "name": "run", "arguments": ""},
            {"type": "function_call_output", "call_id": "c2", "output": "ok too"},
            # reasoning that no assistant turn follows is dropped
            {
                "type": "reasoning",
                "summary": [],
                "content": [{"type": "reasoning_text", "text": "x"}],
            },
            {"role": "user", "content": "Thanks"},
        ]
    )
    assert messages(call) == [
        Message(role="user", content="Go"),
        Message(
            role="assistant",
            content="On it.",
            thinking="Plan.",
            tool_calls=(ToolCall("run", {}, id="c1"),),
        ),
        Message(role="tool", content="ok", tool_call_id="c1"),
        Message(role="assistant", content="", tool_calls=(ToolCall("run", {}, id="c2"),)),
        Message(role="tool", content="ok too", tool_call_id="c2"),
        Message(role="user", content="Thanks"),
    ]


def test_custom_tool_calls_and_outputs_round_trip_as_one_string_argument() -> None:
    patch = "*** Begin Patch\n*** Add File: a.txt\n+hi\n*** End Patch"
    call = parse(
        input=[
            {"role": "user", "content": "Add a file"},
            {
                "type": "custom_tool_call",
                "call_id": "call_p",
                "name": "apply_patch",
                "input": patch,
            },
            {"type": "custom_tool_call_output", "call_id": "call_p", "output": "Done!"},
        ]
    )
    assert rs.CUSTOM_TOOL_ARGUMENT == "input"
    assert messages(call)[1:] == [
        Message(
            role="assistant",
            content="",
            tool_calls=(ToolCall("apply_patch", {"input": patch}, id="call_p"),),
        ),
        Message(role="tool", content="Done!", tool_call_id="call_p"),
    ]


def test_items_of_built_in_tools_are_skipped_and_named_in_warnings() -> None:
    call = parse(
        input=[
            {"type": "web_search_call", "id": "ws_1", "status": "completed"},
            {"type": "item_reference", "id": "msg_old"},
            {"role": "user", "content": "hi"},
        ]
    )
    assert messages(call) == [Message(role="user", content="hi")]
    assert any("web_search_call" in w for w in call.warnings)
    assert any("item_reference" in w for w in call.warnings)


def test_input_items_are_kept_with_ids_for_the_store() -> None:
    call = parse(
        input=[
            {"role": "user", "content": "hi"},
            {"type": "message", "id": "msg_mine", "role": "user", "content": "again"},
        ]
    )
    first, second = call.input
    assert first["type"] == "message" and first["role"] == "user"
    assert first["content"] == [{"type": "input_text", "text": "hi"}]
    assert first["id"].startswith("msg_")
    assert second["id"] == "msg_mine"
    assert parse(input="hi").input[0]["content"] == [{"type": "input_text", "text": "hi"}]


# ---------------------------------------------------------------------------- Codex


def test_codex_0_169_request_translates_and_the_client_accepts_it() -> None:
    body = load_fixture(CODEX)
    call = rs.parse_request(body)
    sent = messages(call)
    assert [m.role for m in sent] == ["system", "system", "user", "user"]
    assert sent[0].content.startswith(body["input"][0]["content"][0]["text"][:40])
    assert sent[-1].content == "Say hi"
    assert [t["function"]["name"] for t in call.options["tools"]] == [
        "exec_command",
        "write_stdin",
        "request_user_input",
        "view_image",
        "get_goal",
        "create_goal",
        "update_goal",
    ]
    assert call.options["tool_choice"] == "auto"
    assert "think" not in call.options  # reasoning: {"summary": "auto"} asks for no effort
    assert call.stream is True and call.store is False
    assert len(call.warnings) == 2
    assert "namespace" in call.warnings[0] and "multi_agent_v1" in call.warnings[0]
    assert "web_search" in call.warnings[1]
    request = build_chat_request(call.model, call.messages(), call.options)
    assert len(request.tools) == 7 and request.tool_choice == "auto"


def test_fields_the_gateway_has_no_use_for_are_ignored() -> None:
    call = parse(
        input="hi",
        prompt_cache_key="k",
        client_metadata={"a": "b"},
        include=["reasoning.encrypted_content"],
        text={"verbosity": "low"},
        store=False,
        background=False,
        truncation="auto",
        service_tier="default",
        safety_identifier="u",
        user="u",
        metadata={"x": "y"},
        stream_options={"include_obfuscation": False},
        max_tool_calls=3,
        top_logprobs=2,
        future_field={"anything": [1, 2]},
    )
    assert call.options == {}
    assert messages(call) == [Message(role="user", content="hi")]


def test_background_mode_is_a_distinct_not_supported_error() -> None:
    with pytest.raises(rs.UnsupportedFeatureError) as caught:
        parse(input="hi", background=True)
    assert "background" in str(caught.value)
    failure = rs.failure_for(caught.value)
    assert failure.status == 501 and "background" in failure.message


def test_a_conversation_object_is_not_supported_either() -> None:
    with pytest.raises(rs.UnsupportedFeatureError, match="conversation"):
        parse(input="hi", conversation="conv_123")


# ---------------------------------------------------------------------------- tools


def test_function_tools_translate_directly_with_strict() -> None:
    call = parse(
        input="hi",
        tools=[
            {
                "type": "function",
                "name": "get_weather",
                "description": "Weather now.",
                "parameters": PARAMS,
                "strict": True,
            },
            {"type": "function", "name": "ping", "parameters": None, "strict": None},
        ],
    )
    assert call.options["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather now.",
                "parameters": PARAMS,
                "strict": True,
            },
        },
        {
            "type": "function",
            "function": {"name": "ping", "parameters": {"type": "object", "properties": {}}},
        },
    ]
    assert call.custom_tools == frozenset()


def test_a_custom_tool_becomes_a_function_of_one_string_argument_with_its_grammar() -> None:
    grammar = 'start: begin_patch hunk+ end_patch\nbegin_patch: "*** Begin Patch" LF'
    call = parse(
        input="hi",
        tools=[
            {
                "type": "custom",
                "name": "apply_patch",
                "description": "Use the `apply_patch` tool to edit files.",
                "format": {"type": "grammar", "syntax": "lark", "definition": grammar},
            },
            {"type": "custom", "name": "note", "format": {"type": "text"}},
        ],
    )
    patch_tool, note_tool = call.options["tools"]
    function = patch_tool["function"]
    assert function["name"] == "apply_patch"
    assert function["description"] == "Use the `apply_patch` tool to edit files."
    parameters = function["parameters"]
    assert parameters["required"] == ["input"] and list(parameters["properties"]) == ["input"]
    argument = parameters["properties"]["input"]
    assert argument["type"] == "string"
    assert "lark" in argument["description"] and grammar in argument["description"]
    assert note_tool["function"]["parameters"]["properties"]["input"]["type"] == "string"
    assert call.custom_tools == frozenset({"apply_patch", "note"})


def test_built_in_tools_are_dropped_and_named_as_warnings() -> None:
    built_in = [
        {"type": "web_search"},
        {"type": "web_search_preview", "search_context_size": "low"},
        {"type": "file_search", "vector_store_ids": ["vs_1"]},
        {"type": "code_interpreter", "container": {"type": "auto"}},
        {"type": "image_generation"},
        {"type": "local_shell"},
        {"type": "mcp", "server_label": "deepwiki", "server_url": "https://x"},
        {"type": "namespace", "name": "multi_agent_v1", "tools": []},
        {"type": "computer_use_preview", "display_width": 1, "display_height": 1},
        {"type": "tool_of_the_future"},
    ]
    call = parse(
        input="hi",
        tools=[{"type": "function", "name": "f", "parameters": PARAMS}, *built_in],
    )
    assert [t["function"]["name"] for t in call.options["tools"]] == ["f"]
    assert len(call.warnings) == len(built_in)
    for tool, warning in zip(built_in, call.warnings, strict=True):
        assert tool["type"] in warning
    assert "deepwiki" in call.warnings[6] and "multi_agent_v1" in call.warnings[7]


def test_warnings_are_safe_for_one_header_line() -> None:
    call = parse(
        input="hi", tools=[{"type": "mcp", "server_label": "evil\r\nx-injected: 1" + "é" * 500}]
    )
    (warning,) = call.warnings
    assert warning.isascii() and warning.isprintable() and len(warning) <= 200


def test_only_built_in_tools_leave_no_tools_and_no_tool_choice() -> None:
    call = parse(input="hi", tools=[{"type": "web_search"}], tool_choice="required")
    assert "tools" not in call.options and "tool_choice" not in call.options


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("auto", "auto"),
        ("none", "none"),
        ("required", "required"),
        ({"type": "function", "name": "f"}, {"type": "function", "function": {"name": "f"}}),
        (
            {"type": "custom", "name": "apply_patch"},
            {"type": "function", "function": {"name": "apply_patch"}},
        ),
        (
            {
                "type": "allowed_tools",
                "mode": "required",
                "tools": [{"type": "function", "name": "f"}],
            },
            "required",
        ),
        ({"type": "web_search_preview"}, None),
    ],
)
def test_tool_choice_maps_to_the_client_option(choice: Any, expected: Any) -> None:
    tools = [
        {"type": "function", "name": "f", "parameters": PARAMS},
        {"type": "function", "name": "g", "parameters": PARAMS},
        {"type": "custom", "name": "apply_patch"},
    ]
    call = parse(input="hi", tools=tools, tool_choice=choice)
    assert call.options.get("tool_choice") == expected
    names = [t["function"]["name"] for t in call.options["tools"]]
    if isinstance(choice, dict) and choice["type"] == "allowed_tools":
        assert names == ["f"]  # only the allowed tools are offered
    else:
        assert names == ["f", "g", "apply_patch"]
    if expected is None:
        assert any("web_search_preview" in w for w in call.warnings)


# ---------------------------------------------------------------------------- options


def test_sampling_limits_and_parallel_tool_calls_map_to_client_options() -> None:
    call = parse(
        input="hi", temperature=0.2, top_p=0.9, max_output_tokens=64, parallel_tool_calls=False
    )
    assert call.options == {
        "temperature": 0.2,
        "top_p": 0.9,
        "max_tokens": 64,
        "options": {"parallel_tool_calls": False},
    }
    assert "options" not in parse(input="hi", parallel_tool_calls=True).options


def test_text_format_json_schema_and_json_object_become_structured_output() -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}}
    call = parse(
        input="hi",
        text={"format": {"type": "json_schema", "name": "city", "schema": schema, "strict": True}},
    )
    assert call.options["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "city", "schema": schema, "strict": True},
    }
    assert build_chat_request("m", "hi", call.options).schema == schema
    json_mode = parse(input="hi", text={"format": {"type": "json_object"}})
    assert build_chat_request("m", "hi", json_mode.options).json_mode is True
    assert "response_format" not in parse(input="hi", text={"format": {"type": "text"}}).options


@pytest.mark.parametrize(
    ("effort", "think"),
    [
        ("none", False),
        ("minimal", "low"),
        ("low", "low"),
        ("medium", "medium"),
        ("high", "high"),
        ("xhigh", "high"),
    ],
)
def test_reasoning_effort_becomes_think(effort: str, think: Any) -> None:
    assert (
        parse(input="hi", reasoning={"effort": effort, "summary": "auto"}).options["think"] == think
    )


def test_stream_store_and_previous_response_id() -> None:
    call = parse(input="more", stream=True, store=False, previous_response_id="resp_abc")
    assert (call.stream, call.store, call.previous_response_id) == (True, False, "resp_abc")
    assert parse(input="x", store=None).store is True
    # a continuation may send no new input at all
    assert parse(previous_response_id="resp_abc").input == ()


# ---------------------------------------------------------------------------- malformed


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ([1], "JSON object"),
        ({"input": "hi"}, "model"),
        ({"model": "m"}, "input"),
        ({"model": "m", "input": 5}, "input"),
        ({"model": "m", "input": []}, "input"),
        ({"model": "m", "input": [5]}, "input[0]"),
        ({"model": "m", "input": [{"role": "robot", "content": "x"}]}, "role"),
        ({"model": "m", "input": [{"role": "user", "content": 5}]}, "content"),
        ({"model": "m", "input": [{"role": "user", "content": [5]}]}, "part"),
        (
            {"model": "m", "input": [{"role": "user", "content": [{"type": "input_audio"}]}]},
            "input_audio",
        ),
        ({"model": "m", "input": [{"role": "user", "content": [{"type": "input_text"}]}]}, "text"),
        (
            {"model": "m", "input": [{"role": "user", "content": [{"type": "input_image"}]}]},
            "image_url",
        ),
        (
            {"model": "m", "input": [{"type": "function_call", "call_id": "c", "arguments": "{}"}]},
            "name",
        ),
        (
            {"model": "m", "input": [{"type": "function_call", "name": "f", "arguments": "{}"}]},
            "call_id",
        ),
        (
            {
                "model": "m",
                "input": [{"type": "function_call", "name": "f", "call_id": "c", "arguments": 5}],
            },
            "arguments",
        ),
        (
            {
                "model": "m",
                "input": [{"type": "custom_tool_call", "name": "f", "call_id": "c", "input": 5}],
            },
            "input",
        ),
        ({"model": "m", "input": [{"type": "function_call_output", "output": "x"}]}, "call_id"),
        (
            {
                "model": "m",
                "input": [{"type": "function_call_output", "call_id": "c", "output": 5}],
            },
            "output",
        ),
        ({"model": "m", "input": [{"type": "reasoning", "summary": "x"}]}, "summary"),
        ({"model": "m", "input": "x", "instructions": 5}, "instructions"),
        ({"model": "m", "input": "x", "tools": "f"}, "tools"),
        ({"model": "m", "input": "x", "tools": [5]}, "tools[0]"),
        ({"model": "m", "input": "x", "tools": [{"name": "f"}]}, "type"),
        ({"model": "m", "input": "x", "tools": [{"type": "function"}]}, "name"),
        (
            {
                "model": "m",
                "input": "x",
                "tools": [{"type": "function", "name": "f", "parameters": "x"}],
            },
            "parameters",
        ),
        ({"model": "m", "input": "x", "tools": [{"type": "custom", "name": ""}]}, "name"),
        (
            {
                "model": "m",
                "input": "x",
                "tools": [{"type": "function", "name": "f"}, {"type": "custom", "name": "f"}],
            },
            "twice",
        ),
        ({"model": "m", "input": "x", "tool_choice": "sometimes"}, "tool_choice"),
        (
            {
                "model": "m",
                "input": "x",
                "tools": [{"type": "function", "name": "f"}],
                "tool_choice": {"type": "function"},
            },
            "tool_choice",
        ),
        (
            {
                "model": "m",
                "input": "x",
                "tools": [{"type": "function", "name": "f"}],
                "tool_choice": {"type": "function", "name": "g"},
            },
            "g",
        ),
        ({"model": "m", "input": "x", "text": "json"}, "text"),
        ({"model": "m", "input": "x", "text": {"format": {"type": "yaml"}}}, "yaml"),
        (
            {"model": "m", "input": "x", "text": {"format": {"type": "json_schema", "name": "x"}}},
            "schema",
        ),
        ({"model": "m", "input": "x", "reasoning": "high"}, "reasoning"),
        ({"model": "m", "input": "x", "reasoning": {"effort": 3}}, "effort"),
        ({"model": "m", "input": "x", "store": "yes"}, "store"),
        ({"model": "m", "input": "x", "previous_response_id": 5}, "previous_response_id"),
        ({"model": "m", "input": "x", "previous_response_id": ""}, "previous_response_id"),
    ],
)
def test_each_malformed_shape_is_a_clear_invalid_request(body: Any, says: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        rs.parse_request(body)
    assert says in str(caught.value)
    assert not isinstance(caught.value, rs.UnsupportedFeatureError)


def test_an_image_by_file_id_is_a_capability_error_naming_the_fix() -> None:
    with pytest.raises(CapabilityError, match="data: URL"):
        parse(input=[{"role": "user", "content": [{"type": "input_image", "file_id": "file_1"}]}])


def test_an_input_file_is_refused_clearly() -> None:
    with pytest.raises(CapabilityError, match="input_file"):
        parse(input=[{"role": "user", "content": [{"type": "input_file", "file_id": "file_1"}]}])


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
KEYS = st.sampled_from(
    [
        "type",
        "role",
        "content",
        "text",
        "name",
        "call_id",
        "arguments",
        "input",
        "output",
        "summary",
        "image_url",
        "file_id",
        "parameters",
        "format",
        "tools",
        "mode",
        "effort",
    ]
)
SHAPED = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(max_size=12)
    | st.sampled_from(
        [
            "message",
            "user",
            "assistant",
            "developer",
            "function_call",
            "function_call_output",
            "custom_tool_call",
            "reasoning",
            "input_text",
            "output_text",
            "input_image",
            "function",
            "custom",
            "web_search",
            "json_schema",
            "json_object",
            "auto",
            "required",
            "allowed_tools",
        ]
    ),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=5),
    max_leaves=25,
)
BODY_KEYS = st.sampled_from(
    [
        "input",
        "instructions",
        "tools",
        "tool_choice",
        "text",
        "reasoning",
        "store",
        "stream",
        "temperature",
        "top_p",
        "max_output_tokens",
        "parallel_tool_calls",
        "previous_response_id",
    ]
)


def _whole_path(body: Any) -> None:
    """Parse, then build the client's request: only InvalidRequestError may come out."""
    try:
        call = rs.parse_request(body)
        build_chat_request(call.model, call.messages(), call.options)
    except InvalidRequestError:
        pass


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(JSON)
def test_arbitrary_json_raises_nothing_but_invalid_request(body: Any) -> None:
    _whole_path(body)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(BODY_KEYS, SHAPED, max_size=6))
def test_almost_right_bodies_raise_nothing_but_invalid_request(fields: dict[str, Any]) -> None:
    _whole_path({"model": "m", **fields})
    json.dumps(fields)  # what hypothesis made is JSON, as a real body is

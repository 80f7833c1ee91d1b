"""The Anthropic surface's request translation, pure: a ``POST /v1/messages`` (or
``/v1/messages/count_tokens``) body in, the client's arguments out.

Every call built here is also handed to the client's own validation
(``build_chat_request``), so what the surface produces is what the client takes.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from modelport import InvalidRequestError, Message, ToolCall
from modelport._wire.common import ChatRequest, build_chat_request
from modelport.gateway import _anthropic as an
from tests.conftest import load_fixture

HI = [{"role": "user", "content": "hi"}]
PNG = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9aw"
    "AAAABJRU5ErkJggg=="
)


def parse(**body: Any) -> an.MessagesCall:
    return an.parse_messages_request({"model": "m", "max_tokens": 64, "messages": HI, **body})


def accepted(call: an.MessagesCall) -> ChatRequest:
    """What the client makes of the call: it must take it without complaint."""
    return build_chat_request(call.model, call.messages, call.options)


def user(*blocks: Any) -> dict[str, Any]:
    return {"role": "user", "content": list(blocks)}


def assistant(*blocks: Any) -> dict[str, Any]:
    return {"role": "assistant", "content": list(blocks)}


def text(value: str, **extra: Any) -> dict[str, Any]:
    return {"type": "text", "text": value, **extra}


def tool(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "input_schema": {"type": "object", "properties": {}}, **extra}


# ---------------------------------------------------------------------------- basics


def test_a_plain_request_is_model_messages_and_max_tokens() -> None:
    call = parse()
    assert call.model == "m"
    assert call.messages == [Message(role="user", content="hi")]
    assert call.options == {"max_tokens": 64}
    assert (call.stream, call.thinking_budget, call.stop_sequences, call.warnings) == (
        False,
        None,
        (),
        (),
    )
    assert accepted(call).max_tokens == 64


def test_stream_is_on_only_when_true() -> None:
    assert parse(stream=True).stream is True
    assert parse(stream="yes").stream is False
    assert parse().stream is False


def test_unknown_top_level_fields_are_ignored_never_rejected() -> None:
    call = parse(
        metadata={"user_id": "u"},
        context_management={"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
        output_config={"effort": "high"},
        service_tier="auto",
        container="c",
        something_next={"x": [1, 2]},
    )
    assert call.options == {"max_tokens": 64}
    assert call.warnings == ()


def test_max_tokens_may_be_left_out() -> None:
    call = an.parse_messages_request({"model": "m", "messages": HI})
    assert call.options == {}


# ---------------------------------------------------------------------------- system


def test_system_as_a_string() -> None:
    call = parse(system="Be brief.")
    assert call.messages[0] == Message(role="system", content="Be brief.")
    assert call.messages[1].role == "user"


def test_system_as_text_blocks_ignores_cache_control() -> None:
    call = parse(
        system=[
            text("You are a helper.", cache_control={"type": "ephemeral"}),
            text("Answer in French.", cache_control={"type": "ephemeral", "ttl": "1h"}),
        ]
    )
    assert call.messages[0] == Message(
        role="system", content="You are a helper.\nAnswer in French."
    )


def test_claude_codes_billing_header_block_is_not_sent_to_the_model() -> None:
    # It changes with each request (a content hash, cch=...): kept, it would sit at the
    # very start of the prompt and defeat every server's prompt cache.
    billing = (
        "x-anthropic-billing-header: cc_version=2.1.328.593; cc_entrypoint=sdk-cli; cch=a5145;"
    )
    call = parse(system=[text(billing), text("You are a Claude agent.")])
    assert call.messages[0] == Message(role="system", content="You are a Claude agent.")
    assert parse(system=[text(billing)]).messages[0].role == "user"


def test_an_empty_system_sends_no_system_message() -> None:
    assert parse(system="").messages == [Message(role="user", content="hi")]
    assert parse(system=[]).messages == [Message(role="user", content="hi")]
    assert parse(system=None).messages == [Message(role="user", content="hi")]


def test_a_system_message_inside_messages_is_accepted_where_it_is() -> None:
    # Claude Code 2.1.328 sends one after the first user turn (see the records).
    call = parse(
        messages=[
            user(text("Say hi")),
            {"role": "system", "content": [text("# Environment"), text("Platform: linux")]},
            {"role": "system", "content": "plain string too"},
        ]
    )
    assert call.messages == [
        Message(role="user", content="Say hi"),
        Message(role="system", content="# Environment\nPlatform: linux"),
        Message(role="system", content="plain string too"),
    ]
    accepted(call)


# ---------------------------------------------------------------------------- blocks


def test_text_blocks_join_into_one_message() -> None:
    call = parse(messages=[user(text("<system-reminder>x</system-reminder>\n"), text("Say hi"))])
    assert call.messages == [
        Message(role="user", content="<system-reminder>x</system-reminder>\n\nSay hi")
    ]


def test_string_content_is_the_text() -> None:
    call = parse(
        messages=[{"role": "user", "content": "hello"}, {"role": "assistant", "content": "hi"}]
    )
    assert call.messages == [
        Message(role="user", content="hello"),
        Message(role="assistant", content="hi"),
    ]


def test_images_with_base64_and_url_sources() -> None:
    call = parse(
        messages=[
            user(
                text("What are these?"),
                {
                    "type": "image",
                    "source": {"type": "base64", "media_type": "image/png", "data": PNG},
                },
                {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
            )
        ]
    )
    (message,) = call.messages
    assert message.content == "What are these?"
    assert message.images == (f"data:image/png;base64,{PNG}", "https://example.com/cat.jpg")
    accepted(call)


@pytest.mark.parametrize(
    ("block", "words"),
    [
        ({"type": "image"}, "source"),
        ({"type": "image", "source": {"type": "base64", "media_type": "image/png"}}, "data"),
        ({"type": "image", "source": {"type": "url"}}, "url"),
        ({"type": "image", "source": {"type": "file", "file_id": "file_1"}}, "file"),
        ({"type": "image", "source": "http://x/y.png"}, "source"),
    ],
)
def test_an_image_without_usable_data_is_an_invalid_request(block: Any, words: str) -> None:
    with pytest.raises(InvalidRequestError, match=words):
        parse(messages=[user(block)])


def test_tool_use_in_an_assistant_turn_becomes_tool_calls() -> None:
    call = parse(
        messages=[
            user(text("Weather in Paris and Rome?")),
            assistant(
                text("Let me look."),
                {
                    "type": "tool_use",
                    "id": "toolu_1",
                    "name": "get_weather",
                    "input": {"city": "Paris"},
                },
                {"type": "tool_use", "id": "toolu_2", "name": "get_weather", "input": {}},
            ),
        ]
    )
    assert call.messages[1] == Message(
        role="assistant",
        content="Let me look.",
        tool_calls=(
            ToolCall("get_weather", {"city": "Paris"}, id="toolu_1"),
            ToolCall("get_weather", {}, id="toolu_2"),
        ),
    )
    accepted(call)


def test_arguments_this_surface_kept_raw_go_back_as_their_text() -> None:
    # A reply whose arguments were not JSON carries them as {"raw_arguments": text};
    # replayed, the service gets the text it produced.
    call = parse(
        messages=[
            user(text("x")),
            assistant(
                {
                    "type": "tool_use",
                    "id": "t",
                    "name": "f",
                    "input": {"raw_arguments": "{not json"},
                }
            ),
        ]
    )
    assert call.messages[1].tool_calls == (ToolCall("f", {}, id="t", raw_arguments="{not json"),)


def test_tool_results_become_tool_messages_in_block_order() -> None:
    call = parse(
        messages=[
            user(text("go")),
            assistant(
                {"type": "tool_use", "id": "a", "name": "f", "input": {}},
                {"type": "tool_use", "id": "b", "name": "g", "input": {}},
                {"type": "tool_use", "id": "c", "name": "h", "input": {}},
            ),
            user(
                {"type": "tool_result", "tool_use_id": "a", "content": "sunny"},
                {
                    "type": "tool_result",
                    "tool_use_id": "b",
                    "content": [
                        text("two"),
                        text("lines"),
                        {
                            "type": "image",
                            "source": {"type": "base64", "media_type": "image/png", "data": PNG},
                        },
                    ],
                    "cache_control": {"type": "ephemeral"},
                },
                {
                    "type": "tool_result",
                    "tool_use_id": "c",
                    "content": "no such file",
                    "is_error": True,
                },
                text("And now?"),
            ),
        ]
    )
    assert call.messages[2:] == [
        Message(role="tool", content="sunny", tool_call_id="a"),
        Message(
            role="tool",
            content="two\nlines",
            tool_call_id="b",
            images=(f"data:image/png;base64,{PNG}",),
        ),
        Message(role="tool", content="Error: no such file", tool_call_id="c"),
        Message(role="user", content="And now?"),
    ]
    accepted(call)


def test_a_tool_result_without_content_is_an_empty_result() -> None:
    call = parse(messages=[user({"type": "tool_result", "tool_use_id": "a"})])
    assert call.messages == [Message(role="tool", content="", tool_call_id="a")]
    errored = parse(messages=[user({"type": "tool_result", "tool_use_id": "a", "is_error": True})])
    assert errored.messages == [Message(role="tool", content="Error", tool_call_id="a")]


def test_thinking_in_an_assistant_turn_is_kept_whatever_its_signature() -> None:
    call = parse(
        messages=[
            user(text("x")),
            assistant(
                {
                    "type": "thinking",
                    "thinking": "First,",
                    "signature": "EqQBCkYIB...real-anthropic",
                },
                {"type": "thinking", "thinking": "then.", "signature": ""},
                {"type": "thinking", "thinking": "no signature at all"},
                {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix/LafPsn4a"},
                text("Answer"),
            ),
        ]
    )
    assert call.messages[1] == Message(
        role="assistant", content="Answer", thinking="First,\nthen.\nno signature at all"
    )
    only_redacted = parse(
        messages=[
            user(text("x")),
            assistant({"type": "redacted_thinking", "data": "xyz"}, text("A")),
        ]
    )
    assert only_redacted.messages[1] == Message(role="assistant", content="A")


def test_document_text_sources_become_text() -> None:
    call = parse(
        messages=[
            user(
                {
                    "type": "document",
                    "source": {
                        "type": "text",
                        "media_type": "text/plain",
                        "data": "The grass is green.",
                    },
                    "title": "Facts",
                    "citations": {"enabled": True},
                },
                {
                    "type": "document",
                    "source": {"type": "content", "content": [text("first"), text("second")]},
                },
                {"type": "document", "source": {"type": "content", "content": "a string"}},
                text("Summarise."),
            )
        ]
    )
    assert call.messages == [
        Message(
            role="user",
            content="Facts\nThe grass is green.\nfirst\nsecond\na string\nSummarise.",
        )
    ]


@pytest.mark.parametrize(
    "source",
    [
        {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0xLjQK"},
        {"type": "url", "url": "https://example.com/paper.pdf"},
    ],
)
def test_pdf_documents_are_refused_clearly(source: Any) -> None:
    with pytest.raises(InvalidRequestError, match="PDF") as caught:
        parse(messages=[user({"type": "document", "source": source})])
    assert "no local model server reads PDF" in str(caught.value)


def test_a_document_from_the_files_api_is_refused() -> None:
    block = {"type": "document", "source": {"type": "file", "file_id": "file_011"}}
    with pytest.raises(InvalidRequestError, match="Files API"):
        parse(messages=[user(block)])


# ---------------------------------------------------------------------------- tools


def test_tools_input_schema_becomes_parameters() -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    call = parse(
        tools=[
            {
                "name": "get_weather",
                "description": "Weather now",
                "input_schema": schema,
                "cache_control": {"type": "ephemeral"},
            },
            {"type": "custom", "name": "noop", "input_schema": {"type": "object"}},
            {"name": "bare"},
        ]
    )
    assert call.options["tools"] == [
        {
            "type": "function",
            "function": {"name": "get_weather", "description": "Weather now", "parameters": schema},
        },
        {"type": "function", "function": {"name": "noop", "parameters": {"type": "object"}}},
        {
            "type": "function",
            "function": {"name": "bare", "parameters": {"type": "object", "properties": {}}},
        },
    ]
    assert len(accepted(call).tools) == 3


@pytest.mark.parametrize(
    "server_tool",
    [
        {"type": "web_search_20250305", "name": "web_search", "max_uses": 5},
        {"type": "bash_20250124", "name": "bash"},
        {"type": "text_editor_20250728", "name": "str_replace_based_edit_tool"},
        {"type": "code_execution_20250825", "name": "code_execution"},
        {"type": "computer_20250124", "name": "computer", "display_width_px": 1024},
        {"type": "something_new_20270101", "name": "next"},
    ],
)
def test_server_tools_are_dropped_and_named_in_a_warning(server_tool: dict[str, Any]) -> None:
    call = parse(tools=[tool("Read"), server_tool])
    assert [t["function"]["name"] for t in call.options["tools"]] == ["Read"]
    (warning,) = call.warnings
    assert server_tool["name"] in warning and server_tool["type"] in warning
    assert "local model" in warning


def test_only_server_tools_means_no_tools_and_no_tool_choice() -> None:
    call = parse(
        tools=[{"type": "web_search_20250305", "name": "web_search"}], tool_choice={"type": "any"}
    )
    assert "tools" not in call.options and "tool_choice" not in call.options
    assert len(call.warnings) == 1
    accepted(call)


def test_warnings_are_safe_in_a_header() -> None:
    call = parse(tools=[{"type": "web_search\r\nx-evil: 1", "name": "naïve\nname"}])
    (warning,) = call.warnings
    assert warning.isascii() and "\r" not in warning and "\n" not in warning
    assert warning.isprintable()


def test_deferred_tools_are_sent_once_a_tool_reference_loads_them() -> None:
    # defer_loading tools stay out of the model's context until a tool_reference in a
    # tool result names them (Anthropic's tool search); Claude Code's placeholder is one.
    tools = [
        tool("ToolSearch"),
        tool("WebFetch", defer_loading=True),
        tool("DeferredToolPlaceholder", defer_loading=True),
    ]
    first = parse(tools=tools)
    assert [t["function"]["name"] for t in first.options["tools"]] == ["ToolSearch"]
    later = parse(
        tools=tools,
        messages=[
            user(text("fetch it")),
            assistant(
                {"type": "tool_use", "id": "s", "name": "ToolSearch", "input": {"query": "fetch"}}
            ),
            user(
                {
                    "type": "tool_result",
                    "tool_use_id": "s",
                    "content": [{"type": "tool_reference", "tool_name": "WebFetch"}],
                }
            ),
        ],
    )
    assert [t["function"]["name"] for t in later.options["tools"]] == ["ToolSearch", "WebFetch"]
    assert later.messages[2] == Message(
        role="tool", content="Tool loaded: WebFetch", tool_call_id="s"
    )
    assert later.warnings == ()


@pytest.mark.parametrize(
    ("choice", "sent"),
    [
        ({"type": "auto"}, "auto"),
        ({"type": "any"}, "required"),
        ({"type": "none"}, "none"),
        ({"type": "tool", "name": "Read"}, {"type": "function", "function": {"name": "Read"}}),
        ({"type": "auto", "disable_parallel_tool_use": True}, "auto"),
    ],
)
def test_tool_choice_becomes_the_openai_form(choice: Any, sent: Any) -> None:
    call = parse(tools=[tool("Read")], tool_choice=choice)
    assert call.options["tool_choice"] == sent
    assert accepted(call).tool_choice == sent


def test_tool_choice_without_tools_is_left_out() -> None:
    assert "tool_choice" not in parse(tool_choice={"type": "auto"}).options


def test_tool_choice_naming_a_dropped_server_tool_is_refused() -> None:
    with pytest.raises(InvalidRequestError, match="web_search"):
        parse(
            tools=[tool("Read"), {"type": "web_search_20250305", "name": "web_search"}],
            tool_choice={"type": "tool", "name": "web_search"},
        )


def test_blocks_of_server_tools_in_the_history_are_dropped_with_a_warning() -> None:
    call = parse(
        messages=[
            user(text("news?")),
            assistant(
                {
                    "type": "server_tool_use",
                    "id": "srvtoolu_1",
                    "name": "web_search",
                    "input": {"query": "x"},
                },
                {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": []},
                text("Nothing new."),
            ),
        ]
    )
    assert call.messages[1] == Message(role="assistant", content="Nothing new.")
    assert len(call.warnings) == 1 and "web_search_tool_result" in call.warnings[0]


# ---------------------------------------------------------------------------- options


def test_sampling_options_map_to_client_options() -> None:
    call = parse(temperature=0.2, top_p=0.9, top_k=40, stop_sequences=["END", "\n\nHuman:"])
    assert call.options == {
        "max_tokens": 64,
        "temperature": 0.2,
        "top_p": 0.9,
        "stop": ["END", "\n\nHuman:"],
        "options": {"top_k": 40},
    }
    assert call.stop_sequences == ("END", "\n\nHuman:")
    request = accepted(call)
    assert (request.temperature, request.top_p, request.stop) == (0.2, 0.9, ("END", "\n\nHuman:"))
    assert request.options == {"top_k": 40}


def test_an_empty_stop_list_sets_nothing() -> None:
    assert parse(stop_sequences=[]).options == {"max_tokens": 64}


@pytest.mark.parametrize(
    ("thinking", "think", "budget"),
    [
        ({"type": "enabled", "budget_tokens": 2048}, True, 2048),
        ({"type": "enabled"}, True, None),
        ({"type": "disabled"}, False, None),
        # Claude Code's default: the model decides, so the server's own default is kept
        # (a truthy think would make Ollama refuse every model that cannot think).
        ({"type": "adaptive", "display": "omitted"}, None, None),
        ({"type": "adaptive"}, None, None),
        ({"type": "a-future-kind"}, None, None),
        (None, None, None),
    ],
)
def test_thinking_config(thinking: Any, think: bool | None, budget: int | None) -> None:
    call = parse(thinking=thinking)
    assert call.options.get("think") == think
    assert ("think" in call.options) == (think is not None)
    assert call.thinking_budget == budget
    accepted(call)


# ---------------------------------------------------------------------------- count_tokens


def test_a_count_tokens_request_is_a_messages_request_without_max_tokens_or_stream() -> None:
    body = {
        "model": "m",
        "system": "Be brief.",
        "messages": HI,
        "tools": [tool("Read"), {"type": "web_search_20250305", "name": "web_search"}],
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "stream": True,
        "max_tokens": 99,
    }
    call = an.parse_count_request(body)
    assert call.stream is False
    assert "max_tokens" not in call.options
    assert [m.role for m in call.messages] == ["system", "user"]
    assert [t["function"]["name"] for t in call.options["tools"]] == ["Read"]
    assert len(call.warnings) == 1
    accepted(call)


# ---------------------------------------------------------------------------- recorded


@pytest.mark.parametrize(
    "name",
    [
        "claude_code_2.1.328_messages_request.json",
        "claude_code_2.1.328_bare_messages_request.json",
        "claude_code_2.1.328_no_tools_messages_request.json",
        "claude_code_2.1.328_thinking_disabled_messages_request.json",
        "claude_code_2.1.328_nonstream_fallback_request.json",
        "claude_code_2.1.328_max_tokens_recovery_request.json",
    ],
)
def test_claude_codes_recorded_requests_translate_and_the_client_takes_them(name: str) -> None:
    body = load_fixture(f"anthropic/{name}")
    call = an.parse_messages_request(body)
    request = accepted(call)
    assert call.model == "smollm2" and call.warnings == ()
    assert call.stream is (body["stream"] is True)
    assert request.max_tokens == body["max_tokens"]
    assert call.messages[0].role == "system"
    assert "x-anthropic-billing-header" not in call.messages[0].content
    assert call.messages[0].content.startswith("You are a Claude agent")
    sent = [t["function"]["name"] for t in call.options.get("tools", ())]
    expected = [t["name"] for t in body["tools"] if not t.get("defer_loading")]
    assert sent == expected
    if "thinking" in body:
        assert "think" not in call.options  # adaptive
    else:
        assert call.options.get("think") is None


def test_claude_codes_default_request_in_detail() -> None:
    call = an.parse_messages_request(
        load_fixture("anthropic/claude_code_2.1.328_messages_request.json")
    )
    assert [m.role for m in call.messages] == ["system", "user", "system"]
    assert call.messages[1].content.endswith("\nSay hi")
    assert call.messages[2].content.startswith("# Environment")
    assert len(call.options["tools"]) == 11  # DeferredToolPlaceholder stays deferred


def test_a_recovery_request_replays_the_partial_answer_as_an_assistant_turn() -> None:
    call = an.parse_messages_request(
        load_fixture("anthropic/claude_code_2.1.328_max_tokens_recovery_request.json")
    )
    roles = [m.role for m in call.messages]
    assert "assistant" in roles
    assert call.messages[-1].role == "user"
    assert call.messages[-1].content.startswith("Output token limit hit.")


# ---------------------------------------------------------------------------- malformed


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ([], "JSON object"),
        ({"messages": HI}, "model"),
        ({"model": "", "messages": HI}, "model"),
        ({"model": "m"}, "messages"),
        ({"model": "m", "messages": []}, "messages"),
        ({"model": "m", "messages": "hi"}, "messages"),
        ({"model": "m", "messages": ["hi"]}, r"messages\[0\]"),
        ({"model": "m", "messages": [{"content": "hi"}]}, "role"),
        ({"model": "m", "messages": [{"role": "tool", "content": "x"}]}, "role"),
        ({"model": "m", "messages": [{"role": "user"}]}, "content"),
        ({"model": "m", "messages": [{"role": "user", "content": 5}]}, "content"),
        ({"model": "m", "messages": [{"role": "user", "content": [5]}]}, r"content\[0\]"),
        ({"model": "m", "messages": [user({"text": "x"})]}, "type"),
        ({"model": "m", "messages": [user({"type": "text"})]}, "text"),
        ({"model": "m", "messages": [user({"type": "text", "text": 3})]}, "text"),
        ({"model": "m", "messages": [user({"type": "video"})]}, "video"),
        (
            {
                "model": "m",
                "messages": [user({"type": "tool_use", "id": "a", "name": "f", "input": {}})],
            },
            "assistant",
        ),
        (
            {"model": "m", "messages": [assistant({"type": "tool_result", "tool_use_id": "a"})]},
            "user",
        ),
        (
            {"model": "m", "messages": [assistant({"type": "tool_use", "id": "a", "input": {}})]},
            "name",
        ),
        (
            {
                "model": "m",
                "messages": [assistant({"type": "tool_use", "id": "a", "name": "f", "input": [1]})],
            },
            "input",
        ),
        ({"model": "m", "messages": [assistant({"type": "tool_use", "id": 5, "name": "f"})]}, "id"),
        ({"model": "m", "messages": [user({"type": "tool_result"})]}, "tool_use_id"),
        (
            {
                "model": "m",
                "messages": [user({"type": "tool_result", "tool_use_id": "a", "content": 3})],
            },
            "content",
        ),
        (
            {
                "model": "m",
                "messages": [
                    user(
                        {"type": "tool_result", "tool_use_id": "a", "content": [{"type": "video"}]}
                    )
                ],
            },
            "video",
        ),
        ({"model": "m", "messages": [assistant({"type": "thinking", "thinking": 3})]}, "thinking"),
        ({"model": "m", "messages": [user({"type": "document"})]}, "source"),
        (
            {
                "model": "m",
                "messages": [user({"type": "document", "source": {"type": "text", "data": 1}})],
            },
            "data",
        ),
        ({"model": "m", "messages": [{"role": "system", "content": [{"type": "image"}]}]}, "text"),
        ({"model": "m", "messages": HI, "system": 3}, "system"),
        ({"model": "m", "messages": HI, "system": [3]}, "system"),
        ({"model": "m", "messages": HI, "system": [{"type": "image"}]}, "system"),
        ({"model": "m", "messages": HI, "max_tokens": "10"}, "max_tokens"),
        ({"model": "m", "messages": HI, "max_tokens": 0}, "max_tokens"),
        ({"model": "m", "messages": HI, "max_tokens": True}, "max_tokens"),
        ({"model": "m", "messages": HI, "temperature": "hot"}, "temperature"),
        ({"model": "m", "messages": HI, "top_p": [1]}, "top_p"),
        ({"model": "m", "messages": HI, "top_k": 1.5}, "top_k"),
        ({"model": "m", "messages": HI, "stop_sequences": "END"}, "stop_sequences"),
        ({"model": "m", "messages": HI, "stop_sequences": [1]}, "stop_sequences"),
        ({"model": "m", "messages": HI, "tools": {"name": "f"}}, "tools"),
        ({"model": "m", "messages": HI, "tools": [3]}, r"tools\[0\]"),
        ({"model": "m", "messages": HI, "tools": [{"input_schema": {}}]}, "name"),
        (
            {"model": "m", "messages": HI, "tools": [{"name": "f", "input_schema": []}]},
            "input_schema",
        ),
        ({"model": "m", "messages": HI, "tools": [{"name": "f", "description": 3}]}, "description"),
        (
            {"model": "m", "messages": HI, "tools": [tool("f")], "tool_choice": "auto"},
            "tool_choice",
        ),
        (
            {"model": "m", "messages": HI, "tools": [tool("f")], "tool_choice": {"type": "maybe"}},
            "tool_choice",
        ),
        (
            {"model": "m", "messages": HI, "tools": [tool("f")], "tool_choice": {"type": "tool"}},
            "name",
        ),
        (
            {
                "model": "m",
                "messages": HI,
                "tools": [tool("f")],
                "tool_choice": {"type": "tool", "name": "g"},
            },
            "g",
        ),
        ({"model": "m", "messages": HI, "thinking": "on"}, "thinking"),
        (
            {
                "model": "m",
                "messages": HI,
                "thinking": {"type": "enabled", "budget_tokens": "many"},
            },
            "budget_tokens",
        ),
        (
            {"model": "m", "messages": HI, "thinking": {"type": "enabled", "budget_tokens": -1}},
            "budget_tokens",
        ),
    ],
)
def test_a_malformed_request_is_an_invalid_request_that_says_what(body: Any, words: str) -> None:
    with pytest.raises(InvalidRequestError, match=words):
        an.parse_messages_request(body)


def _block_shapes() -> st.SearchStrategy[Any]:
    """Content blocks that are nearly right: each known type, fields of any JSON."""
    anything = st.recursive(
        st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=8)),
        lambda children: st.one_of(
            st.lists(children, max_size=3),
            st.dictionaries(st.text(max_size=6), children, max_size=3),
        ),
        max_leaves=10,
    )
    kinds = st.sampled_from(
        [
            "text",
            "image",
            "document",
            "tool_use",
            "tool_result",
            "thinking",
            "redacted_thinking",
            "tool_reference",
            "server_tool_use",
            "web_search_tool_result",
            "video",
        ]
    )
    fields = st.sampled_from(
        [
            "text",
            "source",
            "id",
            "name",
            "input",
            "tool_use_id",
            "content",
            "is_error",
            "thinking",
            "signature",
            "data",
            "tool_name",
            "title",
        ]
    )
    sources = st.fixed_dictionaries(
        {},
        optional={
            "type": st.sampled_from(["base64", "url", "text", "content", "file", "x"]),
            "media_type": st.sampled_from(["image/png", "application/pdf", "text/plain"]),
            "data": anything,
            "url": anything,
            "content": anything,
        },
    )
    return st.builds(
        lambda kind, extra, source: {
            "type": kind,
            **extra,
            **({"source": source} if source else {}),
        },
        kinds,
        st.dictionaries(fields, anything, max_size=4),
        st.one_of(st.none(), sources),
    )


_JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=10)),
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


def _bodies() -> st.SearchStrategy[Any]:
    block = _block_shapes()
    content = st.one_of(st.text(max_size=10), st.lists(st.one_of(block, _JSON), max_size=4), _JSON)
    message = st.fixed_dictionaries(
        {},
        optional={
            "role": st.one_of(st.sampled_from(["user", "assistant", "system", "tool"]), _JSON),
            "content": content,
        },
    )
    tools = st.lists(
        st.one_of(
            st.fixed_dictionaries(
                {"name": st.one_of(st.text(max_size=6), _JSON)},
                optional={
                    "type": st.one_of(st.sampled_from(["custom", "web_search_20250305"]), _JSON),
                    "input_schema": _JSON,
                    "description": _JSON,
                    "defer_loading": _JSON,
                },
            ),
            _JSON,
        ),
        max_size=3,
    )
    return st.one_of(
        _JSON,
        st.fixed_dictionaries(
            {},
            optional={
                "model": st.one_of(st.just("m"), _JSON),
                "messages": st.one_of(st.lists(st.one_of(message, _JSON), max_size=4), _JSON),
                "system": st.one_of(
                    st.text(max_size=8), st.lists(st.one_of(block, _JSON), max_size=2), _JSON
                ),
                "tools": st.one_of(tools, _JSON),
                "tool_choice": st.one_of(
                    st.fixed_dictionaries(
                        {"type": st.sampled_from(["auto", "any", "tool", "none", "x"])},
                        optional={"name": _JSON},
                    ),
                    _JSON,
                ),
                "thinking": st.one_of(
                    st.fixed_dictionaries(
                        {"type": st.sampled_from(["enabled", "disabled", "adaptive"])},
                        optional={"budget_tokens": _JSON},
                    ),
                    _JSON,
                ),
                "max_tokens": _JSON,
                "temperature": _JSON,
                "top_p": _JSON,
                "top_k": _JSON,
                "stop_sequences": _JSON,
                "stream": _JSON,
                "metadata": _JSON,
            },
        ),
    )


@settings(
    max_examples=400,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(_bodies())
@example(
    {"model": "m", "messages": [{"role": "user", "content": [{"type": "image", "source": []}]}]}
)
@example({"model": "m", "messages": [{"role": "user", "content": "x"}], "temperature": 10**400})
@example({"model": "m", "messages": [{"role": "user", "content": "x"}], "max_tokens": 2**70})
@example({"model": "m", "messages": [{"role": "assistant", "content": "x"}]})
@example({"model": "m", "messages": [{"role": "system", "content": "x"}]})
def test_any_json_is_translated_or_refused_as_an_invalid_request(body: Any) -> None:
    for parser in (an.parse_messages_request, an.parse_count_request):
        try:
            call = parser(body)
        except InvalidRequestError as exc:
            assert str(exc)  # noqa: PT017 (a message, whatever the input)
            continue
        assert isinstance(call.messages, list) and all(
            isinstance(m, Message) for m in call.messages
        )
        json.dumps(call.options)  # options are plain JSON for the client
        for warning in call.warnings:
            assert warning.isascii() and warning.isprintable()
        try:
            accepted(call)
        except InvalidRequestError:
            pass


# ---------------------------------------------------------------------------- per server


def test_what_each_block_becomes_for_each_kind_of_server() -> None:
    """The table in docs/anthropic.md: one conversation through each wire dialect."""
    from modelport._wire import ollama_native, openai_chat

    call = parse(
        system="Be brief.",
        messages=[
            user(
                text("What is this?"),
                {
                    "type": "image",
                    "source": {"type": "base64", "media_type": "image/png", "data": PNG},
                },
            ),
            assistant(
                {"type": "thinking", "thinking": "Looks like a pixel.", "signature": "x"},
                {"type": "tool_use", "id": "toolu_1", "name": "zoom", "input": {"factor": 2}},
            ),
            user({"type": "tool_result", "tool_use_id": "toolu_1", "content": "a red pixel"}),
        ],
        tools=[tool("zoom")],
    )
    request = accepted(call)
    ollama = ollama_native.build_chat_body(request, stream=False)["messages"]
    assert ollama[1]["images"] == [PNG]
    assert ollama[2]["thinking"] == "Looks like a pixel."
    assert ollama[2]["tool_calls"] == [
        {"id": "toolu_1", "function": {"name": "zoom", "arguments": {"factor": 2}}}
    ]
    assert ollama[3] == {
        "role": "tool",
        "content": "a red pixel",
        "tool_name": "zoom",
        "tool_call_id": "toolu_1",
    }
    llamacpp = openai_chat.OpenAIDialect(
        split_think=True, think_as_template_kwarg=True, image_urls=False
    )
    openai = openai_chat.build_chat_body(request, stream=False, dialect=llamacpp)["messages"]
    assert openai[1]["content"][1] == {
        "type": "image_url",
        "image_url": {"url": f"data:image/png;base64,{PNG}"},
    }
    assert "thinking" not in openai[2] and "reasoning_content" not in openai[2]
    assert openai[2]["tool_calls"][0]["function"] == {"name": "zoom", "arguments": '{"factor": 2}'}
    assert openai[3] == {"role": "tool", "content": "a red pixel", "tool_call_id": "toolu_1"}

"""The real SDKs read what the Anthropic surface writes (no sockets: each SDK's own
httpx2 client over a ``MockTransport`` that answers with this module's bodies).

* The anthropic SDK's own request bodies parse; its ``messages.create`` reads the
  whole message; its ``MessageStream`` accumulates the streamed events into the same
  message (also for any chunk sequence); each error becomes the SDK's class for it;
  ``count_tokens`` and the model list parse.
* The openai SDK reads the same model list (the superset shape).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelport import (
    AllServicesFailedError,
    ChatChunk,
    ChatResponse,
    ContextLengthExceededError,
    ModelInfo,
    ModelNotFoundError,
    RateLimitError,
    ServerError,
    ServiceUnavailableError,
    ToolCall,
    Usage,
)
from modelport.gateway import _anthropic as an
from modelport.gateway import _errors as errors

from .test_anthropic_stream import _chunks, _finals, accumulated

anthropic = pytest.importorskip("anthropic")
httpx2 = pytest.importorskip("httpx2")

BASE = "http://gateway.test"
REPLY_CHUNKS = [
    ChatChunk(thinking="Weather "),
    ChatChunk(thinking="wanted."),
    ChatChunk(text="Checking "),
    ChatChunk(text="now."),
    ChatChunk(
        tool_calls=(
            ToolCall("get_weather", {"city": "Paris"}, id="call_1"),
            ToolCall("noid", {"a": [1, 2]}),
        ),
        done=True,
        finish_reason="tool_calls",
        usage=Usage(30, 12, 42),
    ),
]
ASK: dict[str, Any] = {
    "model": "ollama/qwen3",
    "max_tokens": 256,
    "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
    "messages": [{"role": "user", "content": "Weather in Paris?"}],
    "tools": [
        {
            "name": "get_weather",
            "description": "now",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
        {"type": "web_search_20250305", "name": "web_search", "max_uses": 2},
    ],
    "thinking": {"type": "enabled", "budget_tokens": 1024},
}


def sdk(handler: Callable[[Any], Any]) -> Any:
    http = httpx2.Client(transport=httpx2.MockTransport(handler))
    return anthropic.Anthropic(base_url=BASE, api_key="k", http_client=http, max_retries=0)


def sse_response(body: bytes) -> Any:
    return httpx2.Response(200, content=body, headers={"content-type": "text/event-stream"})


def answer(chunks: Sequence[ChatChunk], seen: list[Any]) -> Callable[[Any], Any]:
    """A gateway stand-in: parse the SDK's request with the surface, answer with the
    surface's message (whole, or streamed) for ``chunks``."""

    def handler(request: Any) -> Any:
        assert request.url.path == "/v1/messages"
        call = an.parse_messages_request(json.loads(request.content))
        seen.append(call)
        if call.stream:
            encoder = an.StreamEncoder(model=call.model, id="msg_sdk")
            body = b"".join(encoder.chunk(c) for c in chunks) + encoder.end()
            return sse_response(body)
        body = an.message_body(accumulated(chunks), model=call.model, id="msg_sdk")
        return httpx2.Response(200, json=body)

    return handler


def test_the_sdks_request_parses_and_its_create_reads_the_message() -> None:
    seen: list[Any] = []
    client = sdk(answer(REPLY_CHUNKS, seen))
    message = client.messages.create(**ASK)
    (call,) = seen
    assert [t["function"]["name"] for t in call.options["tools"]] == ["get_weather"]
    assert call.options["think"] is True and call.thinking_budget == 1024
    assert [m.role for m in call.messages] == ["system", "user"]
    assert len(call.warnings) == 1
    assert message.id == "msg_sdk" and message.model == "ollama/qwen3"
    assert [b.type for b in message.content] == ["thinking", "text", "tool_use", "tool_use"]
    assert message.content[0].thinking == "Weather wanted." and message.content[0].signature
    assert message.content[2].input == {"city": "Paris"} and message.content[2].id == "call_1"
    assert message.content[3].id.startswith("toolu_")
    assert message.stop_reason == "tool_use"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (30, 12)


def test_the_sdks_message_stream_accumulates_our_events() -> None:
    seen: list[Any] = []
    client = sdk(answer(REPLY_CHUNKS, seen))
    with client.messages.stream(**ASK) as stream:
        texts = list(stream.text_stream)
        final = stream.get_final_message()
    assert seen[0].stream is True
    assert "".join(texts) == "Checking now."
    whole = client.messages.create(**ASK)
    streamed = [b.model_dump(exclude_none=True) for b in final.content]
    unstreamed = [b.model_dump(exclude_none=True) for b in whole.content]
    streamed[3]["id"] = unstreamed[3]["id"] = "<fresh>"
    assert streamed == unstreamed
    assert (final.stop_reason, final.usage.output_tokens, final.usage.input_tokens) == (
        "tool_use",
        12,
        30,
    )


def test_the_sdk_replays_a_reply_to_the_surface() -> None:
    # The message the SDK got, sent back as history: thinking (with our signature),
    # text and tool_use become the client's assistant message; the results, tool messages.
    seen: list[Any] = []
    client = sdk(answer(REPLY_CHUNKS, seen))
    first = client.messages.create(**ASK)
    history = [
        *ASK["messages"],
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": first.content[2].id, "content": "sunny"},
                {
                    "type": "tool_result",
                    "tool_use_id": first.content[3].id,
                    "content": "?",
                    "is_error": True,
                },
            ],
        },
    ]
    client.messages.create(**{**ASK, "messages": history})
    replayed = seen[-1].messages
    assert replayed[2].thinking == "Weather wanted." and replayed[2].content == "Checking now."
    assert [c.name for c in replayed[2].tool_calls] == ["get_weather", "noid"]
    assert [(m.role, m.tool_call_id) for m in replayed[3:]] == [
        ("tool", "call_1"),
        ("tool", first.content[3].id),
    ]


@settings(
    max_examples=60,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(st.lists(_chunks, max_size=5), _finals)
def test_the_sdk_accumulates_any_stream_into_the_unstreamed_message(
    chunks: list[ChatChunk], final: ChatChunk
) -> None:
    sequence = [*chunks, final]
    client = sdk(answer(sequence, []))
    with client.messages.stream(
        model="m", max_tokens=8, messages=[{"role": "user", "content": "x"}]
    ) as stream:
        streamed = stream.get_final_message()
    whole = client.messages.create(
        model="m", max_tokens=8, messages=[{"role": "user", "content": "x"}]
    )
    assert streamed.stop_reason == whole.stop_reason
    assert streamed.usage.output_tokens == whole.usage.output_tokens

    def merged(blocks: Any) -> tuple[str, str, list[Any]]:
        return (
            "".join(b.thinking for b in blocks if b.type == "thinking"),
            "".join(b.text for b in blocks if b.type == "text"),
            [(b.name, b.input) for b in blocks if b.type == "tool_use"],
        )

    assert merged(streamed.content) == merged(whole.content)


# ---------------------------------------------------------------------------- errors


def failing(
    error: BaseException | errors.Failure, *, stream_after: bool = False
) -> Callable[[Any], Any]:
    def handler(request: Any) -> Any:
        if stream_after:
            encoder = an.StreamEncoder(model="m", id="msg_1")
            return sse_response(encoder.chunk(ChatChunk(text="part")) + encoder.error(error))
        reply = an.error_reply(error)
        return httpx2.Response(
            reply.status,
            json=reply.body,
            headers={k.decode(): v.decode() for k, v in reply.headers},
        )

    return handler


def _busy() -> ServiceUnavailableError:
    busy = ServiceUnavailableError("busy")
    busy.retry_after = 2
    return busy


@pytest.mark.parametrize(
    ("error", "sdk_error"),
    [
        (ModelNotFoundError("no model 'x'", model="x"), "NotFoundError"),
        (errors.unauthorized(), "AuthenticationError"),
        (errors.too_large(10), "ContentTooLargeError"),
        (RateLimitError("slow", retry_after=1), "RateLimitError"),
        (AllServicesFailedError("all down", errors=[_busy()]), "OverloadedError"),
        (
            ContextLengthExceededError(
                "request (9 tokens) exceeds the available context size (8 tokens)"
            ),
            "BadRequestError",
        ),
        (ServerError("boom"), "APIStatusError"),
    ],
)
def test_each_error_is_the_sdks_own_class(error: Any, sdk_error: str) -> None:
    client = sdk(failing(error))
    with pytest.raises(getattr(anthropic, sdk_error)) as caught:
        client.messages.create(model="m", max_tokens=8, messages=[{"role": "user", "content": "x"}])
    body = caught.value.body
    assert body["type"] == "error" and body["error"]["message"]


def test_an_overflow_reads_as_prompt_too_long() -> None:
    client = sdk(
        failing(
            ContextLengthExceededError(
                "request (9 tokens) exceeds the available context size (8 tokens)"
            )
        )
    )
    with pytest.raises(anthropic.BadRequestError) as caught:
        client.messages.create(model="m", max_tokens=8, messages=[{"role": "user", "content": "x"}])
    assert caught.value.body["error"]["message"].startswith(
        "prompt is too long: 9 tokens > 8 maximum"
    )


def test_an_error_event_mid_stream_raises_in_the_sdk() -> None:
    client = sdk(failing(ServerError("went away"), stream_after=True))
    with pytest.raises(anthropic.APIStatusError, match="went away"):
        with client.messages.stream(
            model="m", max_tokens=8, messages=[{"role": "user", "content": "x"}]
        ) as stream:
            stream.get_final_message()


# ---------------------------------------------------------------------------- count_tokens, models


def test_count_tokens_through_the_sdk() -> None:
    seen: list[Any] = []

    def handler(request: Any) -> Any:
        assert request.url.path == "/v1/messages/count_tokens"
        call = an.parse_count_request(json.loads(request.content))
        seen.append(call)
        tools = call.options.get("tools", [])
        return httpx2.Response(
            200, json=an.count_tokens_body(an.estimate_input_tokens(call.messages, tools))
        )

    count = sdk(handler).messages.count_tokens(
        model="m", messages=[{"role": "user", "content": "hello " * 100}], system="Be brief."
    )
    assert count.input_tokens >= 150
    assert [m.role for m in seen[0].messages] == ["system", "user"]


MODELS = [
    ModelInfo(id="ollama/qwen3:8b", name="qwen3:8b", service="ollama", kind="ollama", loaded=True),
    ModelInfo(id="lmstudio/gemma", name="gemma", service="lmstudio", kind="lmstudio"),
]


def models_handler(request: Any) -> Any:
    path = request.url.path
    if path == "/v1/models":
        return httpx2.Response(200, json=an.models_body(MODELS))
    wanted = path.removeprefix("/v1/models/")
    info = next(m for m in MODELS if m.id == wanted)
    return httpx2.Response(200, json=an.model_body(info, wanted))


def test_the_anthropic_sdk_reads_the_model_list() -> None:
    client = sdk(models_handler)
    page = client.models.list()
    assert [m.id for m in page.data] == ["ollama/qwen3:8b", "lmstudio/gemma"]
    assert [m.id for m in client.models.list()] == [
        "ollama/qwen3:8b",
        "lmstudio/gemma",
    ]  # auto-paging stops
    assert page.data[0].display_name == "ollama/qwen3:8b" and page.data[0].type == "model"
    assert page.data[0].created_at.year == 1970
    one = client.models.retrieve("lmstudio/gemma")
    assert (one.id, one.display_name) == ("lmstudio/gemma", "lmstudio/gemma")


def test_the_openai_sdk_reads_the_same_model_list() -> None:
    openai = pytest.importorskip("openai")
    http = httpx2.Client(transport=httpx2.MockTransport(models_handler))
    client = openai.OpenAI(base_url=f"{BASE}/v1", api_key="k", http_client=http, max_retries=0)
    listed = client.models.list()
    assert [m.id for m in listed] == ["ollama/qwen3:8b", "lmstudio/gemma"]
    assert all(m.object == "model" and m.owned_by for m in listed.data)
    one = client.models.retrieve("ollama/qwen3:8b")
    assert (one.id, one.created, one.owned_by) == ("ollama/qwen3:8b", 0, "ollama")


def test_a_whole_reply_without_output_reads_as_one_empty_text() -> None:
    client = sdk(
        lambda request: httpx2.Response(
            200, json=an.message_body(ChatResponse(text="", model="m"), model="m")
        )
    )
    message = client.messages.create(
        model="m", max_tokens=8, messages=[{"role": "user", "content": "x"}]
    )
    assert [b.type for b in message.content] == ["text"] and message.content[0].text == ""
    assert message.stop_reason == "end_turn"

"""LM Studio provider: chat on /v1/chat/completions, its extensions, JIT timeouts and
the native /api/v0 stats."""

from __future__ import annotations

import pytest

from modelport import ChatResponse, Timings, ToolCall, Usage
from tests.conftest import load_fixture
from tests.unit.lmstudio_fake import (
    FakeLMStudio,
    chat_completion,
    fixture_reply,
    lmstudio_03,
    lmstudio_04,
    not_found_404,
    reply,
)

MODEL = "qwen/qwen3-8b"


def _chat_fake(body: object | None = None) -> FakeLMStudio:
    return lmstudio_04().on(
        "POST", "/v1/chat/completions", reply(json_body=body or chat_completion("Hello!"))
    )


def test_chat_sends_the_exact_openai_body_and_returns_the_reply() -> None:
    fake = _chat_fake()
    reply_ = fake.provider().chat(
        MODEL,
        [{"role": "user", "content": "Hi"}],
        system="Be brief.",
        temperature=0.2,
        max_tokens=64,
        stop=["\n\n"],
        seed=7,
    )
    assert fake.paths() == ["POST /v1/chat/completions"]
    assert fake.sent() == {
        "model": MODEL,
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
        ],
        "temperature": 0.2,
        "max_tokens": 64,
        "stop": ["\n\n"],
        "seed": 7,
    }
    assert isinstance(reply_, ChatResponse)
    assert reply_.text == "Hello!"
    assert reply_.usage == Usage(24, 53, 77)
    assert reply_.finish_reason == "stop"
    assert reply_.model == "granite-3.0-2b-instruct"  # what LM Studio says it used
    assert reply_.service == "lmstudio"


def test_ttl_and_draft_model_go_through_options() -> None:
    fake = _chat_fake()
    fake.provider().chat(MODEL, "hi", options={"ttl": 300, "draft_model": "qwen/qwen3-0.6b"})
    assert fake.sent() == {
        "model": MODEL,
        "messages": [{"role": "user", "content": "hi"}],
        "ttl": 300,
        "draft_model": "qwen/qwen3-0.6b",
    }


@pytest.mark.parametrize(
    ("keep_alive", "ttl"),
    [(600, 600), (90.5, 90), ("5m", 300), ("1h", 3600), ("45s", 45), ("1h30m", 5400)],
)
def test_keep_alive_is_sent_as_ttl_seconds(keep_alive: float | str, ttl: int) -> None:
    fake = _chat_fake()
    fake.provider().chat(MODEL, "hi", keep_alive=keep_alive)
    assert fake.sent()["ttl"] == ttl
    assert "keep_alive" not in fake.sent()


def test_json_mode_is_sent_as_a_json_schema_never_json_object() -> None:
    fake = _chat_fake(chat_completion('{"ok": true}'))
    fake.provider().chat(MODEL, "answer in JSON", response_format="json")
    assert fake.sent()["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "response", "strict": True, "schema": {"type": "object"}},
    }
    fake.provider().chat(MODEL, "answer in JSON", response_format={"type": "json_object"})
    assert fake.sent()["response_format"]["type"] == "json_schema"


def test_a_schema_response_format_is_sent_as_json_schema() -> None:
    schema = {
        "title": "City",
        "type": "object",
        "properties": {"name": {"type": "string"}},
        "required": ["name"],
    }
    fake = _chat_fake(chat_completion('{"name": "Paris"}'))
    reply_ = fake.provider().chat(MODEL, "capital of France?", response_format=schema)
    assert fake.sent()["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "City", "strict": True, "schema": schema},
    }
    assert reply_.text == '{"name": "Paris"}'


@pytest.mark.parametrize(
    "message",
    [
        {"content": "The answer is 4.", "reasoning": "2+2 is 4"},  # gpt-oss, 0.3.23+
        {"content": "The answer is 4.", "reasoning_content": "2+2 is 4"},  # R1, opt-in
        {"content": "<think>2+2 is 4</think>\n\nThe answer is 4."},  # inline
    ],
    ids=["reasoning", "reasoning_content", "think-tags"],
)
def test_thinking_is_read_whichever_way_lm_studio_sends_it(message: dict[str, str]) -> None:
    fake = _chat_fake(chat_completion(**message))
    reply_ = fake.provider().chat(MODEL, "what is 2+2?")
    assert reply_.text == "The answer is 4."
    assert reply_.thinking == "2+2 is 4"
    assert reply_.message.thinking == "2+2 is 4"


def test_reasoning_wins_over_reasoning_content_and_think_tags() -> None:
    fake = _chat_fake(
        chat_completion("<think>inline</think>Done.", reasoning="field", reasoning_content="other")
    )
    reply_ = fake.provider().chat(MODEL, "hi")
    assert reply_.thinking == "field"


def test_tool_calls_keep_lm_studios_numeric_ids_and_parsed_arguments() -> None:
    tool = {
        "type": "function",
        "function": {
            "name": "search_products",
            "description": "Search the catalog",
            "parameters": {"type": "object", "properties": {"query": {"type": "string"}}},
        },
    }
    fake = _chat_fake(load_fixture("lmstudio/v1_chat_tool_calls.json"))
    reply_ = fake.provider().chat(MODEL, "find a dell under $50", tools=[tool], tool_choice="auto")
    assert fake.sent()["tools"] == [tool]
    assert fake.sent()["tool_choice"] == "auto"
    assert reply_.finish_reason == "tool_calls"
    assert reply_.tool_calls == (
        ToolCall(
            name="search_products",
            arguments={"query": "dell", "category": "electronics", "max_price": 50},
            id="365174485",
        ),
    )
    assert reply_.text == ""


def test_a_tool_result_goes_back_with_its_numeric_id() -> None:
    fake = _chat_fake()
    call = ToolCall(name="search_products", arguments={"query": "dell"}, id="365174485")
    fake.provider().chat(
        MODEL,
        [
            {"role": "user", "content": "find a dell"},
            {"role": "assistant", "content": "", "tool_calls": [call]},
            {"role": "tool", "content": '{"results": []}', "tool_call_id": "365174485"},
        ],
    )
    messages = fake.sent()["messages"]
    assert messages[1]["tool_calls"][0]["id"] == "365174485"
    assert messages[1]["tool_calls"][0]["function"] == {
        "name": "search_products",
        "arguments": '{"query": "dell"}',
    }
    assert messages[2] == {
        "role": "tool",
        "content": '{"results": []}',
        "tool_call_id": "365174485",
    }


# ---------------------------------------------------------------------------- JIT loading


def test_first_request_to_a_model_listed_as_not_loaded_uses_the_jit_timeout() -> None:
    fake = _chat_fake()
    provider = fake.provider(timeout=30, jit_timeout=600)
    provider.models()  # deepseek-r1 is listed with no loaded instance
    provider.chat("deepseek-r1", "hi")
    assert fake.read_timeout() == 600
    provider.chat("deepseek-r1", "hi again")  # it answered, so it is loaded now
    assert fake.read_timeout() == 30


def test_requests_to_a_model_listed_as_loaded_use_the_normal_timeout() -> None:
    fake = _chat_fake()
    provider = fake.provider(timeout=30, jit_timeout=600)
    provider.models()
    provider.chat("google/gemma-4-26b-a4b", "hi")
    assert fake.read_timeout() == 30


def test_first_request_to_a_model_never_listed_uses_the_jit_timeout() -> None:
    fake = _chat_fake()
    provider = fake.provider(timeout=30, jit_timeout=600)
    provider.chat(MODEL, "hi")
    assert fake.read_timeout() == 600
    provider.chat(MODEL, "hi")
    assert fake.read_timeout() == 30


def test_an_explicit_timeout_wins_over_the_jit_timeout() -> None:
    fake = _chat_fake()
    provider = fake.provider(timeout=30, jit_timeout=600)
    provider.chat(MODEL, "hi", timeout=5)
    assert fake.read_timeout() == 5


# ---------------------------------------------------------------------------- native stats


def test_native_stats_use_rest_v0_and_fill_timings() -> None:
    fake = lmstudio_04().on("POST", "/api/v0/chat/completions", fixture_reply("v0_chat.json"))
    reply_ = fake.provider(native_stats=True).chat("granite-3.0-2b-instruct", "rhyme for me")
    assert fake.paths() == ["POST /api/v0/chat/completions"]
    assert fake.sent() == {
        "model": "granite-3.0-2b-instruct",
        "messages": [{"role": "user", "content": "rhyme for me"}],
    }
    assert reply_.text.startswith("Greetings, I'm a helpful AI")
    assert reply_.finish_reason == "stop"
    assert reply_.usage == Usage(24, 53, 77)
    assert reply_.timings == Timings(
        time_to_first_token_ms=pytest.approx(111.0),
        tokens_per_second=pytest.approx(51.43709529007664),
        generation_ms=pytest.approx(954.0),
    )
    assert reply_.raw["stats"]["stop_reason"] == "eosFound"


def test_native_stats_stop_reason_fills_a_missing_finish_reason() -> None:
    body = load_fixture("lmstudio/v0_completions.json")  # maxPredictedTokensReached
    completion = load_fixture("lmstudio/v0_chat.json")
    completion["stats"] = body["stats"]
    completion["choices"][0]["finish_reason"] = None
    fake = lmstudio_04().on("POST", "/api/v0/chat/completions", reply(json_body=completion))
    reply_ = fake.provider(native_stats=True).chat("granite-3.0-2b-instruct", "go on")
    assert reply_.finish_reason == "length"


def test_native_stats_fall_back_to_v1_when_rest_v0_is_missing() -> None:
    fake = FakeLMStudio(fallback=not_found_404).on(
        "POST", "/v1/chat/completions", reply(json_body=chat_completion("Hi"))
    )
    provider = fake.provider(native_stats=True)
    assert provider.chat(MODEL, "hi").text == "Hi"
    assert provider.chat(MODEL, "hi").text == "Hi"
    assert fake.paths() == [
        "POST /api/v0/chat/completions",
        "POST /v1/chat/completions",
        "POST /v1/chat/completions",
    ]


def test_native_stats_fall_back_when_rest_v0_is_an_unexpected_endpoint() -> None:
    fake = lmstudio_03().on("POST", "/v1/chat/completions", reply(json_body=chat_completion("Hi")))
    assert fake.provider(native_stats=True).chat(MODEL, "hi").text == "Hi"
    assert fake.paths() == ["POST /api/v0/chat/completions", "POST /v1/chat/completions"]


# ---------------------------------------------------------------------------- embeddings & async


def test_embed_sends_strings_and_reports_zero_usage_as_none() -> None:
    from tests.unit.lmstudio_fake import embeddings_fixture

    fake = lmstudio_04().on("POST", "/v1/embeddings", reply(json_body=embeddings_fixture()))
    result = fake.provider().embed("text-embedding-nomic-embed-text-v1.5", "Some text to embed")
    assert fake.sent() == {
        "model": "text-embedding-nomic-embed-text-v1.5",
        "input": ["Some text to embed"],
    }
    assert result.vectors[0][:3] == [
        -0.016731496900320053,
        0.028460891917347908,
        -0.1407836228609085,
    ]
    assert result.dimensions == 6
    assert result.model == "text-embedding-nomic-embed-text-v1.5@q4_k_m"
    assert result.usage is None  # LM Studio reports 0 tokens: not a real count


def test_embed_of_many_strings_keeps_the_input_order() -> None:
    body = {
        "object": "list",
        "data": [
            {"object": "embedding", "embedding": [0.2], "index": 1},
            {"object": "embedding", "embedding": [0.1], "index": 0},
        ],
        "model": "text-embedding-nomic-embed-text-v1.5",
        "usage": {"prompt_tokens": 0, "total_tokens": 0},
    }
    fake = lmstudio_04().on("POST", "/v1/embeddings", reply(json_body=body))
    result = fake.provider().embed("text-embedding-nomic-embed-text-v1.5", ["a", "b"])
    assert result.vectors == [[0.1], [0.2]]


@pytest.mark.anyio
async def test_async_chat_matches_the_sync_one() -> None:
    fake = _chat_fake()
    provider = fake.provider(timeout=30, jit_timeout=600)
    reply_ = await provider.achat(MODEL, "Hi", temperature=0.2)
    assert reply_.text == "Hello!"
    assert fake.sent() == {
        "model": MODEL,
        "messages": [{"role": "user", "content": "Hi"}],
        "temperature": 0.2,
    }
    assert fake.read_timeout() == 600
    await provider.aclose()

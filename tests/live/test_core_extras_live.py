"""Live: legacy completion and token counting against a real llama-server (SmolLM2)."""

from __future__ import annotations

import pytest

import modelport
from modelport import LlamaCppProvider


@pytest.fixture
def server(llamacpp_chat_url: str) -> LlamaCppProvider:
    return LlamaCppProvider(llamacpp_chat_url)


def test_live_complete_continues_the_raw_prompt(server: LlamaCppProvider) -> None:
    reply = server.complete("smollm2", "One, two, three,", max_tokens=6, temperature=0)
    assert isinstance(reply, modelport.CompletionResponse)
    assert reply.text.strip()
    assert reply.finish_reason in ("stop", "length")
    assert reply.usage is not None and reply.usage.completion_tokens
    assert reply.usage.completion_tokens <= 6


def test_live_complete_stream_joins_to_the_same_kind_of_reply(server: LlamaCppProvider) -> None:
    with server.complete_stream("smollm2", "Once upon a time", max_tokens=6) as stream:
        chunks = list(stream)
    assert chunks[-1].done
    assert stream.response.text == "".join(c.text for c in chunks)
    assert stream.response.text.strip()


def test_live_client_complete_with_a_list_of_prompts(llamacpp_chat_url: str) -> None:
    with modelport.Client(services=[f"llamacpp={llamacpp_chat_url}"]) as client:
        reply = client.complete("llamacpp/smollm2", ["One", "Two"], max_tokens=4)
    assert [c.index for c in reply.choices] == [0, 1]


@pytest.mark.parametrize(
    "messages",
    [
        [{"role": "user", "content": "Say hi"}],
        [
            {"role": "system", "content": "You are a terse assistant. Answer in one word."},
            {"role": "user", "content": "What colour is the sky on a clear day?"},
            {"role": "assistant", "content": "Blue."},
            {"role": "user", "content": "And at night? Explain briefly, please."},
        ],
    ],
)
def test_live_count_tokens_agrees_with_the_usage_of_the_same_chat(
    server: LlamaCppProvider, messages: list[dict[str, str]]
) -> None:
    counted = server.count_tokens("smollm2", messages)
    reply = server.chat("smollm2", messages, max_tokens=1, temperature=0)
    assert reply.usage is not None and reply.usage.prompt_tokens
    real = reply.usage.prompt_tokens
    assert counted.exact is True
    assert abs(counted.count - real) <= max(2, 0.05 * real), (counted, real)

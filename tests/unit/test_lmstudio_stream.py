"""LM Studio provider: streaming, replaying captured and documented LM Studio streams."""

from __future__ import annotations

import re

import pytest

from modelport import ChatChunk, ToolCall, Usage
from tests.conftest import fixture_bytes
from tests.unit.lmstudio_fake import chunk, jsonl_fixture_as_sse, lmstudio_04, sse_reply

MODEL = "qwen/qwen3-8b"


def _stream(
    payloads: list[object], *, done: bool = True, **options: object
) -> tuple[list[ChatChunk], object, object]:
    fake = lmstudio_04().on("POST", "/v1/chat/completions", sse_reply(payloads, done=done))
    with fake.provider().chat_stream(MODEL, "hi", **options) as stream:  # type: ignore[arg-type]
        chunks = list(stream)
    return chunks, stream.response, fake


def test_stream_requests_always_ask_for_usage() -> None:
    _, _, fake = _stream([chunk({"content": "ok"}, "stop")])
    assert fake.sent() == {  # type: ignore[attr-defined]
        "model": MODEL,
        "messages": [{"role": "user", "content": "hi"}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    assert fake.calls[-1].headers["accept"] == "text/event-stream"  # type: ignore[attr-defined]


def test_stream_captured_from_an_older_server_without_usage_reports_usage_none() -> None:
    lines = jsonl_fixture_as_sse("v1_chat_stream_observed_0_3_x.jsonl")
    chunks, response, _ = _stream(lines)
    assert "".join(c.text for c in chunks) == "\n"
    assert chunks[-1].done and chunks[-1].finish_reason == "stop"
    assert [c.done for c in chunks].count(True) == 1
    assert response.usage is None  # type: ignore[attr-defined]  # not zeros
    assert response.model == "gemma-2-2b-it-abliterated"  # type: ignore[attr-defined]


def test_stream_usage_is_read_from_the_trailing_usage_chunk() -> None:
    usage = {"prompt_tokens": 12, "completion_tokens": 2, "total_tokens": 14}
    chunks, response, _ = _stream(
        [
            chunk({"role": "assistant", "content": "Hi"}),
            chunk({}, "stop"),
            {**chunk({}), "choices": [], "usage": usage},
        ]
    )
    assert response.usage == Usage(12, 2, 14)  # type: ignore[attr-defined]
    assert chunks[-1].usage == Usage(12, 2, 14)


def test_stream_usage_on_the_final_choice_chunk_is_also_read() -> None:
    usage = {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}
    _, response, _ = _stream([chunk({"content": "Hi"}), chunk({}, "stop", usage=usage)])
    assert response.usage == Usage(3, 1, 4)  # type: ignore[attr-defined]


def test_stream_reasoning_content_deltas_fill_thinking() -> None:
    lines = jsonl_fixture_as_sse("v1_chat_stream_reasoning_content_0_3_9.jsonl")
    finish = chunk({"role": "assistant", "content": "Answer"}, "stop")
    chunks, response, _ = _stream([*lines, finish])
    assert "".join(c.thinking for c in chunks) == "le? An"
    assert response.thinking == "le? An"  # type: ignore[attr-defined]
    assert response.text == "Answer"  # type: ignore[attr-defined]


def test_stream_reasoning_deltas_fill_thinking() -> None:
    _, response, _ = _stream(
        [
            chunk({"role": "assistant", "reasoning": "Think"}),
            chunk({"reasoning": "ing."}),
            chunk({"content": "Done."}),
            chunk({}, "stop"),
        ]
    )
    assert response.thinking == "Thinking."  # type: ignore[attr-defined]
    assert response.text == "Done."  # type: ignore[attr-defined]


def test_stream_think_tags_split_across_chunks_are_separated() -> None:
    pieces = ["<thi", "nk>plan ", "it</th", "ink>\n\nThe ", "answer"]
    chunks, response, _ = _stream([chunk({"content": p}) for p in pieces] + [chunk({}, "stop")])
    assert response.thinking == "plan it"  # type: ignore[attr-defined]
    assert response.text == "The answer"  # type: ignore[attr-defined]
    assert "<think>" not in "".join(c.text for c in chunks)


def _tool_call_fragments() -> list[dict[str, object]]:
    """The documented tool-call deltas (openai-python reprs) turned back into JSON."""
    text = fixture_bytes("lmstudio/v1_chat_stream_tool_call_deltas.py.txt").decode()
    fragments = []
    for line in text.splitlines():
        call_id = re.search(r"\bid=(None|'[^']*')", line)
        name = re.search(r"name=(None|'[^']*')", line)
        arguments = re.search(r"arguments='((?:[^'\\]|\\.)*)'", line)
        assert call_id and name and arguments
        fragment: dict[str, object] = {"index": 0, "function": {"arguments": arguments.group(1)}}
        if call_id.group(1) != "None":
            fragment["id"] = call_id.group(1).strip("'")
            fragment["type"] = "function"
        if name.group(1) != "None":
            fragment["function"]["name"] = name.group(1).strip("'")  # type: ignore[index]
        fragments.append(fragment)
    return fragments


def test_stream_tool_call_fragments_are_assembled_into_one_call_by_index() -> None:
    fragments = _tool_call_fragments()
    assert len(fragments) == 6
    payloads = [chunk({"role": "assistant", "tool_calls": [f]}) for f in fragments]
    chunks, response, _ = _stream([*payloads, chunk({}, "tool_calls")])
    expected = ToolCall(
        name="get_current_weather", arguments={"location": "San Francisco"}, id="814890118"
    )
    assert chunks[-1].tool_calls == (expected,)
    assert response.tool_calls == (expected,)  # type: ignore[attr-defined]
    assert response.finish_reason == "tool_calls"  # type: ignore[attr-defined]
    assert response.message.tool_calls == (expected,)  # type: ignore[attr-defined]


def test_parallel_tool_calls_split_across_chunks_are_kept_apart() -> None:
    payloads = [
        chunk(
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "1",
                        "type": "function",
                        "function": {"name": "a", "arguments": ""},
                    }
                ]
            }
        ),
        chunk(
            {
                "tool_calls": [
                    {
                        "index": 1,
                        "id": "2",
                        "type": "function",
                        "function": {"name": "b", "arguments": '{"y":'},
                    }
                ]
            }
        ),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"x": 1}'}}]}),
        chunk({"tool_calls": [{"index": 1, "function": {"arguments": " 2}"}}]}),
        chunk({}, "tool_calls"),
    ]
    _, response, _ = _stream(payloads)
    assert response.tool_calls == (  # type: ignore[attr-defined]
        ToolCall(name="a", arguments={"x": 1}, id="1"),
        ToolCall(name="b", arguments={"y": 2}, id="2"),
    )


def test_stream_ending_without_done_or_finish_raises_stream_error_with_partial() -> None:
    from modelport import StreamError

    with pytest.raises(StreamError) as caught:
        _stream([chunk({"content": "Hel"}), chunk({"content": "lo"})], done=False)
    assert caught.value.partial == "Hello"


def test_stream_to_a_model_not_loaded_uses_the_jit_timeout() -> None:
    fake = lmstudio_04().on(
        "POST", "/v1/chat/completions", sse_reply([chunk({"content": "Hi"}, "stop")])
    )
    provider = fake.provider(timeout=30, jit_timeout=600)
    provider.models()
    with provider.chat_stream("deepseek-r1", "hi") as stream:
        list(stream)
    assert fake.read_timeout() == 600
    with provider.chat_stream("deepseek-r1", "hi") as stream:
        list(stream)
    assert fake.read_timeout() == 30


@pytest.mark.anyio
async def test_async_stream_matches_the_sync_one() -> None:
    fake = lmstudio_04().on(
        "POST",
        "/v1/chat/completions",
        sse_reply(
            [
                chunk({"role": "assistant", "reasoning_content": "hmm"}),
                chunk({"content": "Hel"}),
                chunk({"content": "lo"}),
                chunk({}, "stop"),
            ]
        ),
    )
    provider = fake.provider()
    async with provider.achat_stream(MODEL, "hi") as stream:
        chunks = [c async for c in stream]
    assert "".join(c.text for c in chunks) == "Hello"
    assert stream.response.thinking == "hmm"
    assert stream.response.finish_reason == "stop"
    await provider.aclose()

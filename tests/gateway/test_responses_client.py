"""The Responses translation driven as a handler will drive it, with the real
:class:`~modelport.AsyncClient` in front of services replayed by ``httpx.MockTransport``
(no sockets, no app): the exact JSON each kind of service receives, and what the
caller gets back, turn after turn through the store."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

import modelport
from modelport import OllamaProvider, OpenAICompatibleProvider
from modelport.gateway import _responses as rs
from tests.conftest import load_fixture

from .responses_helpers import check_grammar, codex_reads, codex_text, counter, sse_events

pytestmark = pytest.mark.anyio
CREATED = 1_796_289_285
PNG = "data:image/png;base64,iVBORw0KGgo="


class Service:
    """One fake service: records each request body, answers from a list."""

    def __init__(self, kind: str, answers: list[Any]) -> None:
        self.kind = kind
        self.answers = answers
        self.seen: list[dict[str, Any]] = []

    def provider(self) -> Any:
        transport = httpx.MockTransport(self.handle)
        if self.kind == "ollama":
            return OllamaProvider("http://127.0.0.1:11434", transport=transport)
        return OpenAICompatibleProvider("http://127.0.0.1:8000/v1", transport=transport)

    def handle(self, request: httpx.Request) -> httpx.Response:
        chat = "/api/chat" if self.kind == "ollama" else "/v1/chat/completions"
        if request.url.path != chat:
            return httpx.Response(404, text="404 page not found")
        self.seen.append(json.loads(request.content))
        answer = self.answers.pop(0)
        if isinstance(answer, bytes):
            kind = "application/x-ndjson" if self.kind == "ollama" else "text/event-stream"
            return httpx.Response(200, content=answer, headers={"content-type": kind})
        return httpx.Response(200, json=answer)


async def handle(
    client: modelport.AsyncClient, store: rs.ResponseStore, body: dict[str, Any]
) -> tuple[rs.ResponsesCall, Any]:
    """What the surface's handler does (the package docstring's steps)."""
    ids = counter()
    call = rs.parse_request(body, ids=ids)
    history = store.conversation(call.previous_response_id) if call.previous_response_id else ()
    messages = call.messages(history)
    response_id = ids("resp")
    if not call.stream:
        reply = await client.chat(call.model, messages, **call.options)
        answer = rs.response_body(reply, call, id=response_id, created_at=CREATED, ids=ids)
        store.keep(call, answer, history)
        return call, answer
    encoder = rs.EventEncoder(call, id=response_id, created_at=CREATED, ids=ids)
    out = encoder.start()
    async with client.chat_stream(call.model, messages, **call.options) as stream:
        try:
            async for chunk in stream:
                out += encoder.chunk(chunk)
        except modelport.ModelportError as error:
            out += encoder.fail(rs.failure_for(error))
    out += encoder.end()
    assert encoder.response is not None
    store.keep(call, encoder.response, history)
    return call, out


def _sse(*events: Any) -> bytes:
    return b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events) + (
        b"data: [DONE]\n\n"
    )


def _openai_delta(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


async def test_codexs_request_reaches_an_openai_style_service_and_codex_gets_its_answer() -> None:
    answer = _sse(
        _openai_delta({"role": "assistant", "content": "Hi"}),
        _openai_delta({"content": " there!"}),
        _openai_delta({}, "stop"),
        {
            "choices": [],
            "usage": {"prompt_tokens": 4571, "completion_tokens": 3, "total_tokens": 4574},
        },
    )
    service = Service("openai", [answer])
    body = load_fixture("responses/codex_0.169.0_responses_request.json")
    async with modelport.AsyncClient(services=[service.provider()]) as client:
        store = rs.ResponseStore()
        _, raw = await handle(client, store, body)
    (sent,) = service.seen
    assert sent["model"] == "smollm2" and sent["stream"] is True
    assert [m["role"] for m in sent["messages"]] == ["system", "system", "user", "user"]
    assert sent["messages"][0]["content"] == body["input"][0]["content"][0]["text"]
    assert sent["messages"][-1]["content"] == "Say hi"
    assert [t["function"]["name"] for t in sent["tools"]][:2] == ["exec_command", "write_stdin"]
    assert all(t["type"] == "function" for t in sent["tools"]) and len(sent["tools"]) == 7
    assert sent["tool_choice"] == "auto"
    assert "reasoning_effort" not in sent and "store" not in sent and "include" not in sent
    check_grammar(sse_events(raw))
    items, usage = codex_reads(raw)
    assert codex_text(items) == "Hi there!" and usage is not None
    assert usage["input_tokens"] == 4571
    assert len(store) == 0  # Codex sends store: false


async def test_a_tool_call_round_trip_with_previous_response_id_on_ollama() -> None:
    call_turn = {
        "model": "llama3.2",
        "created_at": "2025-07-07T20:22:19.184789Z",
        "message": {
            "role": "assistant",
            "content": "",
            "thinking": "I should look it up.",
            "tool_calls": [
                {
                    "id": "call_w",
                    "function": {"name": "get_weather", "arguments": {"city": "Paris"}},
                }
            ],
        },
        "done": True,
        "done_reason": "stop",
        "prompt_eval_count": 20,
        "eval_count": 9,
    }
    final_turn = {
        "model": "llama3.2",
        "created_at": "2025-07-07T20:22:20.184789Z",
        "message": {"role": "assistant", "content": "It is sunny in Paris."},
        "done": True,
        "done_reason": "stop",
    }
    service = Service("ollama", [call_turn, final_turn])
    tools = [
        {
            "type": "function",
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        }
    ]
    async with modelport.AsyncClient(services=[service.provider()]) as client:
        store = rs.ResponseStore()
        _, first = await handle(
            client,
            store,
            {
                "model": "llama3.2",
                "instructions": "Be brief.",
                "input": "Weather in Paris?",
                "tools": tools,
            },
        )
        (function_call,) = [i for i in first["output"] if i["type"] == "function_call"]
        assert (function_call["call_id"], function_call["arguments"]) == (
            "call_w",
            '{"city": "Paris"}',
        )
        _, second = await handle(
            client,
            store,
            {
                "model": "llama3.2",
                "previous_response_id": first["id"],
                "input": [{"type": "function_call_output", "call_id": "call_w", "output": "sunny"}],
                "tools": tools,
            },
        )
    assert second["output"][0]["content"][0]["text"] == "It is sunny in Paris."
    sent = service.seen[1]["messages"]
    assert sent == [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": "",
            "thinking": "I should look it up.",  # reasoning goes back to Ollama
            "tool_calls": [
                {
                    "id": "call_w",
                    "function": {"name": "get_weather", "arguments": {"city": "Paris"}},
                }
            ],
        },
        {"role": "tool", "content": "sunny", "tool_name": "get_weather", "tool_call_id": "call_w"},
    ]
    assert service.seen[0]["messages"][0] == {"role": "system", "content": "Be brief."}


async def test_images_formats_and_effort_reach_ollama_in_its_own_shape() -> None:
    answer = {
        "model": "llava",
        "created_at": "2025-07-07T20:22:20.184789Z",
        "message": {"role": "assistant", "content": '{"animal": "cat"}'},
        "done": True,
        "done_reason": "stop",
    }
    service = Service("ollama", [answer])
    schema = {"type": "object", "properties": {"animal": {"type": "string"}}}
    async with modelport.AsyncClient(services=[service.provider()]) as client:
        _, body = await handle(
            client,
            rs.ResponseStore(),
            {
                "model": "llava",
                "input": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "input_text", "text": "What animal?"},
                            {"type": "input_image", "image_url": PNG},
                        ],
                    }
                ],
                "text": {"format": {"type": "json_schema", "name": "a", "schema": schema}},
                "reasoning": {"effort": "high"},
                "max_output_tokens": 50,
                "temperature": 0.1,
            },
        )
    (sent,) = service.seen
    assert sent["messages"] == [
        {"role": "user", "content": "What animal?", "images": ["iVBORw0KGgo="]}
    ]
    assert sent["format"] == schema and sent["think"] == "high"
    assert sent["options"] == {"num_predict": 50, "temperature": 0.1}
    assert body["output"][0]["content"][0]["text"] == '{"animal": "cat"}'


async def test_a_failure_mid_stream_reaches_the_caller_as_response_failed() -> None:
    answer = (
        json.dumps(
            {
                "model": "m",
                "created_at": "x",
                "message": {"role": "assistant", "content": "Hel"},
                "done": False,
            }
        )
        + "\n"
        + json.dumps({"error": "an error was encountered while running the model"})
        + "\n"
    ).encode()
    service = Service("ollama", [answer])
    async with modelport.AsyncClient(services=[service.provider()], max_retries=0) as client:
        store = rs.ResponseStore()
        _, raw = await handle(client, store, {"model": "m", "input": "hi", "stream": True})
    final = check_grammar(sse_events(raw))
    assert final["status"] == "failed" and final["error"]["code"] == "upstream_error"
    assert "an error was encountered" in final["error"]["message"]
    assert final["output"][0]["content"][0]["text"] == "Hel"
    assert len(store) == 0  # a failed response is not kept

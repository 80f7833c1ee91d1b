"""Tool calls translated both ways through the gateway, from recorded and documented
streams cut at every chunk boundary.

* An Ollama service sends whole calls with arguments as objects (or strings, or text
  that is not JSON), two in one line, with and without ids: the OpenAI surface must
  give each call an index and a unique id, arguments as a JSON string, and finish
  with ``tool_calls``.
* An OpenAI-style service sends indexed deltas with string fragments (two calls in
  one event, index 0 reused with a new id, a call without an id, arguments that are
  not JSON): the Ollama surface must hand whole calls with arguments as objects,
  keeping text that is not JSON under ``raw_arguments``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

import modelport
from modelport import OllamaProvider, OpenAICompatibleProvider
from modelport.gateway._toolcalls import RAW_ARGUMENTS_KEY

from .conftest import gateway

pytestmark = pytest.mark.anyio

TOOLS = [
    {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}
]
ASK = [{"role": "user", "content": "Weather and time?"}]


def _ndjson(*objects: Any) -> bytes:
    return b"".join(json.dumps(o).encode() + b"\n" for o in objects)


def _sse(*events: Any) -> bytes:
    return (
        b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events) + b"data: [DONE]\n\n"
    )


def _ollama_line(calls: list[Any]) -> dict[str, Any]:
    return {
        "model": "m",
        "created_at": "2025-07-07T20:22:19.184789Z",
        "message": {"role": "assistant", "content": "", "tool_calls": calls},
        "done": False,
    }


OLLAMA_STREAM = _ndjson(
    # two calls in one line, without ids (servers before v0.12.10), arguments as objects
    _ollama_line(
        [
            {"function": {"name": "get_weather", "arguments": {"city": "Paris"}}},
            {"function": {"name": "get_time", "arguments": {"tz": "CET"}}},
        ]
    ),
    # an id, index 0 again, and arguments as a JSON string (an Ollama look-alike)
    _ollama_line(
        [
            {
                "id": "call_ab12cd34",
                "function": {"index": 0, "name": "get_weather", "arguments": '{"city": "Rome"}'},
            }
        ]
    ),
    # arguments that are not JSON at all
    _ollama_line([{"function": {"name": "broken", "arguments": "{not json"}}]),
    {
        "model": "m",
        "created_at": "2025-07-07T20:22:20.184789Z",
        "message": {"role": "assistant", "content": ""},
        "done": True,
        "done_reason": "stop",
        "total_duration": 900000000,
        "prompt_eval_count": 20,
        "eval_count": 30,
    },
)
OLLAMA_CALLS = [
    ("get_weather", '{"city": "Paris"}'),
    ("get_time", '{"tz": "CET"}'),
    ("get_weather", '{"city": "Rome"}'),
    ("broken", "{not json"),
]


def _delta(tool_calls: list[Any] | None = None, finish: str | None = None) -> dict[str, Any]:
    delta = {"tool_calls": tool_calls} if tool_calls else {}
    return {
        "id": "c",
        "object": "chat.completion.chunk",
        "model": "m",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


OPENAI_STREAM = _sse(
    # two calls in one event
    _delta(
        [
            {
                "index": 0,
                "id": "call_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": ""},
            },
            {
                "index": 1,
                "id": "call_2",
                "type": "function",
                "function": {"name": "get_time", "arguments": "{}"},
            },
        ]
    ),
    _delta([{"index": 0, "function": {"arguments": '{"city":'}}]),
    _delta([{"index": 0, "function": {"arguments": '"Paris"}'}}]),
    # index 0 reused with a new id: a new call (ollama's /v1 did this)
    _delta(
        [
            {
                "index": 0,
                "id": "call_3",
                "type": "function",
                "function": {"name": "broken", "arguments": "{not"},
            }
        ]
    ),
    _delta([{"index": 0, "function": {"arguments": " json"}}]),
    # a call without an id
    _delta([{"index": 2, "function": {"name": "noid", "arguments": '{"a": 1}'}}]),
    _delta(finish="tool_calls"),
    {
        "id": "c",
        "object": "chat.completion.chunk",
        "choices": [],
        "usage": {"prompt_tokens": 9, "completion_tokens": 7, "total_tokens": 16},
    },
)
OPENAI_CALLS = [
    ("call_1", "get_weather", {"city": "Paris"}),
    ("call_2", "get_time", {}),
    ("call_3", "broken", {RAW_ARGUMENTS_KEY: "{not json"}),
    (None, "noid", {"a": 1}),
]


class Pieces(httpx.AsyncByteStream):
    def __init__(self, pieces: list[bytes]) -> None:
        self.pieces = pieces

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for piece in self.pieces:
            yield piece


def _service(kind: str, raw: bytes, pieces: list[bytes]) -> Any:
    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else {}
        if kind == "ollama":
            if request.url.path == "/api/chat":
                if body.get("stream") is False:
                    return httpx.Response(400, json={"error": "this test streams only"})
                return httpx.Response(
                    200, stream=Pieces(pieces), headers={"content-type": "application/x-ndjson"}
                )
            return httpx.Response(404, text="404 page not found")
        if request.url.path == "/v1/chat/completions":
            return httpx.Response(
                200, stream=Pieces(pieces), headers={"content-type": "text/event-stream"}
            )
        return httpx.Response(404, json={"error": "not found"})

    transport = httpx.MockTransport(handler)
    if kind == "ollama":
        return OllamaProvider("http://127.0.0.1:11434", transport=transport)
    return OpenAICompatibleProvider("http://127.0.0.1:8000/v1", transport=transport)


def cuts(raw: bytes) -> list[list[bytes]]:
    """The stream in one piece, byte by byte, and cut in two at every position."""
    return [
        [raw],
        [raw[i : i + 1] for i in range(len(raw))],
        *([raw[:k], raw[k:]] for k in range(1, len(raw))),
    ]


def assemble_openai(events: list[Any]) -> tuple[list[tuple[str, str, str]], str | None]:
    """What an OpenAI client does with the deltas: calls by index; each call's first
    fragment carries its id, type and name."""
    calls: dict[int, dict[str, Any]] = {}
    finish = None
    for event in events:
        for choice in event.get("choices", []):
            finish = choice.get("finish_reason") or finish
            for fragment in choice["delta"].get("tool_calls", []):
                index = fragment["index"]
                if index not in calls:
                    assert (
                        fragment["id"]
                        and fragment["type"] == "function"
                        and fragment["function"]["name"]
                    )
                    calls[index] = {
                        "id": fragment["id"],
                        "name": fragment["function"]["name"],
                        "arguments": "",
                    }
                else:
                    assert "id" not in fragment or fragment["id"] == calls[index]["id"]
                calls[index]["arguments"] += fragment["function"].get("arguments", "")
    assert sorted(calls) == list(range(len(calls)))
    return [(c["id"], c["name"], c["arguments"]) for _, c in sorted(calls.items())], finish


def _sse_events(text: str) -> list[Any]:
    return [json.loads(b[6:]) for b in text.split("\n\n") if b.startswith("data: {")]


async def test_ollama_tool_calls_become_indexed_openai_deltas_however_the_stream_is_cut() -> None:
    for pieces in cuts(OLLAMA_STREAM):
        async with gateway([_service("ollama", OLLAMA_STREAM, pieces)]) as (_, http):
            response = await http.post(
                "/v1/chat/completions",
                json={"model": "m", "messages": ASK, "tools": TOOLS, "stream": True},
            )
        assert response.status_code == 200, response.text
        calls, finish = assemble_openai(_sse_events(response.text))
        assert [(name, args) for _, name, args in calls] == OLLAMA_CALLS, pieces
        ids = [call_id for call_id, _, _ in calls]
        assert len(set(ids)) == len(ids) and "call_ab12cd34" in ids
        assert finish == "tool_calls"


async def test_ollama_tool_calls_in_a_whole_openai_reply() -> None:
    whole = {
        "model": "m",
        "created_at": "2025-07-07T20:22:19.184789Z",
        "message": {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {"function": {"name": "get_weather", "arguments": {"city": "Paris"}}},
                {"function": {"name": "broken", "arguments": "{not json"}},
            ],
        },
        "done": True,
        "done_reason": "stop",
    }

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=whole)

    provider = OllamaProvider("http://127.0.0.1:11434", transport=httpx.MockTransport(handler))
    async with gateway([provider]) as (_, http):
        response = await http.post(
            "/v1/chat/completions", json={"model": "m", "messages": ASK, "tools": TOOLS}
        )
    choice = response.json()["choices"][0]
    calls = choice["message"]["tool_calls"]
    assert [(c["function"]["name"], c["function"]["arguments"]) for c in calls] == [
        ("get_weather", '{"city": "Paris"}'),
        ("broken", "{not json"),
    ]
    assert len({c["id"] for c in calls}) == 2 and all(c["type"] == "function" for c in calls)
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None


async def test_openai_deltas_become_whole_ollama_calls_however_the_stream_is_cut() -> None:
    for pieces in cuts(OPENAI_STREAM):
        async with gateway([_service("openai", OPENAI_STREAM, pieces)]) as (_, http):
            response = await http.post(
                "/api/chat", json={"model": "m", "messages": ASK, "tools": TOOLS}
            )
        assert response.status_code == 200, response.text
        lines = [json.loads(line) for line in response.text.splitlines()]
        assert lines[-1]["done"] is True and lines[-1]["done_reason"] == "stop"
        assert lines[-1]["eval_count"] == 7
        calls = [c for line in lines for c in line["message"].get("tool_calls", [])]
        assert [(c["function"]["name"], c["function"]["arguments"]) for c in calls] == [
            (name, args) for _, name, args in OPENAI_CALLS
        ], pieces
        assert [c["id"] for c in calls][:3] == ["call_1", "call_2", "call_3"]
        assert calls[3]["id"] and calls[3]["id"] not in ("call_1", "call_2", "call_3")
        assert [c["function"]["index"] for c in calls] == [0, 1, 2, 3]


async def test_openai_tool_calls_become_whole_ollama_calls_in_one_body() -> None:
    whole = {
        "choices": [
            {
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                        },
                        {
                            "id": "call_2",
                            "type": "function",
                            "function": {"name": "broken", "arguments": "{not json"},
                        },
                    ],
                },
                "finish_reason": "tool_calls",
            }
        ],
        "usage": {"prompt_tokens": 9, "completion_tokens": 7, "total_tokens": 16},
    }

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=whole)

    provider = OpenAICompatibleProvider(
        "http://127.0.0.1:8000/v1", transport=httpx.MockTransport(handler)
    )
    async with gateway([provider]) as (_, http):
        response = await http.post(
            "/api/chat", json={"model": "m", "messages": ASK, "tools": TOOLS, "stream": False}
        )
    body = response.json()
    calls = body["message"]["tool_calls"]
    assert [(c["id"], c["function"]["arguments"]) for c in calls] == [
        ("call_1", {"city": "Paris"}),
        ("call_2", {RAW_ARGUMENTS_KEY: "{not json"}),
    ]
    assert body["done"] is True and body["done_reason"] == "stop" and body["eval_count"] == 7


async def test_ollama_callers_get_their_raw_arguments_back_to_an_openai_service() -> None:
    seen: list[Any] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        return httpx.Response(
            200, json={"choices": [{"message": {"content": "ok"}, "finish_reason": "stop"}]}
        )

    provider = OpenAICompatibleProvider(
        "http://127.0.0.1:8000/v1", transport=httpx.MockTransport(handler)
    )
    history = [
        *ASK,
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "id": "call_3",
                    "function": {"name": "broken", "arguments": {RAW_ARGUMENTS_KEY: "{not json"}},
                }
            ],
        },
        {"role": "tool", "content": "sunny", "tool_name": "broken", "tool_call_id": "call_3"},
    ]
    async with gateway([provider]) as (_, http):
        response = await http.post(
            "/api/chat", json={"model": "m", "messages": history, "stream": False}
        )
    assert response.status_code == 200, response.text
    sent = seen[-1]["messages"][1]["tool_calls"][0]
    assert sent["function"]["arguments"] == "{not json"
    assert seen[-1]["messages"][2]["tool_call_id"] == "call_3"


async def test_the_async_client_sees_what_the_gateway_relays() -> None:
    """Sanity: the same recorded Ollama stream read directly by the client gives the
    calls the OpenAI surface must translate (so a failure above is the gateway's)."""
    async with modelport.AsyncClient(
        services=[_service("ollama", OLLAMA_STREAM, [OLLAMA_STREAM])]
    ) as client:
        async with client.chat_stream("m", ASK, tools=TOOLS) as stream:
            async for _ in stream:
                pass
    assert [c.name for c in stream.response.tool_calls] == [n for n, _ in OLLAMA_CALLS]

"""The OpenAI surface's legacy text completion (``POST /v1/completions``) and reranking
(``POST /v1/rerank`` and ``/rerank``), in-process over an OpenAI-compatible service on
``httpx.MockTransport`` that answers with llama-server's recorded bodies
(tests/fixtures/responses/SOURCES.md), and the real openai SDK pointed at it.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

import modelport
from tests.conftest import FIXTURES, load_fixture

from .conftest import BASE, gateway

pytestmark = pytest.mark.anyio

COMPLETION = load_fixture("responses/llamacpp_completions.json")
COMPLETION_LIST = load_fixture("responses/llamacpp_completions_prompt_list.json")
COMPLETION_SSE = (FIXTURES / "responses/llamacpp_completions_stream.sse").read_bytes()
RERANK = load_fixture("responses/llamacpp_reranking_v1_rerank_all.json")
STREAMED_TEXT = "".join(
    json.loads(line[6:])["choices"][0]["text"]
    for line in COMPLETION_SSE.decode().split("\n\n")
    if line.startswith("data: {")
)
DOCS = ["hi", "it is a bear", "The giant panda is a bear species endemic to China."]


NOT_FOUND = {
    "error": {
        "message": "The model `nope` does not exist.",
        "type": "invalid_request_error",
        "code": "model_not_found",
    }
}
"""What an OpenAI-compatible server says of a model it does not serve (OpenAI's own words)."""


class Upstream:
    """An OpenAI-compatible service serving model ``m``: recorded answers by path, a 404
    for any other model, and every body it was sent."""

    def __init__(self, answers: dict[str, tuple[int, Any]] | None = None) -> None:
        self.answers = answers or {}
        self.sent: list[tuple[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith("/models"):
            return httpx.Response(200, json={"data": [{"id": "m"}]})
        body = json.loads(request.content) if request.content else None
        self.sent.append((path, body))
        if isinstance(body, dict) and body.get("model") != "m":
            return httpx.Response(404, json=NOT_FOUND)
        status, answer = self.answers.get(path, (404, {"error": "no route"}))
        if isinstance(answer, bytes):
            return httpx.Response(
                status, content=answer, headers={"content-type": "text/event-stream"}
            )
        return httpx.Response(status, json=answer)

    def provider(self) -> modelport.OpenAICompatibleProvider:
        return modelport.OpenAICompatibleProvider(
            "http://127.0.0.1:9", name="up", transport=httpx.MockTransport(self)
        )


def sse(body: str) -> list[Any]:
    out = []
    for block in body.split("\n\n"):
        if block.startswith("data: "):
            data = block[6:]
            out.append(data if data == "[DONE]" else json.loads(data))
    return out


# ---------------------------------------------------------------------------- completions


async def test_completions_answers_a_text_completion_and_sends_the_prompt_as_given() -> None:
    upstream = Upstream({"/v1/completions": (200, COMPLETION)})
    request = {
        "model": "m",
        "prompt": "Once upon a time",
        "max_tokens": 8,
        "temperature": 0,
        "top_p": 0.9,
        "stop": ["\n"],
        "seed": 7,
    }
    async with gateway([upstream.provider()]) as (_, http):
        response = await http.post("/v1/completions", json=request)
    assert response.status_code == 200
    body = response.json()
    assert body["id"].startswith("cmpl-") and len(body["id"]) > len("cmpl-")
    assert isinstance(body["created"], int)
    assert body == {
        "id": body["id"],
        "object": "text_completion",
        "created": body["created"],
        "model": "m",
        "choices": [
            {
                "text": ", the idea of a private, non",
                "index": 0,
                "logprobs": None,
                "finish_reason": "length",
            }
        ],
        "usage": {"prompt_tokens": 4, "completion_tokens": 8, "total_tokens": 12},
    }
    [(path, sent)] = upstream.sent
    assert path == "/v1/completions"
    assert sent["prompt"] == "Once upon a time" and sent["max_tokens"] == 8
    assert sent["temperature"] == 0 and sent["top_p"] == 0.9
    assert sent["stop"] == ["\n"] and sent["seed"] == 7
    assert "messages" not in sent


async def test_completions_of_a_prompt_list_answers_one_choice_a_prompt_in_order() -> None:
    upstream = Upstream({"/v1/completions": (200, COMPLETION_LIST)})
    async with gateway([upstream.provider()]) as (_, http):
        response = await http.post(
            "/v1/completions", json={"model": "m", "prompt": ["One", "Two"], "max_tokens": 8}
        )
    assert response.status_code == 200
    assert response.json()["choices"] == [
        {
            "text": "-to-one relationships between variables can",
            "index": 0,
            "logprobs": None,
            "finish_reason": "length",
        },
        {
            "text": ", there are 8 different numbers that",
            "index": 1,
            "logprobs": None,
            "finish_reason": "length",
        },
    ]
    assert upstream.sent[0][1]["prompt"] == ["One", "Two"]


async def test_completions_streams_text_completion_chunks_then_done() -> None:
    upstream = Upstream({"/v1/completions": (200, COMPLETION_SSE)})
    async with gateway([upstream.provider()]) as (_, http):
        response = await http.post(
            "/v1/completions", json={"model": "m", "prompt": "Once", "stream": True}
        )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = sse(response.text)
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    ids = {c["id"] for c in chunks}
    assert len(ids) == 1 and ids.pop().startswith("cmpl-")
    for chunk in chunks:
        assert chunk["object"] == "text_completion" and chunk["model"] == "m"
        assert set(chunk) == {"id", "object", "created", "model", "choices"}
    assert "".join(c["choices"][0]["text"] for c in chunks) == STREAMED_TEXT
    assert chunks[0]["choices"] == [
        {"text": ",", "index": 0, "logprobs": None, "finish_reason": None}
    ]
    assert chunks[-1]["choices"] == [
        {"text": "", "index": 0, "logprobs": None, "finish_reason": "length"}
    ]
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks[:-1])
    assert upstream.sent[0][1]["stream"] is True


async def test_completions_stream_ends_with_usage_when_asked() -> None:
    upstream = Upstream({"/v1/completions": (200, COMPLETION_SSE)})
    async with gateway([upstream.provider()]) as (_, http):
        response = await http.post(
            "/v1/completions",
            json={
                "model": "m",
                "prompt": "Once",
                "stream": True,
                "stream_options": {"include_usage": True},
            },
        )
    events = sse(response.text)
    assert events[-1] == "[DONE]"
    usage_event = events[-2]
    assert usage_event["choices"] == []
    assert usage_event["usage"] == {"prompt_tokens": 4, "completion_tokens": 8, "total_tokens": 12}
    assert usage_event["object"] == "text_completion" and usage_event["id"] == events[0]["id"]
    assert events[-3]["choices"][0]["finish_reason"] == "length"


async def test_completions_stream_failing_midway_ends_with_an_openai_error_event() -> None:
    cut = COMPLETION_SSE.split(b"\n\n")
    broken = b"\n\n".join(cut[:2]) + b"\n\ndata: {not json\n\n"
    upstream = Upstream({"/v1/completions": (200, broken)})
    async with gateway([upstream.provider()]) as (_, http):
        response = await http.post(
            "/v1/completions", json={"model": "m", "prompt": "Once", "stream": True}
        )
    assert response.status_code == 200
    events = sse(response.text)
    assert "[DONE]" not in events
    assert [e["choices"][0]["text"] for e in events[:-1]] == [",", " you"]
    error = events[-1]["error"]
    assert set(error) >= {"message", "type", "code"} and error["message"]


async def test_completions_of_an_unknown_model_is_a_404_in_openais_shape() -> None:
    upstream = Upstream({"/v1/completions": (200, COMPLETION)})
    async with gateway([upstream.provider()]) as (_, http):
        response = await http.post("/v1/completions", json={"model": "nope", "prompt": "x"})
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "model_not_found" and "nope" in error["message"]


async def test_completions_maps_an_upstream_context_overflow_to_a_400() -> None:
    overflow = {
        "error": {
            "code": 400,
            "message": "the request exceeds the available context size, try increasing it",
            "type": "exceed_context_size_error",
            "n_prompt_tokens": 9000,
            "n_ctx": 8192,
        }
    }
    upstream = Upstream({"/v1/completions": (400, overflow)})
    async with gateway([upstream.provider()]) as (_, http):
        response = await http.post("/v1/completions", json={"model": "m", "prompt": "x"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "context_length_exceeded"


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"model": "m"}, "prompt"),
        ({"model": "m", "prompt": 3}, "prompt"),
        ({"model": "m", "prompt": []}, "prompt"),
        ({"model": "m", "prompt": ["a", 1]}, "prompt"),
        ({"model": "m", "prompt": [1, 2, 3]}, "token"),
        ({"model": "m", "prompt": "a", "n": 2}, "n=2"),
        ({"model": "m", "prompt": ["a", "b"], "stream": True}, "stream"),
        ({"prompt": "a"}, "model"),
    ],
)
async def test_completions_refuses_a_bad_request_with_a_clear_400(
    body: dict[str, Any], words: str
) -> None:
    upstream = Upstream({"/v1/completions": (200, COMPLETION)})
    async with gateway([upstream.provider()]) as (_, http):
        response = await http.post("/v1/completions", json=body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert words.lower() in error["message"].lower()
    assert upstream.sent == []


async def test_the_openai_sdk_creates_completions_whole_and_streamed() -> None:
    openai_sdk = pytest.importorskip("openai")
    upstream = Upstream({"/v1/completions": (200, COMPLETION)})
    async with gateway([upstream.provider()], api_keys=["k"]) as (app, _):
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app))
        sdk = openai_sdk.AsyncOpenAI(
            base_url=f"{BASE}/v1", api_key="k", http_client=http, max_retries=0
        )
        reply = await sdk.completions.create(model="m", prompt="Once upon a time", max_tokens=8)
        assert reply.object == "text_completion" and reply.model == "m"
        assert reply.choices[0].text == ", the idea of a private, non"
        assert reply.choices[0].finish_reason == "length"
        assert reply.usage is not None and reply.usage.total_tokens == 12
        upstream.answers["/v1/completions"] = (200, COMPLETION_SSE)
        stream = await sdk.completions.create(
            model="m", prompt="Once", stream=True, stream_options={"include_usage": True}
        )
        chunks = [chunk async for chunk in stream]
        assert "".join(c.choices[0].text for c in chunks if c.choices) == STREAMED_TEXT
        assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 8
        with pytest.raises(openai_sdk.NotFoundError):
            await sdk.completions.create(model="nope", prompt="x")
        await sdk.close()


# ---------------------------------------------------------------------------- rerank


@pytest.mark.parametrize("path", ["/v1/rerank", "/rerank"])
async def test_rerank_answers_in_the_jina_cohere_shape_most_relevant_first(path: str) -> None:
    upstream = Upstream({"/v1/rerank": (200, RERANK)})
    async with gateway([upstream.provider()]) as (_, http):
        response = await http.post(
            path, json={"model": "m", "query": "What is a panda?", "documents": DOCS}
        )
    assert response.status_code == 200
    assert response.json() == {
        "model": "m",
        "object": "list",
        "usage": {"prompt_tokens": 31, "total_tokens": 31},
        "results": [
            {"index": 2, "relevance_score": 0.3775247037410736},
            {"index": 1, "relevance_score": -0.15193748474121094},
            {"index": 0, "relevance_score": -2.0635385513305664},
        ],
    }
    assert upstream.sent == [
        ("/v1/rerank", {"model": "m", "query": "What is a panda?", "documents": DOCS})
    ]


async def test_rerank_keeps_top_n_and_returns_documents_when_asked() -> None:
    upstream = Upstream({"/v1/rerank": (200, RERANK)})
    async with gateway([upstream.provider()]) as (_, http):
        response = await http.post(
            "/v1/rerank",
            json={
                "model": "m",
                "query": "What is a panda?",
                "documents": DOCS,
                "top_n": 2,
                "return_documents": True,
            },
        )
    assert response.status_code == 200
    assert response.json()["results"] == [
        {"index": 2, "relevance_score": 0.3775247037410736, "document": {"text": DOCS[2]}},
        {"index": 1, "relevance_score": -0.15193748474121094, "document": {"text": DOCS[1]}},
    ]
    assert upstream.sent[0][1]["top_n"] == 2


async def test_rerank_takes_documents_as_text_objects() -> None:
    upstream = Upstream({"/v1/rerank": (200, RERANK)})
    async with gateway([upstream.provider()]) as (_, http):
        response = await http.post(
            "/v1/rerank",
            json={"model": "m", "query": "q", "documents": [{"text": d} for d in DOCS]},
        )
    assert response.status_code == 200
    assert upstream.sent[0][1]["documents"] == DOCS


async def test_rerank_on_a_server_without_reranking_is_a_400_naming_the_fix() -> None:
    refusal = load_fixture("responses/llamacpp_rerank_without_flag.json")
    upstream = Upstream({"/v1/rerank": (501, refusal)})
    async with gateway([upstream.provider()]) as (_, http):
        response = await http.post(
            "/v1/rerank", json={"model": "m", "query": "q", "documents": ["a"]}
        )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "unsupported_capability" and "--reranking" in error["message"]


async def test_rerank_of_an_unknown_model_is_a_404_in_openais_shape() -> None:
    upstream = Upstream({"/v1/rerank": (200, RERANK)})
    async with gateway([upstream.provider()]) as (_, http):
        response = await http.post(
            "/rerank", json={"model": "nope", "query": "q", "documents": ["a"]}
        )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "model_not_found"


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"model": "m", "documents": ["a"]}, "query"),
        ({"model": "m", "query": "q"}, "documents"),
        ({"model": "m", "query": "q", "documents": []}, "documents"),
        ({"model": "m", "query": "q", "documents": "a"}, "documents"),
        ({"model": "m", "query": "q", "documents": ["a", 2]}, "documents"),
        ({"model": "m", "query": "q", "documents": ["a"], "top_n": 0}, "top_n"),
        ({"model": "m", "query": "q", "documents": ["a"], "top_n": "2"}, "top_n"),
        ({"query": "q", "documents": ["a"]}, "model"),
    ],
)
async def test_rerank_refuses_a_bad_request_with_a_clear_400(
    body: dict[str, Any], words: str
) -> None:
    upstream = Upstream({"/v1/rerank": (200, RERANK)})
    async with gateway([upstream.provider()]) as (_, http):
        response = await http.post("/v1/rerank", json=body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert words.lower() in error["message"].lower()
    assert upstream.sent == []

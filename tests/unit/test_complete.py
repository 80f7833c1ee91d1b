"""Legacy text completion: ``complete()`` and ``complete_stream()``.

``/v1/completions`` on llama.cpp, vLLM, LM Studio and generic OpenAI-compatible servers
(bodies recorded from llama-server, tests/fixtures/responses/SOURCES.md); ``/api/generate``
with ``raw: true`` on Ollama (its documented bodies, tests/fixtures/ollama).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

import modelport
from modelport import (
    CompletionResponse,
    InvalidRequestError,
    LlamaCppProvider,
    LMStudioProvider,
    ModelNotFoundError,
    OllamaProvider,
    OpenAICompatibleProvider,
)
from tests.conftest import load_fixture

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


class Server:
    """Answers every request with one recorded body; keeps what was sent."""

    def __init__(self, body: Any, *, status: int = 200, content_type: str | None = None) -> None:
        self.body = body
        self.status = status
        self.content_type = content_type
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if isinstance(self.body, bytes):
            headers = {"content-type": self.content_type or "text/event-stream"}
            return httpx.Response(self.status, content=self.body, headers=headers)
        return httpx.Response(self.status, json=self.body)

    @property
    def sent(self) -> list[tuple[str, Any]]:
        return [(r.url.path, json.loads(r.content)) for r in self.requests]


def _llamacpp(server: Server) -> LlamaCppProvider:
    return LlamaCppProvider("http://127.0.0.1:8080", transport=httpx.MockTransport(server))


def _ollama(server: Server) -> OllamaProvider:
    return OllamaProvider("http://127.0.0.1:11434", transport=httpx.MockTransport(server))


def _raw(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


# ---------------------------------------------------------------------------- /v1/completions


def test_complete_sends_the_prompt_to_llamacpp_v1_completions() -> None:
    server = Server(load_fixture("responses/llamacpp_completions.json"))
    reply = _llamacpp(server).complete("smollm2", "Once upon a time", max_tokens=8)
    assert server.sent == [
        ("/v1/completions", {"model": "smollm2", "prompt": "Once upon a time", "max_tokens": 8})
    ]
    assert isinstance(reply, CompletionResponse)
    assert reply.text == ", the idea of a private, non"
    assert reply.finish_reason == "length"
    assert reply.usage == modelport.Usage(4, 8, 12)
    assert reply.timings is not None and reply.timings.generation_ms == 204.372
    assert reply.service == "llamacpp" and reply.model.endswith(".gguf")
    assert reply.stop_sequence is None


def test_complete_sends_sampling_options_by_their_openai_names() -> None:
    server = Server(load_fixture("responses/llamacpp_completions_stop.json"))
    reply = _llamacpp(server).complete(
        "smollm2",
        "One, two, three,",
        max_tokens=12,
        stop=[" six"],
        temperature=0,
        top_p=0.5,
        seed=7,
        options={"top_k": 1},
    )
    assert server.sent[0][1] == {
        "model": "smollm2",
        "prompt": "One, two, three,",
        "max_tokens": 12,
        "stop": [" six"],
        "temperature": 0.0,
        "top_p": 0.5,
        "seed": 7,
        "top_k": 1,
    }
    assert reply.text == " four, five," and reply.finish_reason == "stop"
    assert reply.stop_sequence is None  # llama.cpp does not say which stop matched


def test_complete_with_a_list_of_prompts_gives_one_choice_each_in_order() -> None:
    server = Server(load_fixture("responses/llamacpp_completions_prompt_list.json"))
    reply = _llamacpp(server).complete("smollm2", ["One", "Two"], max_tokens=8)
    assert server.sent[0][1]["prompt"] == ["One", "Two"]
    assert [c.index for c in reply.choices] == [0, 1]
    assert reply.choices[1].text == ", there are 8 different numbers that"
    assert reply.text == reply.choices[0].text
    assert all(c.finish_reason == "length" for c in reply.choices)


def test_complete_reads_vllms_stop_reason_as_the_stop_sequence() -> None:
    body = {
        "id": "cmpl-1",
        "object": "text_completion",
        "model": "q",
        "choices": [
            {"index": 0, "text": "One, two", "finish_reason": "stop", "stop_reason": ", three"}
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
    }
    server = Server(body)
    provider = OpenAICompatibleProvider(
        "http://127.0.0.1:8000", transport=httpx.MockTransport(server)
    )
    reply = provider.complete("q", "Count", stop=", three")
    assert server.sent == [
        ("/v1/completions", {"model": "q", "prompt": "Count", "stop": [", three"]})
    ]
    assert reply.stop_sequence == ", three"


def test_lmstudio_completes_on_v1_completions() -> None:
    server = Server(load_fixture("responses/llamacpp_completions.json"))
    provider = LMStudioProvider("http://127.0.0.1:1234", transport=httpx.MockTransport(server))
    provider.complete("qwen3", "Hi")
    assert server.sent[0][0] == "/v1/completions"


def test_complete_maps_a_404_naming_the_model_to_model_not_found() -> None:
    body = {
        "object": "error",
        "message": "The model `nope` does not exist.",
        "type": "NotFoundError",
        "param": None,
        "code": 404,
    }
    server = Server(body, status=404)
    provider = OpenAICompatibleProvider(
        "http://127.0.0.1:8000", transport=httpx.MockTransport(server)
    )
    with pytest.raises(ModelNotFoundError):
        provider.complete("nope", "Hi")


def test_a_reply_of_the_wrong_shape_is_a_protocol_error() -> None:
    server = Server({"choices": "no"})
    with pytest.raises(modelport.ProtocolError):
        _llamacpp(server).complete("smollm2", "Hi")


# ---------------------------------------------------------------------------- Ollama


def test_ollama_completes_with_raw_generate() -> None:
    server = Server(load_fixture("ollama/generate_nonstream.json"))
    reply = _ollama(server).complete("llama3.2", "Why is the sky blue?", max_tokens=8, seed=1)
    assert server.sent == [
        (
            "/api/generate",
            {
                "model": "llama3.2",
                "prompt": "Why is the sky blue?",
                "raw": True,
                "stream": False,
                "options": {"num_predict": 8, "seed": 1},
            },
        )
    ]
    assert reply.text == "The sky is blue because it is the color of the sky."
    assert reply.usage == modelport.Usage(26, 290, 316)
    assert reply.finish_reason is None  # the documented body has no done_reason


def test_ollama_completes_each_prompt_of_a_list_in_turn() -> None:
    server = Server(load_fixture("ollama/generate_nonstream.json"))
    reply = _ollama(server).complete("llama3.2", ["a", "b"])
    assert [body["prompt"] for _, body in server.sent] == ["a", "b"]
    assert [c.index for c in reply.choices] == [0, 1]
    assert reply.usage == modelport.Usage(52, 580, 632)


def test_ollama_streams_raw_generate() -> None:
    server = Server(_raw("ollama/generate_stream.ndjson"), content_type="application/x-ndjson")
    with _ollama(server).complete_stream("gemma4", "Hi") as stream:
        text = "".join(chunk.text for chunk in stream)
    assert server.sent[0][1] == {"model": "gemma4", "prompt": "Hi", "raw": True, "stream": True}
    assert text and stream.response.text == text
    assert isinstance(stream.response, CompletionResponse)
    assert stream.response.finish_reason == "stop"


# ---------------------------------------------------------------------------- streams


def test_complete_stream_yields_text_deltas_then_the_whole_completion() -> None:
    server = Server(_raw("responses/llamacpp_completions_stream.sse"))
    with _llamacpp(server).complete_stream("smollm2", "Once upon a time", max_tokens=8) as stream:
        chunks = list(stream)
    assert server.sent[0] == (
        "/v1/completions",
        {
            "model": "smollm2",
            "prompt": "Once upon a time",
            "max_tokens": 8,
            "stream": True,
            "stream_options": {"include_usage": True},
        },
    )
    assert chunks[-1].done and chunks[-1].finish_reason == "length"
    reply = stream.response
    assert isinstance(reply, CompletionResponse)
    assert reply.text == "".join(c.text for c in chunks) and reply.text
    assert reply.usage == modelport.Usage(4, 8, 12)


def test_complete_stream_never_splits_think_tags_out_of_raw_text() -> None:
    event = {"choices": [{"text": "<think>x</think>y", "index": 0, "finish_reason": "stop"}]}
    body = b"data: " + json.dumps(event).encode() + b"\n\ndata: [DONE]\n\n"
    with _llamacpp(Server(body)).complete_stream("m", "p") as stream:
        text = "".join(c.text for c in stream)
    assert text == "<think>x</think>y" and stream.response.text == text


def test_complete_stream_takes_one_prompt() -> None:
    server = Server(b"")
    with pytest.raises(InvalidRequestError, match="one prompt"):
        _llamacpp(server).complete_stream("m", ["a", "b"])
    assert server.requests == []


@pytest.mark.parametrize(
    ("prompt", "options", "fragment"),
    [
        ([], {}, "no prompt"),
        (3, {}, "prompt must be a string or a list of strings"),
        (["a", 3], {}, "prompt must be a string or a list of strings"),
        ("a", {"tools": []}, "Unknown completion option 'tools'"),
        ("a", {"max_tokens": 0}, "max_tokens must be a positive integer"),
        ("a", {"temperature": "hot"}, "temperature must be a number"),
    ],
)
def test_bad_completion_input_is_refused_before_sending(
    prompt: Any, options: dict[str, Any], fragment: str
) -> None:
    server = Server({})
    with pytest.raises(InvalidRequestError, match=fragment):
        _llamacpp(server).complete("m", prompt, **options)
    assert server.requests == []


# ---------------------------------------------------------------------------- Client & CLI


def test_client_complete_routes_to_the_service_with_the_model() -> None:
    server = Server(load_fixture("responses/llamacpp_completions.json"))
    client = modelport.Client(services=[_llamacpp(server)])
    reply = client.complete("llamacpp/smollm2", "Once upon a time")
    assert reply.text.startswith(", the idea")
    with client.complete_stream("llamacpp/smollm2", "Once") as stream:
        assert stream is not None


def test_async_client_complete_and_stream() -> None:
    async def main() -> tuple[str, str]:
        one = Server(load_fixture("responses/llamacpp_completions.json"))
        many = Server(_raw("responses/llamacpp_completions_stream.sse"))
        async with modelport.AsyncClient(services=[_llamacpp(one)]) as client:
            reply = await client.complete("llamacpp/smollm2", "Once upon a time")
        async with modelport.AsyncClient(services=[_llamacpp(many)]) as client:
            async with client.complete_stream("llamacpp/smollm2", "Once") as stream:
                streamed = "".join([c.text async for c in stream])
            assert stream.response.text == streamed
        return reply.text, streamed

    text, streamed = asyncio.run(main())
    assert text == ", the idea of a private, non" and streamed

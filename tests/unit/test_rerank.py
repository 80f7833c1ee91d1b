"""Reranking: ``rerank()`` and ``Capabilities.rerank``.

llama.cpp bodies are recorded from llama-server (tests/fixtures/responses/SOURCES.md);
vLLM's are its documented ``/v1/rerank`` shape (``vllm/entrypoints/pooling/score/protocol.py``:
``RerankResponse`` with ``results[{index, document: {text}, relevance_score}]``), and a
vLLM serving a model that cannot score has no rerank route at all (FastAPI's 404).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

import modelport
from modelport import (
    CapabilityError,
    InvalidRequestError,
    LlamaCppProvider,
    OllamaProvider,
    OpenAICompatibleProvider,
    RerankResult,
)
from tests.conftest import load_fixture

DOCS = ["hi", "it is a bear", "The giant panda is a bear species endemic to China."]
QUERY = "What is a panda?"

VLLM_MODELS = {
    "object": "list",
    "data": [{"id": "BAAI/bge-reranker-base", "object": "model", "owned_by": "vllm"}],
}
VLLM_RERANK = {
    "id": "rerank-1",
    "model": "BAAI/bge-reranker-base",
    "usage": {"total_tokens": 40},
    "results": [
        {"index": 0, "document": {"text": "hi"}, "relevance_score": 0.01},
        {"index": 2, "document": {"text": DOCS[2]}, "relevance_score": 0.98},
        {"index": 1, "document": {"text": DOCS[1]}, "relevance_score": 0.4},
    ],
}
VLLM_NO_ROUTE = {"detail": "Not Found"}


class Server:
    """Routes by path: ``answers[path] = (status, body)``; records every request."""

    def __init__(self, answers: dict[str, tuple[int, Any]]) -> None:
        self.answers = answers
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        status, body = self.answers.get(request.url.path, (404, VLLM_NO_ROUTE))
        return httpx.Response(status, json=body)

    def sent(self, path: str) -> list[Any]:
        return [json.loads(r.content) for r in self.requests if r.url.path == path]


def _llamacpp(server: Server) -> LlamaCppProvider:
    return LlamaCppProvider("http://127.0.0.1:8080", transport=httpx.MockTransport(server))


def _openai(server: Server) -> OpenAICompatibleProvider:
    return OpenAICompatibleProvider("http://127.0.0.1:8000", transport=httpx.MockTransport(server))


def _reranking_llamacpp() -> Server:
    props = load_fixture("responses/llamacpp_reranking_props.json")
    return Server(
        {
            "/v1/rerank": (200, load_fixture("responses/llamacpp_reranking_v1_rerank_all.json")),
            "/v1/models": (200, load_fixture("responses/llamacpp_v1_models.json")),
            "/props": (200, props),
        }
    )


# ---------------------------------------------------------------------------- rerank()


def test_rerank_sends_query_and_documents_to_llamacpp_and_sorts_by_score() -> None:
    server = _reranking_llamacpp()
    result = _llamacpp(server).rerank("smollm2", QUERY, DOCS)
    assert server.sent("/v1/rerank") == [{"model": "smollm2", "query": QUERY, "documents": DOCS}]
    assert isinstance(result, RerankResult)
    assert result.indexes == [2, 1, 0]
    assert result.scores == sorted(result.scores, reverse=True)
    assert result.scores[0] == pytest.approx(0.3775247037410736)
    assert [r.document for r in result.results] == [DOCS[2], DOCS[1], DOCS[0]]
    assert result.usage == modelport.Usage(prompt_tokens=31, total_tokens=31)
    assert result.model == "smollm2" and result.service == "llamacpp"


def test_rerank_sends_top_n_and_keeps_at_most_that_many() -> None:
    server = _reranking_llamacpp()  # the server ignores top_n here: modelport still cuts
    result = _llamacpp(server).rerank("smollm2", QUERY, DOCS, top_n=2)
    assert server.sent("/v1/rerank")[0]["top_n"] == 2
    assert result.indexes == [2, 1]


def test_rerank_sorts_results_the_server_left_unsorted() -> None:
    server = Server({"/v1/rerank": (200, VLLM_RERANK), "/v1/models": (200, VLLM_MODELS)})
    result = _openai(server).rerank("BAAI/bge-reranker-base", QUERY, DOCS)
    assert result.indexes == [2, 1, 0]
    assert result.scores == [0.98, 0.4, 0.01]
    assert result.usage == modelport.Usage(total_tokens=40)


def test_rerank_on_llamacpp_without_the_flag_is_a_capability_error_naming_it() -> None:
    server = Server(
        {"/v1/rerank": (501, load_fixture("responses/llamacpp_rerank_without_flag.json"))}
    )
    with pytest.raises(CapabilityError, match="--reranking"):
        _llamacpp(server).rerank("smollm2", QUERY, DOCS)


def test_rerank_on_a_server_without_the_route_is_a_capability_error() -> None:
    server = Server({})
    with pytest.raises(CapabilityError, match="rerank"):
        _openai(server).rerank("Qwen/Qwen3-0.6B", QUERY, DOCS)
    server = Server(
        {"/v1/rerank": (404, load_fixture("responses/llamacpp_unknown_route_404.json"))}
    )
    with pytest.raises(CapabilityError, match="rerank"):
        _llamacpp(server).rerank("smollm2", QUERY, DOCS)


def test_ollama_cannot_rerank_and_says_what_can_before_sending() -> None:
    server = Server({})
    provider = OllamaProvider("http://127.0.0.1:11434", transport=httpx.MockTransport(server))
    with pytest.raises(CapabilityError) as caught:
        provider.rerank("bge-reranker", QUERY, DOCS)
    assert "llama-server" in (caught.value.hint or "")
    assert server.requests == []


def test_a_rerank_reply_of_the_wrong_shape_is_a_protocol_error() -> None:
    server = Server({"/v1/rerank": (200, {"results": [{"index": "x"}]})})
    with pytest.raises(modelport.ProtocolError):
        _llamacpp(server).rerank("smollm2", QUERY, DOCS)


@pytest.mark.parametrize(
    ("query", "documents", "top_n", "fragment"),
    [
        ("q", [], None, "no documents"),
        ("q", "one", None, "documents must be a list of strings"),
        ("q", ["a", 1], None, "documents must be a list of strings"),
        (3, ["a"], None, "query must be a string"),
        ("q", ["a"], 0, "top_n must be a positive integer"),
        ("q", ["a"], True, "top_n must be an integer"),
    ],
)
def test_bad_rerank_input_is_refused_before_sending(
    query: Any, documents: Any, top_n: Any, fragment: str
) -> None:
    server = _reranking_llamacpp()
    with pytest.raises(InvalidRequestError, match=fragment):
        _llamacpp(server).rerank("smollm2", query, documents, top_n=top_n)
    assert server.requests == []


def test_client_and_async_client_rerank() -> None:
    result = modelport.Client(services=[_llamacpp(_reranking_llamacpp())]).rerank(
        "llamacpp/smollm2", QUERY, DOCS, top_n=1
    )
    assert result.indexes == [2]

    async def main() -> RerankResult:
        async with modelport.AsyncClient(services=[_llamacpp(_reranking_llamacpp())]) as client:
            return await client.rerank("llamacpp/smollm2", QUERY, DOCS)

    assert asyncio.run(main()).indexes == [2, 1, 0]


# ---------------------------------------------------------------------------- capabilities


def _listed(server: Server) -> modelport.ModelInfo:
    (info,) = _llamacpp(server).models()
    return info


def test_llamacpp_started_with_reranking_lists_its_model_as_reranking() -> None:
    server = _reranking_llamacpp()
    server.answers["/v1/rerank"] = (
        400,
        load_fixture("responses/llamacpp_reranking_probe_empty_body.json"),
    )
    info = _listed(server)
    assert info.capabilities.rerank is True
    assert "rerank" in info.capabilities.names()
    assert server.sent("/v1/rerank") == [{}]  # the probe: an empty body, refused


def test_llamacpp_without_reranking_lists_its_model_as_not_reranking() -> None:
    server = _reranking_llamacpp()
    server.answers["/v1/rerank"] = (
        501,
        load_fixture("responses/llamacpp_rerank_without_flag.json"),
    )
    assert _listed(server).capabilities.rerank is False


def test_an_older_llamacpp_without_the_route_does_not_rerank() -> None:
    server = _reranking_llamacpp()
    server.answers["/v1/rerank"] = (404, load_fixture("responses/llamacpp_unknown_route_404.json"))
    assert _listed(server).capabilities.rerank is False


def test_vllm_models_say_rerank_from_the_same_probe() -> None:
    server = Server({"/v1/models": (200, VLLM_MODELS), "/v1/rerank": (400, {"error": "x"})})
    (info,) = _openai(server).models()
    assert info.capabilities.rerank is True
    chat = Server({"/v1/models": (200, VLLM_MODELS)})  # no rerank route: 404
    (info,) = _openai(chat).models()
    assert info.capabilities.rerank is False


def test_a_generic_server_is_not_probed_and_does_not_say() -> None:
    server = Server({"/v1/models": (200, {"object": "list", "data": [{"id": "m"}]})})
    (info,) = _openai(server).models()
    assert info.capabilities.rerank is None
    assert [r.url.path for r in server.requests] == ["/v1/models"]

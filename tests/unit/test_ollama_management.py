"""Ollama embeddings, model management (pull/load/unload/delete), health and configuration."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from modelport import (
    ConfigurationError,
    InvalidRequestError,
    ModelNotFoundError,
    ProtocolError,
    PullProgress,
    ServerError,
    ServiceStatus,
    ServiceUnavailableError,
    StreamError,
    Usage,
)
from modelport.providers.ollama import OllamaProvider
from tests.conftest import fixture_bytes, load_fixture
from tests.contract.harness_ollama import FakeOllama, reply, stream_reply


@pytest.fixture(autouse=True)
def _no_ollama_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OLLAMA_API_KEY", raising=False)


# ---------------------------------------------------------------------------- embeddings


def test_embed_sends_the_documented_batch_request_and_returns_vectors_in_order() -> None:
    documented = load_fixture("ollama/requests/embed_multiple_request.json")
    body = load_fixture("ollama/embed_multiple.json")
    server = FakeOllama({"/api/embed": reply(200, body)})
    result = server.provider().embed("all-minilm", documented["input"])
    assert server.bodies("/api/embed") == [documented]
    assert result.vectors == body["embeddings"]
    assert result.model == "all-minilm"
    assert result.service == "ollama"
    assert result.dimensions == 10


def test_embed_reports_prompt_tokens_as_usage() -> None:
    server = FakeOllama({"/api/embed": reply(200, load_fixture("ollama/embed.json"))})
    result = server.provider().embed("all-minilm", "Why is the sky blue?")
    assert server.bodies("/api/embed") == [
        {"model": "all-minilm", "input": ["Why is the sky blue?"]}
    ]
    assert result.usage == Usage(prompt_tokens=8, completion_tokens=None, total_tokens=8)


def test_embed_falls_back_to_legacy_embeddings_only_when_embed_is_a_text_404() -> None:
    legacy = load_fixture("ollama/embeddings_legacy.json")
    server = FakeOllama({"/api/embeddings": reply(200, legacy)})  # /api/embed: text 404
    result = server.provider().embed("all-minilm", ["first", "second"])
    assert sorted(b["prompt"] for b in server.bodies("/api/embeddings")) == ["first", "second"]
    assert all(
        b == {"model": "all-minilm", "prompt": b["prompt"]}
        for b in server.bodies("/api/embeddings")
    )
    assert result.vectors == [legacy["embedding"], legacy["embedding"]]


def test_embed_keeps_input_order_on_the_legacy_endpoint() -> None:
    def legacy(request: httpx.Request, body: Any) -> httpx.Response:
        return httpx.Response(200, json={"embedding": [float(len(body["prompt"]))]})

    server = FakeOllama({"/api/embeddings": legacy})
    result = server.provider().embed("all-minilm", ["a", "bbb", "cc"])
    assert result.vectors == [[1.0], [3.0], [2.0]]


def test_embed_does_not_fall_back_when_the_model_is_missing() -> None:
    server = FakeOllama(
        {
            "/api/embed": reply(
                404, {"error": 'model "all-minilm" not found, try pulling it first'}
            ),
            "/api/embeddings": reply(200, load_fixture("ollama/embeddings_legacy.json")),
            "/api/tags": reply(200, {"models": []}),
        }
    )
    with pytest.raises(ModelNotFoundError):
        server.provider().embed("all-minilm", "hi")
    assert server.bodies("/api/embeddings") == []


def test_embed_with_a_vector_count_that_does_not_match_the_inputs_raises() -> None:
    server = FakeOllama({"/api/embed": reply(200, load_fixture("ollama/embed.json"))})
    with pytest.raises(ProtocolError) as caught:
        server.provider().embed("all-minilm", ["one", "two"])
    assert "1" in str(caught.value) and "2" in str(caught.value)


# ---------------------------------------------------------------------------- pull


PULL_LINES = [
    {"status": "pulling manifest"},
    {
        "status": "pulling dde5aa3fc5ff",
        "digest": "sha256:dde5aa3fc5ff" + "0" * 52,
        "total": 2019377376,
    },
    {
        "status": "pulling dde5aa3fc5ff",
        "digest": "sha256:dde5aa3fc5ff" + "0" * 52,
        "total": 2019377376,
        "completed": 241970,
    },
    {
        "status": "pulling 966de95ca8a6",
        "digest": "sha256:966de95ca8a6" + "0" * 52,
        "total": 1429,
        "completed": 1429,
    },
    {"status": "verifying sha256 digest"},
    {"status": "writing manifest"},
    {"status": "success"},
]


def test_pull_sends_a_streaming_request_and_yields_progress_until_success() -> None:
    server = FakeOllama({"/api/pull": stream_reply(PULL_LINES)})
    progress = list(server.provider().pull("llama3.2"))
    assert server.bodies("/api/pull") == [{"model": "llama3.2", "stream": True}]
    assert [p.status for p in progress] == [line["status"] for line in PULL_LINES]
    digest = "sha256:dde5aa3fc5ff" + "0" * 52
    assert progress[1] == PullProgress(
        status="pulling dde5aa3fc5ff", completed=0, total=2019377376, digest=digest
    )
    assert progress[2].completed == 241970 and progress[2].fraction == pytest.approx(
        241970 / 2019377376
    )
    assert progress[0] == PullProgress(status="pulling manifest")
    assert progress[-1].status == "success"


def test_pull_reads_the_documented_progress_objects() -> None:
    objects = [
        load_fixture("ollama/pull_stream_1_manifest.json"),
        load_fixture("ollama/pull_stream_2_downloading.json"),
        # pull_stream_3_final.txt holds four pretty-printed objects one after another.
        *[
            json.loads("{" + part)
            for part in fixture_bytes("ollama/pull_stream_3_final.txt").decode().split("{")[1:]
        ],
    ]
    server = FakeOllama({"/api/pull": stream_reply(objects)})
    progress = list(server.provider().pull("llama3.2"))
    assert progress[1] == PullProgress(
        status="pulling digestname", completed=241970, total=2142590208, digest="digestname"
    )
    assert progress[-1].status == "success"


def test_pull_error_line_for_a_missing_manifest_raises_model_not_found() -> None:
    lines = [{"status": "pulling manifest"}, {"error": "pull model manifest: file does not exist"}]
    server = FakeOllama({"/api/pull": stream_reply(lines)})
    received = []
    with pytest.raises(ModelNotFoundError) as caught:
        for step in server.provider().pull("llama9"):
            received.append(step.status)
    assert received == ["pulling manifest"]
    assert caught.value.model == "llama9"
    assert "file does not exist" in str(caught.value)


def test_pull_of_a_missing_model_answered_with_http_500_raises_model_not_found() -> None:
    server = FakeOllama(
        {"/api/pull": reply(500, {"error": "pull model manifest: file does not exist"})}
    )
    with pytest.raises(ModelNotFoundError):
        list(server.provider().pull("llama9"))


def test_pull_error_line_mid_download_raises_an_error_naming_the_failure() -> None:
    lines = [*PULL_LINES[:3], {"error": "max retries exceeded: unexpected EOF"}]
    server = FakeOllama({"/api/pull": stream_reply(lines)})
    with pytest.raises(ServerError) as caught:
        list(server.provider().pull("llama3.2"))
    assert "max retries exceeded: unexpected EOF" in str(caught.value)
    assert "llama3.2" in str(caught.value)


def test_pull_stream_that_ends_without_success_raises_stream_error() -> None:
    server = FakeOllama({"/api/pull": stream_reply(PULL_LINES[:4])})
    with pytest.raises(StreamError) as caught:
        list(server.provider().pull("llama3.2"))
    assert "pulling 966de95ca8a6" in str(caught.value)


def test_pull_of_an_empty_name_is_refused_before_sending() -> None:
    server = FakeOllama()
    with pytest.raises(InvalidRequestError):
        list(server.provider().pull(" "))
    assert server.sent == []


@pytest.mark.anyio
async def test_async_pull_yields_the_same_progress() -> None:
    server = FakeOllama({"/api/pull": stream_reply(PULL_LINES)})
    provider = server.provider()
    statuses = [p.status async for p in provider.apull("llama3.2")]
    assert statuses[-1] == "success"
    assert len(statuses) == len(PULL_LINES)
    await provider.aclose()


# ---------------------------------------------------------------------------- load, unload, delete


def test_load_sends_an_empty_chat_with_keep_alive_and_num_ctx() -> None:
    server = FakeOllama({"/api/chat": reply(200, load_fixture("ollama/chat_load.json"))})
    provider = server.provider()
    provider.load("llama3.2", context_length=16384, ttl=3600)
    provider.load("llama3.2")
    assert server.bodies("/api/chat") == [
        {"model": "llama3.2", "messages": [], "keep_alive": 3600, "options": {"num_ctx": 16384}},
        {"model": "llama3.2", "messages": []},
    ]


def test_load_of_an_embedding_model_falls_back_to_an_empty_embed() -> None:
    server = FakeOllama(
        {
            "/api/chat": reply(400, {"error": '"nomic-embed-text" does not support chat'}),
            "/api/embed": reply(200, {"model": "nomic-embed-text", "embeddings": []}),
        }
    )
    server.provider().load("nomic-embed-text", context_length=8192, ttl=-1)
    assert server.bodies("/api/embed") == [
        {"model": "nomic-embed-text", "keep_alive": -1, "options": {"num_ctx": 8192}}
    ]


def test_load_refuses_a_bad_context_length_before_sending() -> None:
    server = FakeOllama()
    with pytest.raises(InvalidRequestError):
        server.provider().load("llama3.2", context_length=0)
    assert server.sent == []


def test_unload_sends_exactly_the_documented_request() -> None:
    server = FakeOllama({"/api/chat": reply(200, load_fixture("ollama/chat_unload.json"))})
    server.provider().unload("llama3.2")
    assert server.bodies("/api/chat") == [load_fixture("ollama/requests/chat_unload_request.json")]


def test_unload_of_a_missing_model_raises_model_not_found() -> None:
    server = FakeOllama(
        {
            "/api/chat": reply(404, {"error": "model 'llama9' not found"}),
            "/api/tags": reply(200, {"models": []}),
        }
    )
    with pytest.raises(ModelNotFoundError):
        server.provider().unload("llama9")


def test_delete_sends_a_delete_with_the_documented_json_body() -> None:
    server = FakeOllama({"DELETE /api/delete": reply(200, b"")})
    server.provider().delete("llama3:13b")
    assert server.paths() == ["DELETE /api/delete"]
    assert server.bodies("/api/delete") == [load_fixture("ollama/requests/delete_request.json")]


def test_delete_of_a_missing_model_raises_model_not_found_with_suggestions() -> None:
    server = FakeOllama(
        {
            "DELETE /api/delete": reply(404, {"error": "model 'llama3' not found"}),
            "/api/tags": reply(200, load_fixture("ollama/tags.json")),
        }
    )
    with pytest.raises(ModelNotFoundError) as caught:
        server.provider().delete("llama3")
    assert "llama3.2:latest" in caught.value.suggestions


@pytest.mark.anyio
async def test_async_load_unload_and_delete_send_the_same_requests() -> None:
    server = FakeOllama(
        {
            "/api/chat": reply(200, load_fixture("ollama/chat_load.json")),
            "DELETE /api/delete": reply(200, b""),
        }
    )
    provider = server.provider()
    await provider.aload("llama3.2", ttl=60)
    await provider.aunload("llama3.2")
    await provider.adelete("llama3.2")
    assert server.bodies("/api/chat") == [
        {"model": "llama3.2", "messages": [], "keep_alive": 60},
        {"model": "llama3.2", "messages": [], "keep_alive": 0},
    ]
    assert server.bodies("/api/delete") == [{"model": "llama3.2"}]
    await provider.aclose()


# ---------------------------------------------------------------------------- health


def test_health_reports_the_version_and_the_model_count() -> None:
    server = FakeOllama(
        {
            "GET /": reply(200, "Ollama is running"),
            "/api/version": reply(200, load_fixture("ollama/version.json")),
            "/api/tags": reply(200, load_fixture("ollama/tags.json")),
        }
    )
    service = server.provider().health()
    assert service.status is ServiceStatus.AVAILABLE
    assert service.version == "0.5.1"
    assert service.model_count == 2
    assert service.kind == "ollama"


def test_health_of_a_server_that_is_not_ollama_reports_unavailable() -> None:
    server = FakeOllama({"GET /": reply(200, "<html>Welcome to nginx!</html>")})
    service = server.provider().health()
    assert service.status is ServiceStatus.UNAVAILABLE
    assert service.error and "Ollama" in service.error


def test_health_with_an_unreadable_model_list_is_degraded() -> None:
    server = FakeOllama(
        {
            "GET /": reply(200, "Ollama is running"),
            "/api/version": reply(200, {"version": "0.12.6"}),
            "/api/tags": reply(500, {"error": "corrupt manifest"}),
        }
    )
    service = server.provider().health()
    assert service.status is ServiceStatus.DEGRADED
    assert service.error and "corrupt manifest" in service.error


# ---------------------------------------------------------------------------- configuration


@pytest.mark.parametrize(
    ("ollama_host", "base_url"),
    [
        (None, "http://127.0.0.1:11434"),
        ("", "http://127.0.0.1:11434"),
        ("1.2.3.4", "http://1.2.3.4:11434"),
        (":1234", "http://127.0.0.1:1234"),
        ("example.com:1234", "http://example.com:1234"),
        ("0.0.0.0", "http://127.0.0.1:11434"),
        ("http://1.2.3.4", "http://1.2.3.4:80"),
        ("https://1.2.3.4", "https://1.2.3.4:443"),
        ("https://example.com/ollama", "https://example.com:443/ollama"),
        ("::1", "http://[::1]:11434"),
        ("[::]", "http://[::1]:11434"),
        ('"1.2.3.4"', "http://1.2.3.4:11434"),
        (" 1.2.3.4 ", "http://1.2.3.4:11434"),
        ("ollama.com", "https://ollama.com:443"),
        (":66000", "http://127.0.0.1:11434"),
        ("https://0.0.0.0:4321", "https://127.0.0.1:4321"),
    ],
)
def test_ollama_host_sets_the_default_url_the_way_ollama_parses_it(
    monkeypatch: pytest.MonkeyPatch, ollama_host: str | None, base_url: str
) -> None:
    if ollama_host is not None:
        monkeypatch.setenv("OLLAMA_HOST", ollama_host)
    assert OllamaProvider().base_url == base_url


def test_ollama_host_is_read_when_the_provider_is_made_not_at_import(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = OllamaProvider()
    monkeypatch.setenv("OLLAMA_HOST", "gpu-box:9999")
    assert first.base_url == "http://127.0.0.1:11434"
    assert OllamaProvider().base_url == "http://gpu-box:9999"


@pytest.mark.parametrize(
    ("given", "base_url"),
    [
        ("gpu-box", "http://gpu-box:11434"),
        ("http://127.0.0.1:11434/", "http://127.0.0.1:11434"),
        ("http://127.0.0.1:11434/v1", "http://127.0.0.1:11434"),
        ("https://ollama.com/api", "https://ollama.com"),
        ("http://0.0.0.0:11434", "http://127.0.0.1:11434"),
    ],
)
def test_base_url_gets_ollamas_port_and_loses_api_or_v1_suffixes(given: str, base_url: str) -> None:
    assert OllamaProvider(given).base_url == base_url


def test_a_bad_base_url_raises_configuration_error() -> None:
    with pytest.raises(ConfigurationError):
        OllamaProvider("ftp://example.com")


def test_ollama_api_key_from_the_environment_is_sent_as_bearer_and_never_shown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OLLAMA_API_KEY", "ok-secret-key")
    server = FakeOllama({"/api/chat": reply(200, load_fixture("ollama/chat_nonstream.json"))})
    provider = server.provider("https://ollama.com")
    provider.chat("gpt-oss:120b", "hi")
    assert server.sent[0].headers["authorization"] == "Bearer ok-secret-key"
    assert "ok-secret-key" not in repr(provider)


def test_no_authorization_header_is_sent_without_a_key() -> None:
    server = FakeOllama({"/api/chat": reply(200, load_fixture("ollama/chat_nonstream.json"))})
    server.provider().chat("llama3.2", "hi")
    assert "authorization" not in server.sent[0].headers


def test_provider_names_itself_ollama_with_a_start_hint() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    provider = OllamaProvider(transport=httpx.MockTransport(refuse))
    assert provider.kind == "ollama" and provider.name == "ollama"
    with pytest.raises(ServiceUnavailableError) as caught:
        provider.chat("llama3.2", "hi")
    assert str(caught.value) == (
        "Could not reach Ollama at http://127.0.0.1:11434 during POST /api/chat. "
        "Is `ollama serve` running?"
    )

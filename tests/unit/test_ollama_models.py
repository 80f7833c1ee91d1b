"""Listing Ollama models with live capabilities: /api/tags + /api/show + /api/ps."""

from __future__ import annotations

import asyncio
import copy
import threading
from typing import Any

import httpx
import pytest

from modelport import Capabilities, ModelNotFoundError
from tests.conftest import load_fixture
from tests.contract.harness_ollama import FakeOllama, reply

TAGS = load_fixture("ollama/tags.json")  # deepseek-r1:latest, llama3.2:latest
GEMMA_TAGS = load_fixture("ollama/openapi/tags.json")  # gemma4
GEMMA_SHOW = load_fixture("ollama/openapi/show.json")  # capabilities + gemma4.context_length
GEMMA_PS = load_fixture("ollama/openapi/ps.json")  # gemma4 loaded with context_length 4096


@pytest.fixture(autouse=True)
def _no_ollama_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OLLAMA_API_KEY", raising=False)


def show_for(shows: dict[str, Any]) -> Any:
    """An /api/show route answering per model name, JSON 404 for unknown ones."""

    def handler(request: httpx.Request, body: Any) -> httpx.Response:
        name = body["model"]
        if name not in shows:
            return httpx.Response(404, json={"error": f"model '{name}' not found"})
        return httpx.Response(200, json=shows[name])

    return handler


def show_body(
    capabilities: list[str] | None, arch: str = "llama", ctx: int = 131072, **extra: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "details": {
            "format": "gguf",
            "family": arch,
            "parameter_size": "8.0B",
            "quantization_level": "Q4_0",
        },
        "model_info": {"general.architecture": arch, f"{arch}.context_length": ctx},
        **extra,
    }
    if capabilities is not None:
        body["capabilities"] = capabilities
    return body


def gemma_server(**routes: Any) -> FakeOllama:
    return FakeOllama(
        {
            "/api/tags": reply(200, GEMMA_TAGS),
            "/api/show": show_for({"gemma4": GEMMA_SHOW}),
            "/api/ps": reply(200, GEMMA_PS),
            **routes,
        }
    )


def test_models_read_capabilities_and_maximum_context_from_show() -> None:
    (info,) = gemma_server().provider().models()
    assert info.capabilities == Capabilities(
        chat=True, tools=False, vision=True, embedding=False, thinking=False
    )
    assert info.context_length == 131072  # model_info["gemma4.context_length"]
    assert info.details["capabilities"] == ["completion", "vision"]


def test_models_mark_loaded_models_with_their_allocated_context_from_ps() -> None:
    (info,) = gemma_server().provider().models()
    assert info.loaded is True
    assert info.loaded_context_length == 4096
    assert info.details["size_vram"] == 5333539264
    assert info.details["expires_at"] == "2025-10-17T16:47:07.93355-07:00"


def test_models_fill_family_size_quantization_format_and_ids() -> None:
    (info,) = gemma_server().provider().models()
    assert info.id == "ollama/gemma4"
    assert info.name == "gemma4"
    assert info.service == "ollama" and info.kind == "ollama"
    assert info.family == "gemma4"
    assert info.parameter_size == "8.0B"
    assert info.quantization == "Q4_K_M"
    assert info.format == "gguf"
    assert info.size_bytes == 9608350245
    assert (
        info.details["digest"] == "c6eb396dbd5992bbe3f5cdb947e8bbc0ee413d7c17e2beaae69f5d569cf982eb"
    )


def test_models_not_in_ps_are_not_loaded_and_unknown_when_ps_is_missing() -> None:
    shows = {
        "deepseek-r1:latest": show_body(["completion", "thinking"], "qwen2"),
        "llama3.2:latest": show_body(["completion", "tools"]),
    }
    server = FakeOllama(
        {
            "/api/tags": reply(200, TAGS),
            "/api/show": show_for(shows),
            "/api/ps": reply(200, {"models": []}),
        }
    )
    assert [m.loaded for m in server.provider().models()] == [False, False]
    old = FakeOllama(
        {"/api/tags": reply(200, TAGS), "/api/show": show_for(shows)}
    )  # no /api/ps: text 404
    assert [m.loaded for m in old.provider().models()] == [None, None]


def test_models_use_the_architecture_not_the_family_for_the_context_key() -> None:
    shows = {
        "deepseek-r1:latest": show_body(["completion", "thinking"], "qwen2", 131072),
        "llama3.2:latest": {
            **show_body(["completion", "tools"], "llama", 8192),
            "details": {"family": "other"},
        },
    }
    server = FakeOllama(
        {
            "/api/tags": reply(200, TAGS),
            "/api/show": show_for(shows),
            "/api/ps": reply(200, {"models": []}),
        }
    )
    by_name = {m.name: m for m in server.provider().models()}
    assert by_name["deepseek-r1:latest"].context_length == 131072
    assert by_name["deepseek-r1:latest"].capabilities.thinking is True
    assert by_name["llama3.2:latest"].context_length == 8192
    assert by_name["llama3.2:latest"].capabilities.tools is True


def test_models_on_a_server_without_capabilities_infer_them_from_show_and_the_name() -> None:
    tags = {
        "models": [
            dict(TAGS["models"][1], name=n, model=n)
            for n in ("llava:7b", "nomic-embed-text:latest", "llama3.1:8b")
        ]
    }
    shows = {
        # Before v0.6.4 /api/show had no "capabilities"; the server's own rules still apply.
        "llava:7b": {
            **show_body(None, "llama"),
            "projector_info": {"clip.has_vision_encoder": True},
        },
        "nomic-embed-text:latest": {
            "details": {"family": "nomic-bert"},
            "model_info": {
                "general.architecture": "nomic-bert",
                "nomic-bert.pooling_type": 1,
                "nomic-bert.context_length": 2048,
            },
        },
        "llama3.1:8b": {**show_body(None, "llama"), "template": "{{- if .Tools }}tools{{ end }}"},
    }
    server = FakeOllama(
        {
            "/api/tags": reply(200, tags),
            "/api/show": show_for(shows),
            "/api/ps": reply(200, {"models": []}),
        }
    )
    caps = {m.name: m.capabilities for m in server.provider().models()}
    assert caps["llava:7b"].vision is True
    assert caps["nomic-embed-text:latest"].embedding is True
    assert caps["nomic-embed-text:latest"].chat is False
    assert caps["llama3.1:8b"].tools is True
    assert caps["llama3.1:8b"].chat is True


def test_models_survive_a_failing_show_with_capabilities_guessed_from_the_name() -> None:
    tags = {
        "models": [
            dict(TAGS["models"][1], name="nomic-embed-text:latest", model="nomic-embed-text:latest")
        ]
    }
    server = FakeOllama(
        {
            "/api/tags": reply(200, tags),
            "/api/show": reply(500, {"error": "boom"}),
            "/api/ps": reply(200, {"models": []}),
        }
    )
    (info,) = server.provider().models()
    assert info.capabilities.embedding is True
    assert info.context_length is None
    assert info.size_bytes == 2019393189


def test_models_fetch_show_for_all_models_concurrently() -> None:
    names = [f"model-{i}:latest" for i in range(6)]
    tags = {
        "models": [
            dict(TAGS["models"][1], name=n, model=n, digest=f"{i:064x}")
            for i, n in enumerate(names)
        ]
    }
    everyone_arrived = threading.Barrier(len(names), timeout=30)

    def show(request: httpx.Request, body: Any) -> httpx.Response:
        # Each lookup waits until all of them are in flight: sequential lookups would
        # break the barrier instead.
        everyone_arrived.wait()
        return httpx.Response(200, json=show_body(["completion"]))

    server = FakeOllama(
        {"/api/tags": reply(200, tags), "/api/show": show, "/api/ps": reply(200, {"models": []})}
    )
    models = server.provider().models()
    assert [m.capabilities.chat for m in models] == [True] * len(names)
    assert sorted(b["model"] for b in server.bodies("/api/show")) == names


@pytest.mark.anyio
async def test_async_models_fetch_show_for_all_models_concurrently() -> None:
    names = [f"model-{i}:latest" for i in range(5)]
    tags = {
        "models": [
            dict(TAGS["models"][1], name=n, model=n, digest=f"{i:064x}")
            for i, n in enumerate(names)
        ]
    }
    in_flight = 0
    most = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, most
        if request.url.path == "/api/tags":
            return httpx.Response(200, json=tags)
        if request.url.path == "/api/ps":
            return httpx.Response(200, json={"models": []})
        in_flight += 1
        most = max(most, in_flight)
        for _ in range(20):
            await asyncio.sleep(0)
        in_flight -= 1
        return httpx.Response(200, json=show_body(["completion", "tools"]))

    from modelport.providers.ollama import OllamaProvider

    provider = OllamaProvider(transport=httpx.MockTransport(handler))
    models = await provider.amodels()
    assert len(models) == len(names)
    assert most == len(names)
    await provider.aclose()


def test_models_cache_show_per_digest_and_refresh_bypasses_the_cache() -> None:
    tags = copy.deepcopy(TAGS)
    shows = {
        "deepseek-r1:latest": show_body(["completion", "thinking"], "qwen2"),
        "llama3.2:latest": show_body(["completion", "tools"]),
    }
    server = FakeOllama(
        {
            "/api/tags": lambda r, b: httpx.Response(200, json=tags),
            "/api/show": show_for(shows),
            "/api/ps": reply(200, {"models": []}),
        }
    )
    provider = server.provider()
    provider.models()
    provider.models()
    assert len(server.bodies("/api/show")) == 2  # the second listing used the cache

    tags["models"][1]["digest"] = "f" * 64  # llama3.2 was re-pulled: a new digest
    provider.models()
    assert [b["model"] for b in server.bodies("/api/show")[2:]] == ["llama3.2:latest"]

    provider.models(refresh=True)
    assert len(server.bodies("/api/show")) == 5
    assert len(server.bodies("/api/tags")) == 4  # the list itself is never cached


def test_models_cache_expires_after_its_ttl() -> None:
    shows = {"gemma4": GEMMA_SHOW}
    server = FakeOllama(
        {
            "/api/tags": reply(200, GEMMA_TAGS),
            "/api/show": show_for(shows),
            "/api/ps": reply(200, GEMMA_PS),
        }
    )
    provider = server.provider(show_cache_ttl=0)
    provider.models()
    provider.models()
    assert len(server.bodies("/api/show")) == 2


def test_models_skip_show_when_the_list_already_carries_capabilities_and_context() -> None:
    entry = dict(GEMMA_TAGS["models"][0])
    entry["capabilities"] = ["completion", "vision", "tools"]
    entry["details"] = {**entry["details"], "context_length": 131072, "embedding_length": 2560}
    server = FakeOllama(
        {"/api/tags": reply(200, {"models": [entry]}), "/api/ps": reply(200, {"models": []})}
    )
    (info,) = server.provider().models()
    assert server.bodies("/api/show") == []
    assert info.capabilities.tools is True and info.capabilities.vision is True
    assert info.context_length == 131072


def test_model_info_reads_one_model_live_matching_the_implicit_latest_tag() -> None:
    shows = {
        "llama3.2": show_body(
            ["completion", "tools"], "llama", 131072, license="LLAMA 3.2", template="{{ .Prompt }}"
        )
    }
    server = FakeOllama(
        {
            "/api/tags": reply(200, TAGS),
            "/api/show": show_for(shows),
            "/api/ps": reply(200, {"models": []}),
        }
    )
    info = server.provider().model_info("llama3.2")
    assert info.name == "llama3.2:latest"
    assert info.capabilities.tools is True
    assert info.context_length == 131072
    assert info.size_bytes == 2019393189
    assert info.loaded is False
    assert info.details["license"] == "LLAMA 3.2"
    assert info.details["template"] == "{{ .Prompt }}"
    assert server.bodies("/api/show") == [{"model": "llama3.2"}]


def test_model_info_of_an_unknown_model_suggests_close_names() -> None:
    server = FakeOllama(
        {
            "/api/tags": reply(200, TAGS),
            "/api/show": show_for({}),
            "/api/ps": reply(200, {"models": []}),
        }
    )
    with pytest.raises(ModelNotFoundError) as caught:
        server.provider().model_info("llama3")
    assert caught.value.model == "llama3"
    assert caught.value.suggestions == ["llama3.2:latest"]


def test_ps_lists_the_loaded_models_with_their_context_and_memory() -> None:
    server = FakeOllama({"/api/ps": reply(200, GEMMA_PS)})
    (info,) = server.provider().ps()
    assert info.name == "gemma4"
    assert info.loaded is True
    assert info.loaded_context_length == 4096
    assert info.size_bytes == 6591830464
    assert info.details["size_vram"] == 5333539264


def test_ps_of_the_documented_body_without_context_length_leaves_it_unknown() -> None:
    server = FakeOllama({"/api/ps": reply(200, load_fixture("ollama/ps.json"))})
    (info,) = server.provider().ps()
    assert info.name == "mistral:latest"
    assert info.loaded_context_length is None
    assert info.family == "llama"

"""Aliases through every surface: listed (marked) by each model list, reached by chat on
each surface; a glob alias resolves but is never listed (docs/configuration.md)."""

from __future__ import annotations

from typing import Any

import pytest

import modelport
from modelport import Capabilities, ModelInfo
from modelport.config import parse_config
from modelport.testing import FakeProvider

from .conftest import gateway

pytestmark = pytest.mark.anyio

ALIASES = """
[aliases]
coder = ["gpu/qwen2.5-coder:7b", "cpu/qwen2.5-coder"]
"claude-*" = "coder"
"""
REPLICAS = ["gpu/qwen2.5-coder:7b", "cpu/qwen2.5-coder"]


def _info(service: str, name: str, *, loaded: bool) -> ModelInfo:
    return ModelInfo(
        id=f"{service}/{name}",
        name=name,
        service=service,
        kind="ollama",
        loaded=loaded,
        context_length=32768,
        family="qwen2",
        capabilities=Capabilities(chat=True, tools=True),
    )


def _client() -> tuple[modelport.AsyncClient, FakeProvider, FakeProvider]:
    gpu = FakeProvider(
        name="gpu", models=[_info("gpu", "qwen2.5-coder:7b", loaded=True)], reply="from gpu"
    )
    cpu = FakeProvider(
        name="cpu", models=[_info("cpu", "qwen2.5-coder", loaded=False)], reply="from cpu"
    )
    client = modelport.AsyncClient(services=[gpu, cpu], config=parse_config(ALIASES, environ={}))
    return client, gpu, cpu


async def test_v1_models_lists_an_alias_marked_by_owned_by_and_what_it_stands_for() -> None:
    client, _, _ = _client()
    async with gateway(client) as (_, http):
        listed = (await http.get("/v1/models")).json()
        one = await http.get("/v1/models/coder")
    ids = [m["id"] for m in listed["data"]]
    assert ids == ["gpu/qwen2.5-coder:7b", "cpu/qwen2.5-coder", "coder"]
    alias = listed["data"][-1]
    assert alias["owned_by"] == "modelport-alias"
    assert alias["modelport"] == {"alias_of": REPLICAS}
    assert (alias["object"], alias["type"], alias["display_name"]) == ("model", "model", "coder")
    assert alias["capabilities"] == ["chat", "tools"] and alias["loaded"] is True
    assert listed["data"][0]["owned_by"] == "gpu" and "modelport" not in listed["data"][0]
    assert one.status_code == 200
    assert (one.json()["id"], one.json()["owned_by"]) == ("coder", "modelport-alias")
    assert one.json()["modelport"] == {"alias_of": REPLICAS}


async def test_api_tags_lists_an_alias_with_family_alias_and_api_show_describes_it() -> None:
    client, _, _ = _client()
    async with gateway(client) as (_, http):
        tags = (await http.get("/api/tags")).json()
        show = await http.post("/api/show", json={"model": "coder"})
        glob = await http.post("/api/show", json={"model": "claude-sonnet-4-5"})
        ps = (await http.get("/api/ps")).json()
    names = [m["name"] for m in tags["models"]]
    assert names == ["gpu/qwen2.5-coder:7b", "cpu/qwen2.5-coder", "coder"]
    alias = tags["models"][-1]
    assert alias["model"] == "coder" and alias["size"] == 0
    assert alias["details"]["family"] == "alias"
    assert alias["details"]["alias_of"] == REPLICAS
    assert isinstance(alias["digest"], str) and isinstance(alias["modified_at"], str)
    assert show.status_code == 200
    assert show.json()["model_info"]["qwen2.context_length"] == 32768
    assert show.json()["capabilities"] == ["completion", "tools"]
    assert glob.status_code == 200  # a glob alias resolves, though it is not listed
    assert [m["name"] for m in ps["models"]] == ["gpu/qwen2.5-coder:7b"]  # aliases are no models


async def test_a_glob_alias_is_not_listed_by_any_model_list() -> None:
    client, _, _ = _client()
    async with gateway(client) as (_, http):
        listed = (await http.get("/v1/models")).json()
        tags = (await http.get("/api/tags")).json()
    assert not any("*" in m["id"] for m in listed["data"])
    assert not any("*" in m["name"] for m in tags["models"])


@pytest.mark.parametrize("model", ["coder", "claude-sonnet-4-5-20250929"])
@pytest.mark.parametrize(
    ("path", "body", "text"),
    [
        (
            "/v1/chat/completions",
            {"messages": [{"role": "user", "content": "hi"}]},
            lambda b: b["choices"][0]["message"]["content"],
        ),
        (
            "/v1/messages",
            {"max_tokens": 32, "messages": [{"role": "user", "content": "hi"}]},
            lambda b: b["content"][0]["text"],
        ),
        ("/v1/responses", {"input": "hi"}, lambda b: b["output"][-1]["content"][0]["text"]),
        (
            "/api/chat",
            {"stream": False, "messages": [{"role": "user", "content": "hi"}]},
            lambda b: b["message"]["content"],
        ),
    ],
    ids=["openai", "anthropic", "responses", "ollama"],
)
async def test_each_surface_reaches_an_aliases_loaded_replica_and_answers_under_the_alias(
    model: str, path: str, body: dict[str, Any], text: Any
) -> None:
    client, gpu, cpu = _client()
    async with gateway(client) as (_, http):
        answer = await http.post(path, json={**body, "model": model})
    assert answer.status_code == 200, answer.text
    assert text(answer.json()) == "from gpu"
    assert answer.json()["model"] == model
    assert [r.model for r in gpu.requests] == ["qwen2.5-coder:7b"] and cpu.requests == []

"""Live: never stricter than the real llama-server, embeddings routed to the replica that
embeds, and readable ids for a model served by its path (issue 23)."""

from __future__ import annotations

from pathlib import Path

import modelport

TOOL = {
    "name": "get_weather",
    "description": "Get the weather in a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


def test_live_tools_are_not_refused_when_the_template_says_no_tools(
    llamacpp_chat_url: str,
) -> None:
    with modelport.Client(services=[f"chat={llamacpp_chat_url}"]) as client:
        (info,) = client.models()
        assert info.capabilities.tools is False  # SmolLM2's template: supports_tools false
        reply = client.chat(info.name, "Weather in Paris?", tools=[TOOL], max_tokens=8, seed=1)
        assert reply.finish_reason in ("stop", "length", "tool_calls")
        assert any("tools" in warning for warning in reply.warnings)
        with client.chat_stream(info.name, "Weather?", tools=[TOOL], max_tokens=4) as stream:
            for _ in stream:
                pass
        assert stream.response.warnings == reply.warnings


def test_live_embeddings_go_to_the_embeddings_replica_and_listings_say_so(
    llamacpp_chat_url: str, llamacpp_embed_url: str
) -> None:
    services = [f"chat={llamacpp_chat_url}", f"emb={llamacpp_embed_url}"]
    with modelport.Client(services=services) as client:
        models = {m.service: m for m in client.models()}
        assert models["chat"].name == models["emb"].name  # one GGUF: a replica set
        assert models["chat"].capabilities.embedding is False
        assert models["emb"].capabilities.embedding is True
        for _ in range(3):  # not by luck of the order: the chat server is configured first
            response = client.embed(models["chat"].name, ["hello", "world"])
            assert response.service == "emb"
            assert len(response.vectors) == 2
        tokens = client.embed(models["chat"].name, [[1, 2], [3, 4]])
        assert tokens.service == "emb" and len(tokens.vectors) == 2
        health = {s.name: s.status for s in client.services()}
        assert health["chat"] is modelport.ServiceStatus.AVAILABLE


def test_live_a_model_served_by_path_is_listed_by_its_stem_and_its_path_resolves(
    llamacpp_chat_url: str, llama_paths: tuple[str, str]
) -> None:
    path = llama_paths[1]
    stem = Path(path).name.removesuffix(".gguf")
    with modelport.Client(services=[f"chat={llamacpp_chat_url}"]) as client:
        (info,) = client.models()
        assert (info.name, info.id) == (stem, f"chat/{stem}")
        assert client.model_info(path).name == stem
        assert client.chat(path, "Say hi.", max_tokens=4).service == "chat"
        assert client.chat(f"chat/{stem}", "Say hi.", max_tokens=4).service == "chat"

"""Readable ids for llama.cpp models served by path, and digests that change with the model."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from typing import Any

import httpx
import pytest

import modelport
from modelport import Capabilities, LlamaCppProvider, ModelInfo, model_digest

from .test_never_stricter import FIXTURES, MODEL, Llama

PATH = json.loads((FIXTURES / "v1_models_chat.json").read_bytes())["data"][0]["id"]


def test_a_model_served_by_path_is_listed_by_its_file_stem() -> None:
    (info,) = Llama("chat").provider(8080).models()
    assert PATH.startswith("/") and PATH.endswith("/SmolLM2-135M-Instruct.Q4_1.gguf")
    assert info.name == MODEL == "SmolLM2-135M-Instruct.Q4_1"
    assert info.id == "chat/SmolLM2-135M-Instruct.Q4_1"
    assert info.details["model_path"] == PATH


@pytest.mark.parametrize("name", [MODEL, PATH, f"chat/{MODEL}", f"chat/{PATH}"])
def test_the_stem_and_the_full_path_both_resolve(name: str) -> None:
    chat, other = Llama("chat"), Llama("other")
    other_models: Any = {"object": "list", "data": [{"id": "another", "object": "model"}]}
    handler = other.handler

    def other_handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/models":
            return httpx.Response(200, json=other_models)
        return handler(request)

    client = modelport.Client(
        services=[
            LlamaCppProvider(
                "http://127.0.0.1:8081", name="other", transport=httpx.MockTransport(other_handler)
            ),
            chat.provider(8080),
        ]
    )
    assert client.chat(name, "hi").service == "chat"
    assert client.model_info(name).name == MODEL


def test_two_files_with_one_stem_on_one_service_keep_distinct_ids() -> None:
    entries = [
        {"id": "/models/a/model.Q4_0.gguf", "object": "model"},
        {"id": "/models/b/model.Q4_0.gguf", "object": "model"},
        {"id": "/models/c/other.gguf", "object": "model"},
    ]

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/models":
            return httpx.Response(200, json={"object": "list", "data": entries})
        return httpx.Response(404, json={"error": {"code": 404, "message": "File Not Found"}})

    provider = LlamaCppProvider(name="l", transport=httpx.MockTransport(handler))
    names = [info.name for info in provider.models()]
    assert len(set(names)) == 3
    assert names[2] == "other"
    assert set(names[:2]) == {"/models/a/model.Q4_0.gguf", "/models/b/model.Q4_0.gguf"}


# ---------------------------------------------------------------------------- digests

BASE = ModelInfo(
    id="chat/m",
    name="m",
    service="chat",
    kind="llamacpp",
    context_length=8192,
    loaded_context_length=2048,
    loaded=True,
    capabilities=Capabilities(chat=True, tools=False),
    quantization="Q4_1",
    format="gguf",
    size_bytes=96576768,
    details={"model_path": "/m/a.gguf", "chat_template_sha256": "aaaa"},
)


def test_a_digest_is_sixty_four_hex_digits_and_stable() -> None:
    digest = model_digest(BASE)
    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    assert model_digest(replace(BASE)) == digest
    # What is loaded, or how busy the server is, is not the model.
    assert model_digest(replace(BASE, loaded=False)) == digest


@pytest.mark.parametrize(
    "changed",
    [
        replace(BASE, details={**BASE.details, "model_path": "/m/b.gguf"}),
        replace(BASE, size_bytes=1),
        replace(BASE, quantization="Q8_0"),
        replace(BASE, context_length=4096),
        replace(BASE, loaded_context_length=4096),
        replace(BASE, capabilities=Capabilities(chat=True, tools=True)),
        replace(BASE, details={**BASE.details, "chat_template_sha256": "bbbb"}),
        replace(BASE, id="other/m", service="other"),
    ],
)
def test_a_digest_changes_when_what_the_server_reports_changes(changed: ModelInfo) -> None:
    assert model_digest(changed) != model_digest(BASE)


def test_a_digest_the_server_gives_is_kept() -> None:
    ollama = "a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72"
    info = replace(BASE, kind="ollama", details={"digest": ollama})
    assert model_digest(info) == ollama


def test_a_llamacpp_digest_changes_with_its_chat_template() -> None:
    llama = Llama("chat")
    (before,) = llama.provider(8080).models()
    llama.props["chat_template"] = llama.props["chat_template"] + "{# tools #}"
    (after,) = llama.provider(8080).models()
    assert before.capabilities == after.capabilities
    assert model_digest(before) != model_digest(after)

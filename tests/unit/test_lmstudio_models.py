"""LM Studio provider: model listing with live metadata, and capability queries.

Three API families, newest first: native ``/api/v1/models`` (0.4+), REST
``/api/v0/models`` (0.3.6+), and ``/v1/models`` (ids only).
"""

from __future__ import annotations

import pytest

import modelport
from modelport import (
    AuthenticationError,
    Capabilities,
    CapabilityError,
    ModelNotFoundError,
    ProtocolError,
    ServiceStatus,
)
from tests.conftest import load_fixture
from tests.unit.lmstudio_fake import (
    FakeLMStudio,
    chat_completion,
    fixture_reply,
    lmstudio_03,
    lmstudio_04,
    not_found_404,
    reply,
)


def _by_name(models: list[modelport.ModelInfo]) -> dict[str, modelport.ModelInfo]:
    return {m.name: m for m in models}


def test_models_from_the_native_v1_api_map_onto_model_info() -> None:
    fake = lmstudio_04()
    models = _by_name(fake.provider().models())
    assert fake.paths() == ["GET /api/v1/models"]
    assert list(models) == [
        "google/gemma-4-26b-a4b",
        "deepseek-r1",
        "text-embedding-nomic-embed-text-v1.5-embedding",
    ]

    gemma = models["google/gemma-4-26b-a4b"]
    assert gemma.id == "lmstudio/google/gemma-4-26b-a4b"
    assert gemma.service == "lmstudio" and gemma.kind == "lmstudio"
    assert gemma.context_length == 262144  # the trained maximum
    assert gemma.loaded_context_length == 4096  # what LM Studio allocated
    assert gemma.loaded is True
    assert gemma.capabilities == Capabilities(
        chat=True, tools=True, vision=True, embedding=False, thinking=True
    )
    assert gemma.family == "gemma4"
    assert gemma.parameter_size == "26B-A4B"
    assert gemma.quantization == "Q4_K_M"
    assert gemma.format == "gguf"
    assert gemma.size_bytes == 17990911801
    assert gemma.details["publisher"] == "google"
    assert gemma.details["display_name"] == "Gemma 4 26B A4B"
    assert gemma.details["variants"] == ["google/gemma-4-26b-a4b@q4_k_m"]

    r1 = models["deepseek-r1"]
    assert r1.loaded is False
    assert r1.loaded_context_length is None
    assert r1.context_length == 131072
    assert r1.capabilities.vision is False
    assert r1.capabilities.thinking is True

    embedder = models["text-embedding-nomic-embed-text-v1.5-embedding"]
    assert embedder.capabilities.embedding is True
    assert embedder.capabilities.chat is False
    assert embedder.family is None  # no architecture for embedding models
    assert embedder.context_length == 2048


def test_models_fall_back_to_rest_v0_when_v1_is_an_unexpected_endpoint() -> None:
    fake = lmstudio_03()
    models = _by_name(fake.provider().models())
    assert fake.paths() == ["GET /api/v1/models", "GET /api/v0/models"]

    vlm = models["qwen2-vl-7b-instruct"]
    assert vlm.capabilities.vision is True
    assert vlm.capabilities.chat is True
    assert vlm.loaded is False
    assert vlm.context_length == 32768
    assert vlm.family == "qwen2_vl"
    assert vlm.quantization == "4bit"
    assert vlm.format == "mlx"
    assert vlm.details["publisher"] == "mlx-community"

    llm = models["meta-llama-3.1-8b-instruct"]
    assert llm.capabilities.vision is False
    assert llm.capabilities.embedding is False

    embedder = models["text-embedding-nomic-embed-text-v1.5"]
    assert embedder.capabilities.embedding is True
    assert embedder.capabilities.chat is False


def test_a_loaded_v0_model_reports_its_loaded_context_and_tool_use() -> None:
    body = load_fixture("lmstudio/v0_models.json")
    body["data"][1].update(state="loaded", loaded_context_length=8192, capabilities=["tool_use"])
    fake = FakeLMStudio().on("GET", "/api/v0/models", reply(json_body=body))
    llama = _by_name(fake.provider().models())["meta-llama-3.1-8b-instruct"]
    assert llama.loaded is True
    assert llama.loaded_context_length == 8192
    assert llama.context_length == 131072
    assert llama.capabilities.tools is True


def test_models_fall_back_to_v1_models_when_native_endpoints_are_missing() -> None:
    fake = FakeLMStudio(fallback=not_found_404).on(
        "GET", "/v1/models", fixture_reply("v1_models.json")
    )
    models = fake.provider().models()
    assert fake.paths() == ["GET /api/v1/models", "GET /api/v0/models", "GET /v1/models"]
    assert [m.name for m in models] == [
        "meta-llama-3.1-8b-instruct",
        "text-embedding-nomic-embed-text-v1.5",
    ]
    for info in models:
        assert info.loaded is None  # the server does not say
        assert info.context_length is None
    # Only what the name makes near-certain: the embedding model, as for any
    # OpenAI-compatible server's /v1/models.
    assert models[0].capabilities == Capabilities()
    assert models[1].capabilities == Capabilities(chat=False, embedding=True)


def test_v1_models_fallback_builds_models_as_the_openai_compatible_provider_does() -> None:
    from modelport import OpenAICompatibleProvider

    fake = FakeLMStudio(fallback=not_found_404).on(
        "GET", "/v1/models", fixture_reply("v1_models.json")
    )
    lmstudio = fake.provider().models()
    generic = OpenAICompatibleProvider(
        "http://127.0.0.1:1234", name="lmstudio", transport=fake.transport()
    ).models()
    for ours, theirs in zip(lmstudio, generic, strict=True):
        assert (ours.id, ours.name, ours.capabilities) == (
            theirs.id,
            theirs.name,
            theirs.capabilities,
        )
        assert {k: v for k, v in ours.details.items() if k != "api"} == dict(theirs.details)
        assert ours.details["api"] == "/v1/models"


def test_the_working_api_family_is_remembered() -> None:
    fake = lmstudio_03()
    provider = fake.provider()
    provider.models()
    provider.models()
    assert fake.paths() == ["GET /api/v1/models", "GET /api/v0/models", "GET /api/v0/models"]


def test_an_auth_error_on_the_native_api_is_raised_not_hidden_by_fallback() -> None:
    fake = lmstudio_04().on(
        "GET", "/api/v1/models", reply(401, json_body={"error": "Unauthorized"})
    )
    with pytest.raises(AuthenticationError):
        fake.provider().models()
    assert fake.paths() == ["GET /api/v1/models"]


def test_a_server_with_no_model_list_at_all_raises_a_typed_error() -> None:
    fake = FakeLMStudio()  # everything is an "unexpected endpoint"
    with pytest.raises((CapabilityError, ProtocolError)):
        fake.provider().models()


def test_model_info_matches_case_insensitively_and_by_variant() -> None:
    provider = lmstudio_04().provider()
    assert provider.model_info("Google/Gemma-4-26B-A4B").name == "google/gemma-4-26b-a4b"
    assert provider.model_info("google/gemma-4-26b-a4b@q4_k_m").name == "google/gemma-4-26b-a4b"


def test_model_info_of_an_unknown_model_suggests_close_names() -> None:
    with pytest.raises(ModelNotFoundError) as caught:
        lmstudio_04().provider().model_info("deepseek-r2")
    assert "deepseek-r1" in caught.value.suggestions


def test_capabilities_are_queried_live_for_one_model() -> None:
    info = lmstudio_04().provider().model_info("deepseek-r1")
    assert info.capabilities == Capabilities(
        chat=True, tools=True, vision=False, embedding=False, thinking=True
    )


def test_health_reports_an_available_service_with_its_model_count() -> None:
    service = lmstudio_04().provider().health()
    assert service.status is ServiceStatus.AVAILABLE
    assert service.kind == "lmstudio"
    assert service.model_count == 3
    assert service.error is None


def test_client_sends_images_to_a_model_lm_studio_says_has_no_vision_with_a_warning() -> None:
    # Never stricter than the server: LM Studio decides, the reply says what was asked.
    fake = lmstudio_04().on("POST", "/v1/chat/completions", reply(json_body=chat_completion()))
    client = modelport.Client(services=[fake.provider()])
    client.models()  # with the list cached, the client knows what the model can do
    response = client.chat(
        "deepseek-r1", [{"role": "user", "content": "what is this?", "images": [b"\x89PNG"]}]
    )
    assert "POST /v1/chat/completions" in fake.paths()
    assert any("images" in warning for warning in response.warnings)


def test_client_asks_an_embedding_model_to_chat_and_warns() -> None:
    fake = lmstudio_04().on("POST", "/v1/chat/completions", reply(json_body=chat_completion()))
    client = modelport.Client(services=[fake.provider()])
    client.models()
    response = client.chat("text-embedding-nomic-embed-text-v1.5-embedding", "hi")
    assert "POST /v1/chat/completions" in fake.paths()
    assert any("chat" in warning for warning in response.warnings)


def test_client_routes_an_lmstudio_id_with_slashes_to_the_provider() -> None:
    fake = lmstudio_04().on("POST", "/v1/chat/completions", reply(json_body=chat_completion("Hi!")))
    client = modelport.Client(services=[fake.provider()])
    assert client.chat("lmstudio/google/gemma-4-26b-a4b", "hello").text == "Hi!"
    assert fake.sent_to("POST", "/v1/chat/completions")[-1]["model"] == "google/gemma-4-26b-a4b"

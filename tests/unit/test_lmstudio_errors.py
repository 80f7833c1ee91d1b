"""LM Studio provider: its errors, as LM Studio really sends them, become typed errors.

LM Studio's ``error`` is sometimes a string and sometimes an object, and sometimes it
arrives with HTTP 200. Bodies come from tests/fixtures/lmstudio (see SOURCES.md).
"""

from __future__ import annotations

import httpx
import pytest

from modelport import (
    CapabilityError,
    ContextLengthExceededError,
    InvalidRequestError,
    ModelNotFoundError,
    ModelNotLoadedError,
    ModelportError,
    ProtocolError,
    ServerError,
    StreamError,
)
from tests.conftest import fixture_bytes
from tests.unit.lmstudio_fake import (
    chat_completion,
    chunk,
    fixture_reply,
    lmstudio_04,
    reply,
    sse_reply,
)

NO_MODELS_LOADED = (
    "No models loaded. Please load a model in the developer page or use the 'lms load' command."
)


def test_invalid_model_identifier_becomes_model_not_found_with_the_valid_ids() -> None:
    fake = lmstudio_04().on(
        "POST", "/v1/chat/completions", fixture_reply("error_invalid_model_identifier.json", 400)
    )
    with pytest.raises(ModelNotFoundError) as caught:
        fake.provider().chat("o4-mini", "hi")
    error = caught.value
    assert error.model == "o4-mini"
    assert error.status_code == 400
    assert set(error.suggestions) == {
        "huihui-qwen3-vl-235b-a22b-instruct-abliterated",
        "qwen3-vl-8b-nsfw-caption-v4",
        "huihui-qwen3-vl-30b-a3b-instruct-abliterated",
    }
    assert "LM Studio at http://127.0.0.1:1234" in str(error)


def test_model_not_found_404_from_old_servers_suggests_your_models() -> None:
    fake = lmstudio_04().on(
        "POST", "/v1/chat/completions", fixture_reply("error_model_not_found_404_v035.json", 404)
    )
    with pytest.raises(ModelNotFoundError) as caught:
        fake.provider().chat("local model", "hi")
    assert caught.value.status_code == 404
    assert "text-embedding-nomic-embed-text-v1.5" in caught.value.suggestions


def test_no_models_loaded_as_a_string_error_becomes_model_not_loaded_with_a_load_hint() -> None:
    fake = lmstudio_04().on(
        "POST", "/v1/chat/completions", reply(400, json_body={"error": NO_MODELS_LOADED})
    )
    with pytest.raises(ModelNotLoadedError) as caught:
        fake.provider().chat("qwen/qwen3-8b", "hi")
    message = str(caught.value)
    assert "modelport load qwen/qwen3-8b" in message
    assert "Just-in-Time" in message


def test_no_models_loaded_as_an_error_object_becomes_model_not_loaded() -> None:
    fake = lmstudio_04().on(
        "POST", "/v1/chat/completions", fixture_reply("error_no_models_loaded_v048.json", 400)
    )
    with pytest.raises(ModelNotLoadedError) as caught:
        fake.provider().chat("qwen/qwen3-8b", "hi")
    assert caught.value.status_code == 400


def test_context_overflow_becomes_context_length_exceeded_naming_the_loaded_context() -> None:
    fake = lmstudio_04().on(
        "POST", "/v1/chat/completions", fixture_reply("error_context_overflow_string.json", 400)
    )
    with pytest.raises(ContextLengthExceededError) as caught:
        fake.provider().chat("qwen/qwen3-8b", "a long prompt")
    assert caught.value.context_length == 4096
    assert "4096" in str(caught.value)
    assert "context_length" in str(caught.value)  # how to load it with a larger one


@pytest.mark.parametrize(
    ("message", "context"),
    [
        (
            "Trying to keep the first 5000 tokens when context the overflows. However, the model "
            "is loaded with context length of only 2048 tokens, which is not enough.",
            2048,
        ),
        ("Cannot truncate prompt with n_keep (15028) >= n_ctx (7424)", 7424),
    ],
)
def test_older_context_overflow_wordings_are_recognised(message: str, context: int) -> None:
    fake = lmstudio_04().on(
        "POST", "/v1/chat/completions", reply(400, json_body={"error": message})
    )
    with pytest.raises(ContextLengthExceededError) as caught:
        fake.provider().chat("qwen/qwen3-8b", "a long prompt")
    assert caught.value.context_length == context


def test_unexpected_endpoint_with_http_200_is_a_capability_error() -> None:
    fake = lmstudio_04().on(
        "POST", "/v1/chat/completions", fixture_reply("error_unexpected_endpoint_200.json", 200)
    )
    with pytest.raises(CapabilityError) as caught:
        fake.provider().chat("qwen/qwen3-8b", "hi")
    assert caught.value.status_code == 200
    assert "Unexpected endpoint" in str(caught.value)


def test_response_format_rejection_is_an_invalid_request_saying_what_lm_studio_accepts() -> None:
    fake = lmstudio_04().on(
        "POST", "/v1/chat/completions", fixture_reply("error_response_format_json_object.json", 400)
    )
    with pytest.raises(InvalidRequestError) as caught:
        fake.provider().chat("qwen/qwen3-8b", "hi")
    assert not isinstance(caught.value, CapabilityError)
    assert "json_schema" in str(caught.value)


@pytest.mark.parametrize(
    "body", [{"error": "Model is unloaded."}, {"error": {"message": "Model is unloaded."}}]
)
def test_any_200_body_with_a_top_level_error_is_raised_not_returned(body: object) -> None:
    fake = (
        lmstudio_04()
        .on("POST", "/v1/chat/completions", reply(200, json_body=body))
        .on("POST", "/v1/embeddings", reply(200, json_body=body))
    )
    provider = fake.provider()
    with pytest.raises(ModelportError) as caught:
        provider.chat("qwen/qwen3-8b", "hi")
    assert "Model is unloaded" in str(caught.value)
    with pytest.raises(ModelportError):
        provider.embed("text-embedding-nomic-embed-text-v1.5", "hi")


def test_server_crash_500_is_a_retriable_server_error() -> None:
    fake = lmstudio_04().on(
        "POST", "/v1/chat/completions", reply(500, json_body={"error": "received prediction-error"})
    )
    with pytest.raises(ServerError) as caught:
        fake.provider().chat("qwen/qwen3-8b", "hi")
    assert caught.value.retriable
    assert "prediction-error" in str(caught.value)


def test_error_event_before_any_output_in_a_stream_is_classified() -> None:
    fake = lmstudio_04().on(
        "POST", "/v1/chat/completions", sse_reply([{"error": NO_MODELS_LOADED}], done=False)
    )
    with (
        pytest.raises(ModelNotLoadedError),
        fake.provider().chat_stream("qwen/qwen3-8b", "hi") as s,
    ):
        list(s)


def test_plain_json_error_body_answering_a_stream_request_is_classified() -> None:
    fake = lmstudio_04().on(
        "POST",
        "/v1/chat/completions",
        reply(
            200,
            content=fixture_bytes("lmstudio/error_unexpected_endpoint_200.json"),
            headers={"content-type": "application/json"},
        ),
    )
    with pytest.raises(CapabilityError), fake.provider().chat_stream("qwen/qwen3-8b", "hi") as s:
        list(s)


def test_error_event_mid_stream_keeps_the_partial_text() -> None:
    fake = lmstudio_04().on(
        "POST",
        "/v1/chat/completions",
        sse_reply(
            [
                chunk({"role": "assistant", "content": "Hello"}),
                chunk({"content": " there"}),
                {"error": {"message": "Model crashed", "type": "server_error"}},
            ],
            done=False,
        ),
    )
    received: list[str] = []
    with (
        pytest.raises(StreamError) as caught,
        fake.provider().chat_stream("qwen/qwen3-8b", "hi") as s,
    ):
        received.extend(c.text for c in s)
    assert caught.value.partial == "Hello there"
    assert "".join(received) == "Hello there"
    assert "Model crashed" in str(caught.value)


def test_a_stream_request_rejected_with_400_is_classified_like_a_plain_request() -> None:
    fake = lmstudio_04().on(
        "POST", "/v1/chat/completions", fixture_reply("error_invalid_model_identifier.json", 400)
    )
    with pytest.raises(ModelNotFoundError), fake.provider().chat_stream("o4-mini", "hi") as s:
        list(s)


def test_no_foreign_exception_escapes_for_a_truncated_error_body() -> None:
    fake = lmstudio_04().on(
        "POST",
        "/v1/chat/completions",
        reply(
            400,
            content=b'{"error": {"message": "No mo',
            headers={"content-type": "application/json"},
        ),
    )
    with pytest.raises(InvalidRequestError):
        fake.provider().chat("qwen/qwen3-8b", "hi")


def test_chat_succeeds_after_errors_on_the_same_provider() -> None:
    fake = lmstudio_04().on(
        "POST",
        "/v1/chat/completions",
        reply(400, json_body={"error": NO_MODELS_LOADED}),
        reply(200, json_body=chat_completion("Recovered")),
    )
    provider = fake.provider()
    with pytest.raises(ModelNotLoadedError):
        provider.chat("qwen/qwen3-8b", "hi")
    assert provider.chat("qwen/qwen3-8b", "hi").text == "Recovered"


def test_connection_reset_is_retriable_and_names_lm_studio() -> None:
    def reset(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadError("connection reset by peer", request=request)

    fake = lmstudio_04()
    fake.fallback = reset
    with pytest.raises(ModelportError) as caught:
        fake.provider().chat("qwen/qwen3-8b", "hi")
    assert caught.value.retriable
    assert "LM Studio" in str(caught.value)


def test_an_html_page_answering_a_stream_request_is_a_protocol_error() -> None:
    page = b"<!doctype html>\n<html><head><title>Router login</title></head></html>\n"
    fake = lmstudio_04().on(
        "POST",
        "/v1/chat/completions",
        reply(200, content=page, headers={"content-type": "text/html"}),
    )
    received: list[object] = []
    with (
        pytest.raises(ProtocolError) as caught,
        fake.provider().chat_stream("qwen/qwen3-8b", "hi") as s,
    ):
        received.extend(s)
    assert received == []
    assert "<!doctype html>" in str(caught.value)

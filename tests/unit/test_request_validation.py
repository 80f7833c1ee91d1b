"""Caller mistakes are refused before anything is sent."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

import modelport
from modelport import InvalidRequestError, LlamaCppProvider, Message
from modelport._wire.common import build_chat_request


def _provider() -> tuple[LlamaCppProvider, list[httpx.Request]]:
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(500)

    return LlamaCppProvider(transport=httpx.MockTransport(handler)), sent


@pytest.mark.parametrize(
    ("model", "messages", "options", "fragment"),
    [
        ("", "hi", {}, "model name is empty"),
        ("   ", "hi", {}, "model name is empty"),
        ("m", [], {}, "No messages"),
        ("m", [{"role": "system", "content": "only rules"}], {}, "Only system messages"),
        ("m", [{"role": "wizard", "content": "hi"}], {}, "unknown role 'wizard'"),
        ("m", [{"content": "no role"}], {}, "has no role"),
        ("m", [42], {}, "must be a Message or a dict"),
        ("m", 42, {}, "messages must be a string or a list"),
        ("m", "hi", {"temprature": 0.5}, "did you mean 'temperature'"),
        ("m", "hi", {"temperature": -1}, "temperature must be >= 0"),
        ("m", "hi", {"temperature": "hot"}, "temperature must be a number"),
        ("m", "hi", {"top_p": 1.5}, "top_p must be <= 1"),
        ("m", "hi", {"max_tokens": 0}, "max_tokens must be a positive integer"),
        ("m", "hi", {"max_tokens": 1.5}, "max_tokens must be an integer"),
        ("m", "hi", {"context_length": -4}, "context_length must be a positive integer"),
        ("m", "hi", {"seed": True}, "seed must be an integer"),
        ("m", "hi", {"stop": [1, 2]}, "stop must be a string or a list of strings"),
        ("m", "hi", {"tools": "get_weather"}, "tools must be a list"),
        ("m", "hi", {"tools": [{"description": "no name"}]}, "needs a function name"),
        ("m", "hi", {"response_format": 42}, "response_format must be"),
        ("m", "hi", {"keep_alive": True}, "keep_alive must be"),
        ("m", "hi", {"timeout": 0}, "timeout must be > 0"),
        ("m", "hi", {"think": 3}, "think must be"),
        ("m", "hi", {"options": ["x"]}, "options must be a dict"),
    ],
)
def test_invalid_chat_requests_are_refused_before_sending(
    model: str, messages: Any, options: dict[str, Any], fragment: str
) -> None:
    provider, sent = _provider()
    with pytest.raises(InvalidRequestError) as caught:
        provider.chat(model, messages, **options)
    assert fragment in str(caught.value)
    with pytest.raises(InvalidRequestError):
        list(provider.chat_stream(model, messages, **options))
    assert sent == []


def test_invalid_message_object_role_is_refused() -> None:
    provider, sent = _provider()
    with pytest.raises(InvalidRequestError):
        provider.chat("m", [Message(role="robot", content="hi")])  # type: ignore[arg-type]
    assert sent == []


def test_image_urls_are_refused_for_ollama_with_a_hint_to_pass_bytes() -> None:
    # OpenAI-family servers fetch an http(s) image URL themselves; Ollama needs the bytes.
    from modelport import OllamaProvider

    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(500)

    provider = OllamaProvider(transport=httpx.MockTransport(handler))
    with pytest.raises(InvalidRequestError) as caught:
        provider.chat(
            "m", [Message(role="user", content="x", images=["https://example.com/a.png"])]
        )
    assert "the bytes, a file path" in str(caught.value)
    assert sent == []


def test_missing_image_file_is_an_invalid_request() -> None:
    provider, _ = _provider()
    with pytest.raises(InvalidRequestError):
        provider.chat("m", [Message(role="user", content="x", images=["/no/such/image.png"])])


@pytest.mark.parametrize("value", [[], [1, "a"], [[1], 2], 5, None])
def test_invalid_embedding_input_is_refused_before_sending(value: Any) -> None:
    provider, sent = _provider()
    with pytest.raises(InvalidRequestError):
        provider.embed("m", value)
    assert sent == []


def test_client_refuses_an_empty_model_name_before_discovery() -> None:
    client = modelport.Client(services=["http://127.0.0.1:9"])
    with pytest.raises(InvalidRequestError):
        client.chat("", "hi")


def test_developer_role_is_accepted_as_system() -> None:
    from modelport._wire.common import build_chat_request

    req = build_chat_request(
        "m",
        [{"role": "developer", "content": "rules"}, "x"[:0] or {"role": "user", "content": "q"}],
        {},
    )
    assert [m.role for m in req.messages] == ["system", "user"]


def test_a_single_image_string_is_one_image_not_a_list_of_characters() -> None:
    from modelport._wire.common import normalize_message

    png = "iVBORw0KGgo="
    assert Message(role="user", content="x", images=png).images == (png,)  # type: ignore[arg-type]
    assert normalize_message({"role": "user", "content": "x", "images": png}).images == (png,)


@pytest.mark.parametrize(
    "message",
    [
        {"role": "user", "content": "hi", "images": [42]},
        {"role": "user", "content": "hi", "images": [b"\x89PNG", None]},
        modelport.Message(role="user", content="hi", images=(3.5,)),  # type: ignore[arg-type]
    ],
)
def test_an_image_that_is_no_image_is_refused_naming_the_message_and_its_type(
    message: object,
) -> None:
    with pytest.raises(InvalidRequestError, match=r"Message 0: images must be bytes.*not "):
        build_chat_request("m", [message], {})  # type: ignore[list-item]

"""The one error boundary: every transport failure and HTTP status maps to a typed error."""

from __future__ import annotations

import httpx
import pytest

from modelport import (
    AuthenticationError,
    CapabilityError,
    ConfigurationError,
    ContextLengthExceededError,
    InvalidRequestError,
    ModelNotFoundError,
    ProtocolError,
    RateLimitError,
    RequestTimeoutError,
    ServerError,
    ServiceUnavailableError,
)
from modelport._classify import facts_from_response, generic
from modelport._http.mapping import ErrorContext, map_transport_error

CTX = ErrorContext(
    service="box",
    base_url="http://127.0.0.1:9",
    server="Test server",
    start_hint="Start it with `serve`.",
    auth_hint="Set TEST_KEY.",
)
REQ = httpx.Request("POST", "http://127.0.0.1:9/v1/chat/completions")


def _status(status: int, body: bytes | str = b"", headers: dict[str, str] | None = None, **kw):
    if isinstance(body, str):
        body = body.encode()
    facts = facts_from_response(status, body, httpx.Headers(headers or {}), CTX, **kw)
    return generic(facts, CTX)


# ---------------------------------------------------------------------------- transport


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (
            httpx.ConnectError("[Errno 111] Connection refused", request=REQ),
            ServiceUnavailableError,
        ),
        (
            httpx.ConnectError("[Errno -2] Name or service not known", request=REQ),
            ServiceUnavailableError,
        ),
        (
            httpx.ReadError("[Errno 104] Connection reset by peer", request=REQ),
            ServiceUnavailableError,
        ),
        (httpx.RemoteProtocolError("Server disconnected", request=REQ), ServiceUnavailableError),
        (httpx.ConnectTimeout("timed out", request=REQ), RequestTimeoutError),
        (httpx.ReadTimeout("timed out", request=REQ), RequestTimeoutError),
        (httpx.WriteTimeout("timed out", request=REQ), RequestTimeoutError),
        (httpx.PoolTimeout("timed out", request=REQ), RequestTimeoutError),
        (httpx.UnsupportedProtocol("no", request=REQ), ConfigurationError),
        (httpx.DecodingError("bad gzip", request=REQ), ProtocolError),
        (httpx.TooManyRedirects("loop", request=REQ), ProtocolError),
    ],
)
def test_transport_errors_map_to_typed_errors(exc: Exception, expected: type) -> None:
    error = map_transport_error(exc, CTX, what="POST /v1/chat/completions")
    assert type(error) is expected
    assert error.service == "box"
    assert error.base_url == CTX.base_url
    assert error.status_code is None


def test_connection_refused_names_the_server_and_how_to_start_it() -> None:
    error = map_transport_error(httpx.ConnectError("refused", request=REQ), CTX)
    assert str(error) == "Could not reach Test server at http://127.0.0.1:9. Start it with `serve`."
    assert error.retriable


def test_dns_failure_says_to_check_the_host_name() -> None:
    error = map_transport_error(
        httpx.ConnectError("[Errno -2] Name or service not known", request=REQ), CTX
    )
    assert "resolve" in str(error) and "host name" in str(error)


def test_timeouts_are_retriable() -> None:
    assert map_transport_error(httpx.ReadTimeout("t", request=REQ), CTX).retriable
    assert map_transport_error(httpx.ConnectTimeout("t", request=REQ), CTX).retriable


# ---------------------------------------------------------------------------- statuses


def test_401_maps_to_authentication_error_with_the_auth_hint() -> None:
    error = _status(401, '{"error": "unauthorized"}')
    assert isinstance(error, AuthenticationError)
    assert "Set TEST_KEY." in str(error)
    assert not error.retriable


def test_empty_403_maps_to_authentication_error_mentioning_a_proxy() -> None:
    error = _status(403)
    assert isinstance(error, AuthenticationError)
    assert "proxy" in str(error)


def test_429_maps_to_rate_limit_with_retry_after_seconds() -> None:
    error = _status(429, '{"error": "slow down"}', {"Retry-After": "7"})
    assert isinstance(error, RateLimitError)
    assert error.retry_after == 7.0
    assert error.retriable


def test_429_without_retry_after_has_none() -> None:
    error = _status(429, "busy")
    assert isinstance(error, RateLimitError)
    assert error.retry_after is None


def test_404_naming_a_model_maps_to_model_not_found() -> None:
    error = _status(404, '{"error": "model \'llama9\' not found"}', model="llama9")
    assert isinstance(error, ModelNotFoundError)
    assert error.model == "llama9"
    assert error.status_code == 404


def test_400_model_not_found_code_maps_to_model_not_found() -> None:
    body = (
        '{"error":{"message":"Invalid model identifier \\"o4-mini\\".",'
        '"type":"invalid_request_error","param":"model","code":"model_not_found"}}'
    )
    assert isinstance(_status(400, body, model="o4-mini"), ModelNotFoundError)


def test_text_404_maps_to_capability_error_naming_the_endpoint() -> None:
    error = _status(404, "404 page not found", {"content-type": "text/plain"}, path="/api/embed")
    assert isinstance(error, CapabilityError)
    assert "/api/embed" in str(error)


def test_405_maps_to_capability_error() -> None:
    assert isinstance(_status(405, "method not allowed", path="/v1/models"), CapabilityError)


@pytest.mark.parametrize(
    "message",
    [
        "request (6031 tokens) exceeds the available context size (2048 tokens), try increasing it",
        "This model's maximum context length is 4096 tokens. However, you requested 5000 tokens",
        "the prompt is longer than the context length currently available to the model",
        "the input length exceeds the context length",
        "The number of tokens to keep from the initial prompt is greater than the context length "
        "(n_keep: 13055>= n_ctx: 4096).",
    ],
)
def test_400_with_a_context_overflow_message_maps_to_context_length_exceeded(message: str) -> None:
    import json

    error = _status(400, json.dumps({"error": message}))
    assert isinstance(error, ContextLengthExceededError)
    assert isinstance(error, InvalidRequestError)
    assert not error.retriable


def test_400_exceed_context_size_type_maps_to_context_length_exceeded() -> None:
    body = '{"error":{"code":400,"message":"too long","type":"exceed_context_size_error"}}'
    assert isinstance(_status(400, body), ContextLengthExceededError)


def test_501_not_supported_maps_to_capability_error() -> None:
    body = (
        '{"error":{"code":501,"message":"This server does not support embeddings. '
        'Start it with `--embeddings`","type":"not_supported_error"}}'
    )
    error = _status(501, body)
    assert isinstance(error, CapabilityError)
    assert "--embeddings" in str(error)
    assert not error.retriable


def test_400_does_not_support_maps_to_capability_error() -> None:
    error = _status(
        400, '{"error":"registry.ollama.ai/library/gemma3:latest does not support tools"}'
    )
    assert isinstance(error, CapabilityError)


def test_other_400_maps_to_invalid_request_with_the_server_message() -> None:
    error = _status(400, '{"error": {"message": "temperature must be positive"}}')
    assert type(error) is InvalidRequestError
    assert "temperature must be positive" in str(error)


def test_422_maps_to_invalid_request() -> None:
    assert type(_status(422, '{"detail": [{"msg": "field required"}]}')) is InvalidRequestError


def test_503_with_retry_after_keeps_the_wait() -> None:
    error = _status(503, "busy", {"Retry-After": "4"})
    assert isinstance(error, ServiceUnavailableError)
    assert error.retry_after == 4.0
    assert _status(503, "busy").retry_after is None


def test_503_maps_to_retriable_service_unavailable() -> None:
    error = _status(
        503, '{"error":{"code":503,"message":"Loading model","type":"unavailable_error"}}'
    )
    assert isinstance(error, ServiceUnavailableError)
    assert error.retriable
    assert "Loading model" in str(error)


@pytest.mark.parametrize("status", [500, 502, 504, 520])
def test_other_5xx_map_to_retriable_server_error(status: int) -> None:
    error = _status(status, "upstream broke")
    assert isinstance(error, ServerError)
    assert error.retriable
    assert error.status_code == status


def test_html_error_page_is_reduced_to_its_text() -> None:
    page = (
        "<!DOCTYPE html><html><head><title>Oops</title><style>body{}</style></head>"
        "<body><h1>502 Bad Gateway</h1><p>nginx</p></body></html>"
    )
    error = _status(502, page, {"content-type": "text/html"})
    assert "502 Bad Gateway nginx" in str(error)
    assert "<" not in str(error)


def test_huge_error_body_is_clipped_in_the_message() -> None:
    error = _status(500, "x" * 100_000)
    assert len(str(error)) < 1_000


def test_error_message_names_the_server_and_its_url() -> None:
    error = _status(500, "boom")
    assert "Test server at http://127.0.0.1:9" in str(error)


def test_unexpected_3xx_maps_to_protocol_error() -> None:
    assert isinstance(_status(302, ""), ProtocolError)

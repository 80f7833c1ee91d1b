"""The gateway's error table: each modelport error becomes one status, in each surface's shape."""

from __future__ import annotations

import pytest

from modelport import (
    AllServicesFailedError,
    AuthenticationError,
    CapabilityError,
    ConfigurationError,
    ContextLengthExceededError,
    InvalidRequestError,
    ModelNotFoundError,
    ModelNotLoadedError,
    ModelportError,
    ProtocolError,
    RateLimitError,
    RequestTimeoutError,
    ServerError,
    ServiceUnavailableError,
    StreamError,
)
from modelport.gateway._errors import (
    Failure,
    failure_for,
    headers_for,
    ollama_body,
    openai_body,
)


def _unavailable(retry_after: float | None = None) -> ServiceUnavailableError:
    error = ServiceUnavailableError("Ollama is busy")
    error.retry_after = retry_after
    return error


TABLE: list[tuple[ModelportError, int, str | None]] = [
    (ModelNotFoundError("no model 'x'", model="x"), 404, "model_not_found"),
    (InvalidRequestError("bad"), 400, "invalid_request"),
    (CapabilityError("no tools"), 400, "unsupported_capability"),
    (ContextLengthExceededError("too long"), 400, "context_length_exceeded"),
    (ModelNotLoadedError("not loaded"), 409, "model_not_loaded"),
    (_unavailable(), 503, "service_unavailable"),
    (RequestTimeoutError("slow"), 504, "upstream_timeout"),
    (RateLimitError("slow down", retry_after=7), 429, "rate_limit_exceeded"),
    (AuthenticationError("401 from upstream"), 502, "upstream_authentication_failed"),
    (ServerError("500"), 502, "upstream_error"),
    (ProtocolError("html"), 502, "upstream_error"),
    (StreamError("broke"), 502, "upstream_error"),
    (ConfigurationError("bad config"), 500, "configuration_error"),
]


@pytest.mark.parametrize(("error", "status", "code"), TABLE, ids=lambda v: type(v).__name__)
def test_each_error_gets_its_status_and_code(error: ModelportError, status: int, code: str) -> None:
    failure = failure_for(error)
    assert (failure.status, failure.code) == (status, code)
    assert failure.message == str(error)


def test_openai_shape_has_message_type_and_code() -> None:
    failure = failure_for(ContextLengthExceededError("prompt too long"))
    assert openai_body(failure) == {
        "error": {
            "message": "prompt too long",
            "type": "invalid_request_error",
            "code": "context_length_exceeded",
            "param": None,
        }
    }


def test_ollama_shape_is_one_string() -> None:
    assert ollama_body(failure_for(ModelNotFoundError("no model 'x'"))) == {"error": "no model 'x'"}


def test_rate_limits_and_unavailable_services_say_when_to_retry() -> None:
    assert headers_for(failure_for(RateLimitError("x", retry_after=7))) == [(b"retry-after", b"7")]
    assert headers_for(failure_for(RateLimitError("x", retry_after=0.2))) == [
        (b"retry-after", b"1")
    ]
    assert headers_for(failure_for(_unavailable(12.5))) == [(b"retry-after", b"13")]
    assert headers_for(failure_for(_unavailable())) == [(b"retry-after", b"5")]
    assert headers_for(failure_for(InvalidRequestError("x"))) == []


def test_every_service_failing_retriably_is_no_healthy_service() -> None:
    error = AllServicesFailedError(
        "Every service failed", errors=[_unavailable(3), RequestTimeoutError("slow")]
    )
    failure = failure_for(error)
    assert (failure.status, failure.code) == (503, "no_healthy_service")
    assert headers_for(failure) == [(b"retry-after", b"3")]


def test_every_service_failing_with_a_non_retriable_cause_takes_that_causes_status() -> None:
    error = AllServicesFailedError(
        "Every service failed",
        errors=[ModelNotFoundError("stale list"), ServerError("boom", retriable=False)],
    )
    assert failure_for(error).status == 502
    error = AllServicesFailedError("x", errors=[ModelNotFoundError("a"), ModelNotFoundError("b")])
    assert failure_for(error).status == 404


def test_a_bug_in_the_gateway_is_a_500_that_does_not_leak_details() -> None:
    failure = failure_for(KeyError("secret-internal-name"))
    assert failure.status == 500
    assert "secret" not in failure.message


def test_failures_are_plain_values() -> None:
    assert Failure(401, "authentication_error", "invalid_api_key", "no") == Failure(
        401, "authentication_error", "invalid_api_key", "no"
    )

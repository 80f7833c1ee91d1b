"""The pure retry policy."""

from __future__ import annotations

from modelport import (
    InvalidRequestError,
    RateLimitError,
    RequestTimeoutError,
    ServerError,
    ServiceUnavailableError,
)
from modelport._http.retry import RetryPolicy


def test_backoff_doubles_up_to_the_cap_with_full_jitter() -> None:
    top = RetryPolicy(max_retries=6, base_delay=0.5, max_delay=4.0, rand=lambda: 1.0)
    assert [top.delay(n, ServerError("x")) for n in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    bottom = RetryPolicy(max_retries=3, rand=lambda: 0.0)
    assert bottom.delay(2, ServerError("x")) == 0.0


def test_retries_stop_after_max_retries() -> None:
    policy = RetryPolicy(max_retries=2, rand=lambda: 0.5)
    assert policy.delay(1, RequestTimeoutError("t")) is not None
    assert policy.delay(2, RequestTimeoutError("t")) is None


def test_non_retriable_errors_are_never_retried() -> None:
    assert RetryPolicy().delay(0, InvalidRequestError("bad")) is None


def test_retry_after_is_honoured_exactly() -> None:
    policy = RetryPolicy(rand=lambda: 0.0)
    assert policy.delay(0, RateLimitError("slow", retry_after=3.5)) == 3.5


def test_retry_after_on_a_503_is_honoured_too() -> None:
    error = ServiceUnavailableError("busy")
    error.retry_after = 2.0
    assert RetryPolicy(rand=lambda: 0.0).delay(0, error) == 2.0


def test_a_retry_after_too_long_fails_over_instead_of_waiting() -> None:
    policy = RetryPolicy(max_retry_after=10)
    assert policy.delay(0, RateLimitError("slow", retry_after=120)) is None


def test_an_error_marked_not_retriable_is_not_retried() -> None:
    assert RetryPolicy().delay(0, ServiceUnavailableError("x", retriable=False)) is None

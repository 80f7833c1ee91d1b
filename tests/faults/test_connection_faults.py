"""Servers that fail before sending a usable response: refused, silent, hung up, reset,
stalled after the headers, not speaking HTTP. Each becomes one retriable, typed error
that names the server, keeps the httpx exception as its cause, and leaks nothing.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from modelport import RequestTimeoutError, ServiceUnavailableError

from .conftest import Lab, check_error
from .kinds import Kind
from .servers import (
    Script,
    close_without_answer,
    closed_port_url,
    headers_then_stall,
    not_http,
    reset_without_answer,
    silent,
)

pytestmark = pytest.mark.socket

# scenario -> (script, error class, httpx cause)
BEFORE_RESPONSE: dict[str, tuple[Callable[[Kind], Script], type, type[BaseException]]] = {
    "silent": (lambda k: silent(), RequestTimeoutError, httpx.ReadTimeout),
    "hangs-up": (
        lambda k: close_without_answer(),
        ServiceUnavailableError,
        httpx.RemoteProtocolError,
    ),
    "resets": (lambda k: reset_without_answer(), ServiceUnavailableError, httpx.ReadError),
    "not-http": (lambda k: not_http(), ServiceUnavailableError, httpx.RemoteProtocolError),
    "stalls-after-headers": (
        lambda k: headers_then_stall(content_type="application/json", first=b'{"choi'),
        RequestTimeoutError,
        httpx.ReadTimeout,
    ),
}


@pytest.mark.parametrize("scenario", list(BEFORE_RESPONSE))
def test_chat_to_a_failing_server_raises_one_typed_retriable_error(
    lab: Lab, kind: Kind, scenario: str
) -> None:
    script, error_class, cause = BEFORE_RESPONSE[scenario]
    server = lab.serve({kind.chat_path: script(kind)})
    provider = lab.provider(kind, server.url)
    with pytest.raises(error_class) as caught:
        lab.chat(provider, kind.model)
    error = check_error(caught.value, error_class, provider, cause=cause)
    assert error.retriable
    assert server.paths() == [f"POST {kind.chat_path}"]
    lab.assert_no_leak(provider)


@pytest.mark.parametrize("scenario", list(BEFORE_RESPONSE))
def test_stream_from_a_failing_server_raises_the_same_error_before_any_chunk(
    lab: Lab, kind: Kind, scenario: str
) -> None:
    script, error_class, cause = BEFORE_RESPONSE[scenario]
    if scenario == "stalls-after-headers":
        script = lambda k: headers_then_stall(content_type=k.stream_type)  # noqa: E731
    server = lab.serve({kind.chat_path: script(kind)})
    provider = lab.provider(kind, server.url)
    outcome = lab.stream(provider, kind.model)
    assert outcome.chunks == []
    error = check_error(outcome.error, error_class, provider, cause=cause)
    assert error.retriable
    lab.assert_no_leak(provider)


def test_a_refused_connection_is_service_unavailable_naming_the_url(lab: Lab, kind: Kind) -> None:
    provider = lab.provider(kind, closed_port_url())
    with pytest.raises(ServiceUnavailableError) as caught:
        lab.chat(provider, kind.model)
    error = check_error(caught.value, ServiceUnavailableError, provider, cause=httpx.ConnectError)
    assert error.retriable
    assert error.hint  # says how to start the server
    outcome = lab.stream(provider, kind.model)
    check_error(outcome.error, ServiceUnavailableError, provider, cause=httpx.ConnectError)
    lab.assert_no_leak(provider)


def test_a_silent_server_is_reported_as_a_timeout_not_waited_on_forever(
    lab: Lab, kind: Kind
) -> None:
    """The call returns (under the test's hang guard) with a timeout error, and the
    client closes the connection it gave up on."""
    server = lab.serve(silent())
    provider = lab.provider(kind, server.url)
    with pytest.raises(RequestTimeoutError) as caught:
        lab.chat(provider, kind.model)
    assert "did not answer in time" in caught.value.message
    assert "timeout" in (caught.value.hint or "")
    assert server.wait_settled()
    assert server.closed_by_client() == [True]

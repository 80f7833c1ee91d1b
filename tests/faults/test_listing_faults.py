"""Listing models and checking health against servers that misbehave on every path.

``models()`` raises the same typed errors as chat; ``health()`` never raises: it
reports the service unavailable with the reason.
"""

from __future__ import annotations

import httpx
import pytest

from modelport import (
    ProtocolError,
    RequestTimeoutError,
    ServerError,
    ServiceStatus,
    ServiceUnavailableError,
)

from .conftest import Lab, check_error
from .kinds import Kind
from .servers import Script, answer, html_error_page, reset_without_answer, silent

pytestmark = pytest.mark.socket

HTML = b"<!doctype html><html><body>Welcome to nginx!</body></html>"

EVERY_PATH: dict[str, tuple[Script, type, type[BaseException] | None, int | None]] = {
    "silent": (silent(), RequestTimeoutError, httpx.ReadTimeout, None),
    "resets": (reset_without_answer(), ServiceUnavailableError, httpx.ReadError, None),
    "proxy-502": (html_error_page(502), ServerError, None, 502),
    "html-200": (answer(200, HTML, content_type="text/html"), ProtocolError, ValueError, 200),
    "wrong-shape": (answer(200, b'{"data": 5, "models": 5}'), ProtocolError, TypeError, None),
}


@pytest.mark.parametrize("scenario", list(EVERY_PATH))
def test_listing_models_from_a_misbehaving_server_raises_a_typed_error(
    lab: Lab, kind: Kind, scenario: str
) -> None:
    script, error_class, cause, status = EVERY_PATH[scenario]
    server = lab.serve(script)
    provider = lab.provider(kind, server.url)
    with pytest.raises(error_class) as caught:
        lab.call(provider.models, provider.amodels)
    check_error(caught.value, error_class, provider, cause=cause, status=status)
    lab.assert_no_leak(provider)


@pytest.mark.parametrize("scenario", ["silent", "resets", "proxy-502"])
def test_health_of_a_misbehaving_server_is_unavailable_with_the_reason(
    lab: Lab, kind: Kind, scenario: str
) -> None:
    script = EVERY_PATH[scenario][0]
    server = lab.serve(script)
    provider = lab.provider(kind, server.url)
    service = lab.call(provider.health, provider.ahealth)
    assert service.status is ServiceStatus.UNAVAILABLE
    assert service.error and server.url in service.error
    lab.assert_no_leak(provider)

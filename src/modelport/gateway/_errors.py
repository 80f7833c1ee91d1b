"""The gateway's error table, pure: a modelport error becomes one HTTP status, a code,
and a body in each surface's shape.

=======================================  ======  ==================================
error                                    status  code
=======================================  ======  ==================================
ModelNotFoundError                       404     ``model_not_found``
InvalidRequestError                      400     ``invalid_request``
CapabilityError                          400     ``unsupported_capability``
ContextLengthExceededError               400     ``context_length_exceeded``
ModelNotLoadedError                      409     ``model_not_loaded``
ServiceUnavailableError                  503     ``service_unavailable`` (Retry-After)
AllServicesFailedError, all retriable    503     ``no_healthy_service`` (Retry-After)
RequestTimeoutError                      504     ``upstream_timeout``
RateLimitError                           429     ``rate_limit_exceeded`` (Retry-After)
AuthenticationError (from a service)     502     ``upstream_authentication_failed``
ServerError, ProtocolError, StreamError  502     ``upstream_error``
ConfigurationError                       500     ``configuration_error``
=======================================  ======  ==================================

A :class:`ServerError` with status 508 (an upstream gateway found the request in a
loop) is 508 ``gateway_loop`` here too, so a loop ends at once at every hop. An
:class:`AllServicesFailedError` with a cause that is not retriable takes that cause's
row. The gateway's own refusals (401, 403 for a Host that is not this machine's, 413,
400 for a body that is not JSON, 404/405 for an unknown route, 503 when request
bodies already hold the memory cap, 508 for a loop) are built here too.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from ..errors import (
    AllServicesFailedError,
    AuthenticationError,
    CapabilityError,
    ConfigurationError,
    ContextLengthExceededError,
    InvalidRequestError,
    ModelNotFoundError,
    ModelNotLoadedError,
    ModelportError,
    RateLimitError,
    RequestTimeoutError,
    ServerError,
    ServiceUnavailableError,
)

__all__ = [
    "Failure",
    "bad_body",
    "bad_chain",
    "busy",
    "forbidden_host",
    "failure",
    "failure_for",
    "headers_for",
    "loop",
    "method_not_allowed",
    "not_implemented",
    "ollama_body",
    "openai_body",
    "route_not_found",
    "too_deep",
    "too_large",
    "too_many_hops",
    "unauthorized",
]

DEFAULT_RETRY_AFTER = 5
"""Seconds a 503 asks callers to wait when no service said how long."""

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    408: "timeout_error",
    409: "invalid_request_error",
    413: "invalid_request_error",
    431: "invalid_request_error",
    429: "rate_limit_error",
    500: "server_error",
    501: "not_implemented_error",
    502: "upstream_error",
    503: "service_unavailable_error",
    504: "timeout_error",
    508: "loop_detected_error",
}


@dataclass(frozen=True, slots=True)
class Failure:
    """What the caller is told: a status, OpenAI's ``type`` and ``code``, a message,
    and the seconds to wait before retrying (429 and 503).
    """

    status: int
    type: str
    code: str | None
    message: str
    retry_after: int | None = None


def failure(status: int, code: str | None, message: str, retry_after: int | None = None) -> Failure:
    """A failure with OpenAI's ``type`` for its status."""
    return Failure(status, _TYPES.get(status, "server_error"), code, message, retry_after)


def _seconds(value: float | None, default: int) -> int:
    if value is None or value <= 0:
        return default
    return max(1, math.ceil(value))


def failure_for(error: BaseException) -> Failure:
    """The row of the table for ``error``; anything not a modelport error is a bug here,
    a 500 whose message gives nothing away (except a body too deep to walk: a 400).
    """
    if isinstance(error, RecursionError):
        return too_deep()
    if not isinstance(error, ModelportError):
        return failure(500, "internal_error", "The gateway failed unexpectedly; see its log.")
    message = str(error)
    if isinstance(error, AllServicesFailedError):
        causes = error.errors
        if causes and all(cause.retriable for cause in causes):
            waits = [getattr(c, "retry_after", None) for c in causes]
            known = [w for w in waits if isinstance(w, (int, float))]
            wait = _seconds(max(known) if known else None, DEFAULT_RETRY_AFTER)
            return failure(503, "no_healthy_service", message, wait)
        # A replica whose list was stale says "not found"; another cause says more.
        fatal = [c for c in causes if not c.retriable]
        telling = [c for c in fatal if not isinstance(c, ModelNotFoundError)] or fatal
        if telling:
            row = failure_for(telling[0])
            return Failure(row.status, row.type, row.code, message, row.retry_after)
        return failure(502, "upstream_error", message)
    if isinstance(error, ContextLengthExceededError):
        return failure(400, "context_length_exceeded", message)
    if isinstance(error, CapabilityError):
        return failure(400, "unsupported_capability", message)
    if isinstance(error, InvalidRequestError):
        return failure(400, "invalid_request", message)
    if isinstance(error, ModelNotFoundError):
        return failure(404, "model_not_found", message)
    if isinstance(error, ModelNotLoadedError):
        return failure(409, "model_not_loaded", message)
    if isinstance(error, ServiceUnavailableError):
        wait = _seconds(error.retry_after, DEFAULT_RETRY_AFTER)
        return failure(503, "service_unavailable", message, wait)
    if isinstance(error, RequestTimeoutError):
        return failure(504, "upstream_timeout", message)
    if isinstance(error, RateLimitError):
        return failure(429, "rate_limit_exceeded", message, _seconds(error.retry_after, 1))
    if isinstance(error, AuthenticationError):
        return failure(502, "upstream_authentication_failed", message)
    if isinstance(error, ServerError) and error.status_code == 508:
        return failure(508, "gateway_loop", message)
    if isinstance(error, ConfigurationError):
        return failure(500, "configuration_error", message)
    return failure(502, "upstream_error", message)


# --------------------------------------------------------------------------- the gateway's own


def unauthorized() -> Failure:
    return failure(
        401,
        "invalid_api_key",
        "Missing or wrong API key: send it as 'Authorization: Bearer KEY' or 'x-api-key: KEY'.",
    )


def too_large(limit: int) -> Failure:
    return failure(
        413,
        "request_too_large",
        f"The request body is larger than this gateway accepts ({limit} bytes); "
        "its operator can raise --max-body.",
    )


def bad_body(detail: str) -> Failure:
    return failure(400, "invalid_json", f"The request body is not a JSON object: {detail}.")


def too_deep() -> Failure:
    return failure(
        400, "invalid_json", "The request body is nested too deeply for this gateway to read."
    )


def busy(retry_after: int) -> Failure:
    return failure(
        503,
        "server_busy",
        "The gateway holds as many request bodies in memory as it may at once; retry "
        "shortly (its operator can raise --max-body-memory).",
        retry_after,
    )


def forbidden_host(host: str) -> Failure:
    return failure(
        403,
        "forbidden_host",
        f"This gateway has no API key, so it answers only requests addressed to this "
        f"machine (localhost, 127.0.0.1, [::1]), not to Host {host!r}. Its operator "
        "can give it a key (--api-key) to serve other names.",
    )


def bad_chain(message: str) -> Failure:
    return failure(400, "invalid_gateway_chain", message)


def route_not_found(method: str, path: str) -> Failure:
    return failure(404, "not_found", f"There is no route {method} {path} on this gateway.")


def method_not_allowed(method: str, path: str, allowed: list[str]) -> Failure:
    return failure(
        405, "method_not_allowed", f"{path} does not take {method}; use {', '.join(allowed)}."
    )


def not_implemented(what: str) -> Failure:
    return failure(501, "not_implemented", what)


def loop() -> Failure:
    return failure(
        508,
        "gateway_loop",
        "This request already passed this gateway: a service it routes to points back "
        "at it, directly or through other gateways. Nothing was sent on.",
    )


def too_many_hops(limit: int) -> Failure:
    return failure(
        508,
        "gateway_loop",
        f"This request already passed more than {limit} gateways "
        "(x-modelport-gateway); nothing was sent on.",
    )


# --------------------------------------------------------------------------- shapes


def openai_body(failure: Failure) -> dict[str, Any]:
    """``{"error": {"message", "type", "code", "param"}}``, as OpenAI sends it."""
    return {
        "error": {
            "message": failure.message,
            "type": failure.type,
            "code": failure.code,
            "param": None,
        }
    }


def ollama_body(failure: Failure) -> dict[str, Any]:
    """``{"error": "..."}``, as Ollama sends it."""
    return {"error": failure.message}


def headers_for(failure: Failure) -> list[tuple[bytes, bytes]]:
    """Extra response headers: ``Retry-After`` for 429 and 503."""
    if failure.retry_after is None:
        return []
    return [(b"retry-after", str(failure.retry_after).encode())]


def dumps(data: object) -> bytes:
    """Compact JSON bytes, as every body the gateway writes."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()

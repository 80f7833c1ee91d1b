"""Failures in Anthropic's shape: ``{"type": "error", "error": {"type", "message"}}``
with Anthropic's statuses where they differ from the gateway's OpenAI ones.

===========================================  ======  =========================
the gateway's failure (``_errors``)          status  ``error.type``
===========================================  ======  =========================
400 (invalid request, capability, overflow)  400     ``invalid_request_error``
401 (the gateway's key)                      401     ``authentication_error``
403                                          403     ``permission_error``
404 (unknown model, unknown route)           404     ``not_found_error``
413 (body over the limit)                    413     ``request_too_large``
429                                          429     ``rate_limit_error`` (Retry-After)
503 (no healthy service, one busy)           529     ``overloaded_error`` (Retry-After)
504 (upstream timeout)                       504     ``timeout_error``
other 4xx (405, 409)                         same    ``invalid_request_error``
other 5xx (500, 501, 502, 508)               same    ``api_error``
===========================================  ======  =========================

A context overflow is worded as Anthropic words it, ``prompt is too long: N tokens > M
maximum``, when the service said both numbers: Claude Code reads them from that text
to compact its context. Otherwise the message still starts ``prompt is too long`` and
says the window where it is known.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ...errors import AllServicesFailedError, ContextLengthExceededError
from .._errors import Failure, failure_for, headers_for
from .._json import dumps

__all__ = ["ErrorReply", "error_event", "error_reply", "prompt_too_long"]

_STATUS = {503: 529}
_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    504: "timeout_error",
    529: "overloaded_error",
}
_COUNTS = (
    # llama.cpp: "request (24071 tokens) exceeds the available context size (8192 tokens)"
    (re.compile(r"\((\d+) tokens\) exceeds the available context size \((\d+) tokens\)"), 1, 2),
    # vLLM: "maximum context length is 4096 tokens. However, you requested 5000 tokens
    # (4900 in the messages, 100 in the completion)", or "... your request has N input tokens"
    (re.compile(r"maximum context length is (\d+) tokens.{0,80}?\((\d+) in the messages"), 2, 1),
    (re.compile(r"maximum context length is (\d+) tokens.{0,80}?has (\d+) input tokens"), 2, 1),
)


@dataclass(frozen=True, slots=True)
class ErrorReply:
    """A whole error answer: status, extra headers (``retry-after``) and the body."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: dict[str, Any]


def error_reply(error: BaseException | Failure) -> ErrorReply:
    """The answer to a request that failed before its response started."""
    failure = error if isinstance(error, Failure) else failure_for(error)
    status = _STATUS.get(failure.status, failure.status)
    kind = _TYPES.get(status) or ("invalid_request_error" if status < 500 else "api_error")
    message = failure.message
    if failure.code == "context_length_exceeded":
        message = prompt_too_long(message, error)
    body = {"type": "error", "error": {"type": kind, "message": message}}
    return ErrorReply(status, headers_for(failure), body)


def error_event(error: BaseException | Failure) -> bytes:
    """The ``error`` event that ends a stream which failed after it started."""
    return b"event: error\ndata: " + dumps(error_reply(error).body) + b"\n\n"


def _window(error: BaseException | Failure) -> int | None:
    """The context window the error knows, also behind failover."""
    causes = error.errors if isinstance(error, AllServicesFailedError) else [error]
    for cause in causes:
        if isinstance(cause, ContextLengthExceededError) and cause.context_length:
            return cause.context_length
    return None


def prompt_too_long(message: str, error: BaseException | Failure) -> str:
    """A context overflow's message as Anthropic words it (once: a message already
    worded so is kept).
    """
    if message.startswith(_TOO_LONG):
        return message
    return _too_long(message, _window(error))


_TOO_LONG = "prompt is too long"


def _too_long(message: str, window: int | None) -> str:
    for pattern, prompt, limit in _COUNTS:
        found = pattern.search(message)
        if found:
            return f"prompt is too long: {found[prompt]} tokens > {found[limit]} maximum"
    if window:
        return f"prompt is too long: the model's context is {window} tokens maximum. {message}"
    return f"prompt is too long: {message}"

"""The one boundary where HTTP failures become modelport errors.

:func:`map_transport_error` translates httpx exceptions; :func:`error_from_response`
turns an HTTP error status and its body into the right :class:`ModelportError`.
Both are pure: they build the error, the caller raises it ``from`` the cause.
Providers add their own rows by passing a ``classify`` hook that is consulted first.
"""

from __future__ import annotations

import email.utils
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from ..errors import (
    AuthenticationError,
    CapabilityError,
    ConfigurationError,
    ContextLengthExceededError,
    InvalidRequestError,
    ModelNotFoundError,
    ModelportError,
    ProtocolError,
    RateLimitError,
    RequestTimeoutError,
    ServerError,
    ServiceUnavailableError,
)

__all__ = [
    "ErrorContext",
    "error_from_response",
    "extract_error",
    "is_context_overflow",
    "is_not_supported",
    "map_transport_error",
    "parse_retry_after",
]


@dataclass(frozen=True, slots=True)
class ErrorContext:
    """Who we were talking to, so every message can name the server and the fix."""

    service: str
    base_url: str
    server: str = "the server"
    """How to name the server kind in a sentence: "Ollama", "LM Studio", "llama.cpp server"."""
    start_hint: str = "Is the server running?"
    auth_hint: str = "Check the API key."

    def where(self) -> str:
        return f"{self.server} at {self.base_url}"

    def kwargs(self, status_code: int | None = None) -> dict[str, Any]:
        return {"service": self.service, "base_url": self.base_url, "status_code": status_code}


# --------------------------------------------------------------------------- transport


def map_transport_error(exc: Exception, ctx: ErrorContext, *, what: str = "") -> ModelportError:
    """Translate an httpx exception raised while sending or receiving.

    ``what`` names the operation for the message ("POST /v1/chat/completions").
    """
    doing = f" during {what}" if what else ""
    kw = ctx.kwargs()
    if isinstance(exc, httpx.ConnectTimeout):
        return RequestTimeoutError(
            f"Timed out connecting to {ctx.where()}{doing}.", hint=ctx.start_hint, **kw
        )
    if isinstance(exc, httpx.PoolTimeout):
        return RequestTimeoutError(
            f"Timed out waiting for a free connection to {ctx.where()}{doing}.",
            hint="Too many requests at once; raise the connection limit or slow down.",
            **kw,
        )
    if isinstance(exc, httpx.TimeoutException):
        return RequestTimeoutError(
            f"{ctx.where()} did not answer in time{doing}.",
            hint="The model may still be loading or generating; raise timeout= or retry.",
            **kw,
        )
    if isinstance(exc, httpx.ConnectError):
        text = str(exc)
        if _looks_like_dns_failure(text):
            return ServiceUnavailableError(
                f"Could not resolve the host of {ctx.where()}{doing} ({text}).",
                hint="Check the host name in the URL.",
                **kw,
            )
        return ServiceUnavailableError(
            f"Could not reach {ctx.where()}{doing}.", hint=ctx.start_hint, **kw
        )
    if isinstance(exc, (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError)):
        return ServiceUnavailableError(
            f"The connection to {ctx.where()} broke{doing} ({type(exc).__name__}: {exc}).",
            hint="The server may have crashed or restarted; check its log.",
            **kw,
        )
    if isinstance(exc, (httpx.UnsupportedProtocol, httpx.InvalidURL)):
        return ConfigurationError(f"Invalid URL for {ctx.where()}: {exc}.", **kw)
    if isinstance(exc, httpx.DecodingError):
        return ProtocolError(f"{ctx.where()} sent a body that could not be decoded: {exc}.", **kw)
    if isinstance(exc, httpx.TooManyRedirects):
        return ProtocolError(f"{ctx.where()} redirected too many times{doing}.", **kw)
    if isinstance(exc, httpx.HTTPError):
        return ServiceUnavailableError(
            f"Request to {ctx.where()} failed{doing}: {type(exc).__name__}: {exc}.",
            hint=ctx.start_hint,
            **kw,
        )
    return ProtocolError(
        f"Unexpected failure talking to {ctx.where()}{doing}: {type(exc).__name__}: {exc}.", **kw
    )


def _looks_like_dns_failure(text: str) -> bool:
    lowered = text.lower()
    return any(
        marker in lowered
        for marker in (
            "name or service not known",
            "nodename nor servname",
            "temporary failure in name resolution",
            "getaddrinfo failed",
            "no address associated",
        )
    )


# --------------------------------------------------------------------------- bodies


_TAG = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")


def extract_error(body: bytes, content_type: str = "") -> tuple[str, str | None, Any]:
    """Pull ``(message, code_or_type, parsed_json)`` out of an error body.

    Knows the shapes servers send: ``{"error": "text"}`` (Ollama, LM Studio),
    ``{"error": {"message", "type", "code"}}`` (OpenAI, llama.cpp, LM Studio),
    ``{"message", "type"}`` (vLLM), ``{"detail": ...}`` (FastAPI servers), plain
    text and HTML pages.

    >>> extract_error(b'{"error": "model \\'x\\' not found"}')
    ("model 'x' not found", None, {'error': "model 'x' not found"})
    >>> extract_error(b'{"error": {"message": "boom", "type": "server_error", "code": 500}}')[:2]
    ('boom', 'server_error')
    >>> extract_error(b"<html><body><h1>502 Bad Gateway</h1></body></html>", "text/html")[:2]
    ('502 Bad Gateway', None)
    """
    text = body.decode("utf-8", "replace").strip()
    parsed: Any = None
    if text[:1] in ("{", "["):
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
    if isinstance(parsed, dict):
        message, code = _message_from_json(parsed)
        if message:
            return _clip(message), code, parsed
    if "html" in content_type.lower() or text[:1] == "<":
        text = _SPACE.sub(" ", _TAG.sub(" ", _strip_head(text))).strip()
    return _clip(text), None, parsed


def _strip_head(html: str) -> str:
    lowered = html.lower()
    start, end = lowered.find("<head"), lowered.find("</head>")
    if start != -1 and end != -1:
        return html[:start] + html[end + 7 :]
    return html


def _message_from_json(data: dict[str, Any]) -> tuple[str, str | None]:
    error = data.get("error")
    if isinstance(error, str):
        return error, _str_or_none(data.get("code") or data.get("type"))
    if isinstance(error, dict):
        message = error.get("message") or error.get("msg") or error.get("error") or ""
        code = error.get("type") or error.get("code")
        if not isinstance(message, str):
            message = json.dumps(message)
        return message, _str_or_none(code)
    for key in ("message", "detail", "msg"):
        value = data.get(key)
        if isinstance(value, str) and value:
            return value, _str_or_none(data.get("type") or data.get("code"))
        if value:
            return json.dumps(value), _str_or_none(data.get("type"))
    return "", None


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def _clip(text: str, limit: int = 500) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --------------------------------------------------------------------------- statuses

_OVERFLOW = re.compile(
    r"context[ _-]?length|context[ _-]?(size|window)|exceeds? (the )?(available )?context"
    r"|exceed_context_size|maximum context|n_ctx|too many tokens|prompt is longer"
    r"|input length exceeds|context the overflows|tokens to keep",
    re.IGNORECASE,
)
_NOT_SUPPORTED = re.compile(
    r"not[ _]supported|does not support|doesn't support|unsupported|not implemented"
    r"|not_supported_error|unexpected endpoint",
    re.IGNORECASE,
)
_MODEL_MISSING = re.compile(
    r"model.*(not found|does not exist|not exist|unknown|invalid model)|model_not_found"
    r"|no such model|invalid model identifier",
    re.IGNORECASE,
)


def is_context_overflow(message: str) -> bool:
    """Whether an error message says the prompt did not fit the context.

    >>> is_context_overflow("the request exceeds the available context size, try increasing it")
    True
    >>> is_context_overflow("invalid temperature")
    False
    """
    return bool(_OVERFLOW.search(message))


def is_not_supported(message: str) -> bool:
    """Whether an error message says a feature is missing.

    >>> is_not_supported("This server does not support embeddings. Start it with `--embeddings`")
    True
    """
    return bool(_NOT_SUPPORTED.search(message))


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date).

    >>> parse_retry_after("2"), parse_retry_after("1.5"), parse_retry_after(None)
    (2.0, 1.5, None)
    >>> parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0)
    10.0
    >>> parse_retry_after("soon")
    """
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    return max(0.0, seconds)


def error_from_response(
    status: int,
    body: bytes,
    headers: Mapping[str, str],
    ctx: ErrorContext,
    *,
    path: str = "",
    model: str | None = None,
) -> ModelportError:
    """Build the error for an HTTP error status (or an error body with any status).

    Rows, most specific first: 401/403 auth; 429 rate limit with ``Retry-After``;
    404 naming a model -> model not found, other 404/405 -> endpoint missing
    (capability); a context-overflow message -> context exceeded; "not supported"
    with 400/501 -> capability; other 4xx -> invalid request; 503 -> unavailable;
    other 5xx -> server error.
    """
    content_type = headers.get("content-type", "")
    message, code, _ = extract_error(body, content_type)
    kw = ctx.kwargs(status)
    where = ctx.where()
    said = f": {message}" if message else ""
    lowered_code = (code or "").lower()

    if status in (401, 403):
        if status == 403 and not message:
            return AuthenticationError(
                f"{where} refused the request with 403 and no explanation.",
                hint="A proxy or host check may be rejecting it; " + ctx.auth_hint,
                **kw,
            )
        return AuthenticationError(
            f"{where} refused the credentials{said}.", hint=ctx.auth_hint, **kw
        )
    if status == 429:
        retry_after = parse_retry_after(headers.get("retry-after"))
        wait = f" Retry after {retry_after:g} s." if retry_after is not None else ""
        return RateLimitError(
            f"{where} is rate limiting requests{said}.{wait}",
            retry_after=retry_after,
            hint="Slow down or retry later.",
            **kw,
        )
    if status in (400, 404, 422) and (
        _MODEL_MISSING.search(message) or lowered_code == "model_not_found"
    ):
        return ModelNotFoundError(
            f"{where} has no model {model!r}{said}." if model else f"{where}{said}.",
            model=model,
            hint="List the models it serves with `modelport models`.",
            **kw,
        )
    if status in (404, 405):
        endpoint = f" {path}" if path else " this endpoint"
        return CapabilityError(
            f"{where} does not have{endpoint} ({status}{said}).",
            hint="The server may be an older version or a different kind of server.",
            **kw,
        )
    if status == 413 or (
        400 <= status < 500 and (is_context_overflow(message) or "context" in lowered_code)
    ):
        return ContextLengthExceededError(
            f"The prompt does not fit the model's context on {where}{said}.",
            hint="Shorten the conversation, or load the model with a larger context_length.",
            **kw,
        )
    if status == 501 or (
        400 <= status < 500 and (is_not_supported(message) or "not_supported" in lowered_code)
    ):
        return CapabilityError(f"{where} cannot do this{said}.", **kw)
    if status == 408:
        return RequestTimeoutError(f"{where} timed out the request{said}.", **kw)
    if 400 <= status < 500:
        return InvalidRequestError(f"{where} rejected the request ({status}){said}.", **kw)
    if status == 503:
        error = ServiceUnavailableError(
            f"{where} is busy or not ready (503){said}.",
            hint="It may still be loading a model; retry shortly.",
            **kw,
        )
        error.retry_after = parse_retry_after(headers.get("retry-after"))
        return error
    if status >= 500:
        return ServerError(
            f"{where} failed ({status}){said}.", hint="Check the server's log.", **kw
        )
    return ProtocolError(f"{where} answered with unexpected status {status}{said}.", **kw)

"""The one classifier: what a server said about a failure becomes one typed error.

Facts are extracted from an error answer once (:class:`ErrorFacts`: the message, the
code, the real status, and whether the error came as an HTTP status, inside a
successful body, or in a stream before any output). Then :func:`classify` decides:
the server kind's own rules first (:mod:`._classify.ollama`,
:mod:`._classify.lmstudio`, :mod:`._classify.llamacpp`), then the generic rows here.
The error is built once, with the real status; no response is ever faked to feed a
second classifier.

Failures with no answer at all (refused, timed out) are mapped by
:func:`modelport._http.mapping.map_transport_error`.
"""

from __future__ import annotations

import email.utils
import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from .._http.jsonio import try_parse_json
from .._http.mapping import ErrorContext
from ..errors import (
    AuthenticationError,
    CapabilityError,
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
    "ErrorFacts",
    "Rules",
    "classify",
    "extract",
    "facts_from_data",
    "facts_from_response",
    "is_context_overflow",
    "is_not_supported",
    "parse_retry_after",
]

Arrival = Literal["status", "body", "stream"]


@dataclass(frozen=True, slots=True)
class ErrorFacts:
    """Everything an error answer said, extracted once."""

    status: int | None
    """The HTTP status the error came with (200 when it was inside a 200 body or stream)."""
    message: str
    """The server's words, clipped and with the client's key masked."""
    code: str | None = None
    """The error's ``type`` or ``code`` when it gave one."""
    codes: frozenset[str] = frozenset()
    """Every ``type`` and ``code`` value it gave."""
    body: Mapping[str, object] | None = None
    """The error as parsed JSON, when it was a JSON object."""
    arrived: Arrival = "status"
    """``status``: an error status; ``body``: an ``error`` inside a successful body;
    ``stream``: an error event in a stream before any output."""
    empty: bool = False
    """The body had nothing in it."""
    content_type: str = ""
    retry_after: float | None = None
    location: str | None = None
    """Where a redirect (3xx) pointed."""
    path: str = ""
    what: str = ""
    """The request, for messages: ``POST /v1/chat/completions``."""
    model: str | None = None

    @property
    def in_band(self) -> bool:
        """The error came inside a successful answer (a body or a stream)."""
        return self.arrived != "status"

    @property
    def json_error(self) -> bool:
        """The body was a JSON object with an ``error`` member."""
        return self.body is not None and "error" in self.body


Rules = Callable[[ErrorFacts, ErrorContext], "ModelportError | None"]
"""A server kind's own rows: an error, or ``None`` to leave the generic rows to decide."""


# --------------------------------------------------------------------------- facts


def facts_from_response(
    status: int,
    content: bytes,
    headers: Mapping[str, str],
    ctx: ErrorContext,
    *,
    path: str = "",
    what: str = "",
    model: str | None = None,
) -> ErrorFacts:
    """The facts of an HTTP error answer (parsing its body once)."""
    content_type = headers.get("content-type", "")
    message, codes, parsed = extract(content, content_type)
    return ErrorFacts(
        status=status,
        message=ctx.redact(message),
        code=_first(codes),
        codes=frozenset(codes),
        body=parsed,
        arrived="status",
        empty=not content.strip(),
        content_type=content_type,
        retry_after=parse_retry_after(headers.get("retry-after")),
        location=ctx.redact(headers["location"]) if "location" in headers else None,
        path=path,
        what=what or path,
        model=model,
    )


def facts_from_data(
    data: Mapping[str, object],
    ctx: ErrorContext,
    *,
    status: int = 200,
    arrived: Arrival = "body",
    path: str = "",
    what: str = "",
    model: str | None = None,
) -> ErrorFacts:
    """The facts of an already-parsed body or event carrying an ``error``."""
    message, codes = message_from_json(data)
    return ErrorFacts(
        status=status,
        message=ctx.redact(_clip(message) or "unknown error"),
        code=_first(codes),
        codes=frozenset(codes),
        body=data,
        arrived=arrived,
        path=path,
        what=what or path,
        model=model,
    )


def _first(codes: list[str]) -> str | None:
    return codes[0] if codes else None


_TAG = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")


def extract(
    content: bytes, content_type: str = ""
) -> tuple[str, list[str], Mapping[str, object] | None]:
    """``(message, codes, parsed_object)`` of an error body, whatever its shape.

    Knows the shapes servers send: ``{"error": "text"}`` (Ollama, LM Studio),
    ``{"error": {"message", "type", "code"}}`` (OpenAI, llama.cpp, LM Studio),
    ``{"message", "type"}`` (vLLM), ``{"detail": ...}`` (FastAPI servers), plain
    text and HTML pages.

    >>> extract(b'{"error": "model \\'x\\' not found"}')
    ("model 'x' not found", [], {'error': "model 'x' not found"})
    >>> extract(b'{"error": {"message": "boom", "type": "server_error", "code": 500}}')[:2]
    ('boom', ['server_error', '500'])
    >>> extract(b"<html><body><h1>502 Bad Gateway</h1></body></html>", "text/html")[:2]
    ('502 Bad Gateway', [])
    """
    text = content.decode("utf-8", "replace").strip()
    parsed = try_parse_json(text) if text[:1] in ("{", "[") else None
    if isinstance(parsed, dict):
        message, codes = message_from_json(parsed)
        if message:
            return _clip(message), codes, parsed
    else:
        parsed = None
    if "html" in content_type.lower() or text[:1] == "<":
        text = _SPACE.sub(" ", _TAG.sub(" ", _strip_head(text))).strip()
    return _clip(text), [], parsed


def _strip_head(html: str) -> str:
    lowered = html.lower()
    start, end = lowered.find("<head"), lowered.find("</head>")
    if start != -1 and end != -1:
        return html[:start] + html[end + 7 :]
    return html


def message_from_json(data: Mapping[str, object]) -> tuple[str, list[str]]:
    """``(message, codes)`` of an error object in any of the shapes servers use."""
    error = data.get("error")
    if isinstance(error, str):
        return error, _codes(data)
    if isinstance(error, Mapping):
        message = error.get("message") or error.get("msg") or error.get("error") or ""
        return (message if isinstance(message, str) else _dump(message)), _codes(error)
    for key in ("message", "detail", "msg"):
        value = data.get(key)
        if isinstance(value, str) and value:
            return value, _codes(data)
        if value:
            return _dump(value), _codes(data)
    if error is not None:
        return _dump(error), []
    return "", []


def _codes(data: Mapping[str, object]) -> list[str]:
    return [str(data[key]) for key in ("type", "code") if data.get(key) is not None]


def _dump(value: object) -> str:
    try:
        return json.dumps(value)[:500]
    except (TypeError, ValueError, RecursionError):
        return repr(value)[:500]


def _clip(text: str, limit: int = 500) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --------------------------------------------------------------------------- message tests

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
MODEL_MISSING = re.compile(
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
    >>> parse_retry_after("soon"), parse_retry_after("nan"), parse_retry_after("1e999")
    (None, None, None)
    """
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if seconds != seconds or seconds in (float("inf"), float("-inf")):
        return None
    return max(0.0, seconds)


# --------------------------------------------------------------------------- classifying


def classify(facts: ErrorFacts, ctx: ErrorContext, rules: Rules | None = None) -> ModelportError:
    """The error for ``facts``: the server kind's ``rules`` first, then the generic rows."""
    if rules is not None:
        error = rules(facts, ctx)
        if error is not None:
            return error
    return generic(facts, ctx)


def generic(facts: ErrorFacts, ctx: ErrorContext) -> ModelportError:
    """The rows every server shares, most specific first.

    401/403 auth; 429 rate limit with ``Retry-After``; a message naming a missing model
    -> model not found; other 404/405 -> endpoint missing (capability); a
    context-overflow message (or 413) -> context exceeded; "not supported" (or 501) ->
    capability; 408 -> timeout; other 4xx -> invalid request; 503 -> unavailable;
    508 (a gateway loop) -> a server error never retried; other 5xx -> server error.
    An error inside a successful answer is read as a 400 would be; in a stream, one
    the rows do not recognise is the server failing (a retriable
    :class:`ServerError`), so a client may retry or fail over.
    """
    status = facts.status
    message = facts.message
    code = (facts.code or "").lower()
    kw = ctx.kwargs(status)
    where = ctx.where()
    said = f": {message}" if message else ""
    client_side = facts.in_band or (status is not None and 400 <= status < 500)

    if status is not None and 300 <= status < 400:
        to = f" to {facts.location}" if facts.location else ""
        return ProtocolError(
            f"{where} answered {facts.what or 'the request'} with a redirect ({status}){to}; "
            "modelport does not follow redirects.",
            hint="Use the address it redirects to as the base URL (for example https:// "
            "instead of http://, or without a trailing path).",
            **kw,
        )
    if not facts.in_band and status in (401, 403):
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
        wait = f" Retry after {facts.retry_after:g} s." if facts.retry_after is not None else ""
        return RateLimitError(
            f"{where} is rate limiting requests{said}.{wait}",
            retry_after=facts.retry_after,
            hint="Slow down or retry later.",
            **kw,
        )
    model = facts.model
    if (facts.in_band or status in (400, 404, 422)) and (
        MODEL_MISSING.search(message) or "model_not_found" in facts.codes
    ):
        return ModelNotFoundError(
            f"{where} has no model {model!r}{said}." if model else f"{where}{said}.",
            model=model,
            hint="List the models it serves with `modelport models`.",
            **kw,
        )
    if not facts.in_band and status in (404, 405):
        endpoint = f" {facts.path}" if facts.path else " this endpoint"
        return CapabilityError(
            f"{where} does not have{endpoint} ({status}{said}).",
            hint="The server may be an older version or a different kind of server.",
            **kw,
        )
    if status == 413 or (client_side and (is_context_overflow(message) or "context" in code)):
        return ContextLengthExceededError(
            f"The prompt does not fit the model's context on {where}{said}.",
            hint="Shorten the conversation, or load the model with a larger context_length.",
            **kw,
        )
    if status == 501 or (client_side and (is_not_supported(message) or "not_supported" in code)):
        return CapabilityError(f"{where} cannot do this{said}.", **kw)
    if status == 408:
        return RequestTimeoutError(f"{where} timed out the request{said}.", **kw)
    if facts.arrived == "stream":
        return ServerError(
            f"{where} reported an error instead of a reply{said}.",
            hint="Check the server's log; retrying may help.",
            **kw,
        )
    if client_side:
        shown = f" ({status})" if not facts.in_band else ""
        return InvalidRequestError(f"{where} rejected the request{shown}{said}.", **kw)
    if status == 503:
        error = ServiceUnavailableError(
            f"{where} is busy or not ready (503){said}.",
            hint="It may still be loading a model; retry shortly.",
            **kw,
        )
        error.retry_after = facts.retry_after
        return error
    if status == 508:  # a gateway found itself in the request's chain: never retried
        return ServerError(
            f"{where} refused the request as a loop (508){said}.",
            hint="Two gateways route to each other: give gateways model servers as "
            "services, not each other.",
            retriable=False,
            **kw,
        )
    if status is not None and status >= 500:
        return ServerError(
            f"{where} failed ({status}){said}.", hint="Check the server's log.", **kw
        )
    return ProtocolError(f"{where} answered with unexpected status {status}{said}.", **kw)

"""Who a request went to (:class:`ErrorContext`), and the one place where a failure
with no answer at all (refused, reset, timed out) becomes a modelport error.

:func:`map_transport_error` translates httpx exceptions; it is pure: it builds the
error, the caller raises it ``from`` the cause. What an error *answer* means is
decided by :mod:`modelport._classify`.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from ..errors import (
    ConfigurationError,
    ErrorOrigin,
    ModelportError,
    ProtocolError,
    RequestTimeoutError,
    ServiceUnavailableError,
)

__all__ = ["ErrorContext", "map_transport_error"]


@dataclass(frozen=True, slots=True)
class ErrorContext:
    """Who we were talking to, so every message can name the server and the fix."""

    service: str
    base_url: str
    server: str = "the server"
    """How to name the server kind in a sentence: "Ollama", "LM Studio", "llama.cpp server"."""
    start_hint: str = "Is the server running?"
    auth_hint: str = "Check the API key."
    secrets: tuple[str, ...] = ()
    """Credentials this client sends: masked in any server text that reaches an error."""

    def where(self) -> str:
        return f"{self.server} at {self.base_url}"

    def kwargs(self, status_code: int | None = None) -> ErrorOrigin:
        return {"service": self.service, "base_url": self.base_url, "status_code": status_code}

    def redact(self, text: str) -> str:
        """``text`` with this client's credentials masked (servers echo headers back)."""
        for secret in self.secrets:
            if secret and secret in text:
                text = text.replace(secret, "***")
        return text


# --------------------------------------------------------------------------- transport


def map_transport_error(exc: Exception, ctx: ErrorContext, *, what: str = "") -> ModelportError:
    """Translate an httpx exception raised while sending or receiving.

    ``what`` names the operation for the message ("POST /v1/chat/completions").
    """
    doing = f" during {what}" if what else ""
    kw = ctx.kwargs()
    said = ctx.redact(f"{type(exc).__name__}: {exc}")
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
        text = ctx.redact(str(exc))
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
            f"The connection to {ctx.where()} broke{doing} ({said}).",
            hint="The server may have crashed or restarted; check its log.",
            **kw,
        )
    if isinstance(exc, (httpx.UnsupportedProtocol, httpx.InvalidURL)):
        return ConfigurationError(f"Invalid URL for {ctx.where()}: {said}.", **kw)
    if isinstance(exc, httpx.DecodingError):
        return ProtocolError(f"{ctx.where()} sent a body that could not be decoded: {said}.", **kw)
    if isinstance(exc, httpx.TooManyRedirects):
        return ProtocolError(f"{ctx.where()} redirected too many times{doing}.", **kw)
    if isinstance(exc, httpx.HTTPError):
        return ServiceUnavailableError(
            f"Request to {ctx.where()} failed{doing}: {said}.",
            hint=ctx.start_hint,
            **kw,
        )
    return ProtocolError(f"Unexpected failure talking to {ctx.where()}{doing}: {said}.", **kw)


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

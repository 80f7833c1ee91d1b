"""Ollama's own error rows (consulted before the generic ones).

Ollama's statuses mean specific things: a 404 with a JSON body is a missing model,
a plain-text 404 (gin's ``404 page not found``) a missing endpoint; a 400 "does not
support X" a capability; a 403 with an empty body its DNS-rebinding guard. An error
that arrives inside a stream (or a 200 body) is read as Ollama would have answered
it without streaming: a 400 for a capability or an overflow, a 404 for a missing
model, otherwise a 500. The error keeps the real status.
"""

from __future__ import annotations

import re

from .._http.mapping import ErrorContext
from ..errors import (
    AuthenticationError,
    CapabilityError,
    ContextLengthExceededError,
    InvalidRequestError,
    ModelNotFoundError,
    ModelportError,
    ServerError,
    ServiceUnavailableError,
)
from . import ErrorFacts, is_context_overflow

__all__ = ["model_missing", "rules"]

_FEATURE = re.compile(r"does not support (\w+)", re.IGNORECASE)
_MANIFEST_MISSING = re.compile(
    r"manifest.*(does not exist|not found|unknown)|file does not exist", re.IGNORECASE
)
_MODEL_NOT_FOUND = re.compile(r"model .* not found", re.IGNORECASE)
_FEATURE_HINTS = {
    "tools": "Send it without tools, or pick a model whose capabilities include tools "
    "(see `modelport models`).",
    "thinking": "Leave think unset (or send think=False) for this model.",
    "chat": "It is an embedding model: use embed() with it instead.",
    "generate": "It is an embedding model: use embed() with it instead.",
    "insert": "This model cannot fill in the middle.",
}


def _as_answered(facts: ErrorFacts) -> int | None:
    """The status Ollama would have answered an in-band error with."""
    if not facts.in_band:
        return facts.status
    message = facts.message
    if is_context_overflow(message) or _FEATURE.search(message):
        return 400
    if _MODEL_NOT_FOUND.search(message):
        return 404
    return 500


def rules(facts: ErrorFacts, ctx: ErrorContext) -> ModelportError | None:
    """Ollama's rows; ``None`` leaves the answer to the generic rows."""
    status = _as_answered(facts)
    message = facts.message
    model = facts.model
    kw = ctx.kwargs(facts.status)
    where = ctx.where()
    said = f": {message}" if message else ""
    if status == 401:
        body = facts.body
        signin = body.get("signin_url") if body is not None else None
        hint = ctx.auth_hint + (f" Or sign this machine in at {signin}" if signin else "")
        return AuthenticationError(
            f"{where} refused the request as unauthorized{said}.", hint=hint, **kw
        )
    if status == 403:
        if facts.empty:
            return AuthenticationError(
                f"{where} refused the request with 403 and an empty body. Ollama does this "
                "when it listens on a loopback address and the request's Host header is not "
                "a local name (its guard against DNS rebinding), which happens behind a "
                "reverse proxy or tunnel that forwards the public Host header.",
                hint="Make the proxy send a local Host header (nginx: "
                "`proxy_set_header Host localhost:11434;`), or start Ollama with "
                "OLLAMA_HOST set to a non-loopback address.",
                **kw,
            )
        return AuthenticationError(
            f"{where} refused the request (403){said}.",
            hint="Cloud models need ollama.com access, which OLLAMA_NO_CLOUD can disable.",
            **kw,
        )
    if status == 404:
        if facts.in_band or facts.json_error:
            return model_missing(ctx, model, message, facts.status)
        return CapabilityError(
            f"{where} does not have the endpoint {facts.path or 'requested'} (404{said}).",
            hint="This Ollama is older than that feature, or the server is not Ollama; "
            "upgrade Ollama.",
            **kw,
        )
    if status == 400:
        feature = _FEATURE.search(message)
        if feature:
            what = feature.group(1).lower()
            name = f" {model!r}" if model else ""
            return CapabilityError(
                f"The model{name} on {where} does not support {what} ({message}).",
                hint=_FEATURE_HINTS.get(what),
                **kw,
            )
    if status is not None and 400 <= status < 500 and is_context_overflow(message):
        hint = (
            "Shorten the input, or leave Ollama's truncation on."
            if facts.path.startswith("/api/embed")
            else "Shorten the conversation, or ask for a larger window with context_length= "
            "(Ollama's num_ctx)."
        )
        return ContextLengthExceededError(
            f"The prompt does not fit the model's context on {where}{said}.", hint=hint, **kw
        )
    if status == 503:
        return ServiceUnavailableError(
            f"{where} is busy (503){said}.",
            hint="Too many requests are queued; retry shortly, or raise OLLAMA_NUM_PARALLEL / "
            "OLLAMA_MAX_QUEUE on the server.",
            **kw,
        )
    if status == 500:
        return _server_error(facts, ctx)
    return None


def _server_error(facts: ErrorFacts, ctx: ErrorContext) -> ModelportError:
    message = facts.message
    kw = ctx.kwargs(facts.status)
    where = ctx.where()
    said = f": {message}" if message else ""
    if "must be of type" in message:
        return InvalidRequestError(
            f"{where} rejected an option{said}.",
            hint="Check the value types in options={...}.",
            retriable=False,
            **kw,
        )
    if facts.path == "/api/pull":
        if _MANIFEST_MISSING.search(message):
            return ModelNotFoundError(
                f"{where} could not find {facts.model!r} in the registry ({message}).",
                model=facts.model,
                hint="Check the name and tag at https://ollama.com/library.",
                **kw,
            )
        return ServerError(
            f"{where} could not pull {facts.model!r}: {message}.",
            hint="Run pull again; Ollama resumes partial downloads.",
            **kw,
        )
    hint = "Check the Ollama server log."
    if "timed out waiting for llama runner" in message:
        hint = (
            "The model took too long to load; raise OLLAMA_LOAD_TIMEOUT on the server, "
            "or use a smaller model."
        )
    if facts.in_band:
        return ServerError(f"{where} reported an error instead of a reply{said}.", hint=hint, **kw)
    return ServerError(f"{where} failed (500){said}.", hint=hint, **kw)


def model_missing(
    ctx: ErrorContext, model: str | None, message: str, status: int | None
) -> ModelNotFoundError:
    """Ollama has no such model: the hint says how to pull it."""
    name = f" {model!r}" if model else ""
    said = f" ({message})" if message else ""
    return ModelNotFoundError(
        f"{ctx.where()} has no model{name}{said}.",
        model=model,
        hint=f"Pull it with `ollama pull {model}`." if model else "Pull it with `ollama pull`.",
        **ctx.kwargs(status),
    )

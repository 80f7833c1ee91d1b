"""LM Studio's own error rows (consulted before the generic ones).

LM Studio answers many errors with HTTP 200 and an ``error`` body, and says what
went wrong only in its words: "Unexpected endpoint or method" (an older version),
"No models loaded" (just-in-time loading is off), "Invalid model identifier ...
Your models: ..." (a missing model, with the ones it has), llama.cpp's context
overflow messages. The rows read those words whatever the status; 401/403 and 5xx
answers are left to the generic rows.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from .._http.mapping import ErrorContext
from .._naming import close_names
from ..errors import (
    CapabilityError,
    ContextLengthExceededError,
    InvalidRequestError,
    ModelNotFoundError,
    ModelNotLoadedError,
    ModelportError,
)
from . import ErrorFacts, Rules, message_from_json

__all__ = ["listed_models", "make_rules"]

_OLD_NOT_FOUND = re.compile(r"model\s+\"[^\"]*\"\s+not found", re.IGNORECASE)
_OVERFLOW_MARKERS = (
    "tokens to keep",
    "n_keep",
    "context the overflows",
    "greater than the context length",
    "context length of only",
)
_CONTEXT_NUMBER = re.compile(r"n_ctx\W{0,3}(\d+)|context length of only (\d+)", re.IGNORECASE)
_EXAMPLES = re.compile(r"\(e\.g\.,?\s*([^)]*)\)")


def make_rules(contexts: Mapping[str, int]) -> Rules:
    """LM Studio's rows; ``contexts`` holds the loaded context of each model the
    provider has seen, for an overflow message that does not say it.
    """

    def rules(facts: ErrorFacts, ctx: ErrorContext) -> ModelportError | None:
        status = facts.status
        if not facts.in_band and (
            status is None or not 400 <= status < 500 or status in (401, 403)
        ):
            return None
        return _row(facts, ctx, contexts)

    return rules


def _row(
    facts: ErrorFacts, ctx: ErrorContext, contexts: Mapping[str, int]
) -> ModelportError | None:
    message = facts.message
    if facts.body is not None:  # the whole message: a "not found" lists every model
        message = ctx.redact(message_from_json(facts.body)[0]) or message
    kw = ctx.kwargs(facts.status)
    lowered = message.lower()
    model = facts.model
    what = "this stream" if facts.arrived == "stream" else facts.what
    if "unexpected endpoint or method" in lowered:
        return CapabilityError(
            f"{ctx.where()} does not have {what} ({message}).",
            hint="This LM Studio version lacks that endpoint (the native /api/v1 API needs "
            "0.4.0+, /api/v0 needs 0.3.6+); also check that the base URL has no extra path.",
            **kw,
        )
    if "no models loaded" in lowered:
        name = model or "MODEL"
        return ModelNotLoadedError(
            f"{ctx.where()} has no model loaded"
            + (f" to answer for {model!r}" if model else "")
            + f" ({message.split('. ')[0]}).",
            hint=f"Load it with `modelport load {name}` (or `lms load {name}`), or turn on "
            "Just-in-Time Model Loading in LM Studio's Developer → Server Settings.",
            **kw,
        )
    if (
        "model_not_found" in facts.codes
        or "invalid model identifier" in lowered
        or _OLD_NOT_FOUND.search(message)
    ):
        return _not_found(ctx, message, model, facts.status)
    if any(marker in lowered for marker in _OVERFLOW_MARKERS):
        return _overflow(ctx, message, model, facts.status, contexts)
    if "response_format" in lowered and "must be" in lowered:
        return InvalidRequestError(
            f"{ctx.where()} rejected the response_format ({message}).",
            hint="LM Studio takes structured output only as a JSON schema: pass "
            "response_format=<schema dict> ('json' mode is sent as a schema already).",
            **kw,
        )
    if "not_implemented" in facts.codes:
        return CapabilityError(f"{ctx.where()} cannot do this ({message}).", **kw)
    return None


def _not_found(
    ctx: ErrorContext, message: str, model: str | None, status: int | None
) -> ModelNotFoundError:
    listed = listed_models(message)
    suggestions = close_names(model, listed) if model else []
    suggestions += [name for name in listed if name not in suggestions]
    first = message.split(". ", 1)[0].strip().rstrip(".")
    subject = f"has no model {model!r}" if model else "does not have that model"
    return ModelNotFoundError(
        f"{ctx.where()} {subject} ({first}).",
        model=model,
        suggestions=suggestions,
        hint="See what it serves with `modelport models`; download models with `lms get`.",
        **ctx.kwargs(status),
    )


def _overflow(
    ctx: ErrorContext,
    message: str,
    model: str | None,
    status: int | None,
    contexts: Mapping[str, int],
) -> ContextLengthExceededError:
    found = _CONTEXT_NUMBER.search(message)
    context = int(found.group(1) or found.group(2)) if found else None
    if context is None and model:
        context = contexts.get(model.lower())
    window = f"{context}-token context" if context else "context"
    name = model or "MODEL"
    which = repr(model) if model else "the model"
    return ContextLengthExceededError(
        f"The prompt does not fit the {window} that {ctx.where()} loaded {which} with: {message}",
        context_length=context,
        hint="Shorten the conversation, or load the model with a larger context: "
        f"load({name!r}, context_length=N), `modelport load {name} --context-length N` "
        f"or `lms load {name} --context-length N`.",
        **ctx.kwargs(status),
    )


def listed_models(message: str) -> list[str]:
    """The model ids LM Studio lists in its "not found" messages.

    >>> listed_models("Invalid model identifier 'x'. (e.g., qwen/qwen3-8b, gemma-3)")
    ['qwen/qwen3-8b', 'gemma-3']
    """
    found = _EXAMPLES.search(message)
    if found:
        return [name.strip() for name in found.group(1).split(",") if name.strip()]
    if "Your models:" in message:
        tail = message.split("Your models:", 1)[1]
        return [line.strip() for line in tail.splitlines() if line.strip()]
    return []

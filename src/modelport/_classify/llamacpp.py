"""llama.cpp's own error rows (consulted before the generic ones).

A plain ``llama-server`` says everything the generic rows need in its error objects'
``type``. Its **router mode** (``--models-dir``/``--models-preset``, no ``-m``) adds
answers that only its words tell apart (recorded in
``tests/fixtures/llamacpp/router``): a model it will not load on demand
(``--no-models-autoload``), a model that is not running, no room to load another model
while the others are busy, a model whose process exits while loading, and a request
cut off because the model's process went away (``proxy error: ...``, not JSON).
"""

from __future__ import annotations

import re

from .._http.mapping import ErrorContext
from ..errors import (
    ModelNotFoundError,
    ModelNotLoadedError,
    ModelportError,
    ServerError,
    ServiceUnavailableError,
)
from . import ErrorFacts

__all__ = ["failed_to_load", "rules"]

_FAILED = re.compile(r"model name=(.+) failed to load", re.IGNORECASE)

LOG_HINT = (
    "Its llama-server process exited while loading; the router's log says why (the file "
    "may not be a GGUF model this llama.cpp can read, or may not fit in memory)."
)


def failed_to_load(
    ctx: ErrorContext, model: str | None, reason: str, status: int | None = None
) -> ServerError:
    """A model the router tried to load and could not: loading it again fails the same way."""
    which = repr(model) if model else "the model"
    return ServerError(
        f"{ctx.where()} could not load {which}: {reason}.",
        hint=LOG_HINT,
        retriable=False,
        **ctx.kwargs(status),
    )


def rules(facts: ErrorFacts, ctx: ErrorContext) -> ModelportError | None:
    """llama.cpp router rows; ``None`` leaves the answer to the generic rows."""
    message = facts.message
    lowered = message.lower()
    model = facts.model
    which = repr(model) if model else "the model"
    kw = ctx.kwargs(facts.status)
    if lowered.startswith("model is not loaded"):
        name = model or "MODEL"
        return ModelNotLoadedError(
            f"{ctx.where()} has not loaded {which} and will not load it on demand (the router "
            f"runs with --no-models-autoload): {message}.",
            hint=f"Load it first: `modelport load {name}` (or load({name!r})).",
            **kw,
        )
    if lowered.startswith("model is not running"):
        return ModelNotLoadedError(f"{ctx.where()} is not running {which}: {message}.", **kw)
    if lowered.startswith("model is not found") or (
        facts.status == 404 and facts.path == "/models/load"
    ):
        return ModelNotFoundError(
            f"{ctx.where()} has no model {which} ({message}).",
            model=model,
            hint="See what it serves with `modelport models`.",
            **kw,
        )
    if lowered.startswith("model limit reached"):
        return ServiceUnavailableError(
            f"{ctx.where()} has no room to load {which} now ({message}): it keeps "
            "--models-max models at a time, and those are busy answering.",
            hint="Retry when their requests finish (a chat to the model waits for that by "
            "itself), or start the router with a larger --models-max.",
            **kw,
        )
    failed = _FAILED.search(message)
    if failed:
        return failed_to_load(ctx, model or failed.group(1), message, facts.status)
    if lowered.startswith("proxy error"):
        return ServerError(
            f"{ctx.where()} lost {which} while it answered ({message}): the model was "
            "unloaded, or its llama-server process exited.",
            hint="Retry; if it happens again, check the router's log.",
            **kw,
        )
    return None

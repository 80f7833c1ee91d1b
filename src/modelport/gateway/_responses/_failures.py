"""The Responses surface's own refusals, and every error in OpenAI's shape.

=================================  ======  =======================================
error                              status  code
=================================  ======  =======================================
UnsupportedFeatureError            501     ``not_implemented``
PreviousResponseNotFoundError      400     ``previous_response_not_found`` (``param``
                                           ``previous_response_id``, as OpenAI sends)
ResponseNotFoundError              404     ``response_not_found``
anything else                      the gateway's table (:mod:`..._errors`)
=================================  ======  =======================================

All three are :class:`~modelport.InvalidRequestError` subclasses, so a handler that
forgets this table still answers them as a 400, never as a 500.
"""

from __future__ import annotations

from typing import Any

from ...errors import InvalidRequestError
from .. import _errors
from .._errors import Failure, not_implemented, openai_body

__all__ = [
    "PreviousResponseNotFoundError",
    "ResponseNotFoundError",
    "UnsupportedFeatureError",
    "error_body",
    "failure_for",
]

_PARAMS = {"previous_response_not_found": "previous_response_id"}
"""The request field OpenAI names in ``param`` for a code."""


class UnsupportedFeatureError(InvalidRequestError):
    """Raised when a request asks for a Responses feature the gateway does not have:
    background mode, or a stored conversation (``conversation``); answered 501.
    """


class PreviousResponseNotFoundError(InvalidRequestError):
    """Raised when ``previous_response_id`` names no stored response (never stored,
    stored with ``store: false``, evicted, or deleted); answered 400.
    """

    def __init__(self, response_id: str) -> None:
        super().__init__(
            f"Previous response with id '{response_id}' not found.",
            hint="This gateway keeps responses in memory for a while (see docs/responses.md); "
            "send the whole conversation as 'input' instead, as Codex does.",
        )
        self.response_id = response_id


class ResponseNotFoundError(InvalidRequestError):
    """Raised when a stored response is asked for by an id the store does not hold;
    answered 404.
    """

    def __init__(self, response_id: str) -> None:
        super().__init__(
            f"Response with id '{response_id}' not found.",
            hint="Only responses created with store=true are kept, in this gateway process, "
            "for a limited time.",
        )
        self.response_id = response_id


def failure_for(error: BaseException) -> Failure:
    """What the caller is told for ``error``: this surface's rows, then the gateway's."""
    if isinstance(error, UnsupportedFeatureError):
        return not_implemented(str(error))
    if isinstance(error, PreviousResponseNotFoundError):
        return Failure(400, "invalid_request_error", "previous_response_not_found", str(error))
    if isinstance(error, ResponseNotFoundError):
        return Failure(404, "invalid_request_error", "response_not_found", str(error))
    return _errors.failure_for(error)


def error_body(failure: Failure) -> dict[str, Any]:
    """``{"error": {"message", "type", "code", "param"}}``, as OpenAI sends it."""
    body = openai_body(failure)
    body["error"]["param"] = _PARAMS.get(failure.code or "")
    return body

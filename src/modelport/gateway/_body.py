"""What both surfaces check first in a request body: an object that names a model."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import InvalidRequestError

__all__ = ["json_object", "model_of"]


def json_object(body: object) -> Mapping[str, Any]:
    """The body, if it is a JSON object."""
    if not isinstance(body, Mapping):
        raise InvalidRequestError("The request body must be a JSON object.")
    return body


def model_of(body: Mapping[str, Any], *, names: tuple[str, ...] = ("model",)) -> str:
    """The model the request names, under the first of ``names`` that is set."""
    model = None
    for name in names:
        model = body.get(name)
        if model:
            break
    if not isinstance(model, str) or not model.strip():
        raise InvalidRequestError("The request names no model ('model' is missing or empty).")
    return model

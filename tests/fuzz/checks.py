"""The one check every fuzz property makes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from modelport import ModelportError


def outcome(run: Callable[[], Any]) -> Any:
    """The result, or the ModelportError raised; a foreign exception fails the test."""
    try:
        return run()
    except ModelportError as exc:
        return exc
    except Exception as exc:
        message = f"a foreign exception escaped: {type(exc).__name__}: {exc!r}"[:500]
        raise AssertionError(message) from exc

"""Reading loosely typed JSON values: each helper returns the value in the wanted type,
or ``None`` when the server sent something else (or nothing).

Servers leave fields out, send ``null``, or send a string where a number belongs;
a field that is not what it should be is treated as not reported, never guessed.
All pure; specified by the doctests.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

from .errors import InvalidRequestError

__all__ = [
    "duration_seconds",
    "field_of",
    "opt_float",
    "opt_int",
    "opt_pos_int",
    "opt_str",
    "seconds_to_ms",
]


def opt_int(value: object) -> int | None:
    """An integer (not a bool).

    >>> opt_int(3), opt_int(True), opt_int(2.0), opt_int("4")
    (3, None, None, None)
    """
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def opt_pos_int(value: object) -> int | None:
    """A positive integer (Go's ``omitempty`` servers send 0 for "not known").

    >>> opt_pos_int(8192), opt_pos_int(0), opt_pos_int(-1)
    (8192, None, None)
    """
    number = opt_int(value)
    return number if number is not None and number > 0 else None


def opt_float(value: object) -> float | None:
    """A finite number as a float (not a bool).

    >>> opt_float(2), opt_float(1.5), opt_float(False), opt_float(float("nan"))
    (2.0, 1.5, None, None)
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:  # an integer too large for a float
        return None
    return number if math.isfinite(number) else None


def opt_str(value: object) -> str | None:
    """A non-empty string.

    >>> opt_str("q4_0"), opt_str(""), opt_str(4)
    ('q4_0', None, None)
    """
    return value if isinstance(value, str) and value else None


def field_of(value: object, key: str) -> object:
    """``value[key]`` when ``value`` is a JSON object, else ``None``.

    >>> field_of({"a": 1}, "a"), field_of([1], "a"), field_of(None, "a")
    (1, None, None)
    """
    return value.get(key) if isinstance(value, Mapping) else None


def seconds_to_ms(value: object) -> float | None:
    """Seconds, as milliseconds.

    >>> seconds_to_ms(0.25), seconds_to_ms(None)
    (250.0, None)
    """
    number = opt_float(value)
    return None if number is None else number * 1000.0


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_DURATION = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|s|m|h))+")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def duration_seconds(value: str) -> float:
    """Seconds in a duration written like Ollama's ``keep_alive`` (Go style).

    >>> duration_seconds("5m"), duration_seconds("1h30m"), duration_seconds("45s")
    (300.0, 5400.0, 45.0)
    >>> duration_seconds("90"), duration_seconds("-1")
    (90.0, -1.0)
    >>> duration_seconds("soon")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    modelport.errors.InvalidRequestError: keep_alive 'soon' is not a duration; ...
    """
    text = value.strip().lower()
    try:
        number = float(text)
    except ValueError:
        pass
    else:
        if math.isfinite(number):
            return number
    if not _DURATION.fullmatch(text):
        raise InvalidRequestError(
            f"keep_alive {value!r} is not a duration; use seconds (a number) or a duration "
            "like '5m' or '1h30m'."
        )
    return sum(float(n) * _UNIT_SECONDS[unit] for n, unit in _DURATION_PART.findall(text))

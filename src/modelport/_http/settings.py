"""Checking what a caller configures, at construction: every mistake is a
:class:`~modelport.ConfigurationError` that names the setting and never echoes a secret.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from ..errors import ConfigurationError

__all__ = ["MAX_SECONDS", "check_api_key", "check_bytes", "check_headers", "check_seconds"]

MAX_SECONDS = 1_000_000.0
"""The longest wait modelport accepts (about 11 days): more does not fit the
operating system's timers, and means "no limit", which is never what a client wants."""


def check_seconds(label: str, value: object, *, allow_zero: bool = False) -> float:
    """A finite, positive number of seconds (or zero where ``allow_zero``).

    >>> check_seconds("timeout", 2)
    2.0
    >>> check_seconds("timeout", float("nan"))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    modelport.errors.ConfigurationError: timeout must be a positive number of seconds ...
    """
    number: float | None = None
    if not isinstance(value, bool) and isinstance(value, (int, float)):
        try:
            number = float(value)
        except OverflowError:
            number = None
    if (
        number is None
        or not math.isfinite(number)
        or number < 0
        or (number == 0 and not allow_zero)
        or number > MAX_SECONDS
    ):
        kind = "a non-negative" if allow_zero else "a positive"
        raise ConfigurationError(
            f"{label} must be {kind} number of seconds (at most {MAX_SECONDS:.0f}), "
            f"not {value!r:.60}."
        )
    return number


def check_bytes(label: str, value: object) -> int:
    """A positive whole number of bytes.

    >>> check_bytes("max_body_bytes", 1024)
    1024
    """
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigurationError(f"{label} must be a positive number of bytes, not {value!r:.60}.")
    return value


def check_api_key(key: object, *, what: str = "api_key") -> str | None:
    """The key with surrounding whitespace removed (keys read from files end in a
    newline); ``None`` for no key. A key with any other control or non-ASCII character
    cannot go in a header: refused, without showing it.

    >>> check_api_key("sk-abc\\n"), check_api_key(""), check_api_key(None)
    ('sk-abc', None, None)
    >>> check_api_key("sk-\\x00bad")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    modelport.errors.ConfigurationError: The api_key has a character that cannot be sent ...
    """
    if key is None:
        return None
    if not isinstance(key, str):
        raise ConfigurationError(f"The {what} must be a string, not {type(key).__name__}.")
    key = key.strip()
    if not key:
        return None
    if not all(" " <= char <= "~" for char in key):
        raise ConfigurationError(
            f"The {what} has a character that cannot be sent in an HTTP header (a control "
            "or non-ASCII character); check where it was read from.",
        )
    return key


def check_headers(headers: object) -> dict[str, str]:
    """Extra headers: ASCII names, and values that can be sent.

    >>> check_headers({"X-Trace": "1"})
    {'X-Trace': '1'}
    """
    if headers is None:
        return {}
    if not isinstance(headers, Mapping):
        raise ConfigurationError(f"headers must be a dict, not {type(headers).__name__}.")
    checked: dict[str, str] = {}
    for name, value in headers.items():
        if (
            not isinstance(name, str)
            or not name
            or not all("!" <= char <= "~" and char != ":" for char in name)
        ):
            raise ConfigurationError(f"Header name {name!r:.60} is not a valid HTTP header name.")
        if not isinstance(value, str):
            raise ConfigurationError(
                f"The value of header {name!r} must be a string, not {type(value).__name__}."
            )
        if not all(char == "\t" or " " <= char <= "~" for char in value):
            raise ConfigurationError(
                f"The value of header {name!r} has a control or non-ASCII character."
            )
        checked[name] = value
    return checked

"""The gateway's settings as pure functions: sizes, loopback addresses, API keys."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping

from ..errors import ConfigurationError

__all__ = ["DEFAULT_MAX_BODY", "is_loopback", "keys_from_env", "parse_size"]

DEFAULT_MAX_BODY = 100 * 1024**2
"""The largest request body accepted (100 MB): base64 images fit, runaway bodies do not."""

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def parse_size(text: str | int) -> int:
    """Bytes from ``"100MB"``, ``"512KB"``, ``"2 MiB"`` or a plain number.

    Units are powers of 1024 (``KB`` and ``KiB`` alike).

    >>> parse_size("100MB"), parse_size("512KB"), parse_size("1048576")
    (104857600, 524288, 1048576)
    """
    if isinstance(text, int) and not isinstance(text, bool):
        value = text
    else:
        match = _SIZE.match(str(text))
        if match is None:
            raise ConfigurationError(
                f"Cannot read the size {text!r}.", hint="Use bytes or a suffix: 512KB, 100MB, 1GB."
            )
        value = int(float(match.group(1)) * _UNITS[match.group(2).lower()])
    if value <= 0:
        raise ConfigurationError(f"The size {text!r} must be more than zero bytes.")
    return value


def is_loopback(host: str) -> bool:
    """Whether binding to ``host`` keeps the gateway on this machine.

    >>> is_loopback("127.0.0.1"), is_loopback("::1"), is_loopback("0.0.0.0")
    (True, True, False)
    """
    name = host.strip().strip("[]")
    if name.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False  # a host name: whatever it resolves to, treat it as reachable


def keys_from_env(environ: Mapping[str, str]) -> list[str]:
    """The API keys in ``MODELPORT_API_KEYS`` (comma-separated)."""
    raw = environ.get("MODELPORT_API_KEYS", "")
    return [key.strip() for key in raw.split(",") if key.strip()]

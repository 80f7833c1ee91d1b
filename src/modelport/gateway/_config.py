"""The gateway's settings as pure functions: sizes, loopback addresses and Host
names, API keys, browser origins.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Mapping, Sequence

from ..errors import ConfigurationError

__all__ = [
    "DEFAULT_MAX_BODY",
    "check_keys",
    "is_loopback",
    "is_loopback_host",
    "keys_from_env",
    "origins_from_env",
    "parse_size",
]

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


@functools.lru_cache(maxsize=256)  # asked on every request; a few distinct values
def is_loopback_host(host: str) -> bool:
    """Whether a request's ``Host`` header names this machine: ``localhost`` or a name
    under it, or a loopback address, with any port. A gateway without keys answers
    only these, so that a web page whose own name was made to resolve to 127.0.0.1
    (DNS rebinding) cannot reach it.

    >>> [is_loopback_host(h) for h in ("localhost:11435", "[::1]:80", "a.localhost")]
    [True, True, True]
    >>> [is_loopback_host(h) for h in ("evil.example", "127.0.0.1.nip.io", "")]
    [False, False, False]
    """
    name = host.strip().lower()
    if name.startswith("["):  # [::1]:port
        name = name[1 : name.find("]")] if "]" in name else ""
    elif name.count(":") == 1:  # name:port (a bare IPv6 address has several colons)
        name = name.split(":", 1)[0]
    name = name.rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def check_keys(keys: Sequence[str] | None) -> list[str]:
    """The API keys a gateway asks for, each stripped.

    Raises:
        ConfigurationError: a key that is empty (or only whitespace). Dropping it would
            make ``api_keys=[os.environ.get("KEY", "")]`` with ``KEY`` unset a gateway
            with no authentication at all.
    """
    out = []
    for key in keys or ():
        if not isinstance(key, str) or not key.strip():
            raise ConfigurationError(
                "An API key given to the gateway is empty (an unset environment variable?).",
                hint="Give every key a value, or no keys at all for a gateway on this machine.",
            )
        out.append(key.strip())
    return out


def keys_from_env(environ: Mapping[str, str]) -> list[str]:
    """The API keys in ``MODELPORT_API_KEYS`` (comma-separated)."""
    raw = environ.get("MODELPORT_API_KEYS", "")
    return [key.strip() for key in raw.split(",") if key.strip()]


def origins_from_env(environ: Mapping[str, str]) -> list[str]:
    """The extra browser origins in ``MODELPORT_ORIGINS`` (comma-separated)."""
    raw = environ.get("MODELPORT_ORIGINS", "")
    return [origin.strip() for origin in raw.split(",") if origin.strip()]

"""Which browser pages may call the gateway (CORS), pure: origins and the headers
that grant them.

The defaults are Ollama's, so a browser front end that works against Ollama works
against the gateway: pages on ``localhost`` and ``127.0.0.1`` (any port, http or
https), and the ``app://``, ``file://``, ``tauri://`` and ``vscode-webview://``
schemes of desktop apps and editors. ``--cors-origin`` and ``MODELPORT_ORIGINS`` add
to them: an origin (``https://chat.example``), a pattern (``https://*.example``), or
``*`` for any page. CORS only lets a page *read* answers; the key is still required.

>>> origins = Origins(["https://*.example"])
>>> [origins.allows(o) for o in ("http://localhost:5173", "https://a.example", "https://evil.test")]
[True, True, False]
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["CLIENT_HEADERS", "DEFAULT_ORIGINS", "Origins"]

DEFAULT_ORIGINS: tuple[str, ...] = (
    "http://localhost",
    "https://localhost",
    "http://localhost:*",
    "https://localhost:*",
    "http://127.0.0.1",
    "https://127.0.0.1",
    "http://127.0.0.1:*",
    "https://127.0.0.1:*",
    "app://*",
    "file://*",
    "tauri://*",
    "vscode-webview://*",
)

CLIENT_HEADERS: tuple[str, ...] = (
    "authorization",
    "x-api-key",
    "content-type",
    "anthropic-version",
    "anthropic-beta",
    "x-request-id",
)
"""Request headers a preflight always allows: those the SDKs send (others asked for are
allowed too: the gateway reads no cookies, so no header carries ambient credentials)."""

_METHODS = b"GET, POST, DELETE, HEAD, OPTIONS"
_EXPOSED = b"retry-after, x-modelport-gateway, x-request-id"
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_ANY = "*"


def _pattern(origin: str) -> re.Pattern[str]:
    parts = [re.escape(part) for part in origin.strip().lower().split("*")]
    return re.compile(r"[^/\s]*".join(parts))


class Origins:
    """The browser origins allowed to read the gateway's answers: the defaults plus
    ``extra`` (origins, patterns with ``*``, or ``*`` alone for any).
    """

    def __init__(self, extra: Sequence[str] = ()) -> None:
        cleaned = [o.strip() for o in extra if o and o.strip()]
        self.any = _ANY in cleaned
        self.patterns = [_pattern(o) for o in (*DEFAULT_ORIGINS, *cleaned) if o != _ANY]

    def allows(self, origin: str) -> bool:
        """Whether a page from ``origin`` (the ``Origin`` header) may read answers."""
        if self.any:
            return True
        origin = origin.strip().lower()
        return any(p.fullmatch(origin) for p in self.patterns)

    @staticmethod
    def grant(origin: bytes) -> list[tuple[bytes, bytes]]:
        """The headers that let a page from ``origin`` read an answer."""
        return [
            (b"access-control-allow-origin", origin),
            (b"access-control-expose-headers", _EXPOSED),
        ]

    @staticmethod
    def preflight(origin: bytes, requested: bytes | None) -> list[tuple[bytes, bytes]]:
        """The answer to a preflight from an allowed ``origin``: every method, the
        SDKs' headers and any other header asked for, cached for ten minutes.
        """
        names = list(CLIENT_HEADERS)
        if requested:
            for name in requested.decode("latin-1").split(","):
                name = name.strip().lower()
                if _TOKEN.fullmatch(name) and name not in names:
                    names.append(name)
        return [
            (b"access-control-allow-origin", origin),
            (b"access-control-allow-methods", _METHODS),
            (b"access-control-allow-headers", ", ".join(names).encode()),
            (b"access-control-max-age", b"600"),
        ]

"""The one JSON writer of the gateway: compact UTF-8 bytes, as every body and event
the surfaces write.

A string with a lone surrogate (a service's broken ``\\ud83d``) cannot be UTF-8; such
a body is written with ``\\uXXXX`` escapes instead, still valid JSON, never an error.

>>> dumps({"a": [1, "é"]})
b'{"a":[1,"\\xc3\\xa9"]}'
>>> dumps("\\ud83d")
b'"\\\\ud83d"'
"""

from __future__ import annotations

import json

__all__ = ["dumps"]

_compact = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_escaped = json.JSONEncoder(separators=(",", ":")).encode


def dumps(data: object) -> bytes:
    """Compact JSON bytes (escaped ASCII when the text holds a lone surrogate)."""
    text = _compact(data)
    try:
        return text.encode()
    except UnicodeEncodeError:
        return _escaped(data).encode()

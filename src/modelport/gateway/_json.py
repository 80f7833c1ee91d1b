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
from collections.abc import Callable, Sequence
from json import encoder as _encoder
from typing import Protocol

__all__ = ["dumps"]


class _MakeEncoder(Protocol):
    """``json.encoder.c_make_encoder`` (the C accelerator; not in the type stubs)."""

    def __call__(
        self,
        markers: dict[int, object] | None,
        default: Callable[[object], object],
        encoder: Callable[[str], str],
        indent: None,
        key_separator: str,
        item_separator: str,
        sort_keys: bool,
        skipkeys: bool,
        allow_nan: bool,
        /,
    ) -> Callable[[object, int], Sequence[str]]: ...


def _writer(ensure_ascii: bool) -> Callable[[object], str]:
    """``JSONEncoder(separators=(",", ":"), ensure_ascii=...).encode``, made once and
    without what each of its calls repeats: the check for cycles (the gateway's bodies
    are trees it built) and the Python frames around the C encoder.
    """
    plain = json.JSONEncoder(separators=(",", ":"), ensure_ascii=ensure_ascii)
    make: _MakeEncoder | None = getattr(_encoder, "c_make_encoder", None)
    if make is None:  # no C accelerator (another Python): the encoder as it is
        return plain.encode
    strings = _encoder.encode_basestring_ascii if ensure_ascii else _encoder.encode_basestring
    encode = make(None, plain.default, strings, None, ":", ",", False, False, True)

    def write(data: object) -> str:
        return "".join(encode(data, 0))

    return write


_compact = _writer(ensure_ascii=False)
_escaped = _writer(ensure_ascii=True)
_string = _encoder.encode_basestring


def dumps(data: object) -> bytes:
    """Compact JSON bytes (escaped ASCII when the text holds a lone surrogate)."""
    text = _string(data) if type(data) is str else _compact(data)
    try:
        return text.encode()
    except UnicodeEncodeError:
        return _escaped(data).encode()

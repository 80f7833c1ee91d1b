"""Reading TOML with places: the line and column of a syntax error, and the line of
every key (``tomllib`` gives values, not where they were written).

Key paths are tuples of names; :func:`format_path` writes one as a dotted TOML key,
quoting the names that need it, as messages and ``modelport config`` show them.
"""

from __future__ import annotations

import json
import re
import sys

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

__all__ = [
    "TomlSyntaxError",
    "error_place",
    "format_path",
    "key_lines",
    "loads",
    "parse_path",
]

Path = tuple[str, ...]

_BARE = r"[A-Za-z0-9_-]+"
_KEY = rf"(?:{_BARE}|\"(?:[^\"\\]|\\.)*\"|'[^']*')"
_DOTTED = rf"{_KEY}(?:[ \t]*\.[ \t]*{_KEY})*"
_HEADER = re.compile(rf"[ \t]*\[\[?[ \t]*({_DOTTED})[ \t]*\]")
_ASSIGN = re.compile(rf"[ \t]*({_DOTTED})[ \t]*=")
_ONE_KEY = re.compile(_KEY)
_PLACE = re.compile(r"\(at line (\d+), column (\d+)\)")


class TomlSyntaxError(ValueError):
    """The text is not TOML: what is wrong, and where (1-based; ``None`` if unknown)."""

    def __init__(self, reason: str, line: int | None, column: int | None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.line = line
        self.column = column


def error_place(exc: ValueError) -> tuple[int | None, int | None]:
    """The line and column of a ``TOMLDecodeError``: its attributes (Python 3.14, tomli
    2.1+), else the ``(at line L, column C)`` its message ends with.
    """
    line, column = getattr(exc, "lineno", None), getattr(exc, "colno", None)
    if isinstance(line, int) and isinstance(column, int):
        return line, column
    match = _PLACE.search(str(exc))
    if match is None:
        return None, None
    return int(match.group(1)), int(match.group(2))


def loads(text: str) -> dict[str, object]:
    """The TOML document as dicts and lists.

    Raises:
        TomlSyntaxError: the text is not TOML.
    """
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line, column = error_place(exc)
        reason = getattr(exc, "msg", None) or _PLACE.sub("", str(exc)).strip()
        raise TomlSyntaxError(str(reason), line, column) from None


def _unquote(key: str) -> str:
    if key.startswith('"'):
        try:
            return str(json.loads(key))
        except ValueError:
            return key[1:-1]
    if key.startswith("'"):
        return key[1:-1]
    return key


def parse_path(text: str) -> Path:
    """A dotted key as names.

    >>> parse_path('models."gpu/qwen3:8b".ttl')
    ('models', 'gpu/qwen3:8b', 'ttl')
    """
    return tuple(_unquote(key) for key in _ONE_KEY.findall(text))


def format_path(path: Path) -> str:
    """Names as a dotted key, quoting those that are not bare TOML keys.

    >>> format_path(("aliases", "claude-*")), format_path(("gateway", "port"))
    ('aliases."claude-*"', 'gateway.port')
    """
    return ".".join(
        key if re.fullmatch(_BARE, key) else json.dumps(key, ensure_ascii=False) for key in path
    )


def key_lines(text: str) -> dict[Path, int]:
    """The line (1-based) where each key and table of a valid document is written.

    Best effort by design: it reads headers, ``key = value`` lines and the keys of
    inline tables, and skips multi-line strings; a path it misses takes the line of
    its nearest table.

    >>> lines = key_lines('[services.gpu]\\nurl = "x"\\n[aliases]\\nc = { a = 1 }\\n')
    >>> lines[("services", "gpu", "url")], lines[("aliases", "c", "a")]
    (2, 4)
    """
    found: dict[Path, int] = {}
    table: Path = ()
    closing: str | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        if closing is not None:
            if closing in line:
                closing = None
            continue
        header = _HEADER.match(line)
        if header is not None:
            table = parse_path(header.group(1))
            found.setdefault(table, number)
            continue
        assign = _ASSIGN.match(line)
        if assign is None:
            continue
        path = table + parse_path(assign.group(1))
        found.setdefault(path, number)
        rest = line[assign.end() :]
        _inline_keys(rest, path, number, found)
        for quotes in ('"""', "'''"):
            if rest.count(quotes) % 2 == 1:
                closing = quotes
    return found


def _inline_keys(rest: str, base: Path, number: int, found: dict[Path, int]) -> None:
    """Record the keys of inline tables in ``rest`` (the value part of a line)."""
    stack: list[Path] = []
    pending = base
    expect_key = False
    i = 0
    while i < len(rest):
        char = rest[i]
        if char in "\"'":
            end = rest.find(char, i + 1)
            while char == '"' and end > 0 and rest[end - 1] == "\\":
                end = rest.find(char, end + 1)
            i = len(rest) if end < 0 else end + 1
            continue
        if char == "{":
            stack.append(pending)
            expect_key = True
        elif char == "}":
            if stack:
                stack.pop()
            expect_key = False
        elif char == "," and stack:
            expect_key = True
        elif expect_key and not char.isspace():
            expect_key = False
            match = _ASSIGN.match(rest, i)
            if match is not None:
                pending = stack[-1] + parse_path(match.group(1))
                found.setdefault(pending, number)
                i = match.end()
                continue
        i += 1

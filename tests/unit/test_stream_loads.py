"""The fast JSON parser used on every stream event gives exactly what json.loads gives."""

from __future__ import annotations

import json
from typing import Any

import pytest

from modelport._http.jsonio import BadJSON, loads

SAME = [
    '{"choices":[{"index":0,"delta":{"content":" the"},"finish_reason":null}]}',
    '{"a": [1, 2.5, -3e2, true, false, null], "b": {"c": "\\u00e9\\n"}}',
    '  {"padded": 1}  \n',
    "[1, 2]",
    '"just a string"',
    "42",
    "[Infinity, -Infinity]",
    '{"big": 123456789012345678901234567890}',
    '{"dup": 1, "dup": 2}',
    b'{"bytes": "caf\xc3\xa9"}',
    b' {"padded bytes": true} ',
    '{"k": "v"}'.encode("utf-16"),
]

BAD = [
    "",
    "   ",
    '{"a": 1} trailing',
    '{"a": 1}{"b": 2}',
    "{nope",
    '{"a": }',
    "\ufeff{}",
    b'{"a": "\xff"}',
    b"",
]


@pytest.mark.parametrize("text", SAME)
def test_loads_returns_what_json_loads_returns(text: Any) -> None:
    assert loads(text) == json.loads(text)


@pytest.mark.parametrize("text", BAD)
def test_loads_raises_one_error_type_saying_what_json_loads_says(text: Any) -> None:
    with pytest.raises(ValueError) as expected:
        json.loads(text)
    with pytest.raises(BadJSON) as got:
        loads(text)
    assert str(got.value) == str(expected.value)


def test_loads_turns_nesting_too_deep_for_the_stack_into_bad_json() -> None:
    with pytest.raises(BadJSON, match="nested too deeply"):
        loads(b"[" * 100_000 + b"]" * 100_000)


def test_loads_does_not_share_objects_between_calls() -> None:
    first = loads('{"k": ["x"]}')
    first["k"].append("y")
    assert loads('{"k": ["x"]}') == {"k": ["x"]}

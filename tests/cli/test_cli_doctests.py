"""The doctest tables in the command's own modules (tests/unit skips the cli package)."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "modelport.__main__",
    "modelport.cli._app",
    "modelport.cli._chat",
    "modelport.cli._context",
    "modelport.cli._listing",
    "modelport.cli._manage",
    "modelport.cli._output",
    "modelport.cli._top",
]


@pytest.mark.parametrize("name", MODULES)
def test_cli_doctests_pass(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0


def test_the_doctests_are_really_there() -> None:
    found = sum(
        len(test.examples)
        for name in ("modelport.__main__", "modelport.cli._output", "modelport.cli._manage")
        for test in doctest.DocTestFinder().find(importlib.import_module(name))
    )
    assert found >= 6

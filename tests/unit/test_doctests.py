"""The doctest tables in the source (URL parsing, decoders, naming...) are tests too."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import modelport

MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages(modelport.__path__, "modelport.")
    if ".cli" not in info.name and not info.name.endswith("__main__")
)


@pytest.mark.parametrize("name", MODULES)
def test_doctests_pass(name: str) -> None:
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:  # a module still being written by someone else
        pytest.skip(str(exc))
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0

"""What every client script of the compatibility suite shares (standard library only: it
runs in each client's own venv, not in modelport's).

A script runs each operation its client has through :func:`operation`; each operation
makes one real call, checks that the result is the client's own type (``isinstance``) and
returns what the test asserts on. At the end :func:`report` prints one JSON object:
``{"client": ..., "versions": {...}, "operations": {name: {"ok": true, ...} | {"ok":
false, "error": "Type: message"}}}``. The test (tests/compat/test_clients.py) passes the
gateway's address and the model names in the environment:

- ``COMPAT_BASE_URL``: the gateway's root (``http://127.0.0.1:PORT``), no ``/v1``
- ``COMPAT_API_KEY``: the gateway's key
- ``COMPAT_CHAT_MODEL``, ``COMPAT_EMBED_MODEL``: model names as ``/v1/models`` lists them
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import sys
import traceback
from collections.abc import Callable
from typing import Any

BASE_URL = os.environ["COMPAT_BASE_URL"].rstrip("/")
OPENAI_BASE_URL = BASE_URL + "/v1"
API_KEY = os.environ["COMPAT_API_KEY"]
CHAT_MODEL = os.environ["COMPAT_CHAT_MODEL"]
EMBED_MODEL = os.environ["COMPAT_EMBED_MODEL"]
MISSING_MODEL = "no-such-model-xyz"
AUTH_HEADERS = {"Authorization": f"Bearer {API_KEY}"}

TIMEOUT = 1800.0
"""Each call's timeout: generous, as the gateway's (a loaded 2-core machine can take
minutes per call; speed is not what is tested)."""
SEED = 1
TEMPERATURE = 0.0
MAX_TOKENS = 24
"""Enough for a short greeting; the tests judge the protocol, not the text."""
TOOL_MAX_TOKENS = 96
"""A forced call: ``<tool_call>{"name": "get_weather", "arguments": {"city": "..."}}``."""

CHAT_PROMPT = "Say hello in one word."
TOOL_PROMPT = "What is the weather in Paris? Use the get_weather tool."
STRUCTURED_PROMPT = "Paris is the capital of France. Give the city and its country."
EMBED_INPUTS = ["hello world", "good night"]
TOKEN_INPUTS = [[1, 2, 3], [4, 5, 6]]

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "description": "The city"}},
            "required": ["city"],
        },
    },
}

ONLY = set(filter(None, os.environ.get("COMPAT_ONLY", "").split(",")))
"""To debug one client by hand: run only these operations (comma-separated)."""

_results: dict[str, dict[str, Any]] = {}


def qualname(value: Any) -> str:
    """``module.Class`` of an object (or of a class)."""
    cls = value if isinstance(value, type) else type(value)
    return f"{cls.__module__}.{cls.__qualname__}"


def native(value: Any, cls: type) -> str:
    """The qualified name of ``value``'s type, after checking it is an instance of ``cls``
    (the client's own response type)."""
    if not isinstance(value, cls):
        raise AssertionError(f"expected a {qualname(cls)}, got {qualname(value)}: {value!r}")
    return qualname(value)


def operation(name: str) -> Callable[[Callable[[], dict[str, Any]]], None]:
    """Run ``fn`` now as operation ``name`` and keep its result (or its error)."""

    def run(fn: Callable[[], dict[str, Any]]) -> None:
        if ONLY and name not in ONLY:
            return
        try:
            result = fn()
            _results[name] = {"ok": True, **result}
        except BaseException as exc:  # a client may raise anything; report it all
            if isinstance(exc, KeyboardInterrupt):
                raise
            _results[name] = {
                "ok": False,
                "error": f"{qualname(exc)}: {exc}"[:2000],
                "traceback": traceback.format_exc()[-4000:],
            }

    return run


def expect_error(call: Callable[[], Any], *classes: type) -> dict[str, Any]:
    """Make a call that must fail with one of ``classes`` (the client's own errors) and
    return the error's type and message."""
    try:
        value = call()
    except classes as exc:
        return {"type": qualname(exc), "message": str(exc)[:2000]}
    raise AssertionError(f"no error for an unknown model: {value!r}")


def report(client: str, *packages: str) -> None:
    """Print the result of every operation, with the versions of ``packages``."""
    versions = {package: importlib.metadata.version(package) for package in packages}
    json.dump({"client": client, "versions": versions, "operations": _results}, sys.stdout)
    sys.stdout.write("\n")

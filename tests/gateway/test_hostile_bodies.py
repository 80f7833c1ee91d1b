"""Hostile request bodies on both surfaces (issue 18, D5, D6, D10): each one is a 400
in the surface's own shape, never a 500, and nothing reaches the service."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from modelport.testing import FakeProvider

from .conftest import Records, gateway

pytestmark = pytest.mark.anyio

OPENAI = "/v1/chat/completions"
OLLAMA = "/api/chat"
SURFACES = [OPENAI, OLLAMA]


def fake() -> FakeProvider:
    return FakeProvider(models=["m"], reply="Hello there")


def assert_400_in_shape(path: str, response: Any, *words: str) -> str:
    """The response is a 400 in the shape of the surface of ``path``; returns its message."""
    assert response.status_code == 400, (response.status_code, response.text)
    body = response.json()
    if path == OLLAMA:
        assert set(body) == {"error"} and isinstance(body["error"], str), body
        message: str = body["error"]
    else:
        assert set(body["error"]) == {"message", "type", "code", "param"}, body
        assert body["error"]["type"] == "invalid_request_error", body
        message = body["error"]["message"]
    for word in words:
        assert word in message.lower(), message
    return message


def no_traceback(records: Records) -> None:
    bad = [r for r in records.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not bad, [r.getMessage() for r in bad]


# ---------------------------------------------------------------------------- D5: deep JSON


@pytest.mark.parametrize("path", SURFACES)
@pytest.mark.parametrize("depth", [100_000, 5_000])
async def test_a_body_nested_too_deeply_is_a_400_in_the_surfaces_shape(
    path: str, depth: int, gateway_records: Records
) -> None:
    service = fake()
    deep = "[" * depth + "]" * depth
    body = f'{{"model": "m", "messages": [{{"role": "user", "content": "hi"}}], "x": {deep}}}'
    async with gateway([service]) as (_, http):
        response = await http.post(path, content=body)
    assert_400_in_shape(path, response, "nested too deeply")
    assert service.requests == []
    no_traceback(gateway_records)


@pytest.mark.parametrize("path", SURFACES)
async def test_a_deep_schema_that_parses_is_answered_never_a_500(
    path: str, gateway_records: Records
) -> None:
    # Deep enough to parse, deep enough that anything recursing over it afterwards
    # (validation, copying, serialising it for the service) may run out of stack.
    service = fake()
    schema = "[" * 960 + "]" * 960
    key = "format" if path == OLLAMA else "response_format"
    value = schema if path == OLLAMA else f'{{"type": "json_object", "x": {schema}}}'
    body = '{"model": "m", "stream": false, "messages": [{"role": "user", "content": "hi"}], '
    body += f'"{key}": {value}}}'
    async with gateway([service]) as (_, http):
        response = await http.post(path, content=body)
    assert response.status_code in (200, 400), (response.status_code, response.text)
    if response.status_code == 400:
        assert_400_in_shape(path, response)
    no_traceback(gateway_records)


# ---------------------------------------------------------------------------- D6: tool_calls


@pytest.mark.parametrize("path", SURFACES)
@pytest.mark.parametrize("value", [7, True, "call", {"id": "x"}, 1.5])
async def test_tool_calls_that_are_not_a_list_are_a_400_in_the_surfaces_shape(
    path: str, value: object, gateway_records: Records
) -> None:
    service = fake()
    messages = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "", "tool_calls": value},
    ]
    async with gateway([service]) as (_, http):
        response = await http.post(path, json={"model": "m", "messages": messages})
    assert_400_in_shape(path, response, "tool_calls")
    assert service.requests == []
    no_traceback(gateway_records)


@pytest.mark.parametrize("path", SURFACES)
@pytest.mark.parametrize("call", [7, None, [], {"function": 3}, {"function": {"arguments": []}}])
async def test_a_tool_call_of_the_wrong_shape_is_a_400_not_a_500(
    path: str, call: object, gateway_records: Records
) -> None:
    service = fake()
    messages = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "", "tool_calls": [call]},
    ]
    async with gateway([service]) as (_, http):
        response = await http.post(path, json={"model": "m", "messages": messages})
    assert_400_in_shape(path, response)
    assert service.requests == []
    no_traceback(gateway_records)


# ---------------------------------------------------------------------------- D10: keep_alive


@pytest.mark.parametrize("value", [False, True, [], {"s": 1}])
@pytest.mark.parametrize(
    "messages", [[], [{"role": "user", "content": "hi"}]], ids=["load", "chat"]
)
async def test_a_keep_alive_that_is_not_a_duration_is_a_400_with_a_message(
    value: object, messages: list[Any], gateway_records: Records
) -> None:
    service = fake()
    async with gateway([service]) as (_, http):
        response = await http.post(
            OLLAMA, json={"model": "m", "messages": messages, "keep_alive": value}
        )
    message = assert_400_in_shape(OLLAMA, response, "keep_alive")
    assert json.dumps(value) in message, message
    assert service.requests == []
    no_traceback(gateway_records)


@pytest.mark.parametrize("value", [0, "0", "0s", 0.0])
async def test_keep_alive_zero_without_messages_still_unloads(value: object) -> None:
    service = fake()
    async with gateway([service]) as (_, http):
        response = await http.post(OLLAMA, json={"model": "m", "keep_alive": value})
    assert response.status_code == 200, response.text
    assert response.json()["done_reason"] == "unload"

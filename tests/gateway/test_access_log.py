"""``serve --access-log json`` (issue 22): one JSON object per request, with its id
(the caller's ``x-request-id`` or a new one, echoed back), surface, model, service,
status, error type, tokens and timings; never a prompt or a key. Text stays the
default.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

import modelport
from modelport import ServiceUnavailableError
from modelport.errors import ConfigurationError
from modelport.gateway import create_app
from modelport.testing import FakeProvider

from .conftest import Records, gateway

pytestmark = pytest.mark.anyio

KEY = "key-that-must-never-be-logged"
PROMPT = "a prompt that must never be logged"
HELLO = {"model": "m", "messages": [{"role": "user", "content": PROMPT}]}
AUTH = {"authorization": f"Bearer {KEY}"}


def access_lines(records: Records) -> list[dict[str, Any]]:
    lines = []
    for record in records.records:
        if record.levelno == logging.INFO and record.getMessage().startswith("{"):
            lines.append(json.loads(record.getMessage()))
    return lines


async def test_a_json_line_holds_the_request_id_surface_model_service_tokens_and_timings(
    gateway_records: Records,
) -> None:
    fake = FakeProvider(models=["m"], name="fake", reply="one two three")
    async with gateway([fake], api_keys=[KEY], access_log="json") as (_, http):
        answer = await http.post(
            "/v1/chat/completions", json=HELLO, headers={**AUTH, "x-request-id": "caller-7"}
        )
    assert answer.headers["x-request-id"] == "caller-7"
    usage = answer.json()["usage"]
    (line,) = access_lines(gateway_records)
    assert line["request_id"] == "caller-7"
    assert line["method"] == "POST"
    assert line["path"] == "/v1/chat/completions"
    assert line["surface"] == "openai"
    assert line["model"] == "m"
    assert line["service"] == "fake"
    assert line["status"] == 200
    assert line["error_type"] is None
    assert line["input_tokens"] == usage["prompt_tokens"]
    assert line["output_tokens"] == usage["completion_tokens"] == 3
    assert line["queue_wait_ms"] is None  # it never waited in a queue
    assert line["ttft_ms"] is None  # a whole answer
    assert line["duration_ms"] > 0
    assert isinstance(line["time"], str) and line["time"].endswith("Z")
    assert KEY not in gateway_records.text()
    assert PROMPT not in gateway_records.text()


async def test_a_request_without_an_id_gets_a_new_one_echoed_and_logged(
    gateway_records: Records,
) -> None:
    async with gateway([FakeProvider(models=["m"])], access_log="json") as (_, http):
        answer = await http.post("/v1/chat/completions", json={**HELLO, "stream": True})
    (line,) = access_lines(gateway_records)
    assert answer.headers["x-request-id"]
    assert line["request_id"] == answer.headers["x-request-id"]
    assert line["ttft_ms"] is not None and line["ttft_ms"] <= line["duration_ms"]


async def test_a_failed_request_is_logged_with_its_status_and_error_type(
    gateway_records: Records,
) -> None:
    fake = FakeProvider(models=["m"], name="fake")
    fake.fail_next(ServiceUnavailableError("503 Service Unavailable"))
    client = modelport.AsyncClient(services=[fake], max_retries=0)
    async with gateway(client, access_log="json") as (_, http):
        answer = await http.post("/api/chat", json={**HELLO, "stream": False})
    (line,) = access_lines(gateway_records)
    assert line["status"] == answer.status_code == 503
    assert line["surface"] == "ollama"
    assert line["error_type"] == "ServiceUnavailableError"
    assert line["service"] == "fake"
    assert line["input_tokens"] is None


async def test_the_text_line_stays_the_default(gateway_records: Records) -> None:
    async with gateway([FakeProvider(models=["m"])]) as (_, http):
        await http.post("/v1/chat/completions", json=HELLO)
    assert not access_lines(gateway_records)
    assert "POST /v1/chat/completions 200" in gateway_records.text()


def test_an_unknown_access_log_form_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="access_log"):
        create_app(modelport.AsyncClient(services=[FakeProvider()]), access_log="xml")

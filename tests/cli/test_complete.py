"""``modelport complete``: a legacy text completion, printed or as JSON."""

from __future__ import annotations

import json
from typing import Any

import httpx
from click.testing import CliRunner

from modelport import LlamaCppProvider
from modelport.cli import app
from tests.conftest import load_fixture

from .conftest import UseServices


def _provider(
    sent: list[Any], fixture: str = "responses/llamacpp_completions.json"
) -> LlamaCppProvider:
    def handler(request: httpx.Request) -> httpx.Response:
        sent.append((request.url.path, json.loads(request.content)))
        return httpx.Response(200, json=load_fixture(fixture))

    return LlamaCppProvider("http://127.0.0.1:8080", transport=httpx.MockTransport(handler))


def test_cli_complete_prints_the_completion(use_services: UseServices) -> None:
    sent: list[Any] = []
    use_services(_provider(sent))
    result = CliRunner().invoke(
        app,
        ["complete", "llamacpp/smollm2", "Once upon a time", "--max-tokens", "8", "--no-stream"],
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == ", the idea of a private, non"
    assert sent[0][1]["max_tokens"] == 8


def test_cli_complete_json_is_the_completion_response(use_services: UseServices) -> None:
    sent: list[Any] = []
    use_services(_provider(sent))
    result = CliRunner().invoke(app, ["complete", "llamacpp/smollm2", "Once", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["choices"][0]["text"] == ", the idea of a private, non"
    assert data["usage"]["prompt_tokens"] == 4

"""A log to see it (issue 11, "A log to see it"; supports defects 3 and 15).

The ``modelport`` logger (stdlib logging, silent by default) writes DEBUG lines for
each request (method, URL, status, ms), each retry (why, wait), each failover
decision, health changes and discovery results; never prompt text, never keys. The
CLI's ``--debug`` shows them on stderr, and leaves the logger as it found it.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import pytest
from click.testing import CliRunner

from modelport import ServerError
from modelport.cli import app

from .conftest import Lab
from .hostile import SECRET, SECRET_MARK, health_routes
from .kinds import OPENAI
from .servers import FaultServer, answer, echo_authorization, sequence, stream

pytestmark = pytest.mark.socket

PROMPT = "PROMPT-TEXT-k9w2 tell me everything"
PROMPT_MARK = "k9w2"

BUSY = json.dumps({"error": {"message": "Loading model", "type": "unavailable_error"}}).encode()
BROKEN = json.dumps({"error": {"message": "the runner crashed"}}).encode()


def modelport_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name.split(".")[0] == "modelport"]


def no_secrets(lines: list[str], caplog: pytest.LogCaptureFixture) -> None:
    for record in caplog.records:
        if record.name.split(".")[0] != "modelport":
            continue
        text = f"{record.getMessage()} {record.args!r}"
        assert PROMPT_MARK not in text, f"prompt text logged: {text}"
        assert SECRET_MARK not in text, f"API key logged: {text}"


def test_the_logger_is_silent_by_default() -> None:
    """In a fresh interpreter: no handler that prints, and a failing call prints nothing."""
    code = (
        "import logging, modelport\n"
        "client = modelport.Client(services=['http://127.0.0.1:9'], max_retries=1)\n"
        "client._sleep = lambda s: None\n"
        "try:\n"
        "    client.chat('m', 'hi')\n"
        "except modelport.ModelportError:\n"
        "    pass\n"
        "handlers = logging.getLogger('modelport').handlers\n"
        "assert all(isinstance(h, logging.NullHandler) for h in handlers), handlers\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == "", done.stderr
    assert done.stdout == ""


def test_debug_lines_for_requests_retries_failover_and_health(
    lab: Lab, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="modelport")
    kind = OPENAI
    first = lab.serve(
        {**health_routes(kind), kind.chat_path: sequence(answer(503, BUSY), answer(500, BROKEN))}
    )
    second = lab.serve({**health_routes(kind), kind.chat_path: answer(200, kind.reply("ok"))})
    client = lab.client(
        [
            lab.provider(kind, first.url, name="first", api_key=SECRET),
            lab.provider(kind, second.url, name="second", api_key=SECRET),
        ],
        max_retries=1,
    )
    assert lab.chat(client, kind.model, PROMPT).text == "ok"
    lines = modelport_lines(caplog)
    chat_url = f"{first.url}{kind.chat_path}"
    requests = [line for line in lines if "POST" in line and kind.chat_path in line]
    assert any(chat_url in line and "503" in line and "ms" in line for line in requests), lines
    assert any(chat_url in line and "500" in line for line in requests), lines
    assert any(second.url in line and "200" in line and "ms" in line for line in requests), lines
    decisions = [line for line in lines if "POST" not in line]
    assert any("retr" in line.lower() and "first" in line for line in decisions), lines
    assert any("second" in line for line in decisions), f"no failover decision: {lines}"
    assert any("first" in line and "degraded" in line.lower() for line in decisions), lines
    no_secrets(lines, caplog)


def test_debug_lines_never_hold_the_prompt_or_the_key_of_a_stream(
    lab: Lab, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="modelport")
    kind = OPENAI
    body = [kind.piece("Hi"), kind.piece("!"), kind.finish()]
    server = lab.serve({kind.chat_path: stream(body, content_type=kind.stream_type)})
    provider = lab.provider(kind, server.url, api_key=SECRET)
    outcome = lab.stream(provider, kind.model, PROMPT)
    assert outcome.error is None, repr(outcome.error)
    lines = modelport_lines(caplog)
    assert any("POST" in line and server.url in line and "200" in line for line in lines), lines
    no_secrets(lines, caplog)


def test_debug_lines_report_discovery_results(lab: Lab, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="modelport")
    kind = OPENAI
    server = lab.serve(health_routes(kind))
    client = lab.client([server.url])
    [service] = lab.services(client)
    lines = modelport_lines(caplog)
    found = [line for line in lines if server.url in line and "GET" not in line]
    assert any(service.kind in line or "available" in line.lower() for line in found), lines


def test_cli_debug_shows_modelport_lines_on_stderr_and_cleans_up() -> None:
    logger = logging.getLogger("modelport")
    handlers, level = list(logger.handlers), logger.level
    kind = OPENAI
    with FaultServer(health_routes(kind)) as server:
        result = CliRunner().invoke(app, ["--debug", "--service", f"box={server.url}", "models"])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("debug: modelport")]
    assert any("GET" in line and server.url in line for line in lines), result.stderr
    assert logger.handlers == handlers, "--debug left a handler on the modelport logger"
    assert logger.level == level


def test_an_echoed_key_never_reaches_a_log_line(lab: Lab, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="modelport")
    kind = OPENAI
    server = lab.serve(
        {
            **health_routes(kind),
            kind.chat_path: echo_authorization(
                lambda header: f"<html><body>500: {header}</body></html>".encode(),
                status=500,
                content_type="text/html",
            ),
        }
    )
    client = lab.client([lab.provider(kind, server.url, api_key=SECRET)], max_retries=1)
    with pytest.raises(ServerError):
        lab.chat(client, kind.model, PROMPT)
    lines = modelport_lines(caplog)
    assert any("500" in line for line in lines), lines
    no_secrets(lines, caplog)

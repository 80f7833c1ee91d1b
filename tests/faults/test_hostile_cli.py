"""The command line in front of hostile servers and bad settings (issue 11, defects 1,
4, 5, 14 and 15 as the CLI shows them).

Every failure is one line ``Error: ...`` on stderr and exit 1 (a model or server
error) or 2 (a usage or configuration error); never a traceback, never a secret.
``modelport discover`` never fails on a strange server: it reports it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from click.testing import CliRunner, Result

from modelport.cli import app

from .hostile import DEEP, SECRET, SECRET_MARK, health_routes
from .kinds import OPENAI
from .servers import FaultServer, answer, echo_authorization

pytestmark = pytest.mark.socket

REFUSED = "http://127.0.0.1:9"
PASSWORD = "s3cretPW"


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def deep_server() -> Iterator[FaultServer]:
    """A server whose every answer is JSON nested 100,000 deep."""
    with FaultServer(answer(200, DEEP)) as server:
        yield server


def no_traceback(result: Result) -> None:
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{type(result.exception).__name__}: {result.exception!r}"
    )
    assert "Traceback" not in result.output


def one_error_line(result: Result, code: int) -> str:
    no_traceback(result)
    assert result.exit_code == code, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("Error: "), lines
    return lines[0]


@pytest.mark.parametrize(
    "url",
    [
        "http://999.999.999.999:1",
        "http://exa mple.com",
        "not a url",
        "http://127.0.0.1:0",
        f"http://user:{PASSWORD}@127.0.0.1:abc",
    ],
)
def test_a_bad_service_url_is_one_line_and_exit_2(runner: CliRunner, url: str) -> None:
    line = one_error_line(runner.invoke(app, ["--service", url, "models"]), 2)
    assert PASSWORD not in line


@pytest.mark.parametrize("value", ["nan", "inf", "1e300", "0", "-1"])
def test_a_timeout_that_is_not_finite_and_positive_is_exit_2(runner: CliRunner, value: str) -> None:
    result = runner.invoke(app, ["--service", REFUSED, "--timeout", value, "models"])
    no_traceback(result)
    assert result.exit_code == 2, result.output


@pytest.mark.parametrize("value", ["nan", "inf", "1e300"])
def test_a_bad_modelport_timeout_is_one_line_and_exit_2(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("MODELPORT_TIMEOUT", value)
    line = one_error_line(runner.invoke(app, ["--service", REFUSED, "models"]), 2)
    assert "MODELPORT_TIMEOUT" in line


@pytest.mark.parametrize("value", ["a=b=c", "http://999.1.1.1"])
def test_a_bad_modelport_services_is_one_line_and_exit_2(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("MODELPORT_SERVICES", value)
    line = one_error_line(runner.invoke(app, ["models"]), 2)
    assert "MODELPORT_SERVICES" in line


@pytest.mark.parametrize("value", ["garbage value!!", "ftp://x", ":::::"])
def test_discover_with_a_bad_ollama_host_never_shows_a_traceback(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("OLLAMA_HOST", value)
    result = runner.invoke(app, ["discover", "--timeout", "1"])
    no_traceback(result)
    assert result.exit_code in (0, 1, 2), result.output
    assert "OLLAMA_HOST" in result.output


def test_discover_reports_a_server_sending_deep_json(
    runner: CliRunner, deep_server: FaultServer
) -> None:
    result = runner.invoke(app, ["discover", "--json", "--timeout", "2", "--host", deep_server.url])
    no_traceback(result)
    assert result.exit_code in (0, 1), result.output
    assert deep_server.url in result.stdout


def test_listing_a_server_sending_deep_json_is_one_line_and_exit_1(
    runner: CliRunner, deep_server: FaultServer
) -> None:
    line = one_error_line(
        runner.invoke(app, ["--service", f"llamacpp={deep_server.url}", "models"]), 1
    )
    assert deep_server.url in line


def test_chatting_with_a_server_sending_deep_json_is_one_line_and_exit_1(
    runner: CliRunner, deep_server: FaultServer
) -> None:
    result = runner.invoke(app, ["--service", f"llamacpp={deep_server.url}", "chat", "m", "hi"])
    one_error_line(result, 1)


def test_an_echoed_key_never_reaches_the_terminal(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    kind = OPENAI
    page = echo_authorization(
        lambda header: f'{{"error": {{"message": "bad key {header}"}}}}'.encode(), status=401
    )
    with FaultServer({**health_routes(kind), kind.chat_path: page}) as server:
        monkeypatch.setenv("MODELPORT_API_KEY_BOX", SECRET)
        result = runner.invoke(app, ["--service", f"box={server.url}", "chat", kind.model, "hi"])
        sent = [r.headers.get("authorization") for r in server.requests if r.method == "POST"]
    assert sent == [f"Bearer {SECRET}"]
    line = one_error_line(result, 1)
    assert SECRET_MARK not in result.output
    assert "***" in line, line

"""Errors, exit codes and global options: one line and the fix, no traceback unless
``--debug``; 0 success, 1 model/server error, 2 usage error, 130 interrupted."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

import modelport
from modelport.cli import _context, app

from .conftest import UseServices
from .fakes import LlamaCppHarness, LoopbackServer

REFUSED = "http://127.0.0.1:9"  # the discard port: nothing listens there


def test_global_service_and_timeout_reach_the_client(
    runner: CliRunner, use_services: UseServices
) -> None:
    seen = use_services(LlamaCppHarness().provider())
    result = runner.invoke(
        app,
        [
            "--service",
            "gpu=http://127.0.0.1:11434",
            "--service",
            "llamacpp",
            "--timeout",
            "5",
            "--api-key",
            "gpu=sk-gpu",
            "models",
        ],
    )
    assert result.exit_code == 0, result.output
    assert seen == {
        "services": ["gpu=http://127.0.0.1:11434", "llamacpp"],
        "timeout": 5.0,
        "api_keys": {"gpu": "sk-gpu"},
        "config": None,  # no configuration file here
    }


def test_an_api_key_without_a_service_name_is_a_usage_error_that_hides_the_key(
    runner: CliRunner, use_services: UseServices
) -> None:
    use_services(LlamaCppHarness().provider())
    result = runner.invoke(app, ["--api-key", "sk-SECRET-no-name", "models"])
    assert result.exit_code == 2
    assert "NAME=KEY" in result.output
    assert "sk-SECRET" not in result.output


def test_without_options_the_client_discovers(runner: CliRunner, use_services: UseServices) -> None:
    seen = use_services(LlamaCppHarness().provider())
    runner.invoke(app, ["models"])
    assert seen == {"services": [], "timeout": None, "api_keys": {}, "config": None}


def test_make_client_builds_a_client_over_the_given_services() -> None:
    client = _context.make_client(["llamacpp", "box=http://127.0.0.1:9"], 7.5)
    assert isinstance(client, modelport.Client)
    assert client.timeout == 7.5
    assert "llamacpp" in repr(client)


def test_a_server_error_is_one_line_with_the_fix_and_exit_1(
    runner: CliRunner, use_services: UseServices
) -> None:
    use_services(modelport.LlamaCppProvider(REFUSED))
    result = runner.invoke(app, ["models"])
    assert result.exit_code == 1
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("Error: ")
    assert "http://127.0.0.1:9" in line
    assert "llama-server" in line  # the hint: how to start it
    assert "Traceback" not in result.stderr


def test_an_unreachable_service_url_is_one_line_and_exit_1(runner: CliRunner) -> None:
    result = runner.invoke(app, ["--service", f"box={REFUSED}", "models"])
    assert result.exit_code == 1
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("Error: ")
    assert "box" in line
    assert "refused" in line


def test_debug_shows_the_full_traceback(runner: CliRunner) -> None:
    result = runner.invoke(app, ["--debug", "--service", f"llamacpp={REFUSED}", "models"])
    assert result.exit_code == 1
    assert "Traceback" in result.stderr
    assert "ServiceUnavailableError" in result.stderr


def test_an_unreachable_chat_model_is_exit_1(runner: CliRunner) -> None:
    result = runner.invoke(app, ["--service", f"llamacpp={REFUSED}", "chat", "m", "hi"])
    assert result.exit_code == 1
    assert len(result.stderr.splitlines()) == 1


def test_a_model_the_server_does_not_have_is_exit_1(
    runner: CliRunner, llamacpp: LlamaCppHarness
) -> None:
    result = runner.invoke(app, ["chat", "missing", "hi"])
    assert result.exit_code == 1
    [line] = result.stderr.splitlines()
    assert "missing" in line


@pytest.mark.parametrize(
    "args",
    [
        ["--service", "ht!tp://nope", "models"],
        ["--service", "bad/name=http://127.0.0.1:9", "models"],
        ["--timeout", "soon", "models"],
        ["--timeout", "-1", "models"],
        ["models", "--json", "--surprise"],
        ["show"],
    ],
)
def test_bad_usage_is_exit_2(runner: CliRunner, args: list[str]) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.stderr


def test_ctrl_c_anywhere_exits_130(runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(
        services: object, timeout: object, api_keys: object, config: object = None
    ) -> modelport.Client:
        raise KeyboardInterrupt

    monkeypatch.setattr(_context, "make_client", interrupted)
    result = runner.invoke(app, ["models"])
    assert result.exit_code == 130
    assert "Traceback" not in result.stderr


def test_no_server_at_all_says_how_to_start_one(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    import modelport.discovery

    monkeypatch.setattr(modelport.discovery, "discover", lambda **kwargs: [])
    result = runner.invoke(app, ["models"])
    assert result.exit_code == 1
    [line] = result.stderr.splitlines()
    assert "ollama serve" in line


@pytest.mark.socket
def test_end_to_end_against_a_loopback_llamacpp_server(runner: CliRunner) -> None:
    with LoopbackServer(LlamaCppHarness()) as server:
        listed = runner.invoke(app, ["--service", server.url, "models", "--json"])
        chatted = runner.invoke(app, ["--service", server.url, "chat", "alpha", "hi there"])
    assert listed.exit_code == 0, listed.output
    assert [m["id"] for m in json.loads(listed.stdout)] == [
        "llamacpp/alpha",
        "llamacpp/beta",
        "llamacpp/embedder",
    ]
    assert chatted.exit_code == 0, chatted.output
    assert chatted.stdout == "echo: hi there\n"

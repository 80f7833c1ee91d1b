"""``modelport serve``: flags, the refusal to listen publicly without a key, what it
prints, the install hint, and a graceful Ctrl-C (the last one in a real process)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from click.testing import CliRunner

import modelport
from modelport.cli import _serve, app
from modelport.testing import FakeProvider

SETUP_LOGGING = _serve._setup_logging
"""The real one (the ``launched`` fixture replaces it)."""


@pytest.fixture
def launched(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Replace the server with a recorder that runs the start-up announcement only."""
    seen: dict[str, Any] = {}

    def make_client(
        services: list[str], timeout: float | None, gateway_id: str, config: Any = None
    ) -> Any:
        seen["services"], seen["timeout"], seen["client_id"] = services, timeout, gateway_id
        seen["config"] = config
        return modelport.AsyncClient(
            services=[FakeProvider(models=["m", "n"], name="fake")],
            gateway_id=gateway_id,
            config=config,
        )

    def run(
        app_: Any,
        *,
        host: str,
        port: int,
        limits: Any,
        log_level: str,
        announce: Callable[[int], Awaitable[None]],
    ) -> None:
        seen.update(app=app_, host=host, port=port, log_level=log_level, limits=limits)
        asyncio.run(announce(port))

    monkeypatch.setattr(_serve, "make_client", make_client)
    monkeypatch.setattr(_serve, "run", run)
    monkeypatch.setattr(
        _serve,
        "_setup_logging",
        lambda level, access="text": seen.update(logging=level, access_log=access),
    )
    return seen


def test_serve_defaults_to_loopback_port_11435_and_prints_how_to_use_it(
    runner: CliRunner, launched: dict[str, Any]
) -> None:
    result = runner.invoke(app, ["serve"])
    assert result.exit_code == 0, result.output
    assert (launched["host"], launched["port"], launched["log_level"]) == (
        "127.0.0.1",
        11435,
        "info",
    )
    out = result.stdout
    assert "http://127.0.0.1:11435/v1" in out
    assert "OLLAMA_HOST=http://127.0.0.1:11435" in out
    assert "fake" in out and "2 models" in out
    gateway = launched["app"]
    assert gateway.id == launched["client_id"]  # the client sends the gateway's own id
    assert gateway.max_body == 100 * 1024**2


def test_serve_takes_services_keys_size_and_log_level(
    runner: CliRunner, launched: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELPORT_API_KEYS", "env-key")
    result = runner.invoke(
        app,
        [
            "--service", "http://127.0.0.1:9001", "--timeout", "12",
            "serve", "--host", "0.0.0.0", "--port", "8123",
            "--service", "gpu=http://127.0.0.1:9002", "--api-key", "k1",
            "--max-body", "512KB", "--log-level", "warning",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert launched["services"] == ["http://127.0.0.1:9001", "gpu=http://127.0.0.1:9002"]
    assert launched["timeout"] == 12
    assert (launched["host"], launched["port"], launched["log_level"]) == (
        "0.0.0.0",
        8123,
        "warning",
    )
    assert launched["app"].max_body == 512 * 1024
    assert "k1" not in result.output and "env-key" not in result.output
    assert "2 API keys" in result.output


def test_access_log_json_makes_a_gateway_that_logs_one_json_object_a_line(
    runner: CliRunner, launched: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    result = runner.invoke(app, ["serve", "--access-log", "json"])
    assert result.exit_code == 0, result.output
    assert launched["app"].access_log == launched["access_log"] == "json"
    assert runner.invoke(app, ["serve"]).exit_code == 0
    assert launched["app"].access_log == launched["access_log"] == "text"
    access = logging.getLogger("modelport.gateway.access")
    monkeypatch.setattr(access, "handlers", [])
    monkeypatch.setattr(access, "propagate", True)
    SETUP_LOGGING("info", "json")
    (handler,) = access.handlers
    record = logging.LogRecord("modelport.gateway.access", logging.INFO, "", 0, '{"a":1}', (), None)
    assert handler.format(record) == '{"a":1}'  # nothing around the JSON
    assert access.propagate is False


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "gpu-box"])
def test_listening_beyond_this_machine_without_a_key_is_refused(
    runner: CliRunner, launched: dict[str, Any], host: str
) -> None:
    result = runner.invoke(app, ["serve", "--host", host])
    assert result.exit_code == 2
    assert "app" not in launched  # nothing was started
    assert "--api-key" in result.stderr and "MODELPORT_API_KEYS" in result.stderr


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (["--api-key", ""], {}),  # serve --api-key "$KEY" with KEY unset, as the docs show
        (["--api-key", "   "], {}),
        ([], {"MODELPORT_API_KEYS": " , ,"}),
        (["--api-key", ""], {"MODELPORT_API_KEYS": ","}),
    ],
    ids=["empty-flag", "blank-flag", "empty-env", "both-empty"],
)
def test_an_empty_key_does_not_let_the_gateway_listen_beyond_this_machine(
    runner: CliRunner,
    launched: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    env: dict[str, str],
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result = runner.invoke(app, ["serve", "--host", "0.0.0.0", *args])
    assert result.exit_code == 2, result.output
    assert "app" not in launched  # nothing was started
    assert "empty" in result.stderr, result.stderr
    assert "--api-key" in result.stderr and "MODELPORT_API_KEYS" in result.stderr


def test_on_loopback_an_empty_key_is_dropped_and_the_banner_says_none_is_required(
    runner: CliRunner, launched: dict[str, Any]
) -> None:
    result = runner.invoke(app, ["serve", "--api-key", "", "--api-key", " "])
    assert result.exit_code == 0, result.output
    assert "keys:    none" in result.stdout, result.stdout
    assert "required" not in result.stdout, result.stdout
    assert launched["app"].keyed is False


def test_the_banner_counts_only_the_keys_that_are_not_empty(
    runner: CliRunner, launched: dict[str, Any]
) -> None:
    result = runner.invoke(app, ["serve", "--host", "0.0.0.0", "--api-key", "k1", "--api-key", ""])
    assert result.exit_code == 0, result.output
    assert "1 API key required" in result.stdout, result.stdout
    assert launched["app"].keyed is True


def test_an_unreadable_max_body_is_a_usage_error(
    runner: CliRunner, launched: dict[str, Any]
) -> None:
    result = runner.invoke(app, ["serve", "--max-body", "lots"])
    assert result.exit_code == 2
    assert "512KB" in result.stderr


def test_without_the_serve_extra_it_says_what_to_install() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; sys.modules['uvicorn'] = None\n"
            "from modelport.__main__ import main\n"
            "raise SystemExit(main(['serve']))",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "pip install 'modelport[serve]'" in done.stderr
    assert "Traceback" not in done.stderr


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.socket
def test_serve_closes_its_client_in_the_loop_that_served_it(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The client's async connections belong to the server's event loop: they are
    closed there when the server stops, not skipped by a new loop (which left the
    httpx client open)."""
    import httpx

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"object": "list", "data": [{"id": "m"}]})

    provider = modelport.OpenAICompatibleProvider(
        "http://127.0.0.1:9", name="up", transport=httpx.MockTransport(handler)
    )
    seen: dict[str, Any] = {}

    def make_client(
        services: list[str], timeout: float | None, gateway_id: str, config: Any = None
    ) -> Any:
        return modelport.AsyncClient(services=[provider], gateway_id=gateway_id)

    real_run = _serve.run

    def run_and_stop(app_: Any, **kwargs: Any) -> None:
        announce = kwargs.pop("announce")

        async def announce_then_stop(port: int) -> None:
            await announce(port)
            await app_.client.models()  # opens the provider's async client in this loop
            seen["http"] = provider._async.client if provider._async else None
            seen["loop"] = asyncio.get_running_loop()
            signal.raise_signal(signal.SIGINT)  # Ctrl-C: uvicorn stops gracefully

        try:
            real_run(app_, **kwargs, announce=announce_then_stop)
        except KeyboardInterrupt:  # uvicorn re-raises the Ctrl-C it captured
            seen["interrupted"] = True

    monkeypatch.setattr(_serve, "make_client", make_client)
    monkeypatch.setattr(_serve, "run", run_and_stop)
    monkeypatch.setattr(_serve, "_setup_logging", lambda *_: None)
    result = runner.invoke(app, ["serve", "--port", "0", "--log-level", "warning"])
    assert result.exit_code == 0, result.output
    assert seen.get("interrupted")
    http = seen["http"]
    assert isinstance(http, httpx.AsyncClient)
    assert http.is_closed, "the gateway's upstream client was left open"
    assert provider._async is None


def test_ctrl_c_stops_the_real_server_cleanly() -> None:
    port = _free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("MODELPORT_SERVICES", None)
    process = subprocess.Popen(
        [
            sys.executable, "-m", "modelport",
            "--service", f"http://127.0.0.1:{_free_port()}",  # nothing listens there
            "serve", "--port", str(port),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 30
        banner = ""
        while "Ctrl-C" not in banner and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            banner += line
        assert f"http://127.0.0.1:{port}/v1" in banner, banner + (
            process.stderr.read() if process.poll() is not None else ""
        )
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    # uvicorn finishes its shutdown, then the command exits as interrupted (130)
    assert process.returncode == 130, err
    assert "Application shutdown complete" in err
    assert "Traceback" not in err


def test_serve_waits_ten_minutes_for_an_upstream_unless_told_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An agent's prompt of thousands of tokens takes minutes to read on a CPU, and the
    server sends only keep-alives meanwhile: the gateway's default read timeout is 600 s
    (the library's stays 60 s); MODELPORT_TIMEOUT and --timeout still decide."""
    import asyncio

    def timeout_of(timeout: float | None) -> float:
        client = _serve.make_client(["http://127.0.0.1:9"], timeout, "gw-test")
        asyncio.run(client.aclose())
        return float(client.timeout)

    monkeypatch.delenv("MODELPORT_TIMEOUT", raising=False)
    assert timeout_of(None) == 600.0
    assert timeout_of(12) == 12.0
    monkeypatch.setenv("MODELPORT_TIMEOUT", "30")
    assert timeout_of(None) == 30.0

"""``modelport discover``: every candidate server, what it is, and why the others are not."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import fields
from typing import Any

import pytest
from click.testing import CliRunner

from modelport import Service, ServiceStatus
from modelport.cli import _context, app

from .fakes import LlamaCppHarness, LoopbackServer, lines_of

FOUND = [
    Service(
        "llamacpp",
        "llamacpp",
        "http://127.0.0.1:8080",
        ServiceStatus.AVAILABLE,
        version="b5000-1a2b3c",
        latency_ms=7.4,
        model_count=1,
    ),
    Service(
        "ollama",
        "ollama",
        "http://127.0.0.1:11434",
        ServiceStatus.UNAVAILABLE,
        error="connection refused (nothing is listening)",
    ),
    Service(
        "vllm",
        "openai",
        "http://127.0.0.1:8000",
        ServiceStatus.UNAVAILABLE,
        latency_ms=3.0,
        error="answers HTTP but is not a model server (GET /v1/models gave 404, an HTML page)",
    ),
    Service(
        "jan",
        "openai",
        "http://127.0.0.1:1337",
        ServiceStatus.UNAVAILABLE,
        error="timed out (something accepts connections but does not answer)",
    ),
]


@pytest.fixture
def probes(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Replace discovery with a fixed answer; records the hosts and timeout asked for."""
    seen: dict[str, Any] = {"result": FOUND}

    def discover_services(hosts: Sequence[str], timeout: float) -> list[Service]:
        seen["hosts"] = list(hosts)
        seen["timeout"] = timeout
        return list(seen["result"])

    monkeypatch.setattr(_context, "discover_services", discover_services)
    return seen


def _row(output: str, name: str) -> str:
    return next(line for line in lines_of(output) if line.split()[0] == name)


def test_discover_lists_every_candidate_with_kind_url_status_version_models_latency(
    runner: CliRunner, probes: dict[str, Any]
) -> None:
    result = runner.invoke(app, ["discover"])
    assert result.exit_code == 0, result.output
    header = lines_of(result.stdout)[0].split()
    assert header == ["NAME", "KIND", "URL", "STATUS", "VERSION", "MODELS", "LATENCY", "NOTE"]
    assert _row(result.stdout, "llamacpp").split() == [
        "llamacpp",
        "llamacpp",
        "http://127.0.0.1:8080",
        "available",
        "b5000-1a2b3c",
        "1",
        "7",
        "ms",
    ]


def test_discover_says_why_each_unavailable_server_is_unavailable(
    runner: CliRunner, probes: dict[str, Any]
) -> None:
    result = runner.invoke(app, ["discover"])
    assert "unavailable" in _row(result.stdout, "ollama")
    assert _row(result.stdout, "ollama").endswith("connection refused (nothing is listening)")
    assert "not a model server" in _row(result.stdout, "vllm")
    assert "timed out" in _row(result.stdout, "jan")


def test_discover_probes_the_hosts_and_global_services_with_its_timeout(
    runner: CliRunner, probes: dict[str, Any]
) -> None:
    result = runner.invoke(
        app,
        [
            "--service",
            "gpu=http://10.0.0.5:11434",
            "discover",
            "--host",
            "http://127.0.0.1:9000",
            "--host",
            "box=http://127.0.0.1:9001",
            "--timeout",
            "2",
        ],
    )
    assert result.exit_code == 0, result.output
    assert probes["hosts"] == [
        "gpu=http://10.0.0.5:11434",
        "http://127.0.0.1:9000",
        "box=http://127.0.0.1:9001",
    ]
    assert probes["timeout"] == 2.0


def test_discover_waits_half_a_second_by_default(runner: CliRunner, probes: dict[str, Any]) -> None:
    runner.invoke(app, ["--timeout", "30", "discover"])
    assert probes["timeout"] == 0.5


def test_discover_json_has_the_fields_of_service(runner: CliRunner, probes: dict[str, Any]) -> None:
    result = runner.invoke(app, ["discover", "--json"])
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert [set(entry) for entry in data] == [{f.name for f in fields(Service)}] * len(FOUND)
    assert data[0] == {
        "name": "llamacpp",
        "kind": "llamacpp",
        "base_url": "http://127.0.0.1:8080",
        "status": "available",
        "version": "b5000-1a2b3c",
        "latency_ms": 7.4,
        "model_count": 1,
        "error": None,
        "in_flight": 0,
    }
    assert Service(**{**data[1], "status": ServiceStatus(data[1]["status"])}) == FOUND[1]


def test_discover_ends_with_how_to_start_a_server_when_nothing_is_found(
    runner: CliRunner, probes: dict[str, Any]
) -> None:
    probes["result"] = FOUND[1:]
    result = runner.invoke(app, ["discover"])
    assert result.exit_code == 1
    assert "ollama" in result.stdout  # the table still shows what was tried
    for how in ("ollama serve", "lms server start", "llama-server"):
        assert how in result.stderr


def test_discover_json_when_nothing_is_found_still_prints_the_list(
    runner: CliRunner, probes: dict[str, Any]
) -> None:
    probes["result"] = FOUND[1:]
    result = runner.invoke(app, ["discover", "--json"])
    assert result.exit_code == 1
    assert [s["name"] for s in json.loads(result.stdout)] == ["ollama", "vllm", "jan"]


def test_discover_on_a_terminal_draws_a_coloured_table(
    runner: CliRunner, probes: dict[str, Any], terminal: None
) -> None:
    result = runner.invoke(app, ["discover"], color=True)
    assert result.exit_code == 0
    assert "\x1b[" in result.stdout
    assert "─" in result.stdout
    assert "connection refused" in result.stdout


def test_discover_rejects_a_bad_timeout(runner: CliRunner, probes: dict[str, Any]) -> None:
    result = runner.invoke(app, ["discover", "--timeout", "0"])
    assert result.exit_code == 2


@pytest.mark.socket
def test_discover_fingerprints_a_real_llamacpp_server_on_loopback(runner: CliRunner) -> None:
    with LoopbackServer(LlamaCppHarness()) as server:
        result = runner.invoke(app, ["discover", "--host", server.url, "--json", "--timeout", "2"])
    found = [s for s in json.loads(result.stdout) if s["base_url"] == server.url]
    assert len(found) == 1
    assert found[0]["kind"] == "llamacpp"
    assert found[0]["status"] == "available"
    assert found[0]["version"] == "b1234-abcdef"
    assert found[0]["model_count"] == 3

"""``modelport top`` and ``modelport ps --gateway`` (issues 22 and 24): what they show,
rendered from a recorded ``/metrics`` (two scrapes a minute apart) and ``/health``
into a fixed-size console, and compared with what it must show.

The recording (``tests/fixtures/gateway``): in the minute between the scrapes, the
``gpu`` service gave 750 output tokens (12.5 per second) and 10 first tokens (5 under
0.1 s, 4 under 0.25 s, 1 under 0.5 s: p50 100 ms, p95 375 ms, as PromQL's
``histogram_quantile`` interpolates), and ``cpu`` failed 2 requests. ``/health`` has
the scheduler's keys for ``gpu`` and an older gateway's shape for ``cpu``.
"""

from __future__ import annotations

import io
import json
import re
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from rich.console import Console

from modelport.cli import app
from modelport.cli._top import (
    render_top,
    services_from_health,
    snapshot,
    window,
)
from tests.conftest import FIXTURES

RECORDED = FIXTURES / "gateway"
URL = "http://127.0.0.1:11435"


def health() -> Any:
    return json.loads((RECORDED / "health.json").read_text())


def metrics(name: str) -> str:
    return (RECORDED / name).read_text()


def rendered(width: int = 120, height: int = 12) -> list[str]:
    before, after = snapshot(metrics("metrics_t0.txt")), snapshot(metrics("metrics_t60.txt"))
    view = render_top(
        URL, services_from_health(health()), after, window((100.0, before), (160.0, after))
    )
    console = Console(width=width, height=height, file=io.StringIO(), record=True)
    console.print(view)
    return [line.rstrip() for line in console.export_text().splitlines()]


def row(lines: list[str], service: str) -> list[str]:
    (line,) = [line for line in lines if line.startswith(service + " ")]
    return re.split(r"\s{2,}", line.strip())


def test_top_shows_each_service_with_health_load_rates_ttft_and_errors() -> None:
    lines = rendered()
    assert lines[0] == f"modelport top {URL}  over the last 60 s"
    assert re.split(r"\s{2,}", lines[1].strip()) == [
        "SERVICE",
        "KIND",
        "HEALTH",
        "IN FLIGHT",
        "QUEUED",
        "TOK/S",
        "TTFT P50",
        "TTFT P95",
        "ERRORS",
        "LOADED",
    ]
    assert row(lines, "gpu") == [
        "gpu",
        "llamacpp",
        "available",
        "2/4",
        "3",
        "12.5",
        "100 ms",
        "375 ms",
        "0",
        "qwen3-8b",
    ]
    assert row(lines, "cpu") == [
        "cpu",
        "ollama",
        "unavailable",
        "0",
        "0",
        "0.0",
        "-",
        "-",
        "2",
        "phi4",  # an older /health: loaded models from /metrics
    ]
    assert lines[-1] == "q quits"


def test_top_before_a_second_scrape_shows_no_rates_yet() -> None:
    latest = snapshot(metrics("metrics_t0.txt"))
    console = Console(width=120, height=12, file=io.StringIO(), record=True)
    console.print(render_top(URL, services_from_health(health()), latest, None))
    lines = console.export_text().splitlines()
    assert row(lines, "gpu")[5:9] == ["-", "-", "-", "0"]


def test_an_older_health_body_reads_as_no_limit_and_nothing_queued() -> None:
    gpu, cpu = services_from_health(health())
    assert (gpu.max_in_flight, gpu.queued, gpu.loaded_models) == (4, 3, ("qwen3-8b",))
    assert (cpu.max_in_flight, cpu.queued, cpu.loaded_models) == (None, 0, ())
    assert cpu.error == "connection refused"
    assert services_from_health({"status": "ok"}) == []  # no key: no services
    assert services_from_health(["not", "a", "body"]) == []


@pytest.fixture
def gateway_answers(monkeypatch: pytest.MonkeyPatch) -> list[httpx.Request]:
    """httpx.get answered from the recording, as a gateway with key "k" would."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.headers.get("authorization") != "Bearer k":
            return httpx.Response(401, json={"error": {"message": "key"}})
        if request.url.path == "/health":
            return httpx.Response(200, json=health())
        return httpx.Response(200, text=metrics("metrics_t60.txt"))

    transport = httpx.MockTransport(handler)

    def get(url: str, **kwargs: Any) -> httpx.Response:
        with httpx.Client(transport=transport) as client:
            return client.get(url, **kwargs)

    monkeypatch.setattr(httpx, "get", get)
    return seen


def test_ps_gateway_shows_in_flight_limit_queue_and_loaded_models_per_service(
    runner: CliRunner, gateway_answers: list[httpx.Request]
) -> None:
    result = runner.invoke(app, ["ps", "--gateway", URL, "--api-key", "k"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert re.split(r"\s{2,}", lines[0].strip()) == [
        "SERVICE",
        "KIND",
        "STATUS",
        "IN FLIGHT",
        "LIMIT",
        "QUEUED",
        "LOADED",
    ]
    assert row(lines, "gpu") == ["gpu", "llamacpp", "available", "2", "4", "3", "qwen3-8b"]
    assert row(lines, "cpu") == ["cpu", "ollama", "unavailable", "0", "-", "0", "-"]
    assert str(gateway_answers[0].url) == f"{URL}/health"


def test_ps_gateway_json_and_a_refused_key(
    runner: CliRunner, gateway_answers: list[httpx.Request]
) -> None:
    result = runner.invoke(app, ["ps", "--gateway", URL, "--api-key", "k", "--json"])
    assert result.exit_code == 0, result.output
    services = json.loads(result.output)
    assert [s["name"] for s in services] == ["gpu", "cpu"]
    assert services[0]["queued"] == 3
    refused = runner.invoke(app, ["ps", "--gateway", URL, "--api-key", "wrong"])
    assert refused.exit_code != 0
    assert "asks for an API key" in refused.output
    assert "Traceback" not in refused.output


def test_top_quits_on_q(
    runner: CliRunner, gateway_answers: list[httpx.Request], monkeypatch: pytest.MonkeyPatch
) -> None:
    from contextlib import contextmanager

    from modelport.cli import _top

    presses = iter([None, "q"])

    @contextmanager
    def keys() -> Any:
        yield lambda seconds: next(presses)

    monkeypatch.setattr(_top, "_keys", keys)
    result = runner.invoke(app, ["top", "--gateway", URL, "--api-key", "k"])
    assert result.exit_code == 0, result.output
    metrics_reads = [r for r in gateway_answers if r.url.path == "/metrics"]
    assert len(metrics_reads) == 2  # one per refresh, until q
    assert "gpu" in result.output and "12.5" not in result.output  # one scrape: no rate

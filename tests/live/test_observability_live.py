"""The gateway's metrics against a real llama-server started with ``--metrics``
(issue 22): ``/metrics/upstream`` carries the server's own series with the
``service`` label (and ``model``: it serves one), and after real chats the gateway's
token counters equal the sum of the usage the callers received.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from .conftest import GATEWAY_KEY, LlamaServer, ServeProcess

pytestmark = pytest.mark.live

AUTH = {"authorization": f"Bearer {GATEWAY_KEY}"}
WAIT = 300.0
"""Seconds a request may take on a busy CPU; never what is tested."""


@pytest.fixture(scope="module")
def metered(
    llama_paths: tuple[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServeProcess]:
    """``modelport serve`` in front of a llama-server with ``--metrics`` named ``m``."""
    tmp: Path = tmp_path_factory.mktemp("metered")
    server = LlamaServer(*llama_paths, ["--jinja", "-c", "2048", "--metrics"], tmp)
    gateway = ServeProcess([f"m={server.url}"], tmp / "serve.log", GATEWAY_KEY)
    try:
        yield gateway
    finally:
        gateway.stop()
        server.stop()


def samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    return [
        (s.name, dict(s.labels), s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
    ]


def total(text: str, name: str, **labels: str) -> float:
    return sum(v for n, ls, v in samples(text) if n == name and labels.items() <= ls.items())


def model_id(http: httpx.Client) -> str:
    listed = http.get("/v1/models").json()["data"]
    return str(listed[0]["id"])


def test_live_upstream_metrics_carry_the_service_label(metered: ServeProcess) -> None:
    with httpx.Client(base_url=metered.url, headers=AUTH, timeout=WAIT) as http:
        model_id(http)  # the gateway has read the model list: the model label is known
        answer = http.get("/metrics/upstream")
    assert answer.status_code == 200
    found = samples(answer.text)
    assert ("up", {"service": "m"}, 1.0) in found
    llama = [(n, ls) for n, ls, _ in found if n.startswith("llamacpp:")]
    assert llama, answer.text[:2000]
    assert all(ls.get("service") == "m" and ls.get("model") for _, ls in llama)


def test_live_token_counters_equal_the_usage_the_callers_received(metered: ServeProcess) -> None:
    received = {"input": 0, "output": 0}
    with httpx.Client(base_url=metered.url, headers=AUTH, timeout=WAIT) as http:
        model = model_id(http)
        before = http.get("/metrics").text
        for n in range(2):  # whole answers
            body = http.post(
                "/v1/chat/completions",
                json={
                    "model": model,
                    "max_tokens": 8,
                    "messages": [{"role": "user", "content": f"Count to {n + 3}."}],
                },
            ).json()
            received["input"] += body["usage"]["prompt_tokens"]
            received["output"] += body["usage"]["completion_tokens"]
        for n in range(2):  # streams, with their usage chunk
            with http.stream(
                "POST",
                "/v1/chat/completions",
                json={
                    "model": model,
                    "max_tokens": 8,
                    "stream": True,
                    "stream_options": {"include_usage": True},
                    "messages": [{"role": "user", "content": f"Name {n + 2} colours."}],
                },
            ) as stream:
                usage = None
                for line in stream.iter_lines():
                    if line.startswith("data: {"):
                        usage = json.loads(line[6:]).get("usage") or usage
            assert usage is not None
            received["input"] += usage["prompt_tokens"]
            received["output"] += usage["completion_tokens"]
        after = http.get("/metrics").text
    tokens = "gen_ai_client_token_usage_sum"
    for kind in ("input", "output"):
        counted = total(after, tokens, service="m", gen_ai_token_type=kind) - total(
            before, tokens, service="m", gen_ai_token_type=kind
        )
        assert counted == received[kind], (kind, counted, received)
    assert received["output"] > 0
    chats = "gen_ai_client_operation_duration_seconds_count"
    assert (
        total(after, chats, service="m", error_type="")
        - total(before, chats, service="m", error_type="")
        == 4
    )
    assert total(after, "gen_ai_server_time_to_first_token_seconds_count", service="m") >= 2

"""``GET /metrics`` (issue 22): the gateway's metric values after scripted sequences
(a success, a stream, a failover, a mid-stream error, a cancellation, a queue wait),
read with prometheus-client's own parser, never by matching strings. No sockets: the
app is driven in-process (``httpx.ASGITransport``) or straight through ASGI.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

import modelport
from modelport import ServiceUnavailableError
from modelport.errors import ModelportError
from modelport.gateway import Gateway, create_app
from modelport.testing import FakeProvider

from .conftest import gateway
from .test_surface_contract import KEY, WAIT, Call, Upstream

pytestmark = pytest.mark.anyio

HELLO = {"model": "m", "messages": [{"role": "user", "content": "hi there"}]}
CHAT = "/v1/chat/completions"


def samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    return [
        (s.name, dict(s.labels), s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
    ]


def value(text: str, name: str, **labels: str) -> float:
    """The sum of the samples named ``name`` whose labels include ``labels``."""
    found = [v for n, ls, v in samples(text) if n == name and labels.items() <= ls.items()]
    assert found, f"no sample {name} {labels}"
    return sum(found)


def labelled(text: str, name: str) -> list[dict[str, str]]:
    return [ls for n, ls, _ in samples(text) if n == name]


async def scrape(http: httpx.AsyncClient, **headers: str) -> str:
    response = await http.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


def error_names() -> set[str]:
    def walk(cls: type) -> Iterable[type]:
        yield cls
        for sub in cls.__subclasses__():
            yield from walk(sub)

    return {cls.__name__ for cls in walk(ModelportError)}


async def test_a_chat_is_counted_with_its_tokens_duration_and_overhead() -> None:
    async with gateway([FakeProvider(models=["m"], name="fake")]) as (_, http):
        await http.get("/v1/models")  # the gateway knows "m" (else it is counted as other)
        answer = await http.post(CHAT, json=HELLO)
        assert answer.status_code == 200
        usage = answer.json()["usage"]
        text = await scrape(http)
    route = {"surface": "openai", "route": CHAT, "status": "200"}
    assert value(text, "modelport_requests_total", **route) == 1
    op = {
        "gen_ai_operation_name": "chat",
        "gen_ai_request_model": "m",
        "service": "fake",
        "gen_ai_provider_name": "openai",
        "error_type": "",
    }
    tokens = "gen_ai_client_token_usage_sum"
    assert value(text, tokens, **op, gen_ai_token_type="input") == usage["prompt_tokens"]
    assert value(text, tokens, **op, gen_ai_token_type="output") == usage["completion_tokens"]
    assert value(text, "gen_ai_client_operation_duration_seconds_count", **op) == 1
    assert value(text, "gen_ai_client_operation_duration_seconds_sum", **op) > 0
    overhead = "modelport_gateway_overhead_seconds"
    assert value(text, f"{overhead}_count", gen_ai_operation_name="chat", surface="openai") == 1
    assert value(text, f"{overhead}_sum", gen_ai_operation_name="chat") <= value(
        text, "gen_ai_client_operation_duration_seconds_sum", **op
    )
    # a whole answer has no first token of its own
    assert value(text, "gen_ai_server_time_to_first_token_seconds_count") == 0


async def test_a_stream_records_time_to_first_token_and_per_output_token() -> None:
    fake = FakeProvider(models=["m"], name="fake", reply="one two three four", stream_pieces=4)
    async with gateway([fake]) as (_, http):
        await http.get("/v1/models")
        answer = await http.post(CHAT, json={**HELLO, "stream": True})
        assert answer.status_code == 200
        text = await scrape(http)
    op = {"gen_ai_operation_name": "chat", "gen_ai_request_model": "m", "service": "fake"}
    assert value(text, "gen_ai_server_time_to_first_token_seconds_count", **op) == 1
    assert value(text, "gen_ai_server_time_per_output_token_seconds_count", **op) == 1
    out = value(text, "gen_ai_client_token_usage_sum", **op, gen_ai_token_type="output")
    assert out == 4


async def test_a_failover_counts_the_failover_and_the_upstream_error_by_class() -> None:
    first = FakeProvider(models=["m"], name="first")
    second = FakeProvider(models=["m"], name="second")
    first.fail_next(ServiceUnavailableError("503 Service Unavailable"))
    client = modelport.AsyncClient(services=[first, second], max_retries=0)
    async with gateway(client) as (_, http):
        assert (await http.post(CHAT, json=HELLO)).status_code == 200
        text = await scrape(http)
    assert value(text, "modelport_failovers_total", model="m", service="first") == 1
    errors = "modelport_upstream_errors_total"
    assert value(text, errors, service="first", error_type="ServiceUnavailableError") == 1
    assert not [ls for ls in labelled(text, errors) if ls["service"] == "second"]
    answered = {"gen_ai_request_model": "m", "service": "second", "error_type": ""}
    assert value(text, "gen_ai_client_operation_duration_seconds_count", **answered) == 1


async def test_a_failure_before_any_output_is_counted_with_its_error_type() -> None:
    fake = FakeProvider(models=["m"], name="fake")
    fake.fail_next(ServiceUnavailableError("503 Service Unavailable"))
    client = modelport.AsyncClient(services=[fake], max_retries=0)
    async with gateway(client) as (_, http):
        await http.get("/v1/models")
        assert (await http.post(CHAT, json=HELLO)).status_code == 503
        text = await scrape(http)
    assert value(text, "modelport_requests_total", route=CHAT, status="503") == 1
    failed = {"gen_ai_request_model": "m", "error_type": "ServiceUnavailableError"}
    assert value(text, "gen_ai_client_operation_duration_seconds_count", **failed) == 1
    assert value(text, "modelport_upstream_errors_total", service="fake") == 1


async def _streaming(upstream: Upstream) -> tuple[Gateway, Call, asyncio.Future[None]]:
    """A gateway over ``upstream`` with a streamed chat running, its first chunk sent."""
    app = create_app(upstream.client(), api_keys=[KEY])
    body = json.dumps({"model": "m", "messages": HELLO["messages"], "stream": True}).encode()
    call = Call(app, CHAT, body, {"x-api-key": KEY})
    await app.client.models()  # the gateway knows "m"
    running = asyncio.ensure_future(call.run())
    await asyncio.wait_for(call.got.wait(), WAIT)
    return app, call, running


async def test_a_stream_that_fails_midway_is_a_200_with_the_error_type() -> None:
    upstream = Upstream(fail=True)
    app, call, running = await _streaming(upstream)
    upstream.release.set()
    await asyncio.wait_for(running, WAIT)
    assert call.status == 200
    text = app.metrics.render()
    assert value(text, "modelport_requests_total", route=CHAT, status="200") == 1
    (failed,) = [
        ls
        for ls in labelled(text, "gen_ai_client_operation_duration_seconds_count")
        if ls["gen_ai_request_model"] == "m"
    ]
    assert failed["error_type"] in error_names(), failed
    assert failed["service"] == "up"
    assert value(text, "gen_ai_server_time_to_first_token_seconds_count", service="up") == 1


async def test_a_caller_that_leaves_midstream_is_counted_as_cancelled() -> None:
    upstream = Upstream(hold=True)
    app, call, running = await _streaming(upstream)
    assert value(app.metrics.render(), "modelport_in_flight", service="up") == 1
    call.leave.set()
    await asyncio.wait_for(running, WAIT)
    await asyncio.wait_for(upstream.closed.wait(), WAIT)
    text = app.metrics.render()
    assert value(text, "modelport_requests_total", route=CHAT, status="499") == 1
    cancelled = {"gen_ai_request_model": "m", "error_type": "cancelled"}
    assert value(text, "gen_ai_client_operation_duration_seconds_count", **cancelled) == 1
    assert value(text, "modelport_in_flight", service="up") == 0


async def test_a_queue_wait_and_depth_are_recorded_per_model() -> None:
    async with gateway([FakeProvider(models=["m"], name="fake")]) as (app, http):
        assert app.metrics is not None
        await http.get("/v1/models")  # the model list is known: "m" is a known name
        app.metrics.observe_queue_wait("m", 0.25)
        app.metrics.observe_queue_wait("never-seen", 1.5)
        app.metrics.queue_depths = lambda: [("fake", "m", 3)]
        text = await scrape(http)
    assert value(text, "modelport_queue_wait_seconds_count", model="m") == 1
    assert value(text, "modelport_queue_wait_seconds_sum", model="m") == 0.25
    assert value(text, "modelport_queue_wait_seconds_sum", model="other") == 1.5
    assert value(text, "modelport_queue_depth", service="fake", model="m") == 3


async def test_a_scheduled_gateway_records_each_requests_queue_wait_and_the_queue_depth() -> None:
    """The scheduler (issue 24) feeds the metrics (issue 22): one slot, three callers;
    the two that queued waited, and while they wait /metrics shows the depth."""
    from modelport._schedule import ServiceLimits, StaticLimits

    from ..unit.schedule_fakes import SlotProvider

    backend = SlotProvider(hold=0.3)
    limits = StaticLimits(services={"slots": ServiceLimits(max_in_flight=1, max_wait=WAIT)})
    client = modelport.AsyncClient(services=[backend], _limits=limits)
    async with gateway(client) as (_, http):
        await http.get("/v1/models")
        calls = [asyncio.ensure_future(http.post(CHAT, json=HELLO)) for _ in range(3)]
        depth = 0.0
        for _ in range(int(WAIT / 0.01)):
            found = [
                v
                for n, labels, v in samples(await scrape(http))
                if n == "modelport_queue_depth" and labels.get("model") == "m"
            ]
            depth = max(found, default=0.0)
            if depth:
                break
            await asyncio.sleep(0.01)
        assert depth >= 1
        assert [(await c).status_code for c in calls] == [200, 200, 200]
        text = await scrape(http)
    assert value(text, "modelport_queue_wait_seconds_count", model="m") == 3
    assert value(text, "modelport_queue_wait_seconds_sum", model="m") >= 0.3  # two waited


async def test_a_model_name_nobody_configured_or_discovered_is_counted_as_other() -> None:
    async with gateway([FakeProvider(models=["m"], name="fake")]) as (_, http):
        await http.get("/v1/models")
        for name in ("no-such-model-1", "no-such-model-2", "m"):
            await http.post(CHAT, json={**HELLO, "model": name})
        text = await scrape(http)
    models = {
        ls["gen_ai_request_model"]
        for ls in labelled(text, "gen_ai_client_operation_duration_seconds_count")
    }
    assert models == {"m", "other"}
    assert (
        value(text, "gen_ai_client_operation_duration_seconds_count", gen_ai_request_model="other")
        == 2
    )


async def test_services_health_in_flight_and_loaded_models_are_gauges() -> None:
    up = FakeProvider(models=["m", "n"], name="fake")
    down = FakeProvider(models=["x"], name="down")
    down.fail_next(*[ServiceUnavailableError("503") for _ in range(5)])
    client = modelport.AsyncClient(services=[up, down], max_retries=0, failure_threshold=1)
    async with gateway(client) as (_, http):
        await http.get("/v1/models")  # the lists say what is loaded
        await http.post(CHAT, json=HELLO)
        await http.post(CHAT, json={**HELLO, "model": "x"})
        text = await scrape(http)
    assert value(text, "modelport_service_up", service="fake", kind="openai") == 1
    assert value(text, "modelport_service_up", service="down") == 0
    assert value(text, "modelport_in_flight", service="fake") == 0
    assert value(text, "modelport_model_loaded", service="fake", model="m") == 1
    assert value(text, "modelport_model_loaded", service="fake", model="n") == 1


async def test_metrics_ask_for_the_key_as_every_route_does() -> None:
    async with gateway([FakeProvider(models=["m"])], api_keys=["s3cret"]) as (_, http):
        refused = await http.get("/metrics")
        upstream_refused = await http.get("/metrics/upstream")
        text = await scrape(http, authorization="Bearer s3cret")
    assert refused.status_code == 401
    assert upstream_refused.status_code == 401
    assert value(text, "modelport_requests_total", route="/metrics", status="401") == 1


async def test_each_app_has_its_own_registry() -> None:
    async with (
        gateway([FakeProvider(models=["m"], name="a")]) as (_, first),
        gateway([FakeProvider(models=["m"], name="b")]) as (_, second),
    ):
        await first.post(CHAT, json=HELLO)
        text = await scrape(second)
    assert not labelled(text, "gen_ai_client_operation_duration_seconds_count")


async def test_metrics_off_answers_404_and_records_nothing() -> None:
    async with gateway([FakeProvider(models=["m"])], metrics=False) as (app, http):
        await http.post(CHAT, json=HELLO)
        assert (await http.get("/metrics")).status_code == 404
    assert app.metrics is None


LLAMA_METRICS = """\
# HELP llamacpp:prompt_tokens_total Number of prompt tokens processed.
# TYPE llamacpp:prompt_tokens_total counter
llamacpp:prompt_tokens_total 42
# HELP llamacpp:requests_processing Number of requests processing.
# TYPE llamacpp:requests_processing gauge
llamacpp:requests_processing 1
"""


def metrics_backend(name: str, answer: int) -> modelport.LlamaCppProvider:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/metrics":
            if answer != 200:
                return httpx.Response(answer, text="metrics disabled")
            return httpx.Response(200, text=LLAMA_METRICS)
        if request.url.path == "/v1/models":
            return httpx.Response(200, json={"data": [{"id": f"{name}-model"}]})
        if request.url.path == "/health":
            return httpx.Response(200, json={"status": "ok"})
        return httpx.Response(200, json={})

    return modelport.LlamaCppProvider(
        "http://127.0.0.1:9", name=name, transport=httpx.MockTransport(handler)
    )


async def test_upstream_metrics_carry_a_service_label_and_up_says_who_answered() -> None:
    services = [metrics_backend("good", 200), metrics_backend("bad", 501)]
    async with gateway(services) as (_, http):
        await http.get("/v1/models")
        response = await http.get("/metrics/upstream")
    assert response.status_code == 200
    text = response.text
    assert value(text, "up", service="good") == 1
    assert value(text, "up", service="bad") == 0
    prompt = "llamacpp:prompt_tokens_total"
    assert value(text, prompt, service="good", model="good-model") == 42
    assert value(text, "llamacpp:requests_processing", service="good") == 1
    assert not [ls for ls in labelled(text, prompt) if ls.get("service") == "bad"]

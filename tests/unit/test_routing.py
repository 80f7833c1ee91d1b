"""Client routing, retries, failover, health and caching, with fake servers (no sockets)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

import modelport
from modelport import (
    AllServicesFailedError,
    ConfigurationError,
    ContextLengthExceededError,
    InvalidRequestError,
    ModelNotFoundError,
    OpenAICompatibleProvider,
    ServiceStatus,
    ServiceUnavailableError,
    StreamError,
)
from modelport.providers import LlamaCppProvider

Behaviour = Callable[[httpx.Request], httpx.Response]


class FakeServer:
    """An OpenAI-compatible server with a model list and scripted chat answers."""

    def __init__(self, name: str, models: list[str], *, meta: dict[str, Any] | None = None) -> None:
        self.name = name
        self.models = models
        self.meta = meta
        self.chat_script: list[Behaviour] = []
        self.calls: list[tuple[str, Any]] = []
        self.list_delay = 0.0

    def reply(self, text: str) -> Behaviour:
        def answer(request: httpx.Request) -> httpx.Response:
            body = json.loads(request.content)
            if body.get("stream"):
                events = [
                    {"choices": [{"delta": {"content": text}, "finish_reason": None}]},
                    {"choices": [{"delta": {}, "finish_reason": "stop"}]},
                ]
                data = b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events)
                return httpx.Response(200, content=data + b"data: [DONE]\n\n")
            return httpx.Response(
                200,
                json={
                    "model": body["model"],
                    "choices": [{"message": {"content": text}, "finish_reason": "stop"}],
                },
            )

        return answer

    def handler(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        self.calls.append((request.url.path, body))
        if request.url.path == "/v1/models":
            if self.list_delay:
                time.sleep(self.list_delay)
            data = []
            for m in self.models:
                entry: dict[str, Any] = {"id": m, "object": "model"}
                if self.meta is not None:
                    entry["meta"] = self.meta
                data.append(entry)
            return httpx.Response(200, json={"object": "list", "data": data})
        if request.url.path == "/v1/chat/completions":
            behaviour = (
                self.chat_script.pop(0) if self.chat_script else self.reply(f"from {self.name}")
            )
            return behaviour(request)
        if request.url.path == "/v1/embeddings":
            return httpx.Response(200, json={"data": [{"index": 0, "embedding": [1.0]}]})
        return httpx.Response(404, text="404 page not found")

    def provider(self, **kwargs: Any) -> OpenAICompatibleProvider:
        return OpenAICompatibleProvider(
            f"http://127.0.0.1:{9000 + len(self.name)}",
            name=self.name,
            transport=httpx.MockTransport(self.handler),
            **kwargs,
        )

    @property
    def chats(self) -> int:
        return sum(1 for path, _ in self.calls if path == "/v1/chat/completions")

    @property
    def listings(self) -> int:
        return sum(1 for path, _ in self.calls if path == "/v1/models")


def status(code: int, message: str = "", headers: dict[str, str] | None = None) -> Behaviour:
    return lambda request: httpx.Response(
        code, json={"error": message or f"status {code}"}, headers=headers
    )


def refused(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("[Errno 111] Connection refused", request=request)


def make_client(*servers: FakeServer, **kwargs: Any) -> tuple[modelport.Client, list[float]]:
    client = modelport.Client(services=[s.provider() for s in servers], **kwargs)
    sleeps: list[float] = []
    client._sleep = sleeps.append
    return client, sleeps


# ---------------------------------------------------------------------------- resolution


def test_bare_name_goes_to_the_service_that_has_it() -> None:
    a, b = FakeServer("a", ["llama"]), FakeServer("b", ["qwen"])
    client, _ = make_client(a, b)
    assert client.chat("qwen", "hi").text == "from b"
    assert (a.chats, b.chats) == (0, 1)


def test_service_prefix_picks_the_service_even_when_others_have_the_model() -> None:
    a, b = FakeServer("a", ["llama"]), FakeServer("b", ["llama"])
    client, _ = make_client(a, b)
    assert client.chat("b/llama", "hi").text == "from b"
    sent = next(body for path, body in b.calls if path == "/v1/chat/completions")
    assert sent["model"] == "llama"


def test_kind_prefix_picks_services_of_that_kind() -> None:
    a = FakeServer("a", ["m"])
    llama = LlamaCppProvider(
        "http://127.0.0.1:8080", transport=httpx.MockTransport(FakeServer("l", ["m"]).handler)
    )
    client = modelport.Client(services=[a.provider(), llama])
    assert client.chat("llamacpp/m", "hi").service == "llamacpp"


def test_a_slash_that_names_no_service_is_part_of_the_model_name() -> None:
    a = FakeServer("lmstudio", ["qwen/qwen3-8b"])
    b = FakeServer("other", ["x"])
    client, _ = make_client(a, b)
    assert client.chat("qwen/qwen3-8b", "hi").text == "from lmstudio"
    assert client.chat("lmstudio/qwen/qwen3-8b", "hi").text == "from lmstudio"


def test_loaded_models_are_preferred_over_unloaded_ones() -> None:
    class Partly(OpenAICompatibleProvider):
        def _op_models(self, refresh: bool = False) -> Any:
            from dataclasses import replace

            models = yield from super()._op_models(refresh)
            return [replace(m, loaded=self.name == "b") for m in models]

    a, b = FakeServer("a", ["m"]), FakeServer("b", ["m"])
    providers = [
        Partly(f"http://127.0.0.1:{p}", name=s.name, transport=httpx.MockTransport(s.handler))
        for p, s in ((9001, a), (9002, b))
    ]
    client = modelport.Client(services=providers)
    assert client.chat("m", "hi").text == "from b"


def test_configured_order_breaks_ties() -> None:
    a, b = FakeServer("a", ["m"]), FakeServer("b", ["m"])
    client, _ = make_client(a, b)
    assert client.chat("m", "hi").text == "from a"


def test_unknown_model_lists_close_names_across_services() -> None:
    a, b = FakeServer("a", ["llama3.2:latest"]), FakeServer("b", ["llama3.1-8b", "qwen3"])
    client, _ = make_client(a, b)
    with pytest.raises(ModelNotFoundError) as caught:
        client.chat("llama3", "hi")
    assert caught.value.model == "llama3"
    assert set(caught.value.suggestions) >= {"llama3.2:latest", "llama3.1-8b"}
    assert "qwen3" not in caught.value.suggestions
    assert "Did you mean" in str(caught.value)


def test_a_single_service_is_used_without_listing_models() -> None:
    a = FakeServer("a", ["m"])
    client, _ = make_client(a)
    client.chat("anything", "hi")
    assert a.listings == 0  # one round trip per chat, nothing more


def test_ollama_latest_tag_is_normalised_when_matching() -> None:
    from modelport._naming import names_match

    assert names_match("llama3.2", "llama3.2:latest", ollama=True)
    assert not names_match("llama3.2", "llama3.2:latest", ollama=False)


def test_llamacpp_model_file_name_matches_its_path_id() -> None:
    path = "models/SmolLM2-135M-Instruct.Q4_1.gguf"
    a = FakeServer("a", ["other"])
    b = FakeServer("l", [path], meta={"n_ctx": 2048, "n_ctx_train": 8192})
    llama = LlamaCppProvider("http://127.0.0.1:8080", transport=httpx.MockTransport(b.handler))
    client = modelport.Client(services=[a.provider(), llama])
    assert client.chat("SmolLM2-135M-Instruct.Q4_1", "hi").text == "from l"
    sent = next(body for p, body in b.calls if p == "/v1/chat/completions")
    assert sent["model"] == path


# ---------------------------------------------------------------------------- retries and failover


def test_retriable_error_is_retried_with_backoff_then_succeeds() -> None:
    a = FakeServer("a", ["m"])
    a.chat_script = [status(503, "busy"), status(502), a.reply("ok")]
    client, sleeps = make_client(a, max_retries=2)
    assert client.chat("m", "hi").text == "ok"
    assert a.chats == 3
    assert len(sleeps) == 2 and all(s >= 0 for s in sleeps)


def test_retries_honour_retry_after() -> None:
    a = FakeServer("a", ["m"])
    a.chat_script = [status(429, "slow down", {"Retry-After": "3"}), a.reply("ok")]
    client, sleeps = make_client(a)
    client.chat("m", "hi")
    assert sleeps == [3.0]


def test_after_retries_the_next_service_with_the_model_is_tried() -> None:
    a, b = FakeServer("a", ["m"]), FakeServer("b", ["m"])
    a.chat_script = [status(500)] * 3
    client, sleeps = make_client(a, b, max_retries=2)
    assert client.chat("m", "hi").text == "from b"
    assert (a.chats, b.chats) == (3, 1)
    assert len(sleeps) == 2


def test_non_retriable_errors_are_raised_at_once_and_never_failed_over() -> None:
    for behaviour, error in (
        (status(400, "bad temperature"), InvalidRequestError),
        (status(400, "the prompt is longer than the context length"), ContextLengthExceededError),
    ):
        a, b = FakeServer("a", ["m"]), FakeServer("b", ["m"])
        a.chat_script = [behaviour]
        client, sleeps = make_client(a, b)
        with pytest.raises(error):
            client.chat("m", "hi")
        assert (a.chats, b.chats, sleeps) == (1, 0, [])


def test_every_candidate_failing_raises_all_services_failed_with_each_cause() -> None:
    a, b = FakeServer("a", ["m"]), FakeServer("b", ["m"])
    a.chat_script = [status(503)] * 3
    b.chat_script = [refused] * 3
    client, _ = make_client(a, b, max_retries=2)
    with pytest.raises(AllServicesFailedError) as caught:
        client.chat("m", "hi")
    errors = caught.value.errors
    assert [e.service for e in errors] == ["a", "b"]
    assert all(isinstance(e, ServiceUnavailableError) for e in errors)
    assert caught.value.retriable


def test_a_single_service_failing_raises_its_own_error() -> None:
    a = FakeServer("a", ["m"])
    a.chat_script = [refused] * 3
    client, _ = make_client(a)
    with pytest.raises(ServiceUnavailableError) as caught:
        client.chat("m", "hi")
    assert caught.value.service == "a"


def test_rate_limit_asking_for_a_long_wait_fails_over_instead() -> None:
    a, b = FakeServer("a", ["m"]), FakeServer("b", ["m"])
    a.chat_script = [status(429, "quota", {"Retry-After": "3600"})]
    client, sleeps = make_client(a, b)
    assert client.chat("m", "hi").text == "from b"
    assert sleeps == []


def test_stream_fails_over_before_the_first_chunk() -> None:
    a, b = FakeServer("a", ["m"]), FakeServer("b", ["m"])
    a.chat_script = [refused] * 3
    client, _ = make_client(a, b)
    with client.chat_stream("m", "hi") as stream:
        text = "".join(c.text for c in stream)
    assert text == "from b"
    assert stream.response.service == "b"


def test_stream_never_fails_over_after_the_first_chunk() -> None:
    a, b = FakeServer("a", ["m"]), FakeServer("b", ["m"])

    def broken(request: httpx.Request) -> httpx.Response:
        data = (
            b'data: {"choices":[{"delta":{"content":"Hel"}}]}\n\ndata: {"error":"runner died"}\n\n'
        )
        return httpx.Response(200, content=data)

    a.chat_script = [broken]
    client, _ = make_client(a, b)
    with pytest.raises(StreamError) as caught, client.chat_stream("m", "hi") as stream:
        list(stream)
    assert caught.value.partial == "Hel"
    assert b.chats == 0


# ---------------------------------------------------------------------------- health


def test_health_goes_degraded_then_unavailable_and_back_on_success() -> None:
    a = FakeServer("a", ["m"])
    client, _ = make_client(a, max_retries=0)
    state = client.router.states[0]
    a.chat_script = [status(503)] * 3
    statuses = []
    for _ in range(3):
        with pytest.raises(ServiceUnavailableError):
            client.chat("m", "hi")
        statuses.append(state.status)
    assert statuses == [ServiceStatus.DEGRADED, ServiceStatus.DEGRADED, ServiceStatus.UNAVAILABLE]
    now = [time.monotonic() + 1000]
    client.router.clock = lambda: now[0]
    assert client.chat("m", "hi").text == "from a"  # the only service: tried anyway
    assert state.status is ServiceStatus.AVAILABLE


def test_unavailable_service_is_skipped_until_its_cooldown_passes() -> None:
    a, b = FakeServer("a", ["m"]), FakeServer("b", ["m"])
    client, _ = make_client(a, b, max_retries=0, failure_threshold=1, cooldown=30)
    now = [0.0]
    client.router.clock = lambda: now[0]
    a.chat_script = [refused]
    assert client.chat("m", "hi").text == "from b"
    assert client.router.states[0].status is ServiceStatus.UNAVAILABLE
    assert client.chat("m", "hi").text == "from b"
    assert a.chats == 1  # skipped: a dead server costs one failure, not one per request
    now[0] = 31.0
    assert client.chat("m", "hi").text == "from a"  # re-probed after the cool-down
    assert client.router.states[0].status is ServiceStatus.AVAILABLE


def _recording(order: list[str], name: str, behaviour: Behaviour) -> Behaviour:
    def answer(request: httpx.Request) -> httpx.Response:
        order.append(name)
        return behaviour(request)

    return answer


def test_when_every_replica_is_cooling_down_each_is_tried_longest_cooling_first() -> None:
    """As a single service is tried in its cool-down rather than not at all, replicas
    that are all cooling down are all tried: the one down longest first."""
    a, b = FakeServer("a", ["m"]), FakeServer("b", ["m"])
    client, _ = make_client(a, b, max_retries=0, failure_threshold=1, cooldown=30)
    now = [0.0]
    client.router.clock = lambda: now[0]
    a.chat_script = [refused]
    assert client.chat("m", "hi").text == "from b"  # a is down since 0
    now[0] = 5.0
    b.chat_script = [refused]
    with pytest.raises(AllServicesFailedError) as caught:
        client.chat("m", "hi")  # b fails (down since 5); a is skipped, cooling down
    assert "1 tried" in str(caught.value)
    now[0] = 10.0  # both cooling down: a (down 10 s) before b (down 5 s)
    order: list[str] = []
    a.chat_script = [_recording(order, "a", refused)]
    b.chat_script = [_recording(order, "b", b.reply("from b"))]
    assert client.chat("m", "hi").text == "from b"
    assert order == ["a", "b"]


def test_when_every_cooling_replica_fails_the_error_counts_what_was_tried() -> None:
    a, b = FakeServer("a", ["m"]), FakeServer("b", ["m"])
    client, _ = make_client(a, b, max_retries=0, failure_threshold=1, cooldown=30)
    now = [0.0]
    client.router.clock = lambda: now[0]
    client.models()  # lists cached while both are up
    for state in client.router.states:
        client.router.health.record_failure(state, ServiceUnavailableError("down"))
    order: list[str] = []
    a.chat_script = [_recording(order, "a", refused)]
    b.chat_script = [_recording(order, "b", refused)]
    now[0] = 1.0
    with pytest.raises(AllServicesFailedError) as caught:
        client.chat("m", "hi")
    assert order == ["a", "b"]
    assert "2 tried" in str(caught.value)
    assert len(caught.value.errors) == 2


def test_when_every_replica_is_cooling_down_their_lists_are_asked_for_too() -> None:
    """With no list cached, replicas all in their cool-down are listed (not refused
    unasked), so the request can still be routed."""
    a, b = FakeServer("a", ["m"]), FakeServer("b", ["m"])
    client, _ = make_client(a, b, max_retries=0, failure_threshold=1, cooldown=30, models_ttl=0)
    now = [0.0]
    client.router.clock = lambda: now[0]
    for state in client.router.states:
        client.router.health.record_failure(state, ServiceUnavailableError("down"))
    now[0] = 1.0
    assert client.chat("m", "hi").text == "from a"
    assert (a.listings, b.listings) == (1, 1)


def test_client_errors_do_not_hurt_a_services_health() -> None:
    a = FakeServer("a", ["m"])
    a.chat_script = [status(400, "bad request")]
    client, _ = make_client(a)
    with pytest.raises(InvalidRequestError):
        client.chat("m", "hi")
    assert client.router.states[0].status is ServiceStatus.AVAILABLE


def test_services_reports_health_of_each_service() -> None:
    a = FakeServer("a", ["m", "n"])
    dead = OpenAICompatibleProvider(
        "http://127.0.0.1:9", name="dead", transport=httpx.MockTransport(refused)
    )
    client = modelport.Client(services=[a.provider(), dead])
    services = {s.name: s for s in client.services()}
    assert services["a"].status is ServiceStatus.AVAILABLE
    assert services["a"].model_count == 2
    assert services["dead"].status is ServiceStatus.UNAVAILABLE
    assert "Could not reach" in (services["dead"].error or "")


# ---------------------------------------------------------------------------- caching


def test_model_lists_are_cached_for_their_ttl_and_refresh_bypasses() -> None:
    a, b = FakeServer("a", ["m"]), FakeServer("b", ["n"])
    client, _ = make_client(a, b, models_ttl=30)
    now = [0.0]
    client.router.clock = lambda: now[0]
    client.models()
    client.chat("m", "hi")
    client.chat("n", "hi")
    assert (a.listings, b.listings) == (1, 1)
    client.models(refresh=True)
    assert (a.listings, b.listings) == (2, 2)
    now[0] = 31.0
    client.chat("m", "hi")
    assert (a.listings, b.listings) == (3, 3)


def test_concurrent_callers_share_one_refresh() -> None:
    a, b = FakeServer("a", ["m"]), FakeServer("b", ["n"])
    a.list_delay = b.list_delay = 0.2
    client, _ = make_client(a, b)
    threads = [threading.Thread(target=client.models) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert (a.listings, b.listings) == (1, 1)


def test_models_lists_every_reachable_service_and_skips_dead_ones() -> None:
    a = FakeServer("a", ["m"])
    dead = OpenAICompatibleProvider(
        "http://127.0.0.1:9", name="dead", transport=httpx.MockTransport(refused)
    )
    client = modelport.Client(services=[a.provider(), dead])
    assert [m.id for m in client.models()] == ["a/m"]


def test_models_raises_when_no_service_answers() -> None:
    dead = OpenAICompatibleProvider(
        "http://127.0.0.1:9", name="dead", transport=httpx.MockTransport(refused)
    )
    client = modelport.Client(services=[dead])
    with pytest.raises(ServiceUnavailableError):
        client.models()


# ---------------------------------------------------------------------------- configuration


def test_services_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELPORT_SERVICES", "llamacpp, gpu=http://127.0.0.1:11500")
    client = modelport.Client()
    assert [s.name for s in client.router.states] == ["llamacpp"]
    assert [c.name for c in client._pending] == ["gpu"]


def test_invalid_timeout_in_the_environment_names_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MODELPORT_TIMEOUT", "soon")
    with pytest.raises(ConfigurationError) as caught:
        modelport.Client(services=["llamacpp"])
    assert "MODELPORT_TIMEOUT" in str(caught.value)


def test_constructor_arguments_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELPORT_TIMEOUT", "5")
    assert modelport.Client(services=["llamacpp"], timeout=42).timeout == 42
    assert modelport.Client(services=["llamacpp"]).timeout == 5


@pytest.mark.parametrize("bad", ["ftp://x", "=http://x", "a/b=http://x", "openai"])
def test_invalid_service_specs_raise_configuration_error(bad: str) -> None:
    with pytest.raises(ConfigurationError):
        modelport.Client(services=[bad])


def test_no_server_anywhere_says_how_to_start_one(monkeypatch: pytest.MonkeyPatch) -> None:
    import modelport.discovery as discovery

    monkeypatch.setattr(discovery, "discover", lambda timeout=0.5, hosts=None, gateway_id=None: [])
    client = modelport.Client()
    with pytest.raises(ServiceUnavailableError) as caught:
        client.chat("m", "hi")
    assert "ollama serve" in str(caught.value)
    assert client.services() == []


def test_client_without_arguments_uses_what_discovery_finds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import modelport.discovery as discovery
    from modelport import Service

    found = [
        Service(name="llamacpp", kind="llamacpp", base_url="http://127.0.0.1:8080", version="b1")
    ]
    calls = []

    def fake(timeout: float = 0.5, hosts: Any = None, gateway_id: Any = None) -> list[Service]:
        calls.append(timeout)
        return found

    monkeypatch.setattr(discovery, "discover", fake)
    client = modelport.Client()
    assert calls == []  # lazy: nothing happens until first use
    states = client._run_flow(client._ensure())
    assert [(s.name, s.provider.kind) for s in states] == [("llamacpp", "llamacpp")]
    client._run_flow(client._ensure())
    assert len(calls) == 1


# ---------------------------------------------------------------------------- async twin


@pytest.mark.anyio
async def test_async_client_routes_retries_and_fails_over_like_the_sync_one() -> None:
    a, b = FakeServer("a", ["m"]), FakeServer("b", ["m", "n"])
    a.chat_script = [status(503), status(503), status(503)]
    client = modelport.AsyncClient(services=[a.provider(), b.provider()], max_retries=2)
    sleeps: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)

    client._sleep = fake_sleep
    reply = await client.chat("m", "hi")
    assert reply.text == "from b"
    assert len(sleeps) == 2
    assert (await client.chat("n", "hi")).text == "from b"
    async with client.chat_stream("n", "hi") as stream:
        assert "".join([c.text async for c in stream]) == "from b"
    with pytest.raises(ModelNotFoundError):
        await client.chat("zzz", "hi")
    # Three failures made "a" unavailable: it is skipped until its cool-down passes.
    assert client.router.states[0].status is ServiceStatus.UNAVAILABLE
    assert {m.id for m in await client.models()} == {"b/m", "b/n"}
    await client.aclose()


def test_model_info_accepts_the_names_chat_accepts() -> None:
    path = "models/SmolLM2-135M-Instruct.Q4_1.gguf"
    server = FakeServer("l", [path], meta={"n_ctx": 2048, "n_ctx_train": 8192})
    llama = LlamaCppProvider("http://127.0.0.1:8080", transport=httpx.MockTransport(server.handler))
    client = modelport.Client(services=[llama])
    info = client.model_info("SmolLM2-135M-Instruct.Q4_1")
    assert info.name == "SmolLM2-135M-Instruct.Q4_1"  # served by path: listed by its stem
    assert client.model_info(path).name == info.name
    assert info.context_length == 8192
    with pytest.raises(ModelNotFoundError) as caught:
        client.model_info("smol")
    assert info.name in caught.value.suggestions


def test_a_skipped_service_says_where_it_is_and_how_to_start_it() -> None:
    dead = OpenAICompatibleProvider(
        "http://127.0.0.1:9", name="dead", transport=httpx.MockTransport(refused)
    )
    client = modelport.Client(services=[dead], failure_threshold=1)
    with pytest.raises(ServiceUnavailableError):
        client.models()
    with pytest.raises(ServiceUnavailableError) as caught:
        client.models()  # now in its cool-down: skipped without a request
    message = str(caught.value)
    assert "http://127.0.0.1:9" in message
    assert "tried again in" in message
    assert dead.start_hint in message


def test_a_stream_that_breaks_after_output_counts_against_the_services_health() -> None:
    a = FakeServer("a", ["m"])

    def broken(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b'data: {"choices":[{"delta":{"content":"Hel"}}]}\n\n')

    a.chat_script = [broken]
    client, _ = make_client(a)
    with pytest.raises(StreamError), client.chat_stream("m", "hi") as stream:
        list(stream)
    assert client.router.states[0].status is ServiceStatus.DEGRADED


def test_concurrent_forced_refreshes_share_one_request_whatever_the_clock() -> None:
    a, b = FakeServer("a", ["m"]), FakeServer("b", ["n"])
    a.list_delay = b.list_delay = 0.2
    client, _ = make_client(a, b)
    client.router.clock = lambda: 5.0  # a frozen clock: sharing must not depend on time
    threads = [threading.Thread(target=client.models, kwargs={"refresh": True}) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert (a.listings, b.listings) == (1, 1)


def test_two_services_with_one_name_are_a_configuration_error() -> None:
    first = FakeServer("same", ["m"]).provider()
    second = FakeServer("same", ["n"]).provider()
    with pytest.raises(ConfigurationError) as caught:
        modelport.Client(services=[first, second])
    assert "'same'" in str(caught.value)


def test_two_unnamed_services_of_one_kind_get_distinct_names() -> None:
    client = modelport.Client(services=["llamacpp", "llamacpp"])
    assert [s.name for s in client.router.states] == ["llamacpp", "llamacpp-2"]


# ---------------------------------------------------------------------------- requests in flight


def _replicas(**kwargs: Any) -> tuple[Any, Any]:
    from modelport.testing import FakeProvider

    first = FakeProvider(models=["m"], name="first", reply="from first", **kwargs)
    second = FakeProvider(models=["m"], name="second", reply="from second", **kwargs)
    return first, second


@pytest.mark.anyio
async def test_concurrent_requests_spread_over_replicas_by_requests_in_flight() -> None:
    import asyncio

    first, second = _replicas(latency=0.05)
    async with modelport.AsyncClient(services=[first, second]) as client:
        await client.models()
        await asyncio.gather(*(client.chat("m", "hi") for _ in range(8)))
    assert (len(first.requests), len(second.requests)) == (4, 4)


@pytest.mark.anyio
async def test_services_report_requests_in_flight_until_a_stream_is_closed() -> None:
    first, second = _replicas()
    async with modelport.AsyncClient(services=[first, second]) as client:
        await client.models()
        stream = client.chat_stream("m", "hi")
        await stream.__anext__()
        counts = {s.name: s.in_flight for s in await client.services()}
        assert counts == {"first": 1, "second": 0}
        # the busy replica is passed over while the other is idle
        assert (await client.chat("m", "hi")).service == "second"
        await stream.aclose()
        assert {s.name: s.in_flight for s in await client.services()} == {"first": 0, "second": 0}
        assert (await client.chat("m", "hi")).service == "first"


def test_sync_client_counts_requests_in_flight_too() -> None:
    first, second = _replicas()
    client = modelport.Client(services=[first, second])
    client.models()
    with client.chat_stream("m", "hi") as stream:
        next(stream)
        assert [s.in_flight for s in client.services()] == [1, 0]
        assert client.chat("m", "hi").service == "second"
    assert [s.in_flight for s in client.services()] == [0, 0]


def test_a_failed_attempt_no_longer_counts_as_in_flight() -> None:
    first, second = _replicas()
    client = modelport.Client(services=[first, second], max_retries=0)
    client.models()
    first.fail_next(ServiceUnavailableError("down"))
    assert client.chat("m", "hi").service == "second"
    assert [s.in_flight for s in client.services()] == [0, 0]


@pytest.mark.anyio
async def test_a_replica_that_fails_at_once_gets_fewer_requests_than_a_healthy_one() -> None:
    import asyncio

    fast_failing, healthy = _replicas()
    healthy.latency = 0.05
    fast_failing.fail_next(*[ServiceUnavailableError("busy") for _ in range(100)])
    async with modelport.AsyncClient(services=[fast_failing, healthy]) as client:
        client._sleep = lambda seconds: asyncio.sleep(0)
        await client.models()
        replies = await asyncio.gather(*(client.chat("m", "hi") for _ in range(8)))
    assert {r.service for r in replies} == {"second"}
    assert len(fast_failing.requests) < len(healthy.requests)


def test_health_and_loaded_state_rank_before_requests_in_flight() -> None:
    first, second = _replicas()
    client = modelport.Client(services=[first, second], max_retries=0)
    client.models()
    first.fail_next(ServiceUnavailableError("down"))
    client.chat("m", "hi")  # "first" failed once: degraded
    with client.chat_stream("m", "hi") as stream:  # goes to the healthy "second"
        next(stream)
        # "second" is busy, but healthy beats idle-and-degraded
        assert client.chat("m", "hi").service == "second"

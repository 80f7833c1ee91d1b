"""OpenTelemetry spans from Client and AsyncClient (the ``otel`` extra): one CLIENT span
per operation with the GenAI semantic-convention attributes, retries and failovers as
its events, streams traced until they end, the span's ``traceparent`` on the upstream
request, and prompts recorded only when asked for. Read with the SDK's in-memory
exporter; no sockets (``httpx.MockTransport``).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import httpx
import pytest

import modelport
from modelport import (
    ChatChunk,
    CompletionChoice,
    CompletionResponse,
    ModelNotFoundError,
    OpenAICompatibleProvider,
    RerankedDocument,
    RerankResult,
    StreamError,
)
from modelport._http.ops import ItemOp, Op, emit, sleep
from modelport._http.retry import RetryPolicy
from modelport._streams import CompletionItem
from modelport._wire.common import CompletionRequest, RerankRequest
from modelport.testing import FakeProvider
from tests.spans import events, named, spans, traceparent_of
from tests.unit.test_routing import FakeServer, status

from opentelemetry.trace import SpanKind, StatusCode  # isort: skip

__all__ = ["spans"]  # the fixture, used by name

Handler = Callable[[httpx.Request], httpx.Response]

CHAT_BODY = {
    "id": "chatcmpl-42",
    "model": "m-2024-01",
    "choices": [{"message": {"content": "Paris."}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14},
}

SSE = (
    b"".join(
        b"data: " + json.dumps(event).encode() + b"\n\n"
        for event in (
            {"id": "chatcmpl-7", "model": "m-2024-01", "choices": [{"delta": {"content": "Par"}}]},
            {"id": "chatcmpl-7", "model": "m-2024-01", "choices": [{"delta": {"content": "is."}}]},
            {
                "id": "chatcmpl-7",
                "model": "m-2024-01",
                "choices": [{"delta": {}, "finish_reason": "length"}],
            },
            {
                "id": "chatcmpl-7",
                "choices": [],
                "usage": {"prompt_tokens": 7, "completion_tokens": 2},
            },
        )
    )
    + b"data: [DONE]\n\n"
)


class Upstream:
    """An OpenAI-compatible server at 127.0.0.1:8123 that serves model ``m``."""

    def __init__(self, chat: Handler | None = None) -> None:
        self.seen: list[httpx.Request] = []
        self.chat = chat

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        if request.url.path.endswith("/models"):
            return httpx.Response(200, json={"data": [{"id": "m"}]})
        if self.chat is not None:
            return self.chat(request)
        if json.loads(request.content).get("stream"):
            return httpx.Response(200, content=SSE, headers={"content-type": "text/event-stream"})
        return httpx.Response(200, json=CHAT_BODY)

    def provider(self) -> OpenAICompatibleProvider:
        return OpenAICompatibleProvider(
            "http://127.0.0.1:8123/v1", name="gpu", transport=httpx.MockTransport(self)
        )

    @property
    def chats(self) -> list[httpx.Request]:
        return [r for r in self.seen if r.url.path.endswith("/chat/completions")]


async def _no_wait(seconds: float) -> None:
    return None


def run(kind: str, services: list[Any], method: str, *args: Any, **kwargs: Any) -> Any:
    """Call ``method`` on a Client or an AsyncClient over ``services`` (no backoff waits);
    a stream is read to the end."""
    policy = RetryPolicy(max_retries=2, base_delay=0.0)
    if kind == "sync":
        with modelport.Client(services=services, retry_policy=policy) as client:
            client._sleep = lambda seconds: None
            result = getattr(client, method)(*args, **kwargs)
            return list(result) if method.endswith("_stream") else result

    async def main() -> Any:
        async with modelport.AsyncClient(services=services, retry_policy=policy) as client:
            client._sleep = _no_wait
            result = getattr(client, method)(*args, **kwargs)
            if method.endswith("_stream"):
                return [item async for item in result]
            return await result

    return asyncio.run(main())


TWINS = pytest.mark.parametrize("kind", ["sync", "async"])


# ---------------------------------------------------------------------------- one span per call


@TWINS
def test_chat_emits_one_client_span_with_the_genai_attributes(kind: str, spans: Any) -> None:
    upstream = Upstream()
    run(kind, [upstream.provider()], "chat", "m", "Capital of France?", temperature=0.2)
    (span,) = spans.get_finished_spans()
    assert span.name == "chat m"
    assert span.kind is SpanKind.CLIENT
    assert dict(span.attributes or {}) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "m",
        "gen_ai.request.temperature": 0.2,
        "gen_ai.response.model": "m-2024-01",
        "gen_ai.response.id": "chatcmpl-42",
        "gen_ai.response.finish_reasons": ("stop",),
        "gen_ai.usage.input_tokens": 11,
        "gen_ai.usage.output_tokens": 3,
        "server.address": "127.0.0.1",
        "server.port": 8123,
        "modelport.service": "gpu",
    }
    assert span.status.status_code is StatusCode.UNSET
    assert span.events == ()


@TWINS
def test_the_upstream_request_carries_the_client_spans_traceparent(kind: str, spans: Any) -> None:
    upstream = Upstream()
    run(kind, [upstream.provider()], "chat", "m", "hi")
    (span,) = spans.get_finished_spans()
    assert [r.headers["traceparent"] for r in upstream.chats] == [traceparent_of(span)]


def test_the_client_span_is_a_child_of_the_callers_current_span(spans: Any) -> None:
    from opentelemetry import trace

    upstream = Upstream()
    tracer = trace.get_tracer_provider().get_tracer("app")
    with tracer.start_as_current_span("handle request") as outer:
        run("sync", [upstream.provider()], "chat", "m", "hi")
    (client_span,) = named(spans, "chat m")
    assert client_span.parent is not None
    assert client_span.parent.span_id == outer.get_span_context().span_id
    assert client_span.context.trace_id == outer.get_span_context().trace_id


@TWINS
@pytest.mark.parametrize(
    ("method", "args", "name", "operation"),
    [
        ("embed", ("fake-model", ["a", "b"]), "embeddings fake-model", "embeddings"),
        ("complete", ("fake-model", "Once"), "text_completion fake-model", "text_completion"),
        (
            "complete_stream",
            ("fake-model", "Once"),
            "text_completion fake-model",
            "text_completion",
        ),
        ("rerank", ("fake-model", "q", ["x", "y"]), "rerank fake-model", "rerank"),
        ("chat_stream", ("fake-model", "hi"), "chat fake-model", "chat"),
    ],
)
def test_every_model_operation_has_its_span(
    kind: str, method: str, args: tuple[Any, ...], name: str, operation: str, spans: Any
) -> None:
    fake = Versatile(name="fake")
    run(kind, [fake], method, *args)
    (span,) = spans.get_finished_spans()
    assert span.name == name
    attributes = dict(span.attributes or {})
    assert attributes["gen_ai.operation.name"] == operation
    assert attributes["gen_ai.request.model"] == "fake-model"
    assert attributes["gen_ai.provider.name"] == fake.kind
    assert attributes["modelport.service"] == "fake"


class Versatile(FakeProvider):
    """A fake that also completes text and reranks."""

    def _op_complete(self, req: CompletionRequest) -> Op[CompletionResponse]:
        yield from sleep(0)
        return self._completion(req)

    def _op_complete_stream(self, req: CompletionRequest) -> ItemOp[CompletionItem]:
        yield from emit(ChatChunk(text="upon"))
        yield from emit(self._completion(req))

    def _completion(self, req: CompletionRequest) -> CompletionResponse:
        choice = CompletionChoice(text="upon", finish_reason="stop")
        return CompletionResponse(choices=[choice], model=req.model, service=self.name)

    def _op_rerank(self, req: RerankRequest) -> Op[RerankResult]:
        yield from sleep(0)
        ranked = [RerankedDocument(index=0, score=0.5, document=req.documents[0])]
        return RerankResult(results=ranked, model=req.model, service=self.name)


# ------------------------------------------------------------------- retries, failover, errors


@TWINS
def test_a_retry_is_an_event_on_the_one_span(kind: str, spans: Any) -> None:
    a = FakeServer("a", ["m"])
    a.chat_script = [status(503, "busy")]
    run(kind, [a.provider()], "chat", "m", "hi")
    (span,) = spans.get_finished_spans()
    assert events(span) == [
        (
            "modelport.retry",
            {
                "modelport.service": "a",
                "modelport.retry.attempt": 1,
                "modelport.retry.delay": 0.0,
                "error.type": "ServiceUnavailableError",
            },
        )
    ]
    assert "error.type" not in (span.attributes or {})


@TWINS
def test_a_failover_across_two_replicas_is_an_event(kind: str, spans: Any) -> None:
    a, b = Recorded("a", ["m"]), Recorded("b2", ["m"])
    a.chat_script = [status(500)] * 3
    run(kind, [a.provider(), b.provider()], "chat", "m", "hi")
    (span,) = spans.get_finished_spans()
    assert [name for name, _ in events(span)] == [
        "modelport.retry",
        "modelport.retry",
        "modelport.failover",
    ]
    assert events(span)[-1][1] == {
        "modelport.service": "b2",
        "modelport.failover.from": "a",
        "error.type": "ServerError",
    }
    attributes = dict(span.attributes or {})
    assert attributes["modelport.service"] == "b2"
    assert attributes["server.port"] == 9002  # b2's, the replica that answered
    assert [*a.traceparents, *b.traceparents] == [traceparent_of(span)] * 4


class Recorded(FakeServer):
    """A scripted replica that also records the ``traceparent`` of each chat."""

    def __init__(self, name: str, models: list[str]) -> None:
        super().__init__(name, models)
        self.traceparents: list[str | None] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/chat/completions":
            self.traceparents.append(request.headers.get("traceparent"))
        return super().handler(request)


@TWINS
def test_a_typed_error_sets_error_type_and_the_error_status(kind: str, spans: Any) -> None:
    upstream = Upstream(lambda r: httpx.Response(404, json={"error": "model 'm' not found"}))
    with pytest.raises(ModelNotFoundError):
        run(kind, [upstream.provider()], "chat", "m", "hi")
    (span,) = spans.get_finished_spans()
    assert span.attributes is not None
    assert span.attributes["error.type"] == "ModelNotFoundError"
    assert span.status.status_code is StatusCode.ERROR
    assert "not found" not in (span.status.description or "")  # never the server's words


# ---------------------------------------------------------------------------- streams


@TWINS
def test_a_stream_span_covers_the_whole_stream(kind: str, spans: Any) -> None:
    upstream = Upstream()
    items = run(kind, [upstream.provider()], "chat_stream", "m", "hi")
    assert "".join(c.text for c in items) == "Paris."
    (span,) = spans.get_finished_spans()
    attributes = dict(span.attributes or {})
    assert span.name == "chat m"
    assert attributes["gen_ai.response.finish_reasons"] == ("length",)
    assert attributes["gen_ai.usage.input_tokens"] == 7
    assert attributes["gen_ai.usage.output_tokens"] == 2
    assert attributes["gen_ai.response.model"] == "m-2024-01"
    assert attributes["gen_ai.response.id"] == "chatcmpl-7"  # every chunk carries it
    assert [r.headers["traceparent"] for r in upstream.chats] == [traceparent_of(span)]


def test_a_stream_span_is_open_until_the_stream_ends(spans: Any) -> None:
    upstream = Upstream()
    with modelport.Client(services=[upstream.provider()]) as client:
        stream = client.chat_stream("m", "hi")
        first = next(iter(stream))
        assert first.text == "Par"
        assert spans.get_finished_spans() == ()
        rest = list(stream)
    assert len(rest) == 2
    assert len(spans.get_finished_spans()) == 1


@TWINS
def test_a_stream_closed_early_ends_its_span_without_an_error(kind: str, spans: Any) -> None:
    upstream = Upstream()
    if kind == "sync":
        with modelport.Client(services=[upstream.provider()]) as client:
            with client.chat_stream("m", "hi") as stream:
                next(iter(stream))
    else:

        async def main() -> None:
            async with modelport.AsyncClient(services=[upstream.provider()]) as client:
                async with client.chat_stream("m", "hi") as stream:
                    await stream.__anext__()

        asyncio.run(main())
    (span,) = spans.get_finished_spans()
    assert "error.type" not in (span.attributes or {})
    assert span.status.status_code is StatusCode.UNSET


@TWINS
def test_a_stream_failing_midway_sets_error_type(kind: str, spans: Any) -> None:
    broken = b'data: {"choices":[{"delta":{"content":"Hel"}}]}\n\ndata: {"error":"runner died"}\n\n'
    upstream = Upstream(lambda r: httpx.Response(200, content=broken))
    with pytest.raises(StreamError):
        run(kind, [upstream.provider()], "chat_stream", "m", "hi")
    (span,) = spans.get_finished_spans()
    assert span.attributes is not None
    assert span.attributes["error.type"] == "StreamError"
    assert span.status.status_code is StatusCode.ERROR


# ---------------------------------------------------------------------------- content: opt-in only


def test_prompts_and_replies_are_not_recorded_by_default(spans: Any) -> None:
    run("sync", [Upstream().provider()], "chat", "m", "my secret prompt", system="be terse")
    (span,) = spans.get_finished_spans()
    recorded = json.dumps({k: str(v) for k, v in (span.attributes or {}).items()})
    assert "secret" not in recorded and "terse" not in recorded and "Paris" not in recorded
    assert not any(k.startswith("gen_ai.input") for k in span.attributes or {})


@TWINS
def test_prompts_and_replies_are_recorded_when_asked_for(
    kind: str, spans: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    run(kind, [Upstream().provider()], "chat", "m", "Capital of France?", system="be terse")
    (span,) = spans.get_finished_spans()
    attributes = dict(span.attributes or {})
    assert json.loads(str(attributes["gen_ai.system_instructions"])) == [
        {"type": "text", "content": "be terse"}
    ]
    assert json.loads(str(attributes["gen_ai.input.messages"])) == [
        {"role": "user", "parts": [{"type": "text", "content": "Capital of France?"}]}
    ]
    assert json.loads(str(attributes["gen_ai.output.messages"])) == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": "Paris."}],
            "finish_reason": "stop",
        }
    ]


# ---------------------------------------------------------------------------- off: nothing at all


def test_without_a_tracer_provider_requests_carry_no_traceparent() -> None:
    upstream = Upstream()
    run("sync", [upstream.provider()], "chat", "m", "hi")
    assert [r.headers.get("traceparent") for r in upstream.chats] == [None]


_NO_OTEL = """
import asyncio, sys

class Absent:
    asked = 0

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "opentelemetry":
            Absent.asked += 1
            raise ModuleNotFoundError(name)
        return None

if sys.argv[1] == "absent":
    sys.meta_path.insert(0, Absent())

import modelport
from modelport.testing import FakeProvider

client = modelport.Client(services=[FakeProvider(name="f")])
for _ in range(3):
    assert client.chat("fake-model", "hi").text
    assert list(client.chat_stream("fake-model", "hi"))

async def main():
    async with modelport.AsyncClient(services=[FakeProvider(name="f")]) as aclient:
        assert (await aclient.chat("fake-model", "hi")).text

asyncio.run(main())
import modelport.gateway
print(sorted(m for m in sys.modules if m.split(".")[0] == "opentelemetry"), Absent.asked)
"""


@pytest.mark.parametrize(
    ("case", "env", "asked"), [("absent", {}, 1), ("disabled", {"MODELPORT_OTEL": "off"}, 0)]
)
def test_without_the_extra_or_with_it_disabled_no_opentelemetry_module_is_imported(
    case: str, env: dict[str, str], asked: int
) -> None:
    """Absent: one failed import, remembered; disabled: not even looked for."""
    result = subprocess.run(
        [sys.executable, "-c", _NO_OTEL, case],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["[]", str(asked)]

"""OpenTelemetry spans, when the ``otel`` extra (``opentelemetry-api``) is installed and
the application has set a tracer provider (docs/observability.md).

Without the package, or with ``MODELPORT_OTEL=off``, nothing is imported: one import is
tried on the first traced call, and its failure remembered. With the API and no
provider set (the API's no-op), a call costs one look at the global provider.

The client's flows (:mod:`modelport._core`) are traced by :func:`traced`: a CLIENT span
per model operation named ``"{gen_ai.operation.name} {gen_ai.request.model}"``, with the
GenAI semantic conventions' attributes. The flow is wrapped, not changed: the wrapper
reads the steps going by (an attempt is a step with a ``provider`` and an ``op``, as
``Call`` and ``Open`` are; ``Sleep`` is a backoff; ``Pipe`` hands a stream's items on),
adds the span's ``traceparent`` to each attempt's requests, and ends the span when the
flow ends, fails, or is closed (a stream: when the caller stops reading). Retries and
failovers are events on the one span. Prompts and replies are recorded only when
``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`` is true.

The gateway's SERVER span per request is :func:`server_span`.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator, Mapping
from typing import TYPE_CHECKING, Concatenate, Generic, Literal, ParamSpec, Protocol, TypeVar
from urllib.parse import urlsplit

from ._flow import Call, Open, Pipe, Runs
from ._http.forwarding import map_steps, with_headers
from ._http.ops import Emit, Sleep
from ._version import __version__
from .types import (
    ChatChunk,
    ChatResponse,
    CompletionResponse,
    Message,
    Usage,
)

if TYPE_CHECKING:
    from opentelemetry.trace import Span, Tracer, TracerProvider
    from opentelemetry.util.types import AttributeValue


__all__ = ["CAPTURE_CONTENT", "DISABLE", "ServerSpan", "server_span", "traced", "tracer"]

DISABLE = "MODELPORT_OTEL"
"""``off`` (or ``0``, ``false``, ``no``): never import OpenTelemetry, never trace."""
CAPTURE_CONTENT = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
"""``true``: record prompts and replies on the spans (the conventions' opt-in)."""


class _TraceAPI(Protocol):
    """What modelport calls on the ``opentelemetry.trace`` module (looked up on each
    call: the application may set its provider at any time).
    """

    def get_tracer_provider(self) -> TracerProvider: ...


class _Request(Protocol):
    """A traced flow's request (``ChatRequest``, ``CompletionRequest``,
    ``RerankRequest``); embeddings are traced with the model's name instead.
    """

    @property
    def model(self) -> str: ...


P = ParamSpec("P")
SelfT = TypeVar("SelfT")  # the object whose method the flow is
Q = TypeVar("Q", bound="str | _Request")
Y = TypeVar("Y")
R = TypeVar("R")
I = TypeVar("I")  # noqa: E741 - a stream's items

_api: _TraceAPI | Literal[False] | None = None
"""``opentelemetry.trace`` once imported; ``False`` when absent or disabled."""
_noop_providers: tuple[type, ...] = ()
_cached: tuple[object, Tracer | None] = (None, None)


def _load() -> _TraceAPI | Literal[False]:
    global _api, _noop_providers
    if os.environ.get(DISABLE, "").strip().lower() in ("off", "0", "false", "no"):
        _api = False
        return False
    try:
        from opentelemetry import trace
    except ImportError:
        _api = False
        return False
    _noop_providers = (trace.ProxyTracerProvider, trace.NoOpTracerProvider)
    _api = trace
    return trace


def tracer() -> Tracer | None:
    """The tracer to use now, or ``None``: no package, disabled, or no provider set."""
    global _cached
    api = _api if _api is not None else _load()
    if api is False:
        return None
    provider = api.get_tracer_provider()
    if type(provider) in _noop_providers:
        return None
    if _cached[0] is not provider:
        _cached = (provider, provider.get_tracer("modelport", __version__))
    return _cached[1]


def _capture() -> bool:
    return os.environ.get(CAPTURE_CONTENT, "").strip().lower() in ("true", "1", "yes")


def _traceparent(span: Span) -> str:
    ctx = span.get_span_context()
    return f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}"


def _error_type(error: BaseException) -> str:
    """The ``error.type`` of an error: its class, one of modelport's error tree (never
    the server's words).
    """
    return type(error).__name__


def _fail(span: Span, error: BaseException, attributes: dict[str, AttributeValue]) -> None:
    from opentelemetry.trace import Status, StatusCode

    kind = _error_type(error)
    attributes["error.type"] = kind
    span.set_status(Status(StatusCode.ERROR, kind))


def _address(base_url: str) -> tuple[str, int] | None:
    """``server.address`` and ``server.port`` of a service's base URL (remembered)."""
    if base_url in _ADDRESSES:
        return _ADDRESSES[base_url]
    url = urlsplit(base_url)
    found = None
    if url.hostname:
        found = (url.hostname, url.port or (443 if url.scheme == "https" else 80))
    if len(_ADDRESSES) < 1024:
        _ADDRESSES[base_url] = found
    return found


_ADDRESSES: dict[str, tuple[str, int] | None] = {}


# --------------------------------------------------------------------------- client spans


def traced(
    operation: str,
) -> Callable[
    [Callable[Concatenate[SelfT, Q, P], Generator[Y, None, R]]],
    Callable[Concatenate[SelfT, Q, P], Generator[Y, None, R]],
]:
    """Trace a client flow method as the GenAI operation ``operation``. Its first
    argument is the request (or, for embeddings, the model name).
    """

    def decorate(
        method: Callable[Concatenate[SelfT, Q, P], Generator[Y, None, R]],
    ) -> Callable[Concatenate[SelfT, Q, P], Generator[Y, None, R]]:
        @functools.wraps(method)
        def wrapper(
            self: SelfT, request: Q, /, *args: P.args, **kwargs: P.kwargs
        ) -> Generator[Y, None, R]:
            flow = method(self, request, *args, **kwargs)
            found = tracer()
            if found is None:
                return flow
            return _traced(flow, found, operation, request)

        return wrapper

    return decorate


def _traced(
    flow: Generator[Y, None, R], found: Tracer, operation: str, request: str | _Request
) -> Generator[Y, None, R]:
    rec = _Recorder(found, operation, request)
    try:
        result = yield from map_steps(flow, rec.step, rec.failed)
        if result is not None:
            rec.result(result)
        return result
    except GeneratorExit:
        raise  # closed: a stream the caller stopped reading, or a cancelled call
    except BaseException as exc:
        _fail(rec.span, exc, rec.attributes)
        raise
    finally:
        rec.span.set_attributes(rec.attributes)
        rec.span.end()


class _Recorder:
    """What one traced flow learns along the way, written on its span (started here)."""

    def __init__(self, found: Tracer, operation: str, request: str | _Request) -> None:
        from opentelemetry.trace import SpanKind

        self.model = request if isinstance(request, str) else request.model
        self.provider: Runs | None = None
        self.failure: tuple[Runs, BaseException] | None = None
        self.retries = 0
        self.waited = 0.0
        self.attributes: dict[str, AttributeValue] = {}
        """Set on the span as it ends, at once (cheaper than one call each)."""
        attributes: dict[str, AttributeValue] = {
            "gen_ai.operation.name": operation,
            "gen_ai.request.model": self.model,
        }
        for name, key in _REQUEST_ATTRIBUTES:
            given = getattr(request, name, None)
            if given is not None and given != ():
                attributes[key] = given
        if getattr(request, "json_mode", False) or getattr(request, "schema", None) is not None:
            attributes["gen_ai.output.type"] = "json"
        self.capture = _capture()
        if self.capture:
            attributes.update(_input_content(request))
        self.span: Span = found.start_span(
            f"{operation} {self.model}", kind=SpanKind.CLIENT, attributes=attributes
        )
        self.headers: Mapping[str, str] = {"traceparent": _traceparent(self.span)}

    def step(self, step: Y) -> Y:
        if isinstance(step, Sleep):
            self.waited += step.seconds
            return step
        if isinstance(step, Emit):  # a stream's first item
            self.item(step.item)
            return step
        # The step is changed, not replaced: the driver fills its result in, where the
        # flow that made it reads it.
        if isinstance(step, (Call, Open)):  # an attempt
            self.attempt(step.provider)
            step.op = with_headers(step.op, self.headers)
        elif isinstance(step, Pipe):
            items = step.items
            if isinstance(items, Iterator):
                step.items = _Observed(items, self)
            else:
                step.items = _AsyncObserved(items, self)
        return step

    def attempt(self, provider: Runs) -> None:
        span = self.span
        if self.failure is not None:
            before, error = self.failure
            if before is provider:
                self.retries += 1
                span.add_event(
                    "modelport.retry",
                    {
                        "modelport.service": provider.name,
                        "modelport.retry.attempt": self.retries,
                        "modelport.retry.delay": self.waited,
                        "error.type": _error_type(error),
                    },
                )
            else:
                self.retries = 0
                span.add_event(
                    "modelport.failover",
                    {
                        "modelport.service": provider.name,
                        "modelport.failover.from": before.name,
                        "error.type": _error_type(error),
                    },
                )
            self.failure = None
            self.waited = 0.0
        if provider is not self.provider:
            self.provider = provider
            attributes = self.attributes
            attributes["gen_ai.provider.name"] = provider.kind
            attributes["modelport.service"] = provider.name
            address = _address(provider.base_url)
            if address is not None:
                attributes["server.address"], attributes["server.port"] = address

    def failed(self, step: object, error: BaseException) -> None:
        if isinstance(step, (Call, Open)):
            self.failure = (step.provider, error)

    def item(self, item: object) -> None:
        """Record a stream's item: the last one is the whole reply."""
        if type(item) is not ChatChunk:
            self.result(item)

    def result(self, value: object) -> None:
        """Record a finished operation's answer."""
        if not self.span.is_recording():
            return
        attributes = self.attributes
        model = getattr(value, "model", None)
        if isinstance(model, str) and model:
            attributes["gen_ai.response.model"] = model
        usage = getattr(value, "usage", None)
        if isinstance(usage, Usage):
            if usage.prompt_tokens is not None:
                attributes["gen_ai.usage.input_tokens"] = usage.prompt_tokens
            if usage.completion_tokens is not None:
                attributes["gen_ai.usage.output_tokens"] = usage.completion_tokens
        reasons: list[str] = []
        if isinstance(value, ChatResponse):
            reasons = [value.finish_reason] if value.finish_reason else []
        elif isinstance(value, CompletionResponse):
            reasons = [c.finish_reason for c in value.choices if c.finish_reason]
        if reasons:
            attributes["gen_ai.response.finish_reasons"] = reasons
        raw = getattr(value, "raw", None)
        if isinstance(raw, Mapping) and isinstance(raw.get("id"), str):
            attributes["gen_ai.response.id"] = raw["id"]
        if self.capture:
            attributes.update(_output_content(value))


_REQUEST_ATTRIBUTES = (
    ("temperature", "gen_ai.request.temperature"),
    ("top_p", "gen_ai.request.top_p"),
    ("max_tokens", "gen_ai.request.max_tokens"),
    ("seed", "gen_ai.request.seed"),
    ("stop", "gen_ai.request.stop_sequences"),
)


class _Observed(Generic[I]):
    """A stream's remaining items on their way to the caller, the last one (the whole
    reply) recorded on the span.
    """

    __slots__ = ("_items", "_rec")

    def __init__(self, items: Iterator[I], rec: _Recorder) -> None:
        self._items = items
        self._rec = rec

    def __iter__(self) -> Iterator[I]:
        return self

    def __next__(self) -> I:
        item = next(self._items)
        self._rec.item(item)
        return item


class _AsyncObserved(Generic[I]):
    """:class:`_Observed` for an async stream."""

    __slots__ = ("_items", "_rec")

    def __init__(self, items: AsyncIterator[I], rec: _Recorder) -> None:
        self._items = items
        self._rec = rec

    def __aiter__(self) -> AsyncIterator[I]:
        return self

    async def __anext__(self) -> I:
        item = await self._items.__anext__()
        self._rec.item(item)
        return item


# --------------------------------------------------------------------------- content (opt-in)


def _parts(message: Message) -> list[dict[str, object]]:
    parts: list[dict[str, object]] = []
    if message.role == "tool":
        return [
            {"type": "tool_call_response", "id": message.tool_call_id, "result": message.content}
        ]
    if message.content:
        parts.append({"type": "text", "content": message.content})
    for call in message.tool_calls:
        parts.append(
            {"type": "tool_call", "id": call.id, "name": call.name, "arguments": call.arguments}
        )
    return parts


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def _input_content(req: object) -> dict[str, str]:
    messages: tuple[Message, ...] | None = getattr(req, "messages", None)
    if messages is not None:
        system = [{"type": "text", "content": m.content} for m in messages if m.role == "system"]
        found = {
            "gen_ai.input.messages": _dumps(
                [{"role": m.role, "parts": _parts(m)} for m in messages if m.role != "system"]
            )
        }
        if system:
            found["gen_ai.system_instructions"] = _dumps(system)
        return found
    prompts: tuple[str, ...] | None = getattr(req, "prompts", None)
    if prompts is not None:
        return {
            "gen_ai.input.messages": _dumps(
                [{"role": "user", "parts": [{"type": "text", "content": p}]} for p in prompts]
            )
        }
    return {}


def _output_content(value: object) -> dict[str, str]:
    if isinstance(value, ChatResponse):
        message = Message(role="assistant", content=value.text, tool_calls=value.tool_calls)
        out: dict[str, object] = {"role": "assistant", "parts": _parts(message)}
        if value.finish_reason:
            out["finish_reason"] = value.finish_reason
        return {"gen_ai.output.messages": _dumps([out])}
    if isinstance(value, CompletionResponse):
        return {
            "gen_ai.output.messages": _dumps(
                [
                    {
                        "role": "assistant",
                        "parts": [{"type": "text", "content": c.text}],
                        **({"finish_reason": c.finish_reason} if c.finish_reason else {}),
                    }
                    for c in value.choices
                ]
            )
        }
    return {}


# --------------------------------------------------------------------------- the gateway's spans


class ServerSpan:
    """The SERVER span of one gateway request: current while the request is served (the
    client's spans for it are its children), ended with the answer's status.
    """

    __slots__ = ("span", "traceparent")

    def __init__(self, span: Span) -> None:
        self.span = span
        self.traceparent: bytes = _traceparent(span).encode()
        """This span's W3C ``traceparent``, sent upstream for the request."""

    async def around(self, work: Awaitable[None], status: Callable[[], int | None]) -> None:
        """Serve the request (``work``) with this span current; end it with ``status()``."""
        from opentelemetry import context, trace
        from opentelemetry.trace import Status, StatusCode

        span = self.span
        attributes: dict[str, AttributeValue] = {}
        token = context.attach(trace.set_span_in_context(span))
        try:
            await work
        except Exception as exc:  # a bug, answered 500 by the caller
            _fail(span, exc, attributes)
            raise
        finally:
            context.detach(token)
            code = status()
            if code is not None:
                attributes["http.response.status_code"] = code
                if code >= 500:
                    attributes["error.type"] = str(code)
                    span.set_status(Status(StatusCode.ERROR))
            span.set_attributes(attributes)
            span.end()


def server_span(method: str, route: str, path: str, traceparent: bytes | None) -> ServerSpan | None:
    """A SERVER span for a request, the child of the caller's ``traceparent`` when it sent
    a well-formed one; ``None`` when nothing is traced.
    """
    found = tracer()
    if found is None:
        return None
    from opentelemetry.propagate import extract
    from opentelemetry.trace import SpanKind

    parent = None
    if traceparent is not None:
        parent = extract({"traceparent": traceparent.decode("latin-1")})
    span = found.start_span(
        f"{method} {route}",
        context=parent,
        kind=SpanKind.SERVER,
        attributes={"http.request.method": method, "http.route": route, "url.path": path},
    )
    return ServerSpan(span)

"""OpenTelemetry spans for the tests: the SDK's in-memory exporter behind a tracer
provider that only the test using the ``spans`` fixture sees (the global provider is
left alone, so every other test runs with the API's no-op, as an application without
an SDK does).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

pytest.importorskip("opentelemetry.sdk")

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)

__all__ = ["ReadableSpan", "named", "spans", "traceparent_of"]


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> InMemorySpanExporter:
    """The spans finished while the test runs, in the order they ended."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: provider)
    return exporter


def named(exporter: InMemorySpanExporter, name: str) -> list[ReadableSpan]:
    """The finished spans called ``name``."""
    return [s for s in exporter.get_finished_spans() if s.name == name]


def traceparent_of(span: Any) -> str:
    """The W3C ``traceparent`` that names ``span`` as the parent."""
    ctx = span.get_span_context()
    return f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}"


def events(span: ReadableSpan) -> Sequence[tuple[str, dict[str, Any]]]:
    """The span's events: name and attributes."""
    return [(e.name, dict(e.attributes or {})) for e in span.events]

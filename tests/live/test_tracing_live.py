"""Live: the OpenTelemetry span of a real chat with llama.cpp (SmolLM2-135M-Instruct)
records what the server answered: its token counts, finish reason and address."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest

import modelport
from tests.spans import spans

__all__ = ["spans"]  # the fixture, used by name

pytestmark = pytest.mark.live


@pytest.mark.parametrize("stream", [False, True])
def test_live_chat_span_records_the_servers_usage_and_finish_reason(
    llamacpp_chat_url: str, stream: bool, spans: Any
) -> None:
    with modelport.Client(services=[modelport.LlamaCppProvider(llamacpp_chat_url)]) as client:
        (model,) = client.models()
        if stream:
            with client.chat_stream(model.id, "Say hi.", max_tokens=8, temperature=0) as s:
                for _ in s:
                    pass
            reply = s.response
        else:
            reply = client.chat(model.id, "Say hi.", max_tokens=8, temperature=0)
    (span,) = spans.get_finished_spans()
    attributes = dict(span.attributes or {})
    assert span.name == f"chat {model.id}"
    assert reply.usage is not None and reply.usage.completion_tokens
    assert attributes["gen_ai.usage.input_tokens"] == reply.usage.prompt_tokens
    assert attributes["gen_ai.usage.output_tokens"] == reply.usage.completion_tokens
    assert attributes["gen_ai.response.finish_reasons"] == (reply.finish_reason,)
    assert attributes["gen_ai.provider.name"] == "llamacpp"
    assert attributes["gen_ai.request.max_tokens"] == 8
    url = urlsplit(llamacpp_chat_url)
    assert (attributes["server.address"], attributes["server.port"]) == (url.hostname, url.port)

"""Live: the real openai SDK's Responses API against a ``modelport serve`` process in
front of a real llama.cpp server (SmolLM2 is tiny: the protocol is judged)."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import chat_model

openai = pytest.importorskip("openai")


@pytest.fixture(scope="module")
def sdk(openai_sdk: Any) -> Any:
    return openai_sdk


@pytest.fixture(scope="module")
def model(openai_sdk: Any) -> str:
    return chat_model(openai_sdk)


def test_live_responses_create(sdk: object, model: str) -> None:
    response = sdk.responses.create(model=model, input="Say hi.", max_output_tokens=16)  # type: ignore[attr-defined]
    assert response.model == model and response.id.startswith("resp_")
    assert response.status in ("completed", "incomplete")
    assert response.output_text.strip()
    assert response.usage.input_tokens > 5 and response.usage.output_tokens > 0


def test_live_responses_stream_and_previous_response_id(sdk: object, model: str) -> None:
    stream = sdk.responses.create(  # type: ignore[attr-defined]
        model=model, input="Say hi.", max_output_tokens=16, stream=True
    )
    events = list(stream)
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert events[0].type == "response.created" and events[-1].type in (
        "response.completed",
        "response.incomplete",
    )
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    final = events[-1].response
    assert deltas and final.output_text == deltas
    follow = sdk.responses.create(  # type: ignore[attr-defined]
        model=model, input="Again.", max_output_tokens=8, previous_response_id=final.id
    )
    assert follow.status in ("completed", "incomplete")
    assert follow.usage.input_tokens > final.usage.input_tokens


def test_live_responses_unknown_model(sdk: object) -> None:
    with pytest.raises(openai.NotFoundError):
        sdk.responses.create(model="no/such-model", input="hi")  # type: ignore[attr-defined]

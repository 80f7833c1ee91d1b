"""Live: the real openai SDK against a ``modelport serve`` process in front of two real
llama.cpp servers (one for chat, one ``--embeddings``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .conftest import GATEWAY_KEY as KEY
from .conftest import ServeProcess

openai = pytest.importorskip("openai")


@pytest.fixture(scope="module")
def sdk(gateway_serve: ServeProcess) -> Iterator[object]:
    client = openai.OpenAI(
        base_url=gateway_serve.url + "/v1", api_key=KEY, max_retries=0, timeout=120
    )
    yield client
    client.close()


def _model(sdk: object, service: str) -> str:
    ids = [m.id for m in sdk.models.list().data]  # type: ignore[attr-defined]
    return next(i for i in ids if i.startswith(f"{service}/"))


def test_live_banner_lists_both_services(gateway_serve: ServeProcess) -> None:
    assert f"base_url={gateway_serve.url}/v1" in gateway_serve.banner
    assert "chat (llamacpp)" in gateway_serve.banner and "emb (llamacpp)" in gateway_serve.banner


def test_live_models_lists_each_service_by_the_clients_ids(sdk: object) -> None:
    ids = [m.id for m in sdk.models.list().data]  # type: ignore[attr-defined]
    # The model is served by its path (no --alias): listed by the file's stem.
    assert any(i.startswith("chat/SmolLM2") and "/" not in i.removeprefix("chat/") for i in ids)
    assert any(i.startswith("emb/") for i in ids)


def test_live_chat(sdk: object) -> None:
    model = _model(sdk, "chat")
    reply = sdk.chat.completions.create(  # type: ignore[attr-defined]
        model=model,
        messages=[{"role": "user", "content": "What is the capital of France? One word."}],
        max_tokens=16,
        temperature=0,
    )
    assert reply.model == model
    assert reply.choices[0].message.content.strip()
    assert reply.choices[0].finish_reason in ("stop", "length")
    assert reply.usage.prompt_tokens > 5


def test_live_stream_with_usage(sdk: object) -> None:
    model = _model(sdk, "chat")
    stream = sdk.chat.completions.create(  # type: ignore[attr-defined]
        model=model,
        messages=[{"role": "user", "content": "Count from one to five."}],
        max_tokens=24,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.strip()
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] in ("stop", "length") and all(f is None for f in finishes[:-1])
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens > 0


def test_live_embeddings_from_the_embeddings_server(sdk: object) -> None:
    result = sdk.embeddings.create(model=_model(sdk, "emb"), input=["hello", "world"])  # type: ignore[attr-defined]
    assert [len(d.embedding) for d in result.data] == [576, 576]


def test_live_unknown_model_is_not_found(sdk: object) -> None:
    with pytest.raises(openai.NotFoundError):
        sdk.chat.completions.create(  # type: ignore[attr-defined]
            model="no-such-model", messages=[{"role": "user", "content": "hi"}]
        )


def test_live_a_prompt_longer_than_the_context_is_a_bad_request(sdk: object) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.chat.completions.create(  # type: ignore[attr-defined]
            model=_model(sdk, "chat"),
            messages=[{"role": "user", "content": "word " * 4000}],
            max_tokens=8,
        )
    assert caught.value.code == "context_length_exceeded"


def test_live_a_bad_key_is_refused(gateway_serve: ServeProcess) -> None:
    bad = openai.OpenAI(base_url=gateway_serve.url + "/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.models.list()
    bad.close()


def test_live_legacy_completions_whole_and_streamed(sdk: object) -> None:
    model = _model(sdk, "chat")
    reply = sdk.completions.create(  # type: ignore[attr-defined]
        model=model, prompt="Once upon a time", max_tokens=8, temperature=0
    )
    assert reply.object == "text_completion" and reply.id.startswith("cmpl-")
    assert reply.model == model
    assert reply.choices[0].text and reply.choices[0].finish_reason in ("stop", "length")
    assert reply.usage.completion_tokens > 0
    stream = sdk.completions.create(  # type: ignore[attr-defined]
        model=model,
        prompt="Once upon a time",
        max_tokens=8,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert "".join(c.choices[0].text for c in chunks if c.choices).strip()
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] in ("stop", "length") and all(f is None for f in finishes[:-1])
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens > 0

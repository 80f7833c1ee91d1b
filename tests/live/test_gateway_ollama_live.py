"""Live: the real ollama SDK against a ``modelport serve`` process in front of two real
llama.cpp servers: an Ollama client using llama.cpp's models."""

from __future__ import annotations

import pytest

from .conftest import GATEWAY_KEY, ServeProcess

ollama = pytest.importorskip("ollama")


@pytest.fixture(scope="module")
def sdk(gateway_serve: ServeProcess) -> object:
    return ollama.Client(
        host=gateway_serve.url, headers={"authorization": f"Bearer {GATEWAY_KEY}"}, timeout=120
    )


def _model(sdk: object, service: str) -> str:
    names = [m.model for m in sdk.list().models]  # type: ignore[attr-defined]
    return next(n for n in names if n.startswith(f"{service}/"))


def test_live_list_names_every_model_by_the_clients_ids(sdk: object) -> None:
    names = [m.model for m in sdk.list().models]  # type: ignore[attr-defined]
    assert any(n.startswith("chat/") for n in names) and any(n.startswith("emb/") for n in names)


def test_live_show_gives_the_context_length_as_an_int(sdk: object) -> None:
    shown = sdk.show(_model(sdk, "chat"))  # type: ignore[attr-defined]
    arch = shown.modelinfo["general.architecture"]
    assert isinstance(shown.modelinfo[f"{arch}.context_length"], int)
    assert "completion" in shown.capabilities


def test_live_chat_one_shot(sdk: object) -> None:
    reply = sdk.chat(  # type: ignore[attr-defined]
        model=_model(sdk, "chat"),
        messages=[{"role": "user", "content": "What is the capital of France? One word."}],
        options={"num_predict": 16, "temperature": 0},
    )
    assert reply.message.content.strip()
    assert reply.done and reply.eval_count


def test_live_chat_streamed_ends_with_done_and_an_eval_count(sdk: object) -> None:
    parts = list(
        sdk.chat(  # type: ignore[attr-defined]
            model=_model(sdk, "chat"),
            messages=[{"role": "user", "content": "Count from one to five."}],
            options={"num_predict": 24, "temperature": 0},
            stream=True,
        )
    )
    assert "".join(p.message.content for p in parts).strip()
    assert parts[-1].done and parts[-1].eval_count and parts[-1].eval_count > 0
    assert not any(p.done for p in parts[:-1])


def test_live_generate(sdk: object) -> None:
    reply = sdk.generate(  # type: ignore[attr-defined]
        model=_model(sdk, "chat"), prompt="Say hello.", options={"num_predict": 8}
    )
    assert reply.response.strip() and reply.done


def test_live_embed_from_the_embeddings_server(sdk: object) -> None:
    result = sdk.embed(model=_model(sdk, "emb"), input=["hello", "world"])  # type: ignore[attr-defined]
    assert [len(v) for v in result.embeddings] == [576, 576]


def test_live_unknown_model_is_a_404_response_error(sdk: object) -> None:
    with pytest.raises(ollama.ResponseError) as caught:
        sdk.chat(model="no-such-model", messages=[{"role": "user", "content": "hi"}])  # type: ignore[attr-defined]
    assert caught.value.status_code == 404

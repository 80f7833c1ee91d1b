"""Live: the real openai SDK against a ``modelport serve`` process in front of two real
llama.cpp servers (one for chat, one ``--embeddings``)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

openai = pytest.importorskip("openai")

KEY = "live-test-key"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServeProcess:
    """``python -m modelport serve`` in a subprocess, up once it prints its banner."""

    def __init__(self, services: list[str], log: Path, *keys: str) -> None:
        port = _free_port()
        self.url = f"http://127.0.0.1:{port}"
        args = [sys.executable, "-m", "modelport", "serve", "--port", str(port)]
        for service in services:
            args += ["--service", service]
        for key in keys:
            args += ["--api-key", key]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env.pop("MODELPORT_SERVICES", None)
        self.log = log
        self.process = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=log.open("wb"), text=True, env=env
        )
        assert self.process.stdout is not None
        banner = ""
        deadline = time.monotonic() + 60
        while "Ctrl-C" not in banner and time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                break
            banner += line
        if "Ctrl-C" not in banner:
            self.stop()
            raise RuntimeError(f"modelport serve did not start:\n{banner}\n{log.read_text()}")
        self.banner = banner

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture(scope="module")
def serve(
    llamacpp_chat_url: str, llamacpp_embed_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServeProcess]:
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    process = ServeProcess([f"chat={llamacpp_chat_url}", f"emb={llamacpp_embed_url}"], log, KEY)
    yield process
    process.stop()


@pytest.fixture(scope="module")
def sdk(serve: ServeProcess) -> Iterator[object]:
    client = openai.OpenAI(base_url=serve.url + "/v1", api_key=KEY, max_retries=0, timeout=120)
    yield client
    client.close()


def _model(sdk: object, service: str) -> str:
    ids = [m.id for m in sdk.models.list().data]  # type: ignore[attr-defined]
    return next(i for i in ids if i.startswith(f"{service}/"))


def test_live_banner_lists_both_services(serve: ServeProcess) -> None:
    assert f"base_url={serve.url}/v1" in serve.banner
    assert "chat (llamacpp)" in serve.banner and "emb (llamacpp)" in serve.banner


def test_live_models_lists_each_service_by_the_clients_ids(sdk: object) -> None:
    ids = [m.id for m in sdk.models.list().data]  # type: ignore[attr-defined]
    assert any(i.startswith("chat/") and i.endswith(".gguf") for i in ids)
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


def test_live_a_bad_key_is_refused(serve: ServeProcess) -> None:
    bad = openai.OpenAI(base_url=serve.url + "/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.models.list()
    bad.close()

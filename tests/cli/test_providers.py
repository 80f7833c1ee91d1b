"""The commands against every provider kind that supports them: Ollama and LM Studio
(recorded and documented bodies from tests/fixtures), beyond the llama.cpp fakes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner

from modelport.cli import app
from tests.conftest import fixture_bytes, load_fixture
from tests.contract.harness_ollama import FakeOllama, reply, stream_reply
from tests.unit.lmstudio_fake import fixture_reply, lmstudio_04
from tests.unit.lmstudio_fake import reply as lms_reply

from .conftest import UseServices
from .fakes import lines_of

# --------------------------------------------------------------------------- Ollama


def _ollama_pull_lines() -> list[Any]:
    """Ollama's documented pull stream (api.md): manifest, a layer, the final steps."""
    text = fixture_bytes("ollama/pull_stream_3_final.txt").decode()
    final, decoder, at = [], json.JSONDecoder(), 0
    while text[at:].strip():
        value, end = decoder.raw_decode(text, at)
        final.append(value)
        at = end
        while at < len(text) and text[at].isspace():
            at += 1
    layer = load_fixture("ollama/pull_stream_2_downloading.json")
    done = {**layer, "completed": layer["total"]}
    return [load_fixture("ollama/pull_stream_1_manifest.json"), layer, done, *final]


def _ollama_ps() -> dict[str, Any]:
    """/api/ps (docs/openapi.yaml) with the model renamed to one /api/tags lists."""
    entry = load_fixture("ollama/openapi/ps.json")["models"][0]
    return {"models": [{**entry, "name": "llama3.2:latest", "model": "llama3.2:latest"}]}


@pytest.fixture
def ollama(use_services: UseServices) -> FakeOllama:
    fake = FakeOllama(
        {
            "/api/tags": reply(body=load_fixture("ollama/tags.json")),
            "/api/ps": reply(body=_ollama_ps()),
            "/api/chat": reply(
                body={
                    "model": "llama3.2",
                    "created_at": "2025-07-07T20:22:19.19314Z",
                    "message": {"role": "assistant", "content": ""},
                    "done_reason": "load",
                    "done": True,
                }
            ),
            "/api/pull": stream_reply(_ollama_pull_lines()),
        }
    )
    use_services(fake.provider())
    return fake


def _row(output: str, first: str) -> list[str]:
    return next(line.split() for line in lines_of(output) if line.split()[0] == first)


def test_models_on_ollama_shows_loaded_context_size_and_quantization(
    runner: CliRunner, ollama: FakeOllama
) -> None:
    result = runner.invoke(app, ["models"])
    assert result.exit_code == 0, result.output
    assert _row(result.stdout, "ollama/llama3.2:latest") == [
        "ollama/llama3.2:latest", "yes", "4096", "-", "-", "2.0", "GB", "Q4_K_M"
    ]  # fmt: skip
    assert _row(result.stdout, "ollama/deepseek-r1:latest")[1] == "no"


def test_ps_on_ollama_shows_memory_and_expiry(runner: CliRunner, ollama: FakeOllama) -> None:
    result = runner.invoke(app, ["ps"])
    assert result.exit_code == 0, result.output
    assert _row(result.stdout, "ollama/llama3.2:latest") == [
        "ollama/llama3.2:latest", "4096", "5.3", "GB", "2025-10-17T16:47:07.93355-07:00"
    ]  # fmt: skip


def test_pull_on_ollama_shows_each_step(runner: CliRunner, ollama: FakeOllama) -> None:
    result = runner.invoke(app, ["pull", "llama3.2"])
    assert result.exit_code == 0, result.output
    assert lines_of(result.stdout) == [
        "pulling manifest",
        "pulling digestname  2.1 GB",
        "verifying sha256 digest",
        "writing manifest",
        "removing any unused layers",
        "success",
    ]
    assert ollama.bodies("/api/pull") == [{"model": "llama3.2", "stream": True}]


def test_pull_on_ollama_draws_bars_on_a_terminal(
    runner: CliRunner, ollama: FakeOllama, terminal: None
) -> None:
    result = runner.invoke(app, ["pull", "llama3.2"], color=True)
    assert result.exit_code == 0, result.output
    assert "pulling digestname" in result.stdout
    assert "2.1/2.1 GB" in result.stdout


def test_load_and_unload_on_ollama(runner: CliRunner, ollama: FakeOllama) -> None:
    loaded = runner.invoke(app, ["load", "llama3.2", "--context-length", "8192", "--ttl", "300"])
    unloaded = runner.invoke(app, ["unload", "llama3.2"])
    assert loaded.exit_code == 0, loaded.output
    assert unloaded.exit_code == 0, unloaded.output
    bodies = ollama.bodies("/api/chat")
    assert bodies[0]["options"] == {"num_ctx": 8192}
    assert bodies[0]["keep_alive"] == 300
    assert bodies[1]["keep_alive"] == 0


# --------------------------------------------------------------------------- LM Studio

STATUS_PATH = "/api/v1/models/download/status/job_493c7c9ded"


@pytest.fixture
def lmstudio(use_services: UseServices) -> Any:
    fake = (
        lmstudio_04()
        .on("POST", "/api/v1/models/download", fixture_reply("api_v1_models_download.json"))
        .on("GET", STATUS_PATH, fixture_reply("api_v1_models_download_status.json"))
        .on("POST", "/api/v1/models/load", fixture_reply("api_v1_models_load.json"))
        .on("POST", "/api/v1/models/unload", fixture_reply("api_v1_models_unload.json"))
    )
    use_services(fake.provider(poll_interval=0))
    return fake


def test_models_on_lmstudio_shows_capabilities_and_contexts(
    runner: CliRunner, lmstudio: Any
) -> None:
    result = runner.invoke(app, ["models"])
    assert result.exit_code == 0, result.output
    row = _row(result.stdout, "lmstudio/google/gemma-4-26b-a4b")
    assert row[:4] == ["lmstudio/google/gemma-4-26b-a4b", "yes", "4096", "262144"]
    assert row[4:8] == ["chat", "tools", "vision", "think"]
    embed = runner.invoke(app, ["models", "--capability", "embedding", "--json"])
    assert [m["name"] for m in json.loads(embed.stdout)] == [
        "text-embedding-nomic-embed-text-v1.5-embedding"
    ]


def test_ps_on_lmstudio_lists_the_loaded_instance(runner: CliRunner, lmstudio: Any) -> None:
    result = runner.invoke(app, ["ps"])
    assert result.exit_code == 0, result.output
    assert [line.split()[0] for line in lines_of(result.stdout)[1:]] == [
        "lmstudio/google/gemma-4-26b-a4b"
    ]


def test_pull_on_lmstudio_shows_the_download_and_its_end(runner: CliRunner, lmstudio: Any) -> None:
    result = runner.invoke(app, ["pull", "qwen/qwen3-4b-2507"])
    assert result.exit_code == 0, result.output
    assert lines_of(result.stdout) == ["downloading  2.3 GB", "completed"]
    assert lmstudio.sent_to("POST", "/api/v1/models/download") == [{"model": "qwen/qwen3-4b-2507"}]


def test_load_and_unload_on_lmstudio(runner: CliRunner, lmstudio: Any) -> None:
    loaded = runner.invoke(app, ["load", "google/gemma-4-26b-a4b", "--context-length", "8192"])
    assert loaded.exit_code == 0, loaded.output
    assert lmstudio.sent_to("POST", "/api/v1/models/load") == [
        {"model": "google/gemma-4-26b-a4b", "context_length": 8192}
    ]
    unloaded = runner.invoke(app, ["unload", "google/gemma-4-26b-a4b"])
    assert unloaded.exit_code == 0, unloaded.output
    assert lmstudio.sent_to("POST", "/api/v1/models/unload") == [
        {"instance_id": "google/gemma-4-26b-a4b"}
    ]


def test_chat_on_lmstudio_streams_the_answer(runner: CliRunner, use_services: UseServices) -> None:
    chunks = [
        {"choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hel"}}]},
        {"choices": [{"index": 0, "delta": {"content": "lo!"}, "finish_reason": "stop"}]},
    ]
    body = b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks)
    fake = lmstudio_04().on(
        "POST",
        "/v1/chat/completions",
        lms_reply(
            200, content=body + b"data: [DONE]\n\n", headers={"content-type": "text/event-stream"}
        ),
    )
    use_services(fake.provider())
    result = runner.invoke(app, ["chat", "google/gemma-4-26b-a4b", "hi"])
    assert result.exit_code == 0, result.output
    assert result.stdout == "Hello!\n"

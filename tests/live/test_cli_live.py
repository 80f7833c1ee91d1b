"""The ``modelport`` command against the real llama.cpp server (SmolLM2-135M-Instruct)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.live


def _modelport(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "modelport", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_chat_command_streams_an_answer_from_llamacpp(llamacpp_chat_url: str) -> None:
    done = _modelport(
        "--service",
        llamacpp_chat_url,
        "chat",
        "SmolLM2-135M-Instruct",
        "Say hello.",
        "--max-tokens",
        "24",
        "--temperature",
        "0",
        "--stats",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()
    stats = done.stderr.splitlines()[-1]  # after a "(cut off at the token limit...)" note
    assert "completion" in stats
    assert "tokens/s" in stats
    assert "first token" in stats


def test_chat_command_json_from_llamacpp(llamacpp_chat_url: str) -> None:
    done = _modelport(
        "--service",
        llamacpp_chat_url,
        "chat",
        "SmolLM2-135M-Instruct",
        "Say hello.",
        "--max-tokens",
        "8",
        "--json",
    )
    assert done.returncode == 0, done.stderr
    response = json.loads(done.stdout)
    assert response["text"]
    assert response["service"] == "llamacpp"
    assert response["usage"]["completion_tokens"] >= 1


def test_models_command_lists_the_real_model(llamacpp_chat_url: str) -> None:
    done = _modelport("--service", llamacpp_chat_url, "models", "--json")
    assert done.returncode == 0, done.stderr
    [model] = json.loads(done.stdout)
    assert model["kind"] == "llamacpp"
    # Served by its path (no --alias): listed by the file's stem.
    assert "/" not in model["name"] and model["name"].startswith("SmolLM2")
    assert not model["name"].endswith(".gguf")
    assert model["loaded"] is True

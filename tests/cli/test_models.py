"""``modelport models``, ``show`` and ``ps``: what each server serves and what is loaded."""

from __future__ import annotations

import json
from dataclasses import fields

import pytest
from click.testing import CliRunner

from modelport import Capabilities, ModelInfo
from modelport.cli import app

from .conftest import UseServices
from .fakes import (
    LlamaCppHarness,
    MemoryReportingProvider,
    OpenAIHarness,
    RouterHarness,
    lines_of,
)


def _row(output: str, first: str) -> list[str]:
    return next(line.split() for line in lines_of(output) if line.split()[0] == first)


def _ids(output: str) -> list[str]:
    return [line.split()[0] for line in lines_of(output)[1:]]


@pytest.fixture
def two_services(use_services: UseServices) -> None:
    """llama.cpp (loaded, tools) and a vLLM-style server that says little."""
    use_services(LlamaCppHarness().provider(), OpenAIHarness().provider(name="vllm"))


# ------------------------------------------------------------------------ models


def test_models_lists_id_loaded_context_capabilities_size_and_quantization(
    runner: CliRunner, llamacpp: LlamaCppHarness
) -> None:
    result = runner.invoke(app, ["models"])
    assert result.exit_code == 0, result.output
    assert lines_of(result.stdout)[0].split() == [
        "MODEL",
        "LOADED",
        "CONTEXT",
        "MAX",
        "CAPABILITIES",
        "SIZE",
        "QUANT",
    ]
    assert _row(result.stdout, "llamacpp/alpha") == [
        "llamacpp/alpha",
        "yes",
        "2048",
        "8192",
        "chat",
        "tools",
        "96.6",
        "MB",
        "Q4_1",
    ]
    assert _ids(result.stdout) == ["llamacpp/alpha", "llamacpp/beta", "llamacpp/embedder"]


def test_models_shows_unknown_facts_as_a_dash(runner: CliRunner, two_services: None) -> None:
    result = runner.invoke(app, ["models"])
    assert _row(result.stdout, "vllm/alpha") == ["vllm/alpha", "-", "-", "-", "-", "-", "-"]
    assert "embed" in _row(result.stdout, "vllm/embedder")  # guessed from the name


def test_models_json_has_the_fields_of_model_info(
    runner: CliRunner, llamacpp: LlamaCppHarness
) -> None:
    result = runner.invoke(app, ["models", "--json"])
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert [m["id"] for m in data] == ["llamacpp/alpha", "llamacpp/beta", "llamacpp/embedder"]
    assert set(data[0]) == {f.name for f in fields(ModelInfo)}
    assert data[0]["capabilities"] == {
        "chat": True,
        "tools": True,
        "vision": False,
        "embedding": None,
        "thinking": None,
        "rerank": False,  # the fake has no /v1/rerank (404), as a build without it
    }
    assert data[0]["context_length"] == 8192
    assert data[0]["loaded_context_length"] == 2048
    assert data[0]["details"]["meta"]["n_embd"] == 576
    rebuilt = ModelInfo(**{**data[0], "capabilities": Capabilities(**data[0]["capabilities"])})
    assert rebuilt.id == "llamacpp/alpha"


@pytest.mark.parametrize(
    ("capability", "expected"),
    [
        ("tools", ["llamacpp/alpha", "llamacpp/beta", "llamacpp/embedder"]),
        ("embedding", ["vllm/embedder"]),
        ("vision", []),
    ],
)
def test_models_capability_keeps_only_models_known_to_have_it(
    runner: CliRunner, two_services: None, capability: str, expected: list[str]
) -> None:
    result = runner.invoke(app, ["models", "--capability", capability, "--json"])
    assert result.exit_code == 0
    assert [m["id"] for m in json.loads(result.stdout)] == expected


def test_models_rejects_an_unknown_capability(runner: CliRunner, llamacpp: LlamaCppHarness) -> None:
    result = runner.invoke(app, ["models", "--capability", "telepathy"])
    assert result.exit_code == 2
    assert "telepathy" in result.stderr


def test_models_loaded_keeps_only_loaded_models(
    runner: CliRunner, use_services: UseServices
) -> None:
    use_services(RouterHarness().provider(), OpenAIHarness().provider(name="vllm"))
    result = runner.invoke(app, ["models", "--loaded"])
    assert result.exit_code == 0
    assert _ids(result.stdout) == ["llamacpp/alpha"]


@pytest.mark.parametrize("which", ["vllm", "openai"])
def test_models_service_keeps_one_service_by_name_or_kind(
    runner: CliRunner, two_services: None, which: str
) -> None:
    result = runner.invoke(app, ["models", "--service", which])
    assert result.exit_code == 0
    assert _ids(result.stdout) == ["vllm/alpha", "vllm/beta", "vllm/embedder"]


def test_models_says_so_when_nothing_matches(runner: CliRunner, llamacpp: LlamaCppHarness) -> None:
    result = runner.invoke(app, ["models", "--capability", "vision"])
    assert result.exit_code == 0
    assert result.stdout == ""
    assert "No models" in result.stderr


def test_models_on_a_terminal_draws_a_table(
    runner: CliRunner, llamacpp: LlamaCppHarness, terminal: None
) -> None:
    result = runner.invoke(app, ["models"], color=True)
    assert result.exit_code == 0
    assert "─" in result.stdout
    assert "llamacpp/alpha" in result.stdout
    assert "\x1b[" in result.stdout


# ------------------------------------------------------------------------ show


def _facts(output: str) -> dict[str, str]:
    facts = {}
    for line in lines_of(output):
        key, _, value = line.partition(" ")
        facts[key] = value.strip()
    return facts


def test_show_prints_everything_known_about_a_model(
    runner: CliRunner, llamacpp: LlamaCppHarness
) -> None:
    result = runner.invoke(app, ["show", "alpha"])
    assert result.exit_code == 0, result.output
    assert lines_of(result.stdout)[0].split()[0] == "id"  # a list of facts, no header row
    facts = _facts(result.stdout)
    assert facts["id"] == "llamacpp/alpha"
    assert facts["service"] == "llamacpp"
    assert facts["kind"] == "llamacpp"
    assert facts["loaded"] == "yes"
    assert facts["context_length"] == "8192"
    assert facts["loaded_context_length"] == "2048"
    assert facts["capabilities"] == "chat, tools (not: vision; unknown: embedding, thinking)"
    assert facts["parameter_size"] == "135M"
    assert facts["quantization"] == "Q4_1"
    assert facts["format"] == "gguf"
    assert facts["size_bytes"] == "96576768 (96.6 MB)"
    assert facts["family"] == "-"
    assert json.loads(facts["details.meta"])["n_ctx_train"] == 8192
    assert facts["details.build_info"] == "b1234-abcdef"


def test_show_json_is_the_model_info(runner: CliRunner, llamacpp: LlamaCppHarness) -> None:
    result = runner.invoke(app, ["show", "llamacpp/beta", "--json"])
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert set(data) == {f.name for f in fields(ModelInfo)}
    assert data["id"] == "llamacpp/beta"


def test_show_an_unknown_model_suggests_close_names(
    runner: CliRunner, llamacpp: LlamaCppHarness
) -> None:
    result = runner.invoke(app, ["show", "alpah"])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1
    assert "Did you mean: alpha?" in result.stderr


def test_show_on_a_terminal_draws_a_table(
    runner: CliRunner, llamacpp: LlamaCppHarness, terminal: None
) -> None:
    result = runner.invoke(app, ["show", "alpha"], color=True)
    assert result.exit_code == 0
    assert "context_length" in result.stdout
    assert "8192" in result.stdout


# ------------------------------------------------------------------------ ps


def test_ps_lists_loaded_models_with_their_context(
    runner: CliRunner, use_services: UseServices
) -> None:
    use_services(RouterHarness().provider())
    result = runner.invoke(app, ["ps"])
    assert result.exit_code == 0, result.output
    assert lines_of(result.stdout)[0].split() == ["MODEL", "CONTEXT", "MEMORY", "UNTIL"]
    assert _ids(result.stdout) == ["llamacpp/alpha"]
    assert _row(result.stdout, "llamacpp/alpha") == ["llamacpp/alpha", "2048", "-", "-"]


def test_ps_shows_memory_and_expiry_where_the_server_says(
    runner: CliRunner, use_services: UseServices
) -> None:
    harness = LlamaCppHarness()
    use_services(MemoryReportingProvider(harness.base_url, transport=harness.transport()))
    result = runner.invoke(app, ["ps"])
    assert _row(result.stdout, "llamacpp/alpha") == [
        "llamacpp/alpha",
        "2048",
        "5.3",
        "GB",
        "2025-10-17T16:47:07.93355-07:00",
    ]


def test_ps_json_lists_loaded_model_infos(runner: CliRunner, use_services: UseServices) -> None:
    use_services(RouterHarness().provider())
    result = runner.invoke(app, ["ps", "--json"])
    data = json.loads(result.stdout)
    assert [m["id"] for m in data] == ["llamacpp/alpha"]
    assert set(data[0]) == {f.name for f in fields(ModelInfo)}


def test_ps_says_so_when_nothing_is_loaded(runner: CliRunner, use_services: UseServices) -> None:
    use_services(OpenAIHarness().provider())
    result = runner.invoke(app, ["ps"])
    assert result.exit_code == 0
    assert result.stdout == ""
    assert "No models are loaded" in result.stderr

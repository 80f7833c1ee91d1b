"""``modelport embed``: vectors for texts given as arguments or piped one per line."""

from __future__ import annotations

import json
from dataclasses import fields

import httpx
from click.testing import CliRunner

from modelport import EmbedResponse
from modelport.cli import app

from .conftest import UseServices
from .fakes import LlamaCppHarness, lines_of


def _inputs(harness: LlamaCppHarness) -> list[object]:
    return [c.json["input"] for c in harness.calls if c.path == "/v1/embeddings"]


def test_embed_prints_one_line_per_text_with_its_dimensions(
    runner: CliRunner, llamacpp: LlamaCppHarness
) -> None:
    result = runner.invoke(app, ["embed", "embedder", "first text", "second"])
    assert result.exit_code == 0, result.output
    assert lines_of(result.stdout) == [
        "3 dims  [0.1, 0.2, 0.3]  first text",
        "3 dims  [0.1, 0.2, 0.3]  second",
    ]
    assert _inputs(llamacpp) == [["first text", "second"]]


def test_embed_reads_texts_from_piped_stdin_one_per_line(
    runner: CliRunner, llamacpp: LlamaCppHarness
) -> None:
    result = runner.invoke(app, ["embed", "embedder"], input="alpha\n\nbeta\n")
    assert result.exit_code == 0, result.output
    assert _inputs(llamacpp) == [["alpha", "beta"]]


def test_embed_json_is_the_embed_response(runner: CliRunner, llamacpp: LlamaCppHarness) -> None:
    result = runner.invoke(app, ["embed", "embedder", "one", "--json"])
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert set(data) == {f.name for f in fields(EmbedResponse)}
    assert data["vectors"] == [[0.1, 0.2, 0.3]]
    assert data["usage"] == {"prompt_tokens": 2, "completion_tokens": None, "total_tokens": 2}


def test_embed_shortens_long_vectors_and_texts(
    runner: CliRunner, use_services: UseServices
) -> None:
    class LongVectors(LlamaCppHarness):
        def embed_response(self, model: str, count: int) -> httpx.Response:
            vector = [round(i / 1000, 3) for i in range(768)]
            return httpx.Response(
                200,
                json={"model": model, "data": [{"index": 0, "embedding": vector}]},
            )

    use_services(LongVectors().provider())
    result = runner.invoke(app, ["embed", "embedder", "x" * 200])
    assert result.exit_code == 0, result.output
    [line] = lines_of(result.stdout)
    assert line.startswith("768 dims  [0.0, 0.001, 0.002, …, 0.767]  xxx")
    assert line.endswith("…")
    assert len(line) < 120


def test_embed_with_no_text_is_a_usage_error(runner: CliRunner, llamacpp: LlamaCppHarness) -> None:
    result = runner.invoke(app, ["embed", "embedder"], input="")
    assert result.exit_code == 2
    assert _inputs(llamacpp) == []

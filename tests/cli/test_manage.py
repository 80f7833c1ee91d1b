"""``modelport pull``, ``load`` and ``unload``: managing models where the server can."""

from __future__ import annotations

import json
from dataclasses import fields

from click.testing import CliRunner

from modelport import PullProgress
from modelport.cli import app

from .fakes import LlamaCppHarness, ManagedHarness, lines_of


def _bodies(harness: LlamaCppHarness, path: str) -> list[object]:
    return [c.json for c in harness.calls if c.path == path]


# ------------------------------------------------------------------------ pull


def test_pull_prints_each_step_once_when_piped(runner: CliRunner, managed: ManagedHarness) -> None:
    result = runner.invoke(app, ["pull", "alpha"])
    assert result.exit_code == 0, result.output
    assert lines_of(result.stdout) == [
        "pulling manifest",
        "pulling aaaa1111bbbb  2.1 GB",
        "pulling cccc3333dddd  4.1 kB",
        "verifying sha256 digest",
        "writing manifest",
        "removing any unused layers",
        "success",
    ]
    assert _bodies(managed, "/api/pull") == [{"model": "alpha", "stream": True}]


def test_pull_on_a_terminal_shows_a_progress_bar_per_layer(
    runner: CliRunner, managed: ManagedHarness, terminal: None
) -> None:
    result = runner.invoke(app, ["pull", "alpha"], color=True)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "pulling manifest" in out
    assert "aaaa1111bbbb" in out
    assert "cccc3333dddd" in out
    assert "2.1/2.1 GB" in out  # bytes done of total for the big layer
    assert "━" in out  # the bar itself
    assert out.index("pulling manifest") < out.rindex("cccc3333dddd") < out.index("success")


def test_pull_json_prints_each_progress_as_a_json_line(
    runner: CliRunner, managed: ManagedHarness
) -> None:
    result = runner.invoke(app, ["pull", "alpha", "--json"])
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in lines_of(result.stdout)]
    assert len(events) == len(managed.pull_lines)
    assert all(set(e) == {f.name for f in fields(PullProgress)} for e in events)
    assert events[1] == {
        "status": "pulling aaaa1111bbbb",
        "completed": 0,
        "total": 2142590208,
        "digest": "sha256:aaaa1111bbbb2222",
    }


def test_pull_failure_reported_by_the_server_exits_1(
    runner: CliRunner, managed: ManagedHarness
) -> None:
    managed.pull_error = "pull model manifest: file does not exist"
    result = runner.invoke(app, ["pull", "alpha"])
    assert result.exit_code == 1
    assert lines_of(result.stdout) == ["pulling manifest", "pulling aaaa1111bbbb  2.1 GB"]
    [line] = result.stderr.splitlines()
    assert "file does not exist" in line


def test_pull_on_a_server_that_cannot_download_says_so(
    runner: CliRunner, llamacpp: LlamaCppHarness
) -> None:
    result = runner.invoke(app, ["pull", "alpha"])
    assert result.exit_code == 1
    [line] = result.stderr.splitlines()
    assert "does not support downloading models" in line


# ------------------------------------------------------------------------ load / unload


def test_load_passes_context_length_and_ttl(runner: CliRunner, managed: ManagedHarness) -> None:
    result = runner.invoke(app, ["load", "alpha", "--context-length", "4096", "--ttl", "300"])
    assert result.exit_code == 0, result.output
    assert _bodies(managed, "/manage/load") == [
        {"model": "alpha", "context_length": 4096, "ttl": 300.0}
    ]
    assert "Loaded alpha" in result.stdout


def test_load_without_options_leaves_them_to_the_server(
    runner: CliRunner, managed: ManagedHarness
) -> None:
    runner.invoke(app, ["load", "alpha"])
    assert _bodies(managed, "/manage/load") == [
        {"model": "alpha", "context_length": None, "ttl": None}
    ]


def test_load_rejects_a_bad_context_length(runner: CliRunner, managed: ManagedHarness) -> None:
    result = runner.invoke(app, ["load", "alpha", "--context-length", "-5"])
    assert result.exit_code == 2
    assert _bodies(managed, "/manage/load") == []


def test_unload_unloads_the_model(runner: CliRunner, managed: ManagedHarness) -> None:
    managed.loaded["alpha"] = {}
    result = runner.invoke(app, ["unload", "alpha"])
    assert result.exit_code == 0, result.output
    assert _bodies(managed, "/manage/unload") == [{"model": "alpha"}]
    assert managed.loaded == {}
    assert "Unloaded alpha" in result.stdout


def test_load_on_a_server_that_cannot_says_so_in_one_line(
    runner: CliRunner, llamacpp: LlamaCppHarness
) -> None:
    result = runner.invoke(app, ["load", "alpha"])
    assert result.exit_code == 1
    [line] = result.stderr.splitlines()
    assert "does not support loading models" in line


def test_unload_of_a_missing_model_is_a_model_error(
    runner: CliRunner, managed: ManagedHarness
) -> None:
    result = runner.invoke(app, ["unload", "missing"])
    assert result.exit_code == 1
    assert "missing" in result.stderr

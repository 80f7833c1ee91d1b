"""``modelport chat``: one-shot answers (argument or piped stdin) and the conversation."""

from __future__ import annotations

import json
import re
from dataclasses import fields
from typing import Any

import pytest
from click.testing import CliRunner

from modelport import ChatResponse
from modelport.cli import app

from .conftest import UseServices
from .fakes import InterruptingHarness, LlamaCppHarness, ThinkingHarness


def _sent(harness: LlamaCppHarness) -> list[dict[str, object]]:
    return [c.json for c in harness.calls if c.path == "/v1/chat/completions"]


# ------------------------------------------------------------------------ one answer


def test_chat_streams_the_answer_to_stdout(runner: CliRunner, llamacpp: LlamaCppHarness) -> None:
    result = runner.invoke(app, ["chat", "alpha", "hello there"])
    assert result.exit_code == 0, result.output
    assert result.stdout == "echo: hello there\n"
    assert result.stderr == ""
    [body] = _sent(llamacpp)
    assert body["stream"] is True
    assert body["messages"] == [{"role": "user", "content": "hello there"}]


def test_chat_reads_the_prompt_from_piped_stdin(
    runner: CliRunner, llamacpp: LlamaCppHarness
) -> None:
    result = runner.invoke(app, ["chat", "alpha"], input="what is in this file\n")
    assert result.exit_code == 0, result.output
    assert _sent(llamacpp)[0]["messages"] == [{"role": "user", "content": "what is in this file"}]


def test_chat_puts_piped_stdin_before_the_prompt(
    runner: CliRunner, llamacpp: LlamaCppHarness
) -> None:
    result = runner.invoke(app, ["chat", "alpha", "summarise"], input="line one\nline two\n")
    assert result.exit_code == 0, result.output
    assert _sent(llamacpp)[0]["messages"] == [
        {"role": "user", "content": "line one\nline two\n\nsummarise"}
    ]
    assert result.stdout == "echo: line one\nline two\n\nsummarise\n"


def test_chat_with_no_prompt_and_nothing_piped_is_a_usage_error(
    runner: CliRunner, llamacpp: LlamaCppHarness
) -> None:
    result = runner.invoke(app, ["chat", "alpha"], input="")
    assert result.exit_code == 2
    assert "prompt" in result.stderr
    assert _sent(llamacpp) == []


def test_chat_sends_system_temperature_and_max_tokens(
    runner: CliRunner, llamacpp: LlamaCppHarness
) -> None:
    result = runner.invoke(
        app,
        [
            "chat",
            "alpha",
            "hi",
            "--system",
            "Be brief.",
            "--temperature",
            "0.2",
            "--max-tokens",
            "7",
        ],
    )
    assert result.exit_code == 0, result.output
    [body] = _sent(llamacpp)
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hi"},
    ]
    assert body["temperature"] == 0.2
    assert body["max_tokens"] == 7


@pytest.mark.parametrize(("flag", "value"), [("--think", True), ("--no-think", False)])
def test_chat_think_flags_ask_for_thinking_or_not(
    runner: CliRunner, llamacpp: LlamaCppHarness, flag: str, value: bool
) -> None:
    runner.invoke(app, ["chat", "alpha", "hi", flag])
    assert _sent(llamacpp)[0]["chat_template_kwargs"] == {"enable_thinking": value}


def test_chat_leaves_thinking_to_the_server_by_default(
    runner: CliRunner, llamacpp: LlamaCppHarness
) -> None:
    runner.invoke(app, ["chat", "alpha", "hi"])
    assert "chat_template_kwargs" not in _sent(llamacpp)[0]


@pytest.mark.parametrize("bad", [["--temperature", "hot"], ["--max-tokens", "0"]])
def test_chat_rejects_bad_option_values(
    runner: CliRunner, llamacpp: LlamaCppHarness, bad: list[str]
) -> None:
    result = runner.invoke(app, ["chat", "alpha", "hi", *bad])
    assert result.exit_code == 2
    assert _sent(llamacpp) == []


def test_chat_json_prints_the_chat_response(runner: CliRunner, llamacpp: LlamaCppHarness) -> None:
    result = runner.invoke(app, ["chat", "alpha", "hi", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) == {f.name for f in fields(ChatResponse)}
    assert data["text"] == "echo: hi"
    assert data["finish_reason"] == "stop"
    assert data["service"] == "llamacpp"
    assert data["usage"] == {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}
    assert data["timings"]["time_to_first_token_ms"] >= 0


def test_chat_stats_go_to_stderr(runner: CliRunner, llamacpp: LlamaCppHarness) -> None:
    result = runner.invoke(app, ["chat", "alpha", "hi", "--stats"])
    assert result.exit_code == 0, result.output
    assert result.stdout == "echo: hi\n"
    [stats] = result.stderr.splitlines()
    assert stats.startswith("8 tokens (5 prompt + 3 completion)")
    assert "first token" in stats
    assert "ms" in stats


def test_chat_stats_include_the_servers_speed(runner: CliRunner, use_services: UseServices) -> None:
    from .fakes import TimedHarness

    use_services(TimedHarness().provider())
    result = runner.invoke(app, ["chat", "alpha", "hi", "--stats"])
    assert result.exit_code == 0, result.output
    assert "66.4 tokens/s" in result.stderr


def test_chat_thinking_goes_to_stderr_when_stdout_is_piped(
    runner: CliRunner, use_services: UseServices
) -> None:
    use_services(ThinkingHarness().provider())
    result = runner.invoke(app, ["chat", "alpha", "hi"])
    assert result.exit_code == 0, result.output
    assert result.stdout == "echo: hi\n"
    assert "Let me think." in result.stderr


def test_chat_thinking_is_dimmed_before_the_answer_on_a_terminal(
    runner: CliRunner, use_services: UseServices, terminal: None
) -> None:
    use_services(ThinkingHarness().provider())
    result = runner.invoke(app, ["chat", "alpha", "hi"], color=True)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.index("\x1b[2m") < out.index("Let me") < out.index("echo: hi")
    plain = re.sub(r"\x1b\[[0-9;]*m", "", out)
    assert plain == "Let me think.\n\necho: hi\n"
    assert "\x1b" not in out[out.index("echo: hi") :]  # the answer itself is not dimmed


def test_chat_wraps_at_word_boundaries_on_a_terminal(
    runner: CliRunner, llamacpp: LlamaCppHarness, terminal: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "24")
    result = runner.invoke(app, ["chat", "alpha", "one two three four five six seven"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == ["echo: one two three four", "five six seven"]


def test_chat_does_not_wrap_when_piped(runner: CliRunner, llamacpp: LlamaCppHarness) -> None:
    words = " ".join(["word"] * 40)
    result = runner.invoke(app, ["chat", "alpha", words])
    assert result.stdout == f"echo: {words}\n"


def test_chat_json_keeps_the_thinking(runner: CliRunner, use_services: UseServices) -> None:
    use_services(ThinkingHarness().provider())
    result = runner.invoke(app, ["chat", "alpha", "hi", "--json"])
    assert json.loads(result.stdout)["thinking"] == "Let me think."


def test_chat_keeps_the_partial_answer_when_the_stream_fails(
    runner: CliRunner, llamacpp: LlamaCppHarness
) -> None:
    result = runner.invoke(app, ["chat", "midstream", "hi"])
    assert result.exit_code == 1
    assert result.stdout == "Partial answer\n"
    [line] = result.stderr.splitlines()
    assert "the runner crashed" in line


def test_chat_interrupted_exits_130_after_what_arrived(
    runner: CliRunner, use_services: UseServices
) -> None:
    use_services(InterruptingHarness().provider())
    result = runner.invoke(app, ["chat", "interrupt", "hi"])
    assert result.exit_code == 130
    assert result.stdout == "Partial answer\n"


# ------------------------------------------------------------------------ conversation


def test_chat_without_prompt_on_a_terminal_is_a_conversation_with_history(
    runner: CliRunner, llamacpp: LlamaCppHarness, tty_stdin: None
) -> None:
    result = runner.invoke(
        app, ["chat", "alpha", "--system", "Be kind."], input="hello\nsecond\n/exit\n"
    )
    assert result.exit_code == 0, result.output
    assert "echo: hello" in result.stdout
    assert "echo: second" in result.stdout
    first, second = _sent(llamacpp)
    assert first["messages"] == [
        {"role": "system", "content": "Be kind."},
        {"role": "user", "content": "hello"},
    ]
    assert second["messages"] == [
        {"role": "system", "content": "Be kind."},
        {"role": "user", "content": "hello"},
        {"role": "assistant", "content": "echo: hello"},
        {"role": "user", "content": "second"},
    ]


def test_chat_conversation_ends_at_end_of_input(
    runner: CliRunner, llamacpp: LlamaCppHarness, tty_stdin: None
) -> None:
    result = runner.invoke(app, ["chat", "alpha"], input="hello\n")
    assert result.exit_code == 0
    assert len(_sent(llamacpp)) == 1


@pytest.mark.parametrize("command", ["/exit", "/quit", "/bye"])
def test_chat_conversation_leaves_on_exit_commands(
    runner: CliRunner, llamacpp: LlamaCppHarness, tty_stdin: None, command: str
) -> None:
    result = runner.invoke(app, ["chat", "alpha"], input=f"{command}\nnot sent\n")
    assert result.exit_code == 0
    assert _sent(llamacpp) == []


def test_chat_conversation_clear_forgets_the_history(
    runner: CliRunner, llamacpp: LlamaCppHarness, tty_stdin: None
) -> None:
    runner.invoke(app, ["chat", "alpha"], input="one\n/clear\ntwo\n/exit\n")
    assert _sent(llamacpp)[1]["messages"] == [{"role": "user", "content": "two"}]


def test_chat_conversation_skips_empty_lines_and_explains_commands(
    runner: CliRunner, llamacpp: LlamaCppHarness, tty_stdin: None
) -> None:
    result = runner.invoke(app, ["chat", "alpha"], input="\n   \n/help\n/nonsense\n/exit\n")
    assert result.exit_code == 0
    assert _sent(llamacpp) == []
    assert "/clear" in result.output
    assert "Unknown command /nonsense" in result.output


def test_chat_conversation_ctrl_c_stops_the_answer_but_not_the_conversation(
    runner: CliRunner, use_services: UseServices, tty_stdin: None
) -> None:
    harness = InterruptingHarness()
    use_services(harness.provider())
    result = runner.invoke(app, ["chat", "interrupt"], input="first\nsecond\n/exit\n")
    assert result.exit_code == 0, result.output
    assert result.stdout.count("Partial answer") == 2
    _first, second = _sent(harness)
    assert second["messages"] == [
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "Partial answer"},
        {"role": "user", "content": "second"},
    ]


def test_chat_conversation_reports_an_error_and_carries_on(
    runner: CliRunner, llamacpp: LlamaCppHarness, tty_stdin: None
) -> None:
    result = runner.invoke(app, ["chat", "overflow"], input="too long\nagain\n/exit\n")
    assert result.exit_code == 0
    assert result.stderr.count("exceeds the available context size") == 2
    assert len(_sent(llamacpp)) == 2


def test_chat_conversation_refuses_json(
    runner: CliRunner, llamacpp: LlamaCppHarness, tty_stdin: None
) -> None:
    result = runner.invoke(app, ["chat", "alpha", "--json"], input="hi\n")
    assert result.exit_code == 2
    assert _sent(llamacpp) == []


def test_chat_says_when_the_answer_was_cut_off_at_the_token_limit(
    runner: CliRunner, use_services: UseServices
) -> None:
    class CutOff(LlamaCppHarness):
        def stream_events(self, model: str, pieces: list[str], finish: bool) -> list[Any]:
            events = super().stream_events(model, pieces, finish)
            events[-2]["choices"][0]["finish_reason"] = "length"
            return events

    use_services(CutOff().provider())
    result = runner.invoke(app, ["chat", "alpha", "hi", "--max-tokens", "3"])
    assert result.exit_code == 0, result.output
    assert result.stdout == "echo: hi\n"
    assert "token limit" in result.stderr


def test_chat_interrupted_on_a_terminal_shows_no_word_after_the_ctrl_c(
    runner: CliRunner, use_services: UseServices, terminal: None
) -> None:
    # The terminal has echoed ^C after the last word shown; a word held back for
    # wrapping would otherwise appear after it.
    use_services(InterruptingHarness().provider())
    result = runner.invoke(app, ["chat", "interrupt", "hi"])
    assert result.exit_code == 130
    assert result.stdout == "Partial\n"

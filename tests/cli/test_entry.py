"""The entry points: ``modelport`` / ``python -m modelport``, ``--version``, ``--help``,
and what happens without the ``cli`` extra."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from click.testing import CliRunner

import modelport
from modelport.__main__ import main
from modelport.cli import app

COMMANDS = [
    "chat",
    "discover",
    "embed",
    "load",
    "models",
    "ps",
    "pull",
    "serve",
    "show",
    "unload",
]


def _python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_version_prints_name_and_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"modelport {modelport.__version__}\n"


def test_version_after_global_options_takes_the_fast_path(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--service", "http://127.0.0.1:9", "--debug", "--version"]) == 0
    assert capsys.readouterr().out == f"modelport {modelport.__version__}\n"


def test_version_loads_neither_click_rich_nor_httpx() -> None:
    done = _python(
        """
        import sys
        from modelport.__main__ import main
        code = main(["--version"])
        loaded = [m for m in ("click", "rich", "httpx", "modelport.cli") if m in sys.modules]
        print(code, loaded)
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [f"modelport {modelport.__version__}", "0 []"]


def test_version_option_through_click_says_the_same(runner: CliRunner) -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout == f"modelport {modelport.__version__}\n"


def test_import_modelport_never_imports_click_or_rich() -> None:
    done = _python(
        """
        import sys
        import modelport
        from modelport import ChatResponse, ModelInfo, ModelportError, Service
        modelport.__version__
        print([m for m in ("click", "rich", "httpx", "modelport.cli") if m in sys.modules])
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_using_the_library_never_imports_the_cli() -> None:
    # httpx itself imports click and rich when they are installed (for its own
    # command), so only modelport's own CLI package is checked here.
    done = _python(
        """
        import sys
        import modelport
        modelport.Client(services=["llamacpp"]), modelport.discover, modelport.LlamaCppProvider
        print([m for m in sys.modules if m.split(".")[:2] == ["modelport", "cli"]])
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("missing", ["click", "rich"])
def test_without_the_cli_extra_the_command_says_how_to_install_it(missing: str) -> None:
    done = _python(
        f"""
        import sys
        sys.modules[{missing!r}] = None  # what an environment without the extra looks like
        from modelport.__main__ import main
        raise SystemExit(main(["models"]))
        """
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert "pip install 'modelport[cli]'" in done.stderr
    assert "Traceback" not in done.stderr


def test_python_dash_m_modelport_runs_the_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "modelport", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    for command in COMMANDS:
        assert command in done.stdout


def test_main_returns_the_exit_code_of_a_failed_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["no-such-command"]) == 2
    assert "No such command" in capsys.readouterr().err


def test_help_lists_every_command_and_global_option(runner: CliRunner) -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in COMMANDS:
        assert command in result.stdout
    for option in ("--service", "--timeout", "--debug", "--version"):
        assert option in result.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(runner: CliRunner, command: str) -> None:
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0
    assert f"modelport {command}" in result.stdout


def test_unknown_command_is_a_usage_error(runner: CliRunner) -> None:
    result = runner.invoke(app, ["frobnicate"])
    assert result.exit_code == 2
    assert "No such command" in result.stderr

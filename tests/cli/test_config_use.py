"""Every command reads the configuration file: ``--config PATH`` (a global option),
``MODELPORT_CONFIG``, ``./modelport.toml``, then the user's folder; ``modelport serve``
takes its ``[gateway]`` settings from it, flags and the environment over them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from modelport.cli import app
from modelport.config import Config
from modelport.testing import FakeProvider

from .conftest import UseServices
from .test_serve import launched  # noqa: F401  (the fixture)

ALIASES = '[aliases]\ncoder = "m"\n"claude-*" = "coder"\n'

GATEWAY = """\
[gateway]
host = "0.0.0.0"
port = 8124
api_keys_env = ["TEAM_KEY"]
cors_origins = ["http://app.example:5173"]
max_body = "1MB"
"""


@pytest.fixture(autouse=True)
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working folder, and a home with no user configuration in it."""
    monkeypatch.chdir(tmp_path)
    home = tmp_path / "home"
    home.mkdir()
    for name in (
        "MODELPORT_CONFIG",
        "MODELPORT_SERVICES",
        "MODELPORT_API_KEYS",
        "MODELPORT_ORIGINS",
        "APPDATA",
        "TEAM_KEY",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    return tmp_path


def _listed(runner: CliRunner, *args: str) -> list[str]:
    result = runner.invoke(app, [*args, "models", "--json"])
    assert result.exit_code == 0, result.output
    return [m["id"] for m in json.loads(result.stdout)]


# ---------------------------------------------------------------------------- the client


def test_without_a_file_commands_build_the_client_as_before(
    runner: CliRunner, use_services: UseServices
) -> None:
    seen = use_services(FakeProvider(models=["m"], name="fake"))
    assert _listed(runner) == ["fake/m"]
    assert seen["config"] is None


def test_the_global_config_option_gives_commands_the_files_aliases(
    runner: CliRunner, use_services: UseServices, folder: Path
) -> None:
    (folder / "team.toml").write_text(ALIASES)
    seen = use_services(FakeProvider(models=["m"], name="fake"))
    assert _listed(runner, "--config", "team.toml") == ["fake/m", "coder"]
    assert isinstance(seen["config"], Config)
    assert seen["config"].path == folder / "team.toml"


@pytest.mark.parametrize("where", ["cwd", "env", "user"])
def test_commands_find_the_file_as_documented(
    runner: CliRunner,
    use_services: UseServices,
    folder: Path,
    monkeypatch: pytest.MonkeyPatch,
    where: str,
) -> None:
    path = {
        "cwd": folder / "modelport.toml",
        "env": folder / "elsewhere.toml",
        "user": folder / "home" / ".config" / "modelport" / "config.toml",
    }[where]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(ALIASES)
    if where == "env":
        monkeypatch.setenv("MODELPORT_CONFIG", str(path))
    use_services(FakeProvider(models=["m"], name="fake"))
    assert _listed(runner) == ["fake/m", "coder"]


def test_the_global_config_option_beats_modelport_config_and_the_working_folder(
    runner: CliRunner, use_services: UseServices, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (folder / "modelport.toml").write_text('[aliases]\nhere = "m"\n')
    (folder / "env.toml").write_text('[aliases]\nenv = "m"\n')
    (folder / "flag.toml").write_text('[aliases]\nflag = "m"\n')
    monkeypatch.setenv("MODELPORT_CONFIG", str(folder / "env.toml"))
    use_services(FakeProvider(models=["m"], name="fake"))
    assert _listed(runner, "--config", "flag.toml") == ["fake/m", "flag"]
    assert _listed(runner) == ["fake/m", "env"]


def test_a_global_config_file_that_does_not_exist_is_a_usage_error(runner: CliRunner) -> None:
    result = runner.invoke(app, ["--config", "missing.toml", "models"])
    assert result.exit_code == 2
    assert "missing.toml" in result.stderr and "does not exist" in result.stderr


def test_a_file_with_mistakes_stops_a_command_with_each_of_them(
    runner: CliRunner, use_services: UseServices, folder: Path
) -> None:
    (folder / "modelport.toml").write_text('[aliases]\na = "b"\nb = "a"\n')
    use_services(FakeProvider(models=["m"], name="fake"))
    result = runner.invoke(app, ["models"])
    assert result.exit_code == 2
    assert "a -> b -> a" in result.stderr


def test_modelport_config_shows_the_file_the_global_option_names(
    runner: CliRunner, folder: Path
) -> None:
    (folder / "team.toml").write_text(ALIASES)
    result = runner.invoke(app, ["--config", "team.toml", "config"])
    assert result.exit_code == 0, result.output
    assert f"configuration file: {folder / 'team.toml'}" in result.stdout
    assert "aliases.coder" in result.stdout


# ---------------------------------------------------------------------------- serve


def test_serve_takes_host_port_keys_cors_and_max_body_from_the_gateway_table(
    runner: CliRunner,
    launched: dict[str, Any],  # noqa: F811
    folder: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (folder / "modelport.toml").write_text(GATEWAY + ALIASES)
    monkeypatch.setenv("TEAM_KEY", "team-secret\n")
    result = runner.invoke(app, ["serve"])
    assert result.exit_code == 0, result.output
    assert (launched["host"], launched["port"]) == ("0.0.0.0", 8124)
    gateway = launched["app"]
    assert gateway.keyed and "1 API key required" in result.stdout
    assert "team-secret" not in result.output
    assert gateway.max_body == 1024**2
    assert gateway.origins.allows("http://app.example:5173")
    assert not gateway.origins.allows("http://other.example")
    assert isinstance(launched["config"], Config)
    assert launched["config"].resolve("claude-x") == ("m",)


def test_serve_flags_and_environment_beat_the_gateway_table(
    runner: CliRunner,
    launched: dict[str, Any],  # noqa: F811
    folder: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (folder / "modelport.toml").write_text(GATEWAY)
    monkeypatch.setenv("MODELPORT_ORIGINS", "http://env.example")
    result = runner.invoke(
        app, ["serve", "--host", "127.0.0.1", "--port", "9001", "--max-body", "2MB"]
    )
    assert result.exit_code == 0, result.output
    assert (launched["host"], launched["port"]) == ("127.0.0.1", 9001)
    gateway = launched["app"]
    assert gateway.max_body == 2 * 1024**2
    assert gateway.origins.allows("http://env.example")
    assert not gateway.origins.allows("http://app.example:5173")  # replaced, not added


@pytest.mark.parametrize("value", [None, "", "  "], ids=["unset", "empty", "blank"])
def test_a_public_host_from_the_file_whose_key_variable_is_unset_or_empty_is_refused(
    runner: CliRunner,
    launched: dict[str, Any],  # noqa: F811
    folder: Path,
    monkeypatch: pytest.MonkeyPatch,
    value: str | None,
) -> None:
    (folder / "modelport.toml").write_text(GATEWAY)
    if value is not None:
        monkeypatch.setenv("TEAM_KEY", value)
    result = runner.invoke(app, ["serve"])
    assert result.exit_code == 2, result.output
    assert "app" not in launched  # nothing was started
    assert "0.0.0.0" in result.stderr and "TEAM_KEY" in result.stderr
    assert "unset or empty" in result.stderr


def test_serve_keys_from_the_flag_the_environment_and_the_files_variables_all_count(
    runner: CliRunner,
    launched: dict[str, Any],  # noqa: F811
    folder: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (folder / "modelport.toml").write_text(GATEWAY)
    monkeypatch.setenv("TEAM_KEY", "k-file")
    monkeypatch.setenv("MODELPORT_API_KEYS", "k-env")
    result = runner.invoke(app, ["serve", "--api-key", "k-flag"])
    assert result.exit_code == 0, result.output
    assert "3 API keys required" in result.stdout


def test_models_table_marks_an_alias_with_the_models_it_stands_for(
    runner: CliRunner, use_services: UseServices, folder: Path
) -> None:
    (folder / "modelport.toml").write_text(ALIASES)
    use_services(FakeProvider(models=["m"], name="fake"))
    result = runner.invoke(app, ["models"])
    assert result.exit_code == 0, result.output
    [row] = [line for line in result.stdout.splitlines() if line.startswith("coder")]
    assert "(alias of fake/m)" in row


def test_ps_lists_running_models_only_never_an_alias(
    runner: CliRunner, use_services: UseServices, folder: Path
) -> None:
    (folder / "modelport.toml").write_text(ALIASES)
    use_services(FakeProvider(models=["m"], name="fake"))  # its models are loaded
    result = runner.invoke(app, ["ps", "--json"])
    assert result.exit_code == 0, result.output
    assert [m["id"] for m in json.loads(result.stdout)] == ["fake/m"]

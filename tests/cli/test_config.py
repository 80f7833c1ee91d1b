"""``modelport config`` (the effective configuration and where each value came from) and
``modelport config check FILE``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from modelport.cli import app

GOOD = """\
[services.gpu]
url = "http://10.0.0.5:11434"
api_key_env = "GPU_KEY"
max_in_flight = 2

[aliases]
"claude-*" = "gpu/qwen2.5-coder:7b"
"""

BAD = """\
[services.gpu]
url = "http://10.0.0.5:11434"
max_inflight = 2

[gateway]
port = 70000
"""


def rows_of(output: str) -> dict[str, list[str]]:
    """The table under the first line, by key (cells split on spaces)."""
    lines = output.splitlines()[1:]
    assert lines[0].split() == ["KEY", "VALUE", "SOURCE"]
    return {line.split()[0]: line.split()[1:] for line in lines[1:]}


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working folder, and a home with no user configuration in it."""
    monkeypatch.chdir(tmp_path)
    home = tmp_path / "home"
    home.mkdir()
    for name in ("MODELPORT_CONFIG", "MODELPORT_SERVICES", "MODELPORT_API_KEYS", "APPDATA"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    return tmp_path


def test_config_prints_every_value_with_where_it_came_from(folder: Path) -> None:
    (folder / "modelport.toml").write_text(GOOD, encoding="utf-8")
    result = CliRunner().invoke(app, ["config"], env={"GPU_KEY": "sk-very-secret"})
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == f"configuration file: {folder / 'modelport.toml'}"
    rows = rows_of(result.output)
    file = folder / "modelport.toml"
    assert rows["services.gpu.max_in_flight"] == ["2", f"{file}:4"]
    assert rows["services.gpu.api_key"] == ["***", "env", "GPU_KEY"]
    assert rows['aliases."claude-*"'] == ["gpu/qwen2.5-coder:7b", f"{file}:7"]
    assert rows["gateway.port"] == ["11435", "default"]
    assert "sk-very-secret" not in result.output


def test_config_as_json(folder: Path) -> None:
    (folder / "modelport.toml").write_text(GOOD, encoding="utf-8")
    result = CliRunner().invoke(app, ["config", "--json"], env={"GPU_KEY": "sk-very-secret"})
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["file"] == str(folder / "modelport.toml")
    assert {"key": "gateway.host", "value": "127.0.0.1", "source": "default"} in data["values"]
    assert "sk-very-secret" not in result.output


def test_config_names_the_file_given_with_config(folder: Path) -> None:
    other = folder / "other.toml"
    other.write_text("[gateway]\nport = 9000\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["config", "--config", str(other)])
    assert result.exit_code == 0, result.output
    assert rows_of(result.output)["gateway.port"] == ["9000", f"{other}:2"]


def test_config_without_a_file_says_where_it_looked(folder: Path) -> None:
    result = CliRunner().invoke(app, ["config"])
    assert result.exit_code == 0, result.output
    first = result.output.splitlines()[0]
    assert first.startswith("no configuration file (looked for ")
    assert str(folder / "modelport.toml") in first
    assert "gateway.port" in result.output


def test_config_shows_services_and_keys_from_the_global_options(folder: Path) -> None:
    result = CliRunner().invoke(
        app, ["--service", "gpu=http://10.0.0.9:11434", "--api-key", "gpu=sk-flag", "config"]
    )
    assert result.exit_code == 0, result.output
    rows = rows_of(result.output)
    assert rows["services.gpu.url"] == ["http://10.0.0.9:11434", "flag", "--service"]
    assert rows["services.gpu.api_key"] == ["***", "flag", "--api-key"]
    assert "sk-flag" not in result.output


def test_config_with_mistakes_lists_each_on_stderr_and_exits_2(folder: Path) -> None:
    (folder / "modelport.toml").write_text(BAD, encoding="utf-8")
    result = CliRunner().invoke(app, ["config"])
    assert result.exit_code == 2
    file = folder / "modelport.toml"
    assert f"{file}:3: services.gpu.max_inflight" in result.stderr
    assert f"{file}:6: gateway.port" in result.stderr
    assert result.stdout == ""


def test_config_check_passes_a_good_file(folder: Path) -> None:
    (folder / "team.toml").write_text(GOOD, encoding="utf-8")
    result = CliRunner().invoke(app, ["config", "check", "team.toml"])
    assert result.exit_code == 0, result.output
    assert result.stdout == "team.toml: no problems\n"


def test_config_check_lists_every_problem_and_exits_2(folder: Path) -> None:
    (folder / "team.toml").write_text(BAD, encoding="utf-8")
    result = CliRunner().invoke(app, ["config", "check", "team.toml"])
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert lines[0].startswith("team.toml:3: services.gpu.max_inflight: there is no such key.")
    assert "Did you mean max_in_flight?" in lines[0]
    assert lines[1].startswith("team.toml:6: gateway.port:")
    assert lines[2] == "team.toml: 2 problems"


def test_config_check_gives_line_and_column_of_a_syntax_error(folder: Path) -> None:
    (folder / "team.toml").write_text("[gateway]\nport = \n", encoding="utf-8")
    result = CliRunner().invoke(app, ["config", "check", "team.toml"])
    assert result.exit_code == 2
    assert result.stderr.startswith("team.toml:2:8: this is not valid TOML")


def test_config_check_of_a_missing_file_exits_2(folder: Path) -> None:
    result = CliRunner().invoke(app, ["config", "check", "gone.toml"])
    assert result.exit_code == 2
    assert "gone.toml" in result.stderr

"""scripts/check_llama.py: a llama-server that dies while starting is reported in one
line naming the signal, its likely cause, the log and what to set (fake binaries here;
``./scripts/test`` runs the check on the real build)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "check_llama.py"


def fake_server(tmp_path: Path, body: str) -> Path:
    binary = tmp_path / "llama-server"
    binary.write_text(f"#!/bin/sh\necho loading model\n{body}\n")
    binary.chmod(0o755)
    return binary


def check(binary: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    log = tmp_path / "check.log"
    return subprocess.run(
        [sys.executable, str(SCRIPT), str(binary), str(tmp_path / "model.gguf"), str(log)],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("signal", "cause"),
    [("SEGV", "instruction set the CPU advertises"), ("ILL", "does not allow")],
)
def test_a_server_killed_by_a_signal_is_one_line_naming_it_the_cause_log_and_fix(
    tmp_path: Path, signal: str, cause: str
) -> None:
    result = check(fake_server(tmp_path, f"kill -{signal} $$"), tmp_path)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert f"SIG{signal}" in line and cause in line
    assert str(tmp_path / "check.log") in line
    assert "MODELPORT_LLAMA_CMAKE_ARGS" in line and "MODELPORT_LLAMA_SERVER" in line
    assert "loading model" in (tmp_path / "check.log").read_text()


def test_a_server_that_exits_says_its_status(tmp_path: Path) -> None:
    result = check(fake_server(tmp_path, "exit 3"), tmp_path)
    assert result.returncode == 1
    assert "exited with status 3" in result.stderr


def test_a_path_that_is_not_executable_is_refused(tmp_path: Path) -> None:
    result = check(tmp_path / "missing", tmp_path)
    assert result.returncode == 1
    assert "is not an executable file" in result.stderr

"""Shared test set-up: a guard against real network use, and the async backend."""

from __future__ import annotations

import ipaddress
import json
import socket
import time
from pathlib import Path
from typing import IO, Any

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


def read_serve_banner(stdout: IO[str], seconds: float = 60.0) -> str:
    """What a ``modelport serve`` process printed up to its banner's last line ("Ctrl-C"),
    or less if it exited or ``seconds`` passed first (the caller checks for "Ctrl-C")."""
    banner = ""
    deadline = time.monotonic() + seconds
    while "Ctrl-C" not in banner and time.monotonic() < deadline:
        line = stdout.readline()
        if not line:
            break
        banner += line
    return banner


def load_fixture(relative: str) -> Any:
    """A JSON fixture copied from a server's documentation (tests/fixtures/...)."""
    text = (FIXTURES / relative).read_text(encoding="utf-8")
    return json.loads(text)


def fixture_bytes(relative: str) -> bytes:
    return (FIXTURES / relative).read_bytes()


def _is_loopback(host: Any) -> bool:
    if not isinstance(host, str):
        return True  # unix sockets and the like
    if host in ("localhost", "") or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests may talk to 127.0.0.1 and ::1 only; anything else fails loudly."""
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def guard(address: Any) -> None:
        host = address[0] if isinstance(address, tuple) else address
        if not _is_loopback(host):
            raise AssertionError(f"test tried to reach a non-loopback address: {address!r}")

    def connect(self: socket.socket, address: Any) -> Any:
        guard(address)
        return real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> Any:
        guard(address)
        return real_connect_ex(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, bytes):
            host = host.decode()
        guard((host,))
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The user's own configuration must not leak into tests."""
    for name in (
        "OLLAMA_HOST",
        "MODELPORT_SERVICES",
        "MODELPORT_TIMEOUT",
        "LM_API_TOKEN",
        "LMSTUDIO_API_TOKEN",
        "OPENAI_API_KEY",
        "OLLAMA_API_KEY",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"

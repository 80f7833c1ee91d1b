"""Fixtures for the command-line tests: a runner and fake servers wired into the CLI.

The CLI builds its :class:`modelport.Client` through ``modelport.cli._context.make_client``;
``use_services`` replaces that seam with a client over fake providers, recording the
global options the command passed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pytest
from click.testing import CliRunner

import modelport
from modelport.cli import _context
from modelport.config import Config
from modelport.providers.base import Provider

from .fakes import LlamaCppHarness, ManagedHarness

UseServices = Callable[..., dict[str, Any]]


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def use_services(monkeypatch: pytest.MonkeyPatch) -> UseServices:
    """Make the CLI talk to these providers; returns what ``make_client`` was given."""

    def install(*providers: Provider) -> dict[str, Any]:
        seen: dict[str, Any] = {}

        def make_client(
            services: Sequence[str],
            timeout: float | None,
            api_keys: Mapping[str, str] | None = None,
            config: Config | None = None,
        ) -> modelport.Client:
            seen["services"] = list(services)
            seen["timeout"] = timeout
            seen["api_keys"] = dict(api_keys or {})
            seen["config"] = config
            return modelport.Client(services=list(providers), config=config)

        monkeypatch.setattr(_context, "make_client", make_client)
        return seen

    return install


@pytest.fixture
def llamacpp(use_services: UseServices) -> LlamaCppHarness:
    """One llama.cpp server (models alpha, beta, embedder) behind the CLI."""
    harness = LlamaCppHarness()
    use_services(harness.provider())
    return harness


@pytest.fixture
def managed(use_services: UseServices) -> ManagedHarness:
    """A server that can also pull, load and unload, behind the CLI."""
    harness = ManagedHarness()
    use_services(harness.provider())
    return harness


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pretend stdout is a terminal (rich tables, colour)."""
    monkeypatch.setattr(_context, "stdout_is_terminal", lambda: True)
    monkeypatch.delenv("NO_COLOR", raising=False)


@pytest.fixture
def tty_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pretend stdin is a terminal, so ``chat`` without a prompt is interactive."""
    monkeypatch.setattr(_context, "stdin_is_tty", lambda: True)

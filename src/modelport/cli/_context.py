"""What every command shares: the global options, the client, and the seams tests replace.

The module-level functions (:func:`make_client`, :func:`discover_services`,
:func:`stdin_is_tty`, :func:`stdout_is_terminal`) are looked up at call time, so the
tests swap them for fakes without touching the commands.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .. import Config
    from ..client import Client
    from ..types import Service

__all__ = [
    "State",
    "discover_services",
    "load_effective",
    "make_client",
    "stderr_is_terminal",
    "stdin_is_tty",
    "stdout_is_terminal",
]


def make_client(
    services: Sequence[str],
    timeout: float | None,
    api_keys: Mapping[str, str] | None = None,
    config: Config | None = None,
) -> Client:
    """The client for ``--service`` (repeatable), ``--timeout``, ``--api-key`` and the
    configuration file found (``None``: there is none).

    No ``--service`` means what a library user gets from ``Client(config=...)``: the
    file's services, else ``MODELPORT_SERVICES`` if set, else the servers found on this
    machine. A ``--service`` replaces the file's service of the same name.
    """
    import modelport

    return modelport.Client(
        services=list(services) or None,
        timeout=timeout,
        api_keys=dict(api_keys or {}),
        config=config,
    )


def load_effective(path: str | None) -> Config:
    """The configuration every command uses: the file ``--config`` names, else
    ``MODELPORT_CONFIG``'s, ``./modelport.toml`` or the user's (see
    ``docs/configuration.md``), with the environment over it.

    Raises:
        ConfigurationError: the file named does not exist, or its mistakes (all listed).
    """
    from .. import load_config

    return load_config(path)


def discover_services(hosts: Sequence[str], timeout: float) -> list[Service]:
    """Probe the default local addresses and ``hosts``."""
    import modelport

    return modelport.discover(hosts=list(hosts), timeout=timeout)


def stdin_is_tty() -> bool:
    """Whether a person is typing (so ``chat`` without a prompt is a conversation)."""
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


def stdout_is_terminal() -> bool:
    """Whether output is for a person: tables, colour and live progress.

    ``FORCE_COLOR`` (any non-empty value) says yes even through a pipe.
    """
    if os.environ.get("FORCE_COLOR"):
        return True
    return _isatty(sys.stdout)


def stderr_is_terminal() -> bool:
    """Like :func:`stdout_is_terminal`, for messages on stderr."""
    if os.environ.get("FORCE_COLOR"):
        return True
    return _isatty(sys.stderr)


def _isatty(stream: object) -> bool:
    try:
        return bool(stream.isatty())  # type: ignore[attr-defined]
    except (AttributeError, ValueError):
        return False


@dataclass
class State:
    """The global options, and the client built from them on first use."""

    services: tuple[str, ...] = ()
    timeout: float | None = None
    debug: bool = False
    api_keys: Mapping[str, str] = field(default_factory=dict, repr=False)
    config_path: str | None = None
    _client: Client | None = field(default=None, repr=False)
    _config: Config | None = field(default=None, repr=False)

    @property
    def config(self) -> Config:
        """The configuration file found (``--config``, ``MODELPORT_CONFIG``,
        ``./modelport.toml``, the user's), read once; the defaults when there is none.
        """
        if self._config is None:
            self._config = load_effective(self.config_path)
        return self._config

    @property
    def file_config(self) -> Config | None:
        """:attr:`config` when a file was found (without one, the client is built as
        before: ``MODELPORT_SERVICES`` or discovery).
        """
        return self.config if self.config.path is not None else None

    @property
    def client(self) -> Client:
        if self._client is None:
            self._client = make_client(
                self.services, self.timeout, self.api_keys, config=self.file_config
            )
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

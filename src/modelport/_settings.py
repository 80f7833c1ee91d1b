"""A client's settings: one frozen object, every value checked once when it is made.

:class:`ClientSettings` holds what :class:`~modelport.Client` and
:class:`~modelport.AsyncClient` are given besides their services and configuration
(timeouts, retries, health, caps, keys), as httpx holds its ``Timeout`` and ``Limits``:
a mistake (a negative timeout, a retry count that is not an integer) is a
:class:`~modelport.ConfigurationError` naming the argument, before anything is sent.

>>> ClientSettings(timeout=5).timeout
5.0
>>> ClientSettings(max_retries=-1)
Traceback (most recent call last):
  ...
modelport.errors.ConfigurationError: max_retries must be a non-negative integer, not -1.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TypedDict

from ._http.caps import DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_ERROR_BYTES
from ._http.retry import RetryPolicy
from ._http.settings import check_bytes, check_seconds
from .errors import ConfigurationError
from .providers.base import DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_EVENT_BYTES, DEFAULT_TIMEOUT

__all__ = ["Caps", "ClientOptions", "ClientSettings", "read_timeout"]


def read_timeout(given: float | None, default: float = DEFAULT_TIMEOUT) -> float:
    """The read timeout in force: ``given``, else ``MODELPORT_TIMEOUT``, else ``default``
    (the library's 60 s; ``modelport serve`` passes its own 600 s).

    Raises:
        ConfigurationError: ``MODELPORT_TIMEOUT`` is not a positive number of seconds.
    """
    if given is not None:
        return given
    raw = os.environ.get("MODELPORT_TIMEOUT")
    if raw is None or not raw.strip():
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"MODELPORT_TIMEOUT={raw!r} is not a number of seconds.") from None
    return check_seconds("MODELPORT_TIMEOUT", value)


class Caps(TypedDict):
    """The caps a client hands every provider it makes."""

    max_body_bytes: int
    max_error_bytes: int
    max_event_bytes: int


class ClientOptions(TypedDict, total=False):
    """A client's keyword arguments besides ``services`` and ``config``
    (for :meth:`~modelport.Client.from_config`).
    """

    timeout: float | None
    connect_timeout: float
    max_retries: int
    discovery_timeout: float | None
    models_ttl: float
    cooldown: float
    failure_threshold: int
    retry_policy: RetryPolicy | None
    deadline: float | None
    max_body_bytes: int
    max_error_bytes: int
    max_event_bytes: int
    api_keys: Mapping[str, str] | None
    gateway_id: str | None


def _non_negative_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigurationError(f"{name} must be a non-negative integer, not {value!r}.")
    return value


@dataclass(frozen=True, slots=True)
class ClientSettings:
    """What a client is given besides its services, checked (see the client's arguments,
    :class:`~modelport._core.ClientCore`; the client passes ``timeout`` through
    :func:`read_timeout`). ``None`` means "not set".
    """

    timeout: float = DEFAULT_TIMEOUT
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    max_retries: int = 2
    discovery_timeout: float | None = None
    models_ttl: float = 30.0
    cooldown: float = 30.0
    failure_threshold: int = 3
    retry_policy: RetryPolicy | None = None
    deadline: float | None = None
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_error_bytes: int = DEFAULT_MAX_ERROR_BYTES
    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES
    api_keys: Mapping[str, str] = field(default_factory=dict)
    gateway_id: str | None = None

    def __post_init__(self) -> None:
        fix = object.__setattr__  # frozen: each value is set once, here, checked
        fix(self, "timeout", check_seconds("timeout", self.timeout))
        fix(self, "connect_timeout", check_seconds("connect_timeout", self.connect_timeout))
        if self.deadline is not None:
            fix(self, "deadline", check_seconds("deadline", self.deadline))
        if self.discovery_timeout is not None:
            fix(
                self,
                "discovery_timeout",
                check_seconds("discovery_timeout", self.discovery_timeout),
            )
        for name in ("models_ttl", "cooldown"):
            fix(self, name, check_seconds(name, getattr(self, name), allow_zero=True))
        for name in ("max_body_bytes", "max_error_bytes", "max_event_bytes"):
            fix(self, name, check_bytes(name, getattr(self, name)))
        _non_negative_int("max_retries", self.max_retries)
        threshold = self.failure_threshold
        if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 1:
            raise ConfigurationError("failure_threshold must be a positive integer.")
        if not isinstance(self.api_keys, Mapping):
            raise ConfigurationError("api_keys must be a dict of service name -> key.")
        fix(self, "api_keys", MappingProxyType(dict(self.api_keys)))
        gateway_id = self.gateway_id
        if gateway_id is not None and (not isinstance(gateway_id, str) or not gateway_id.strip()):
            raise ConfigurationError(f"gateway_id must be a non-empty string, not {gateway_id!r}.")

    @property
    def retry(self) -> RetryPolicy:
        """The backoff in force: the one given, else exponential with ``max_retries``."""
        return self.retry_policy or RetryPolicy(max_retries=self.max_retries)

    @property
    def caps(self) -> Caps:
        """The caps handed to every provider the client makes."""
        return {
            "max_body_bytes": self.max_body_bytes,
            "max_error_bytes": self.max_error_bytes,
            "max_event_bytes": self.max_event_bytes,
        }

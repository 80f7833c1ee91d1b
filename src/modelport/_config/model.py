"""The configuration as frozen dataclasses, each value knowing where it came from."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from types import MappingProxyType
from typing import Literal, TypeVar

from ..types import ProviderKind
from .aliases import is_glob, resolve
from .toml import format_path, parse_path

__all__ = [
    "AliasConfig",
    "Config",
    "ConfigProblem",
    "GatewayConfig",
    "ModelConfig",
    "Secret",
    "ServiceConfig",
    "Source",
]

V = TypeVar("V")


@dataclass(frozen=True)
class Source:
    """Where a value came from.

    >>> str(Source("file", "modelport.toml", 12)), str(Source("env", "GPU_KEY"))
    ('modelport.toml:12', 'env GPU_KEY')
    >>> str(Source("flag", "--service")), str(Source("default"))
    ('flag --service', 'default')
    """

    kind: Literal["file", "env", "flag", "default"]
    name: str = ""
    line: int | None = None

    def __str__(self) -> str:
        if self.kind == "file":
            return f"{self.name}:{self.line}" if self.line is not None else self.name
        if self.kind == "default":
            return "default"
        return f"{self.kind} {self.name}".rstrip()


@dataclass(frozen=True)
class Secret:
    """A key: shown as ``***`` everywhere (repr, str, messages); :meth:`reveal` gives it."""

    value: str = field(repr=False)

    def reveal(self) -> str:
        """The key itself, to send."""
        return self.value

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"


@dataclass(frozen=True)
class ServiceConfig:
    """One ``[services.NAME]`` table (or a ``--service`` / ``MODELPORT_SERVICES`` entry).

    Attributes:
        name: the service's name; ``None`` for a bare URL from the command line or the
            environment (named by its kind once found, as today).
        url: its base URL (without credentials).
        kind: ``ollama``, ``lmstudio``, ``llamacpp`` or ``openai``; ``None``: found by
            asking the server.
        api_key_env: the environment variable the key is read from.
        api_key: the key (from ``--api-key``, ``MODELPORT_API_KEY_<NAME>`` or the
            variable ``api_key_env`` names); ``None``: no key.
        credentials: ``user:password`` given inside the URL (sent as HTTP Basic).
        max_in_flight, max_queue, max_wait, max_loaded, swap_after: the scheduler's
            limits (see ``docs/configuration.md``); ``None``: not set.
    """

    name: str | None
    url: str
    kind: ProviderKind | None = None
    api_key_env: str | None = None
    api_key: Secret | None = None
    credentials: Secret | None = None
    max_in_flight: int | None = None
    max_queue: int | None = None
    max_wait: float | None = None
    max_loaded: int | None = None
    swap_after: float | None = None


@dataclass(frozen=True)
class AliasConfig:
    """One alias: a name (or a glob such as ``claude-*``) and the model ids or aliases
    it stands for, as written.
    """

    name: str
    targets: tuple[str, ...]
    glob: bool = False


@dataclass(frozen=True)
class ModelConfig:
    """Settings for the models a ``[models.PATTERN]`` table matches (``None``: not set).

    ``pattern`` is a model id (``gpu/qwen3:8b``), a model name on any service
    (``qwen3:8b``), an alias, or a glob (``gpu/*``).
    """

    pattern: str
    max_in_flight: int | None = None
    max_queue: int | None = None
    max_wait: float | None = None
    ttl: float | None = None


@dataclass(frozen=True)
class GatewayConfig:
    """The ``[gateway]`` table: where ``modelport serve`` listens, and who may use it.

    Attributes:
        host, port: where it listens.
        api_keys_env: the environment variables holding the keys callers must send.
        api_keys: every key in force (from those variables, ``MODELPORT_API_KEYS`` and
            ``--api-key``); a variable that is unset or empty adds no key.
        cors_origins: the browser origins allowed to call it (``*`` for any).
        max_body: the largest request body, in bytes.
    """

    host: str = "127.0.0.1"
    port: int = 11435
    api_keys_env: tuple[str, ...] = ()
    api_keys: tuple[Secret, ...] = ()
    cors_origins: tuple[str, ...] = ()
    max_body: int = 100 * 1024**2


@dataclass(frozen=True)
class ConfigProblem:
    """One mistake: where (``modelport.toml:12``, ``env NAME``), the key path, what is
    wrong and how to fix it.
    """

    path: str
    message: str
    hint: str
    where: str | None = None

    def __str__(self) -> str:
        place = ": ".join(part for part in (self.where, self.path) if part)
        text = f"{self.message} {self.hint}".strip()
        return f"{place}: {text}" if place else text


Row = tuple[str, str, Source]


@dataclass(frozen=True)
class Config:
    """The effective configuration: the file, overridden by the environment, overridden
    by flags, over the defaults.

    Attributes:
        services: the services, in the order first given.
        aliases: every alias, in file order (exact names and globs).
        models: per-model settings, in file order.
        gateway: the gateway's settings.
        path: the file read, if any.
        sources: where each value came from, by key path (``services.gpu.max_in_flight``).
    """

    services: tuple[ServiceConfig, ...] = ()
    aliases: tuple[AliasConfig, ...] = ()
    models: tuple[ModelConfig, ...] = ()
    gateway: GatewayConfig = field(default_factory=GatewayConfig)
    path: Path | None = None
    sources: Mapping[str, Source] = field(
        default_factory=lambda: MappingProxyType({}), repr=False, compare=False
    )
    rows: tuple[Row, ...] = field(default=(), repr=False, compare=False)

    def service(self, name: str) -> ServiceConfig | None:
        """The service called ``name``, if configured."""
        return next((s for s in self.services if s.name == name), None)

    def source(self, path: str) -> Source | None:
        """Where the value at ``path`` (``gateway.port``, ``aliases."claude-*"``) came from."""
        return self.sources.get(format_path(parse_path(path)))

    def describe(self) -> list[Row]:
        """Every value in force, as ``(key path, shown value, source)``; keys masked."""
        return list(self.rows)

    def resolve(self, name: str) -> tuple[str, ...]:
        """The model ids ``name`` stands for: itself when it is no alias.

        Exact aliases first, then globs in file order (the first that matches); an
        alias naming aliases stands for all their ids, in order, without repeats.
        """
        return resolve(self.aliases, name)

    def alias_entries(self) -> tuple[AliasConfig, ...]:
        """The aliases a model list shows (globs are patterns, not models), each with
        the model ids it stands for.
        """
        return tuple(
            AliasConfig(alias.name, self.resolve(alias.name))
            for alias in self.aliases
            if not alias.glob
        )

    def model_settings(self, service: str, model: str) -> ModelConfig:
        """The settings for ``model`` on ``service``, field by field from the first
        ``[models]`` entry that sets it: its id (``service/model``), its name, an alias
        standing for it, a glob matching it (each in file order).
        """
        model_id = f"{service}/{model}"

        def rank(entry: ModelConfig) -> int | None:
            pattern = entry.pattern
            if pattern == model_id:
                return 0
            if pattern == model:
                return 1
            if any(a.name == pattern and not a.glob for a in self.aliases):
                return 2 if {model_id, model} & set(self.resolve(pattern)) else None
            if is_glob(pattern) and (fnmatchcase(model_id, pattern) or fnmatchcase(model, pattern)):
                return 3
            return None

        ranked = sorted(
            (r, i, entry) for i, entry in enumerate(self.models) if (r := rank(entry)) is not None
        )

        def first(setting: Callable[[ModelConfig], V | None]) -> V | None:
            return next((v for _, _, e in ranked if (v := setting(e)) is not None), None)

        return ModelConfig(
            model_id,
            first(lambda e: e.max_in_flight),
            first(lambda e: e.max_queue),
            first(lambda e: e.max_wait),
            first(lambda e: e.ttl),
        )

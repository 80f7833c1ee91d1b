"""The layers a configuration is merged from: defaults, the file, the environment, flags.

Each layer is a flat mapping of key paths to :class:`Setting` (a raw value and where it
came from). :func:`merge_settings` lays them over each other key by key, the later
winning: ``merge_settings(defaults, file, environment, flags)`` is the precedence rule.
Values are checked afterwards, all at once (``build.py``), so every mistake is reported
with the place it came from.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .model import GatewayConfig, Source
from .toml import Path, key_lines, loads, parse_path

__all__ = [
    "Setting",
    "Settings",
    "default_settings",
    "environment_settings",
    "file_settings",
    "flag_settings",
    "key_settings",
    "merge_settings",
    "service_settings",
]


@dataclass(frozen=True)
class Setting:
    """A raw value and where it came from."""

    value: object
    source: Source


Settings = dict[Path, Setting]


def merge_settings(*layers: Mapping[Path, Setting]) -> Settings:
    """The layers laid over each other, key by key; the later wins (a key keeps the
    place it was first given, so services stay in the order written).
    """
    merged: Settings = {}
    for layer in layers:
        merged.update(layer)
    return merged


def default_settings() -> Settings:
    """The built-in values, for ``modelport config`` to show as defaults."""
    gateway = GatewayConfig()
    source = Source("default")
    return {
        ("gateway", "host"): Setting(gateway.host, source),
        ("gateway", "port"): Setting(gateway.port, source),
        ("gateway", "max_body"): Setting(gateway.max_body, source),
    }


def file_settings(text: str, name: str) -> Settings:
    """The settings written in a TOML document, each with its line.

    Raises:
        TomlSyntaxError: the text is not TOML.
    """
    document = loads(text)
    lines = key_lines(text)
    settings: Settings = {}

    def where(path: Path) -> Source:
        for end in range(len(path), 0, -1):
            if path[:end] in lines:
                return Source("file", name, lines[path[:end]])
        return Source("file", name)

    def flatten(value: object, path: Path) -> None:
        if isinstance(value, dict) and (value or not path):
            for key, item in value.items():
                flatten(item, (*path, key))
        elif len(path) == 2 and path[0] == "services" and isinstance(value, str):
            url: Path = (*path, "url")  # gpu = "http://..." is gpu.url
            settings[url] = Setting(value, where(path))
        else:
            settings[path] = Setting(value, where(path))

    flatten(document, ())
    return settings


def service_settings(specs: Sequence[str], source: Source) -> Settings:
    """Settings for services given as the command line and ``MODELPORT_SERVICES`` give
    them: ``name=URL``, a kind (``ollama``) or a URL (kept unnamed, under its URL).

    Raises:
        ConfigurationError: an entry that is no service (naming ``source``).
    """
    from ..discovery import parse_service_spec  # loads httpx: only when services are given

    variable = source.name if source.kind == "env" else None
    settings: Settings = {}
    for spec in specs:
        candidate = parse_service_spec(spec.strip(), variable=variable)
        key = candidate.name or candidate.url
        settings[("services", key, "url")] = Setting(candidate.address, source)
        if candidate.hint is not None:
            settings[("services", key, "kind")] = Setting(candidate.hint, source)
    return settings


def environment_settings(environ: Mapping[str, str]) -> Settings:
    """Settings from ``MODELPORT_SERVICES`` and ``MODELPORT_API_KEYS`` (comma-separated).

    ``MODELPORT_API_KEY_<NAME>`` is read when the configuration is built, where each
    service's name is known.
    """
    settings: Settings = {}
    services = [s for s in environ.get("MODELPORT_SERVICES", "").split(",") if s.strip()]
    if services:
        settings.update(service_settings(services, Source("env", "MODELPORT_SERVICES")))
    keys = [k.strip() for k in environ.get("MODELPORT_API_KEYS", "").split(",") if k.strip()]
    if keys:
        settings[("gateway", "api_keys")] = Setting(keys, Source("env", "MODELPORT_API_KEYS"))
    return settings


def flag_settings(
    values: Mapping[str, object] | None = None, services: Sequence[str] = ()
) -> Settings:
    """Settings given on the command line: ``values`` by dotted key path
    (``{"gateway.port": 8080}``), and ``--service`` entries.
    """
    settings = service_settings(services, Source("flag", "--service")) if services else {}
    for path, value in (values or {}).items():
        settings[parse_path(path)] = Setting(value, Source("flag"))
    return settings


def key_settings(merged: Mapping[Path, Setting], keys: Mapping[str, str]) -> Settings:
    """``--api-key NAME=KEY`` settings for the services ``merged`` has (others ignored)."""
    names = {path[1] for path in merged if len(path) > 2 and path[0] == "services"}
    return {
        ("services", name, "api_key"): Setting(key, Source("flag", "--api-key"))
        for name, key in keys.items()
        if name in names
    }

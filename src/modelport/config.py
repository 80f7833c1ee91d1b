"""One configuration file for the library, the CLI and the gateway.

>>> from modelport.config import parse_config
>>> config = parse_config('''
... [services.gpu]
... url = "http://10.0.0.5:11434"
... max_in_flight = 2
...
... [aliases]
... "claude-*" = "gpu/qwen2.5-coder:7b"
... ''', environ={})
>>> config.service("gpu").max_in_flight, str(config.source("services.gpu.max_in_flight"))
(2, 'modelport.toml:4')
>>> config.resolve("claude-sonnet-4-5")
('gpu/qwen2.5-coder:7b',)

The file is TOML. It holds services, aliases, per-model settings and the gateway's
settings; flags override the environment, which overrides the file, which overrides
the defaults. Every mistake is a :class:`~modelport.ConfigurationError` naming the place
(``modelport.toml:12``, or line and column for a syntax error), the key path and the
fix. Keys are read from environment variables the file names, and never shown. Every
key is described in ``docs/configuration.md``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NoReturn

from ._config.build import build
from ._config.find import config_search_paths, find_config, read_config
from ._config.layers import (
    default_settings,
    environment_settings,
    file_settings,
    flag_settings,
    key_settings,
    merge_settings,
)
from ._config.model import (
    AliasConfig,
    Config,
    ConfigProblem,
    GatewayConfig,
    ModelConfig,
    Secret,
    ServiceConfig,
    Source,
)
from ._config.toml import TomlSyntaxError
from .errors import ConfigurationError

__all__ = [
    "AliasConfig",
    "Config",
    "ConfigProblem",
    "GatewayConfig",
    "ModelConfig",
    "Secret",
    "ServiceConfig",
    "Source",
    "check_config",
    "config_search_paths",
    "find_config",
    "load_config",
    "parse_config",
    "read_config",
]

_SYNTAX_HINT = (
    'Check the TOML there: text needs quotes (url = "http://10.0.0.5:11434"), numbers do '
    "not (max_in_flight = 2), and tables are written [services.NAME]."
)


def _syntax_problem(exc: TomlSyntaxError, name: str) -> ConfigProblem:
    place = name if exc.line is None else f"{name}:{exc.line}:{exc.column}"
    return ConfigProblem("", f"this is not valid TOML ({exc.reason}).", _SYNTAX_HINT, place)


def _raise(problems: Sequence[ConfigProblem], name: str) -> NoReturn:
    if len(problems) == 1:
        [only] = problems
        place = ": ".join(part for part in (only.where, only.path) if part)
        raise ConfigurationError(f"{place}: {only.message}", hint=only.hint)
    lines = "".join(f"\n  {problem}" for problem in problems)
    raise ConfigurationError(f"{name} has {len(problems)} problems:{lines}")


def check_config(
    text: str, *, name: str = "modelport.toml", environ: Mapping[str, str] | None = None
) -> list[ConfigProblem]:
    """Every mistake in a configuration file's text (an empty list: none).

    Args:
        text: the file's contents.
        name: how to name the file in messages.
        environ: where the keys the file names are read (default: ``os.environ``).
    """
    try:
        settings = file_settings(text, name)
    except TomlSyntaxError as exc:
        return [_syntax_problem(exc, name)]
    env = os.environ if environ is None else environ
    return build(merge_settings(default_settings(), settings), env)[1]


def parse_config(
    text: str | None,
    *,
    name: str = "modelport.toml",
    environ: Mapping[str, str] | None = None,
    flags: Mapping[str, object] | None = None,
    services: Sequence[str] = (),
    api_keys: Mapping[str, str] | None = None,
    path: Path | None = None,
) -> Config:
    """The configuration from a file's text (``None``: no file), the environment and
    flags, over the defaults.

    Args:
        text: the file's contents, or ``None``.
        name: how to name the file in messages and sources.
        environ: the environment (default: ``os.environ``): ``MODELPORT_SERVICES``,
            ``MODELPORT_API_KEYS``, ``MODELPORT_API_KEY_<NAME>`` and the variables the
            file names.
        flags: values given on the command line, by key path (``{"gateway.port": 8080}``).
        services: ``--service`` entries (``name=URL``, a kind, or a URL).
        api_keys: keys by service name, as ``--api-key NAME=KEY`` gives them (a flag);
            a name no service has is ignored, as the client ignores it.
        path: the file's path, kept in :attr:`Config.path`.

    Raises:
        ConfigurationError: any mistake; several are listed in one message.
    """
    env = os.environ if environ is None else environ
    layers = [default_settings()]
    if text is not None:
        try:
            layers.append(file_settings(text, name))
        except TomlSyntaxError as exc:
            _raise([_syntax_problem(exc, name)], name)
    layers.append(environment_settings(env))
    layers.append(flag_settings(flags, services))
    merged = merge_settings(*layers)
    merged.update(key_settings(merged, api_keys or {}))
    config, problems = build(merged, env, path)
    if config is None:
        _raise(problems, name)
    return config


def load_config(
    path: str | os.PathLike[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    flags: Mapping[str, object] | None = None,
    services: Sequence[str] = (),
    api_keys: Mapping[str, str] | None = None,
    search: bool = True,
    cwd: str | os.PathLike[str] | None = None,
    home: str | os.PathLike[str] | None = None,
) -> Config:
    """Find the configuration file (see :func:`find_config`), read it, and lay the
    environment and ``flags`` over it (see :func:`parse_config`).

    Raises:
        ConfigurationError: the file named does not exist or cannot be read, or any
            mistake in it, the environment or the flags.
    """
    env = os.environ if environ is None else environ
    found = find_config(path, environ=env, search=search, cwd=cwd, home=home)
    text = None if found is None else read_config(found)
    return parse_config(
        text,
        name=str(found) if found is not None else "modelport.toml",
        environ=env,
        flags=flags,
        services=services,
        api_keys=api_keys,
        path=found,
    )

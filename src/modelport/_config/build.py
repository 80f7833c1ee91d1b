"""Checking the merged settings and building the :class:`Config` from them.

Every mistake becomes a :class:`ConfigProblem` with its place (``modelport.toml:12``,
``env MODELPORT_SERVICES``), its key path and the fix; all are gathered before any is
reported, so one run shows them all. A key is never shown, in a problem or a row.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path as FilePath
from types import MappingProxyType
from typing import Any, Literal, TypedDict, TypeVar
from urllib.parse import urlsplit

from .._coerce import duration_seconds
from .._http.settings import check_api_key
from .._http.urls import normalize_base_url, url_credentials
from ..errors import ConfigurationError, InvalidRequestError
from ..types import ProviderKind
from .aliases import find_cycle, is_glob
from .layers import Setting, Settings
from .model import (
    AliasConfig,
    Config,
    ConfigProblem,
    GatewayConfig,
    ModelConfig,
    Secret,
    ServiceConfig,
    Source,
)
from .toml import Path, format_path

__all__ = ["build"]

T = TypeVar("T")

TABLES: dict[str, str] = {
    "services": 'Write each service as a table: [services.NAME] with url = "http://HOST:PORT".',
    "aliases": 'Write them in an [aliases] table: NAME = "service/model".',
    "models": 'Write each as a table: [models."service/model"] with max_in_flight = 2.',
    "gateway": "Write them in a [gateway] table: port = 11435.",
}
SERVICE_KEYS = (
    "url",
    "kind",
    "api_key_env",
    "max_in_flight",
    "max_queue",
    "max_wait",
    "max_loaded",
    "swap_after",
)
_MODEL_WHOLE: tuple[Literal["max_in_flight", "max_queue"], ...] = ("max_in_flight", "max_queue")
_MODEL_SECONDS: tuple[Literal["max_wait", "ttl"], ...] = ("max_wait", "ttl")
MODEL_KEYS = (*_MODEL_WHOLE, *_MODEL_SECONDS)
GATEWAY_KEYS = ("host", "port", "api_keys_env", "cors_origins", "max_body")
_SYNONYMS = {
    "time_to_live": "ttl",
    "keep_alive": "ttl",
    "idle_ttl": "ttl",
    "concurrency": "max_in_flight",
    "parallel": "max_in_flight",
    "max_concurrency": "max_in_flight",
    "queue": "max_queue",
    "timeout": "max_wait",
    "base_url": "url",
    "address": "url",
    "origins": "cors_origins",
}
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_WHOLE = "a positive whole number"
_DURATION_HINT = 'Use seconds (90) or a duration such as "90s", "10m" or "1h".'


def suggestion(wrong: str, known: tuple[str, ...]) -> str | None:
    """The key a misspelt one most likely meant.

    >>> suggestion("max_inflight", SERVICE_KEYS), suggestion("cors", GATEWAY_KEYS)
    ('max_in_flight', 'cors_origins')
    """
    if _SYNONYMS.get(wrong) in known:
        return _SYNONYMS[wrong]
    prefixed = [k for k in known if k.startswith(wrong) or wrong.startswith(k)]
    if prefixed:
        return prefixed[0]
    close = difflib.get_close_matches(wrong, known, n=1, cutoff=0.6)
    return close[0] if close else None


def seconds_text(value: float) -> str:
    """A number of seconds as a short duration.

    >>> seconds_text(90.0), seconds_text(600.0), seconds_text(7200.0), seconds_text(0.5)
    ('90s', '10m', '2h', '0.5s')
    """
    if value != int(value):
        return f"{value:g}s"
    whole = int(value)
    if whole % 3600 == 0:
        return f"{whole // 3600}h"
    if whole % 60 == 0:
        return f"{whole // 60}m"
    return f"{whole}s"


def size_text(value: int) -> str:
    """A number of bytes in the largest binary unit that divides it.

    >>> size_text(10 * 1024**2), size_text(3072), size_text(1000)
    ('10 MiB', '3 KiB', '1000 bytes')
    """
    for unit, factor in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if value % factor == 0:
            return f"{value // factor} {unit}"
    return f"{value} bytes"


class _Builder:
    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ
        self.problems: list[ConfigProblem] = []
        self.order: list[int] = []
        self.rows: list[tuple[str, str, Source]] = []

    # -------------------------------------------------------------- reporting

    def problem(self, path: Path, source: Source | None, message: str, hint: str) -> None:
        where = None if source is None or source.kind == "default" else str(source)
        self.problems.append(ConfigProblem(format_path(path), message, hint, where))
        line = source.line if source is not None and source.line is not None else 1 << 30
        self.order.append(line)

    def sorted_problems(self) -> list[ConfigProblem]:
        """The problems by line in the file (those from elsewhere last), else as found."""
        ranked = sorted(range(len(self.problems)), key=lambda i: (self.order[i], i))
        return [self.problems[i] for i in ranked]

    def row(self, path: Path, shown: str, source: Source) -> None:
        self.rows.append((format_path(path), shown, source))

    def unknown(self, path: Path, setting: Setting, known: tuple[str, ...], table: str) -> None:
        meant = suggestion(path[-1], known)
        where = f"The keys of [{table}] are" if table else "The tables of the file are"
        hint = f"Did you mean {meant}?" if meant else f"{where}: {', '.join(known)}."
        self.problem(path, setting.source, "there is no such key.", hint)

    def secret_in_file(self, path: Path, setting: Setting, fix: str) -> bool:
        """Whether a key was written in the file (refused, never shown)."""
        if setting.source.kind != "file":
            return False
        self.problem(
            path,
            setting.source,
            "keys are not written in the configuration file (files get shared and committed).",
            f"Put the key in an environment variable and name it: {fix}.",
        )
        return True

    # -------------------------------------------------------------- values

    def check(
        self, path: Path, setting: Setting, read: Callable[[object], T], hint: str
    ) -> T | None:
        """``read(value)``, or ``None`` with a problem when it raises."""
        try:
            return read(setting.value)
        except (ConfigurationError, InvalidRequestError, ValueError) as exc:
            message = exc.message if isinstance(exc, ConfigurationError) else str(exc)
            self.problem(path, setting.source, message, hint)
            return None

    def whole(self, path: Path, setting: Setting) -> int | None:
        def read(value: object) -> int:
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"must be {_WHOLE}, not {_shown(value)}.")
            return value

        number = self.check(path, setting, read, "For example: 4.")
        if number is not None:
            self.row(path, str(number), setting.source)
        return number

    def seconds(self, path: Path, setting: Setting) -> float | None:
        def read(value: object) -> float:
            if isinstance(value, str):
                try:
                    number = duration_seconds(value)
                except InvalidRequestError:
                    raise ValueError(f"{_shown(value)} is not a duration.") from None
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                number = float(value)
            else:
                raise ValueError(f"must be a duration, not {_shown(value)}.")
            if not 0 < number < 1e9:
                raise ValueError(f"must be more than zero seconds, not {_shown(value)}.")
            return number

        number = self.check(path, setting, read, _DURATION_HINT)
        if number is not None:
            self.row(path, seconds_text(number), setting.source)
        return number

    def env_name(self, path: Path, setting: Setting, value: object) -> str | None:
        if isinstance(value, str) and _ENV_NAME.fullmatch(value):
            return value
        self.problem(
            path,
            setting.source,
            f"{_shown(value)} is not an environment variable name.",
            'Use a variable name such as "GPU_KEY" (letters, digits and _).',
        )
        return None

    def key_from(self, path: Path, source: Source, raw: object, what: str) -> Secret | None:
        try:
            key = check_api_key(raw, what=what)
        except ConfigurationError as exc:
            self.problem(path, source, exc.message, "Check the value of that variable.")
            return None
        return None if key is None else Secret(key)


def _shown(value: object) -> str:
    return json.dumps(value) if isinstance(value, (str, int, float, bool, list)) else repr(value)


# ------------------------------------------------------------------ sections


def _group(settings: Settings, b: _Builder) -> dict[str, dict[str, dict[Path, Setting]]]:
    """Settings sorted into ``section -> entry name -> settings``; misplaced ones reported."""
    groups: dict[str, dict[str, dict[Path, Setting]]] = {name: {} for name in TABLES}
    for path, setting in settings.items():
        top = path[0]
        if top not in TABLES:
            b.unknown(path[:1], setting, tuple(TABLES), "")
        elif len(path) == 1:
            if setting.value != {}:
                b.problem(path, setting.source, f"{top} must be a table.", TABLES[top])
        elif top == "gateway":
            groups[top].setdefault("", {})[path] = setting
        else:
            groups[top].setdefault(path[1], {})[path] = setting
    return groups


def _service(name: str, entries: dict[Path, Setting], b: _Builder) -> ServiceConfig | None:
    first = next(iter(entries.values()))
    base: Path = ("services", name)
    unnamed = "://" in name and all(s.source.kind != "file" for s in entries.values())
    if not unnamed and (not name or "/" in name):
        b.problem(
            base,
            first.source,
            "a service name cannot be empty or contain '/'.",
            "Use a name without '/' (it is the prefix of model ids: NAME/model).",
        )
        return None
    values: dict[str, Setting] = {}
    for path, setting in entries.items():
        if len(path) == 2:
            if setting.value != {}:
                b.problem(path, setting.source, "must be a table or a URL.", TABLES["services"])
        elif len(path) > 3 or (path[2] not in (*SERVICE_KEYS, "api_key")):
            b.unknown(path[:3], setting, SERVICE_KEYS, f"services.{name}")
        elif path[2] == "api_key" and b.secret_in_file(
            path, setting, f'api_key_env = "{_variable_for(name)}"'
        ):
            continue
        else:
            values[path[2]] = setting
    url_setting = values.get("url")
    if url_setting is None:
        b.problem(
            base,
            first.source,
            "has no url.",
            f'Add url = "http://HOST:PORT" to [services.{format_path((name,))}].',
        )
        return None
    url = b.check((*base, "url"), url_setting, _url, 'Use a URL like "http://10.0.0.5:11434".')
    if url is not None:
        b.row((*base, "url"), url, url_setting.source)
    credentials = None
    if isinstance(url_setting.value, str) and (pair := url_credentials(url_setting.value)):
        credentials = Secret(f"{pair[0]}:{pair[1]}")
        b.row((*base, "credentials"), "***", url_setting.source)
    kind = None
    if "kind" in values:
        kind = b.check(
            (*base, "kind"),
            values["kind"],
            _kind,
            "Use one of: ollama, lmstudio, llamacpp, openai (or leave it out: the kind is "
            "found by asking the server).",
        )
        if kind is not None:
            b.row((*base, "kind"), kind, values["kind"].source)
    key_env = None
    if "api_key_env" in values:
        setting = values["api_key_env"]
        key_env = b.env_name((*base, "api_key_env"), setting, setting.value)
        if key_env is not None:
            b.row((*base, "api_key_env"), key_env, setting.source)
    key = _service_key(name, unnamed, values.get("api_key"), key_env, b)
    limits: _ServiceLimits = {}
    for whole in _WHOLE_LIMITS:
        if whole in values:
            limits[whole] = b.whole((*base, whole), values[whole])
    for seconds in _SECONDS_LIMITS:
        if seconds in values:
            limits[seconds] = b.seconds((*base, seconds), values[seconds])
    if url is None:
        return None
    return ServiceConfig(
        name=None if unnamed else name,
        url=url,
        kind=kind,
        api_key_env=key_env,
        api_key=key,
        credentials=credentials,
        **limits,
    )


class _ServiceLimits(TypedDict, total=False):
    """A service's scheduling limits, as :class:`ServiceConfig` takes them."""

    max_in_flight: int | None
    max_queue: int | None
    max_loaded: int | None
    max_wait: float | None
    swap_after: float | None


_WHOLE_LIMITS: tuple[Literal["max_in_flight", "max_queue", "max_loaded"], ...] = (
    "max_in_flight",
    "max_queue",
    "max_loaded",
)
_SECONDS_LIMITS: tuple[Literal["max_wait", "swap_after"], ...] = ("max_wait", "swap_after")


class _ModelLimits(TypedDict, total=False):
    """A ``[models.PATTERN]`` table's settings, as :class:`ModelConfig` takes them."""

    max_in_flight: int | None
    max_queue: int | None
    max_wait: float | None
    ttl: float | None


def _variable_for(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "_", name).upper() + "_API_KEY"


def _service_key(
    name: str, unnamed: bool, given: Setting | None, key_env: str | None, b: _Builder
) -> Secret | None:
    """The key in force: ``--api-key``, then ``MODELPORT_API_KEY_<NAME>``, then the
    variable the file names (unset or empty: no key).
    """
    from .._core import api_key_variable

    path: Path = ("services", name, "api_key")
    candidates: list[tuple[Source, object]] = []
    if given is not None:
        candidates.append((given.source, given.value))
    if not unnamed:
        variable = api_key_variable(name)
        if b.environ.get(variable, "").strip():
            candidates.append((Source("env", variable), b.environ[variable]))
    if key_env is not None:
        candidates.append((Source("env", key_env), b.environ.get(key_env)))
    if not candidates:
        return None
    source, raw = candidates[0]
    what = f"key in {source.name}" if source.kind == "env" else "api_key"
    key = b.key_from(path, source, raw, what)
    shown = "***" if key is not None else f"none ({source.name} is unset or empty)"
    b.row(path, shown, source)
    return key


def _url(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"must be a URL like http://10.0.0.5:11434, not {_shown(value)}.")
    return normalize_base_url(value, what="url")


def _kind(value: object) -> ProviderKind:
    from ..discovery import _KIND_NAMES  # the spellings --service accepts

    kind = _KIND_NAMES.get(value.strip().lower()) if isinstance(value, str) else None
    if kind is not None:
        return kind
    raise ValueError(f"{_shown(value)} is not a kind of server modelport knows.")


def _alias(name: str, entries: dict[Path, Setting], b: _Builder) -> AliasConfig | None:
    (path, setting), *_ = entries.items()
    if len(path) > 2:
        dotted = ".".join(path[1:])
        b.problem(
            path,
            setting.source,
            "an alias name with dots must be quoted, or TOML reads it as tables.",
            f'Quote the name: "{dotted}" = "service/model".',
        )
        return None
    value = setting.value
    targets = (value,) if isinstance(value, str) else value
    if (
        not isinstance(targets, (list, tuple))
        or not targets
        or not all(isinstance(t, str) and t.strip() for t in targets)
    ):
        b.problem(
            path,
            setting.source,
            f"must be a model id or a list of model ids, not {_shown(value)}.",
            'Write NAME = "service/model" or NAME = ["service/model", "other/model"].',
        )
        return None
    shown = value if isinstance(value, str) else json.dumps(value)
    b.row(path, shown, setting.source)
    return AliasConfig(name, tuple(t.strip() for t in targets), glob=is_glob(name))


def _model(pattern: str, entries: dict[Path, Setting], b: _Builder) -> ModelConfig:
    values: _ModelLimits = {}
    for path, setting in entries.items():
        key = path[2] if len(path) == 3 else None
        if len(path) == 2:
            if setting.value != {}:
                b.problem(path, setting.source, "must be a table.", TABLES["models"])
        elif key in _MODEL_SECONDS:
            values[key] = b.seconds(path, setting)
        elif key in _MODEL_WHOLE:
            values[key] = b.whole(path, setting)
        else:
            b.unknown(path[:3], setting, MODEL_KEYS, f"models.{format_path((pattern,))}")
    return ModelConfig(pattern, **values)


def _gateway(entries: dict[Path, Setting], b: _Builder) -> GatewayConfig:
    values: dict[str, Any] = {}
    given_keys: Setting | None = None
    for path, setting in entries.items():
        key = path[1]
        if len(path) > 2 or key not in (*GATEWAY_KEYS, "api_keys"):
            b.unknown(path[:2], setting, GATEWAY_KEYS, "gateway")
        elif key == "api_keys":
            if not b.secret_in_file(path, setting, 'api_keys_env = ["MODELPORT_GATEWAY_KEY"]'):
                given_keys = setting
        elif key == "host":
            values[key] = b.check(path, setting, _host, _HOST_HINT)
        elif key == "port":
            values[key] = b.check(path, setting, _port, _PORT_HINT)
        elif key == "max_body":
            values[key] = b.check(path, setting, _size, 'Use bytes or a size such as "100MB".')
        elif key == "cors_origins":
            values[key] = b.check(path, setting, _origins, _ORIGINS_HINT)
        else:
            names = [setting.value] if isinstance(setting.value, str) else setting.value
            if not isinstance(names, list):
                names = [names]
            checked = [b.env_name(path, setting, name) for name in names]
            values[key] = tuple(n for n in checked if n is not None)
        if values.get(key) is not None:
            b.row(path, _gateway_text(key, values[key]), setting.source)
    values = {k: v for k, v in values.items() if v is not None}
    values["api_keys"] = _gateway_keys(given_keys, values.get("api_keys_env", ()), b)
    return GatewayConfig(**values)


def _gateway_text(key: str, value: object) -> str:
    if key == "max_body" and isinstance(value, int):
        return size_text(value)
    if isinstance(value, tuple):
        return json.dumps(list(value))
    return str(value)


def _gateway_keys(
    given: Setting | None, variables: tuple[str, ...], b: _Builder
) -> tuple[Secret, ...]:
    """``MODELPORT_API_KEYS`` or ``--api-key`` (the later layer), plus one key from each
    variable ``api_keys_env`` names that is set.
    """
    path: Path = ("gateway", "api_keys")
    keys: list[Secret] = []
    names: list[str] = []
    if given is not None:
        raw = given.value if isinstance(given.value, list) else [given.value]
        what = f"key in {given.source.name}" if given.source.kind == "env" else "API key"
        keys.extend(k for item in raw if (k := b.key_from(path, given.source, item, what)))
        names.append(given.source.name)
    for variable in variables:
        key = b.key_from(
            path, Source("env", variable), b.environ.get(variable), f"key in {variable}"
        )
        if key is not None:
            keys.append(key)
            names.append(variable)
    if given is not None and given.source.kind == "flag":
        source = given.source
    elif names:
        source = Source("env", ", ".join(names))
    else:
        source = Source("default")
    count = f"{len(keys)} key{'s' if len(keys) != 1 else ''}"
    b.row(path, f"*** ({count})" if keys else "none", source)
    return tuple(keys)


_HOST_HINT = (
    'Use an address such as "127.0.0.1" (this machine only) or "0.0.0.0" (every network; '
    "needs an API key)."
)
_PORT_HINT = "Use a port number from 0 to 65535 (0: any free port)."
_ORIGINS_HINT = (
    'Write cors_origins = ["http://localhost:5173"] (scheme://host[:port], no path), or '
    '["*"] for any origin.'
)


def _host(value: object) -> str:
    if not isinstance(value, str) or not value.strip() or any(c.isspace() for c in value):
        raise ValueError(f"must be an address to listen on, not {_shown(value)}.")
    if "/" in value:
        raise ValueError(f"{_shown(value)} is a URL; give only the address.")
    return value.strip()


def _port(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 65535:
        raise ValueError(f"must be a port number, not {_shown(value)}.")
    return value


def _size(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    if not isinstance(value, str):
        raise ValueError(f"must be a size, not {_shown(value)}.")
    from ..gateway._config import parse_size  # only when a size is written out

    return parse_size(value)


def _origins(value: object) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise ValueError(f"must be a list of origins, not {_shown(value)}.")
    origins: list[str] = []
    for item in value:
        if item == "*":
            origins.append(item)
            continue
        parts = urlsplit(item) if isinstance(item, str) else None
        if (
            parts is None
            or parts.scheme not in ("http", "https")
            or not parts.netloc
            or parts.path not in ("", "/")
            or parts.query
            or parts.fragment
        ):
            raise ValueError(f"{_shown(item)} is not an origin.")
        origins.append(f"{parts.scheme}://{parts.netloc}")
    return tuple(origins)


# ------------------------------------------------------------------ the whole


def build(
    settings: Settings, environ: Mapping[str, str], path: FilePath | None = None
) -> tuple[Config | None, list[ConfigProblem]]:
    """The configuration the settings describe, or the problems that stop it."""
    b = _Builder(environ)
    groups = _group(settings, b)
    services = [_service(name, entries, b) for name, entries in groups["services"].items()]
    aliases = [_alias(name, entries, b) for name, entries in groups["aliases"].items()]
    known = [a for a in aliases if a is not None]
    cycle = find_cycle(known)
    if cycle is not None:
        first = groups["aliases"][cycle[0]]
        b.problem(
            ("aliases", cycle[0]),
            next(iter(first.values())).source,
            f"these aliases lead back to themselves: {' -> '.join(cycle)}.",
            "Point one of them at a model id (service/model) instead.",
        )
    models = [_model(pattern, entries, b) for pattern, entries in groups["models"].items()]
    gateway = _gateway(groups["gateway"].get("", {}), b)
    if b.problems:
        return None, b.sorted_problems()
    config = Config(
        services=tuple(s for s in services if s is not None),
        aliases=tuple(known),
        models=tuple(models),
        gateway=gateway,
        path=path,
        sources=MappingProxyType({p: source for p, _, source in b.rows}),
        rows=tuple(b.rows),
    )
    return config, []

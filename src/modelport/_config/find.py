"""Where the configuration file is: an explicit path, ``MODELPORT_CONFIG``,
``./modelport.toml``, then the user's configuration folder.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from ..errors import ConfigurationError

__all__ = [
    "FILE_NAME",
    "config_search_paths",
    "find_config",
    "read_config",
    "user_config_path",
]

FILE_NAME = "modelport.toml"
"""The file looked for in the working folder."""


def user_config_path(environ: Mapping[str, str], home: Path, platform: str) -> Path:
    """The user's configuration file, by each system's convention.

    >>> str(user_config_path({}, Path("/h"), "linux"))
    '/h/.config/modelport/config.toml'
    >>> str(user_config_path({}, Path("/h"), "darwin"))
    '/h/Library/Application Support/modelport/config.toml'
    """
    if platform.startswith("win"):
        appdata = environ.get("APPDATA")
        base = Path(appdata) if appdata else home / "AppData" / "Roaming"
    elif environ.get("XDG_CONFIG_HOME"):
        base = Path(environ["XDG_CONFIG_HOME"])
    elif platform == "darwin":
        base = home / "Library" / "Application Support"
    else:
        base = home / ".config"
    return base / "modelport" / "config.toml"


def find_config(
    path: str | os.PathLike[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    search: bool = True,
    cwd: str | os.PathLike[str] | None = None,
    home: str | os.PathLike[str] | None = None,
    platform: str | None = None,
    exists: Callable[[Path], bool] | None = None,
) -> Path | None:
    """The configuration file to read, or ``None`` when there is none.

    Looked for in this order: ``path``; the file ``MODELPORT_CONFIG`` names; then, when
    ``search`` is true, ``./modelport.toml`` and the user's file
    (``$XDG_CONFIG_HOME/modelport/config.toml`` or ``~/.config/modelport/config.toml``;
    ``~/Library/Application Support/modelport/config.toml`` on macOS;
    ``%APPDATA%\\modelport\\config.toml`` on Windows). A library ``Client()`` searches
    nothing (``search=False``); the CLI and the gateway do.

    Raises:
        ConfigurationError: ``path`` or ``MODELPORT_CONFIG`` names a file that does not
            exist.
    """
    env = os.environ if environ is None else environ
    here = Path.cwd() if cwd is None else Path(cwd)
    is_there: Callable[[Path], bool] = exists if exists is not None else Path.exists
    named = env.get("MODELPORT_CONFIG", "").strip()
    if path is not None or named:
        given = here / Path(path if path is not None else named).expanduser()
        if not is_there(given):
            if path is not None:
                message = f"The configuration file {given} does not exist."
                hint = "Check the path given with --config."
            else:
                message = f"MODELPORT_CONFIG names {given}, which does not exist."
                hint = "Fix the path, or unset MODELPORT_CONFIG."
            raise ConfigurationError(message, hint=hint)
        return given
    if not search:
        return None
    for candidate in config_search_paths(environ=env, cwd=here, home=home, platform=platform):
        if is_there(candidate):
            return candidate
    return None


def config_search_paths(
    *,
    environ: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    home: str | os.PathLike[str] | None = None,
    platform: str | None = None,
) -> list[Path]:
    """Where a configuration file is searched for, in order, when none is named:
    ``./modelport.toml``, then the user's file (see :func:`find_config`).
    """
    env = os.environ if environ is None else environ
    here = Path.cwd() if cwd is None else Path(cwd)
    user_home = Path.home() if home is None else Path(home)
    user = user_config_path(env, user_home, sys.platform if platform is None else platform)
    return [here / FILE_NAME, user]


def read_config(path: str | os.PathLike[str]) -> str:
    """A configuration file's text.

    Raises:
        ConfigurationError: it is a folder, is not UTF-8, or cannot be read.
    """
    path = Path(path)
    try:
        return path.read_text(encoding="utf-8")
    except IsADirectoryError:
        raise ConfigurationError(
            f"{path} is a folder, not a configuration file.",
            hint="Give the path of a .toml file.",
        ) from None
    except UnicodeDecodeError:
        raise ConfigurationError(
            f"{path} is not UTF-8 text.", hint="Save the configuration file as UTF-8."
        ) from None
    except OSError as exc:
        raise ConfigurationError(f"Cannot read {path}: {exc.strerror or exc}.") from None

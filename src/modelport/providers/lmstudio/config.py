"""Where LM Studio keeps its files and which port its server last used, read the way
LM Studio's own tools read them. Pure file reading: discovery imports only this.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

__all__ = ["DEFAULT_PORT", "TOKEN_VARIABLES", "find_lmstudio_home", "server_port_from_config"]

DEFAULT_PORT = 1234

TOKEN_VARIABLES = ("LM_API_TOKEN", "LMSTUDIO_API_TOKEN")
"""LM Studio's docs and lmstudio-js read the first; lmstudio-python reads the second."""


def find_lmstudio_home(user_home: str | os.PathLike[str] | None = None) -> Path:
    """The folder where LM Studio keeps its files, found the way LM Studio's tools do.

    ``~/.lmstudio-home-pointer`` (a file holding a path) wins; then
    ``~/.cache/lm-studio`` when it exists; otherwise ``~/.lmstudio``.

    Args:
        user_home: the user's home folder; defaults to ``Path.home()``.
    """
    home = Path(user_home) if user_home is not None else Path.home()
    try:
        pointed = (home / ".lmstudio-home-pointer").read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        pointed = ""
    if pointed:
        return Path(pointed).expanduser()
    cache = home / ".cache" / "lm-studio"
    if cache.is_dir():
        return cache
    return home / ".lmstudio"


def server_port_from_config(lmstudio_home: str | os.PathLike[str]) -> int | None:
    """The port LM Studio's server last used, from ``.internal/http-server-config.json``.

    ``None`` when the file is missing, unreadable or holds no valid port.
    """
    path = Path(lmstudio_home) / ".internal" / "http-server-config.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return None
    port = data.get("port") if isinstance(data, dict) else None
    if isinstance(port, int) and not isinstance(port, bool) and 0 < port < 65536:
        return port
    return None

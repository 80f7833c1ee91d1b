"""``modelport`` and ``python -m modelport``: the command-line tool.

``--version`` is answered here, before click, rich or httpx are imported, so it
returns at once. Everything else loads the ``cli`` extra; without it the command
says how to install it.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

__all__ = ["main"]

INSTALL_HINT = (
    "The modelport command needs the 'cli' extra (click and rich). "
    "Install it with: pip install 'modelport[cli]'"
)

_OPTIONS_WITH_VALUES = frozenset({"--service", "--timeout"})


def _asks_for_version(args: Sequence[str]) -> bool:
    """Whether ``--version`` comes before any command name.

    >>> _asks_for_version(["--version"]), _asks_for_version(["--service", "x", "--version"])
    (True, True)
    >>> _asks_for_version(["chat", "m", "--version"]), _asks_for_version(["--service", "--version"])
    (False, False)
    """
    skip = False
    for arg in args:
        if skip:
            skip = False
            continue
        if arg == "--version":
            return True
        if arg in _OPTIONS_WITH_VALUES:
            skip = True
        elif arg == "--" or not arg.startswith("-"):
            return False
    return False


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``modelport`` command; return its exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    if _asks_for_version(args):
        from ._version import __version__

        print(f"modelport {__version__}")
        return 0
    try:
        from .cli import run
    except ImportError as exc:
        if exc.name in ("click", "rich") or (exc.name or "").startswith(("click.", "rich.")):
            print(INSTALL_HINT, file=sys.stderr)
            return 2
        raise
    return run(args)


if __name__ == "__main__":
    sys.exit(main())

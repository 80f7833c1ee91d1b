"""The ``modelport`` command (the ``cli`` extra: click and rich).

``import modelport`` never loads this package; the console script does, through
:func:`modelport.__main__.main`. It is a thin layer over the public API: nothing here
that a library user could not do.
"""

from __future__ import annotations

from collections.abc import Sequence

import click
import rich  # noqa: F401  (fail here, with the install hint, when the extra is missing)

from . import _chat, _complete, _config, _listing, _manage, _serve, _top
from ._app import app

__all__ = ["app", "run"]

for _module in (_listing, _chat, _complete, _manage, _serve, _config, _top):
    for _command in _module.COMMANDS:
        app.add_command(_command)


def run(args: Sequence[str]) -> int:
    """Run the command with ``args``; return its exit code."""
    try:
        app.main(args=list(args), prog_name="modelport", standalone_mode=True)
    except SystemExit as exc:
        code = exc.code
        if code is None:
            return 0
        if isinstance(code, int):
            return code
        click.echo(str(code), err=True)
        return 1

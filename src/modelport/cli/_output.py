"""Printing for people and for programs.

On a terminal: rich tables, colour and live progress. Through a pipe: plain text,
one row per line, columns separated by at least two spaces, no colour. ``--json``:
the public dataclasses as JSON, with the same field names.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, TypedDict

import click

from . import _context

if TYPE_CHECKING:
    from rich.console import Console
    from typing_extensions import Unpack

__all__ = [
    "Cell",
    "Column",
    "Paint",
    "Style",
    "dash",
    "echo_json",
    "human_bytes",
    "print_notes",
    "print_table",
    "report_error",
    "rich_console",
    "to_jsonable",
]

DASH = "-"


def to_jsonable(value: object) -> object:
    """Dataclasses as dicts (field names kept), enums as their values, tuples as lists."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return to_jsonable(value.value)
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return f"<{len(value)} bytes>"
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def echo_json(value: object, *, indent: int | None = 2) -> None:
    """Print a value as JSON on stdout."""
    click.echo(json.dumps(to_jsonable(value), indent=indent, ensure_ascii=False))


def human_bytes(n: int | None) -> str:
    """Decimal units, as model servers print them.

    >>> human_bytes(96576768), human_bytes(4096), human_bytes(2142590208), human_bytes(512)
    ('96.6 MB', '4.1 kB', '2.1 GB', '512 B')
    >>> human_bytes(None)
    '-'
    """
    if n is None:
        return DASH
    if n < 1000:
        return f"{n} B"
    value = float(n)
    for unit in ("kB", "MB", "GB", "TB", "PB"):
        value /= 1000.0
        if value < 999.95 or unit == "PB":
            return f"{value:.1f} {unit}"
    raise AssertionError("unreachable")


def dash(value: object) -> str:
    """A value for a table cell; unknown (``None``) is ``-``."""
    return DASH if value is None else str(value)


class Style(TypedDict, total=False):
    """The ``click.style`` options modelport paints with."""

    fg: str
    bold: bool
    dim: bool
    italic: bool


class Paint:
    """ANSI styling when the stream is a terminal and ``NO_COLOR`` is not set."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and not os.environ.get("NO_COLOR")

    @classmethod
    def stdout(cls) -> Paint:
        return cls(_context.stdout_is_terminal())

    @classmethod
    def stderr(cls) -> Paint:
        return cls(_context.stderr_is_terminal())

    def __call__(self, text: str, **style: Unpack[Style]) -> str:
        return click.style(text, **style) if self.enabled and text else text


Cell = str | tuple[str, str]
"""A table cell: its text, or its text and a rich style for terminals."""


@dataclass(frozen=True)
class Column:
    header: str
    justify: Literal["left", "right"] = "left"
    style: str | None = None
    max_width: int | None = None
    no_wrap: bool = False


def rich_console(*, stderr: bool = False) -> Console:
    """A rich console for the current stdout (or stderr), colour forced on."""
    from rich.console import Console

    return Console(stderr=stderr, force_terminal=True, highlight=False, soft_wrap=False)


def print_table(
    columns: Sequence[Column], rows: Sequence[Sequence[Cell]], *, header: bool = True
) -> None:
    """A table: rich on a terminal, aligned plain text otherwise."""
    if _context.stdout_is_terminal():
        _rich_table(columns, rows, header)
    else:
        _plain_table(columns, rows, header)


def _text(cell: Cell) -> str:
    return cell if isinstance(cell, str) else cell[0]


def _plain_table(columns: Sequence[Column], rows: Sequence[Sequence[Cell]], header: bool) -> None:
    texts = [[_text(c).replace("\n", " ") for c in row] for row in rows]
    widths = [len(col.header) if header else 0 for col in columns]
    for row in texts:
        for i, text in enumerate(row):
            widths[i] = max(widths[i], len(text))

    def line(cells: Sequence[str]) -> str:
        out = []
        for i, text in enumerate(cells):
            if columns[i].justify == "right":
                out.append(text.rjust(widths[i]))
            else:
                out.append(text.ljust(widths[i]))
        return "  ".join(out).rstrip()

    if header:
        click.echo(line([c.header for c in columns]))
    for row in texts:
        click.echo(line(row))


def _rich_table(columns: Sequence[Column], rows: Sequence[Sequence[Cell]], header: bool) -> None:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    table = Table(
        box=box.SIMPLE_HEAD,
        header_style="bold",
        pad_edge=False,
        show_edge=False,
        padding=(0, 1),
        collapse_padding=True,
        show_header=header,
    )
    for col in columns:
        table.add_column(
            col.header,
            justify=col.justify,
            style=col.style,
            max_width=col.max_width,
            min_width=len(col.header),
            no_wrap=col.no_wrap,
            overflow="fold",
        )
    for row in rows:
        table.add_row(*(Text(c) if isinstance(c, str) else Text(c[0], style=c[1]) for c in row))
    rich_console().print(table)


def print_notes(notes: Sequence[tuple[str, str]]) -> None:
    """Dim ``name  remark`` lines under a table, wrapped with a hanging indent (terminal only)."""
    from rich.table import Table

    grid = Table.grid(padding=(0, 2), pad_edge=False)
    grid.add_column(style="bold dim", no_wrap=True)
    grid.add_column(style="dim", overflow="fold")
    for name, note in notes:
        grid.add_row(name, note)
    console = rich_console()
    console.print()
    console.print(grid)


def report_error(error: BaseException, *, debug: bool) -> None:
    """One line on stderr: what failed and the fix. ``debug`` adds the traceback first."""
    if debug:
        import traceback

        traceback.print_exception(type(error), error, error.__traceback__, file=sys.stderr)
    paint = Paint.stderr()
    message = " ".join(str(error).split())  # one line, whatever the server sent
    click.echo(f"{paint('Error:', fg='red', bold=True)} {message}", err=True, color=paint.enabled)

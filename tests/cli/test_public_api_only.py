"""The command is a thin layer over the public API: nothing in it a library user could
not do. Its modules import only modelport's public modules."""

from __future__ import annotations

import ast
from pathlib import Path

import modelport

CLI = Path(modelport.__file__).parent / "cli"
PUBLIC = {
    "modelport",
    "modelport.errors",
    "modelport.types",
    "modelport._version",
    "modelport.gateway",
}
TYPE_ONLY = {"modelport.client"}  # for annotations of Client, never imported at run time


def _imports(path: Path) -> tuple[set[str], set[str]]:
    """(modules imported at run time, modules imported only under TYPE_CHECKING)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only: set[ast.AST] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            typing_only.update(ast.walk(node))
    runtime: set[str] = set()
    typed: set[str] = set()
    for node in ast.walk(tree):
        name = None
        if isinstance(node, ast.ImportFrom):
            if node.level == 2:
                name = "modelport" + (f".{node.module}" if node.module else "")
            elif node.level == 0 and node.module and node.module.startswith("modelport"):
                name = node.module
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("modelport"):
                    name = alias.name
        if name is not None:
            (typed if node in typing_only else runtime).add(name)
    return runtime, typed


def test_the_cli_imports_only_the_public_api() -> None:
    files = sorted(CLI.glob("*.py"))
    assert len(files) >= 6
    for path in files:
        runtime, typed = _imports(path)
        assert runtime <= PUBLIC, f"{path.name} imports {runtime - PUBLIC}"
        assert typed <= PUBLIC | TYPE_ONLY, f"{path.name} imports {typed - PUBLIC - TYPE_ONLY}"

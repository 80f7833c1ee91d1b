"""modelport uses httpx and httpcore through their public API only.

httpx and httpcore keep their state in private attributes (``Client._transport``,
``HTTPTransport._pool``, ``ConnectionPool._connections``, ...) that change between
releases without notice; code that reaches them breaks, or silently stops working,
on the next upgrade. This test reads every module of ``src/modelport`` and fails on
any such reach.

The rule, as an AST can check it (no types are known):

1. **The names.** The *foreign private names* are every name that httpx's and
   httpcore's own sources (the installed packages) give an attribute, a method or a
   class-level member, that starts with one underscore and is not a dunder:
   ``_pool``, ``_transport``, ``_network_backend``, ``_connections``, ``_requests``...
2. **Attribute access.** ``x.<name>`` (read, write or delete) with a foreign private
   name is flagged whatever ``x`` is (``super()`` included), except on ``self`` or
   ``cls``: there the name is the class's own, unless the class derives from an httpx
   or httpcore class whose own source (or its bases') defines that private name, in
   which case ``self.<name>`` is the base class's state and is flagged too.
   modelport's own private names that httpx and httpcore do not use (``_op_chat``,
   ``_run``...) are never flagged, on any object; a private name of modelport's own
   that httpx or httpcore also use (``_lock``, ``_transport``...) may be used on
   ``self`` only: to reach it on another object, give it another name.
3. **By string.** ``getattr``/``hasattr``/``setattr``/``delattr``/
   ``operator.attrgetter`` with a foreign private name as a string constant, on any
   object but ``self``/``cls`` (as in 2).
4. **Private modules.** Importing ``httpx._*`` or ``httpcore._*`` (``from
   httpx._transports.default import ...``, ``from httpcore import _async``).
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "modelport"
FOREIGN = ("httpx", "httpcore")
BY_STRING = {"getattr", "hasattr", "setattr", "delattr", "attrgetter"}


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _package_files(package: str) -> list[Path]:
    spec = importlib.util.find_spec(package)
    assert spec is not None and spec.origin is not None, f"{package} is not installed"
    return sorted(Path(spec.origin).parent.rglob("*.py"))


def _defined_private_names(tree: ast.AST) -> set[str]:
    """The private names a module gives attributes, methods and class members."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(node.name)
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                targets: list[ast.expr] = []
                if isinstance(item, ast.Assign):
                    targets = item.targets
                elif isinstance(item, ast.AnnAssign):
                    targets = [item.target]
                names.update(t.id for t in targets if isinstance(t, ast.Name))
                if isinstance(item, ast.Assign) and any(
                    isinstance(t, ast.Name) and t.id == "__slots__" for t in item.targets
                ):
                    names.update(
                        c.value
                        for c in ast.walk(item.value)
                        if isinstance(c, ast.Constant) and isinstance(c.value, str)
                    )
    return {n for n in names if _private(n)}


@lru_cache(maxsize=1)
def _classes() -> dict[str, frozenset[str]]:
    """The private names each httpx/httpcore class (by name) defines in its own body.
    Read from the sources by name: both packages set ``__module__`` on their public
    classes to the package, so ``inspect`` cannot find them."""
    index: dict[str, set[str]] = {}
    for package in FOREIGN:
        for path in _package_files(package):
            for node in ast.walk(ast.parse(path.read_text("utf-8"))):
                if isinstance(node, ast.ClassDef):
                    index.setdefault(node.name, set()).update(_defined_private_names(node))
    return {name: frozenset(names) for name, names in index.items()}


def _class_private_names(module: str, qualname: str) -> frozenset[str] | None:
    """The private names an httpx/httpcore class and its httpx/httpcore bases define;
    ``None`` if it cannot be found."""
    try:
        found: object = importlib.import_module(module)
        for part in qualname.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError):
        return None
    if not isinstance(found, type):
        return None
    index = _classes()
    names: set[str] = set()
    for klass in found.__mro__:
        if klass.__module__.split(".")[0] in FOREIGN:
            names |= index.get(klass.__name__, frozenset())
    return frozenset(names)


def foreign_private_names() -> frozenset[str]:
    names: set[str] = set()
    for package in FOREIGN:
        for path in _package_files(package):
            names |= _defined_private_names(ast.parse(path.read_text("utf-8")))
    return frozenset(names)


@dataclass(frozen=True)
class Reach:
    where: str
    line: int
    code: str

    def __str__(self) -> str:
        return f"{self.where}:{self.line}: {self.code}"


class _Checker(ast.NodeVisitor):
    def __init__(self, where: str, names: frozenset[str]) -> None:
        self.where = where
        self.names = names
        self.found: list[Reach] = []
        self.imported: dict[str, str] = {}  # local name -> dotted httpx/httpcore name
        self.classes: list[frozenset[str]] = []  # per enclosing class: its bases' private names

    def _flag(self, node: ast.AST) -> None:
        self.found.append(Reach(self.where, getattr(node, "lineno", 0), ast.unparse(node)))

    # -- imports ---------------------------------------------------------------------------

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            top, *rest = alias.name.split(".")
            if top in FOREIGN:
                if any(_private(part) for part in rest):
                    self._flag(node)
                if alias.asname:
                    self.imported[alias.asname] = alias.name
                else:
                    self.imported[top] = top

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        top, *rest = (node.module or "").split(".")
        if node.level or top not in FOREIGN:
            return
        if any(_private(part) for part in rest) or any(_private(a.name) for a in node.names):
            self._flag(node)
        for alias in node.names:
            self.imported[alias.asname or alias.name] = f"{node.module}.{alias.name}"

    # -- classes ------------------------------------------------------------------------------

    def _inherited(self, base: ast.expr) -> frozenset[str]:
        """The private names a base class brings from httpx or httpcore (none for a base
        of modelport's own; every foreign private name when it cannot be resolved)."""
        if isinstance(base, ast.Subscript):
            base = base.value
        parts: list[str] = []
        while isinstance(base, ast.Attribute):
            parts.insert(0, base.attr)
            base = base.value
        if not isinstance(base, ast.Name) or base.id not in self.imported:
            return frozenset()
        dotted = ".".join([self.imported[base.id], *parts])
        module, _, qualname = dotted.rpartition(".")
        resolved = _class_private_names(module, qualname) if module else None
        return self.names if resolved is None else resolved

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self.classes.append(frozenset().union(*(self._inherited(b) for b in node.bases)))
        self.generic_visit(node)
        self.classes.pop()

    def _allowed(self, receiver: ast.expr | None, name: str) -> bool:
        """``self.<name>``/``cls.<name>`` where ``name`` is not a foreign base's state."""
        return (
            isinstance(receiver, ast.Name)
            and receiver.id in ("self", "cls")
            and bool(self.classes)
            and name not in self.classes[-1]
        )

    # -- access ---------------------------------------------------------------------------------

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if node.attr in self.names and not self._allowed(node.value, node.attr):
            self._flag(node)
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
        if name in BY_STRING:
            strings = [
                a.value
                for a in node.args
                if isinstance(a, ast.Constant) and isinstance(a.value, str)
            ]
            receiver = node.args[0] if node.args and name != "attrgetter" else None
            private = [p for s in strings for p in s.split(".") if p in self.names]
            if any(not self._allowed(receiver, p) for p in private):
                self._flag(node)
        self.generic_visit(node)


def reaches(source: str, where: str, names: frozenset[str]) -> list[Reach]:
    """Every reach into httpx's or httpcore's private state in ``source``."""
    checker = _Checker(where, names)
    checker.visit(ast.parse(source))
    return checker.found


def _modules(root: Path) -> Iterator[Path]:
    yield from sorted(root.rglob("*.py"))


def _all_reaches(paths: Iterable[Path], names: frozenset[str]) -> list[Reach]:
    found: list[Reach] = []
    for path in paths:
        found += reaches(path.read_text("utf-8"), str(path.relative_to(SRC.parent)), names)
    return found


@pytest.fixture(scope="module")
def names() -> frozenset[str]:
    return foreign_private_names()


def test_the_private_names_are_read_from_the_installed_httpx_and_httpcore(
    names: frozenset[str],
) -> None:
    """The rule's name list is real: it holds the attributes modelport once reached."""
    assert {"_pool", "_transport", "_network_backend", "_connections", "_requests"} <= names
    assert not any(n.startswith("__") and n.endswith("__") for n in names)


def test_src_touches_no_private_attribute_of_httpx_or_httpcore(names: frozenset[str]) -> None:
    found = _all_reaches(_modules(SRC), names)
    assert not found, "private httpx/httpcore state reached:\n" + "\n".join(map(str, found))


# ------------------------------------------------------------------ the rule itself

FLAGGED = {
    "attribute chain": "def f(client):\n    return client._transport._pool\n",
    "write": "def f(pool, b):\n    pool._network_backend = b\n",
    "getattr": "def f(c):\n    return getattr(getattr(c, '_transport', None), '_pool', None)\n",
    "hasattr": "def f(pool):\n    return hasattr(pool, '_requests')\n",
    "attrgetter": "import operator\nget = operator.attrgetter('_transport._pool')\n",
    "self in a subclass": (
        "import httpcore\n"
        "class Pool(httpcore.ConnectionPool):\n"
        "    def n(self):\n        return len(self._connections)\n"
    ),
    "self in a subclass of an imported name": (
        "from httpx import HTTPTransport\n"
        "class T(HTTPTransport):\n"
        "    def pool(self):\n        return self._pool\n"
    ),
    "private module": "from httpx._transports.default import HTTPTransport\n",
    "private member import": "from httpcore import _async\n",
    "private module import": "import httpcore._async.connection_pool\n",
}

LEFT_ALONE = {
    "modelport's own private names on other objects": "def f(p):\n    return p._op_chat\n",
    "a shared name on self": "class A:\n    def f(self):\n        return self._lock\n",
    "public httpcore API": "def f(pool):\n    return [c.is_idle() for c in pool.connections]\n",
    "a dunder": "def f(x):\n    return x.__class__\n",
    "getattr of a public name": "def f(x):\n    return getattr(x, 'connections')\n",
    "own state in a subclass of an interface with none": (
        "import httpcore\n"
        "class S(httpcore.NetworkStream):\n"
        "    def read(self, n, timeout=None):\n        return self._stream.read(n, timeout)\n"
    ),
}


@pytest.mark.parametrize("source", FLAGGED.values(), ids=FLAGGED.keys())
def test_the_rule_flags_each_way_of_reaching_private_state(
    source: str, names: frozenset[str]
) -> None:
    assert reaches(source, "example.py", names), source


@pytest.mark.parametrize("source", LEFT_ALONE.values(), ids=LEFT_ALONE.keys())
def test_the_rule_leaves_modelports_own_names_and_public_api_alone(
    source: str, names: frozenset[str]
) -> None:
    assert reaches(source, "example.py", names) == [], source

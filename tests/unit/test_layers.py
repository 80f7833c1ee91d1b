"""Imports point down the layers only (ARCHITECTURE.md section 1)."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "modelport"

# Each layer and what it may import from inside modelport.
LAYERS = {
    "types": set(),
    "errors": set(),
    "_version": set(),
    "_naming": set(),
    "_coerce": {"errors"},
    "_capabilities": {"types"},
    "_http": {"errors", "types", "_http"},
    "_classify": {"errors", "types", "_http", "_naming", "_classify"},
    "_wire": {"errors", "types", "_http", "_classify", "_coerce", "_wire"},
    "_streams": {"errors", "types"},
    # Flows' steps and the drivers that run every step, flows' and operations' alike (one
    # sync loop, one async): below the providers, which run their operations on them.
    "_flow": {"errors", "_http"},
    "_drive": {"errors", "_http", "_flow"},
    # The waits at the scheduler's gate, collected per request (the gateway's metrics).
    "_waits": set(),
    # The prompt-token estimate: pure, shared by the providers (count_tokens) and the
    # gateway's Anthropic surface (count_tokens), one copy.
    "_tokens": {"types", "_wire"},
    # The scheduler: pure decisions, what servers say (read by the providers), and the gate
    # that drives it (held by the client core; its read-only views shown by /health).
    "_schedule": {"errors", "_coerce", "config", "_schedule"},
    "providers": {
        "_schedule",
        "errors",
        "types",
        "_http",
        "_classify",
        "_coerce",
        "_wire",
        "_streams",
        "_naming",
        "_capabilities",
        "_version",
        "_tokens",
        "providers",
        "_drive",
    },
    "discovery": {"errors", "types", "_http", "_classify", "_coerce", "providers", "_drive"},
    # A client's settings, checked once (as httpx's Timeout and Limits).
    "_settings": {"errors", "_http", "providers"},
    "testing": {"errors", "types", "_http", "_wire", "_streams", "providers"},
    "_router": {"errors", "types", "_http", "_naming", "providers", "_flow"},
    # OpenTelemetry spans around the client's flows and the gateway's requests.
    "_trace": {"types", "_http", "_version", "_flow"},
    "_core": {
        "_schedule",
        "errors",
        "types",
        "_http",
        "_wire",
        "_router",
        "discovery",
        "providers",
        "config",  # Client(config=...): the configuration file's services and aliases
        "_trace",
        "_flow",
        "_waits",
        "_settings",
    },
    "client": {
        "errors",
        "types",
        "_http",
        "_wire",
        "_streams",
        "_router",
        "_core",
        "discovery",
        "_flow",
        "_drive",
    },
    # The gateway stands on the public client and types only (and the shared estimate and
    # the public model_digest's pure module).
    "gateway": {
        "errors",
        "types",
        "client",
        "discovery",
        "_streams",
        "_tokens",
        "_digest",
        "_version",
        "_schedule",
        "gateway",
        "_trace",
        "_waits",
    },
}


def _layer(path: Path) -> str:
    rel = path.relative_to(SRC)
    return rel.parts[0].removesuffix(".py")


def _internal_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    package_parts = path.relative_to(SRC).parts[:-1]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = list(package_parts)[: len(package_parts) - (node.level - 1)]
            target = [*base, *(node.module.split(".") if node.module else [])]
            if target:
                found.add(target[0].removesuffix(".py"))
            else:
                found.update(alias.name for alias in node.names)
        elif (
            isinstance(node, ast.ImportFrom)
            and node.module
            and node.module.startswith("modelport.")
        ):
            found.add(node.module.split(".")[1])
    return found


def test_imports_only_point_down_the_layers() -> None:
    problems = []
    for path in SRC.rglob("*.py"):
        layer = _layer(path)
        if layer not in LAYERS:
            continue
        for target in _internal_imports(path) - LAYERS[layer] - {layer}:
            problems.append(f"{path.relative_to(SRC)} imports {target}")
    assert problems == []


SERVER_PACKAGES = ("uvicorn", "starlette", "fastapi")


SERVER_MODULES = ("cli/_serve.py", "gateway/_server.py")
"""``modelport serve`` and the HTTP server it runs (loaded only when it runs)."""


def test_the_library_never_imports_server_packages() -> None:
    """Only ``modelport serve`` and its HTTP server may import uvicorn; the gateway
    itself is plain ASGI, so ``import modelport.gateway`` needs no server package (the
    next test imports it)."""
    problems = []
    for path in SRC.rglob("*.py"):
        if path.relative_to(SRC).as_posix() in SERVER_MODULES:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names = [node.module]
            for name in names:
                if name.split(".")[0] in SERVER_PACKAGES:
                    problems.append(f"{path.relative_to(SRC)} imports {name}")
    assert problems == []


def test_importing_modelport_and_its_gateway_loads_no_server_package() -> None:
    import subprocess
    import sys

    code = (
        "import sys, modelport, modelport.client, modelport.gateway\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        f"{SERVER_PACKAGES!r}))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"

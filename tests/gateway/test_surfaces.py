"""The gateway as plumbing plus surfaces (issue 19): the plumbing knows no surface, a
surface is one module plus one registration line, a path belongs to one surface, no
import cycle, and the two mechanisms built once for every surface: headers added to
each upstream request, and warnings returned in one ``x-modelport-warning`` header.
"""

from __future__ import annotations

import ast
import inspect
import re
from collections.abc import Iterable
from pathlib import Path

import pytest

import modelport
from modelport import ConfigurationError
from modelport.gateway import Gateway, _app, _registry
from modelport.gateway._exchange import Exchange
from modelport.gateway._json import dumps
from modelport.gateway._routes import Routes
from modelport.gateway._surface import Route, Surface
from modelport.testing import FakeProvider

from .conftest import gateway, recording_backend

GATEWAY = Path(inspect.getfile(_app)).parent
pytestmark = pytest.mark.anyio
CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


def test_the_gateway_class_holds_only_plumbing() -> None:
    methods = [
        name
        for name, value in vars(Gateway).items()
        if callable(value) or isinstance(value, property)
    ]
    assert len(methods) <= 12, methods
    source = inspect.getsource(_app)
    for surface in ("openai", "ollama", "anthropic", "responses"):
        assert f"_{surface}" not in source  # no surface imported or named by the plumbing


def test_no_module_of_the_gateway_is_over_400_lines() -> None:
    long = {
        str(path.relative_to(GATEWAY)): n
        for path in GATEWAY.rglob("*.py")
        if (n := len(path.read_text().splitlines())) > 400
    }
    assert long == {}


def _module_level(body: list[ast.stmt]) -> Iterable[ast.stmt]:
    """The statements run on import (``if TYPE_CHECKING`` blocks too), not function bodies."""
    for node in body:
        yield node
        if isinstance(node, (ast.If, ast.Try)):
            yield from _module_level([*node.body, *node.orelse])


def _imports(path: Path) -> set[str]:
    """The gateway modules ``path`` imports (dotted names below ``gateway``)."""
    package = list(path.relative_to(GATEWAY).parts[:-1])  # what "." means there
    out: set[str] = set()
    for node in _module_level(ast.parse(path.read_text()).body):
        if not isinstance(node, ast.ImportFrom) or node.level == 0:
            continue
        up = node.level - 1
        if up > len(package):
            continue  # above the gateway
        base = package[: len(package) - up]
        target = [*base, *(node.module.split(".") if node.module else [])]
        if node.module is None:
            out.update(".".join([*target, alias.name]) for alias in node.names)
        else:
            out.add(".".join(target))
    return {name for name in out if name}


def test_the_gateway_modules_import_no_cycle() -> None:
    modules: dict[str, set[str]] = {}
    for path in GATEWAY.rglob("*.py"):
        rel = path.relative_to(GATEWAY).with_suffix("").parts
        name = ".".join(rel[:-1] if rel[-1] == "__init__" else rel)
        modules[name] = _imports(path)
    known = set(modules)

    def resolve(name: str) -> str | None:
        while name and name not in known:
            name = name.rpartition(".")[0]
        return name or None

    graph = {m: {r for d in deps if (r := resolve(d)) and r != m} for m, deps in modules.items()}
    # a package's own __init__ importing its modules is not a cycle: drop parent edges
    graph = {m: {d for d in deps if not m.startswith(d + ".")} for m, deps in graph.items()}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for dep in graph.get(node, ()):
            if state.get(dep) == 1:
                raise AssertionError(" -> ".join([*stack[stack.index(dep) :], dep]))
            if dep not in state:
                visit(dep)
        stack.pop()
        state[node] = 2

    for module in graph:
        if module not in state:
            visit(module)
    assert "_app" in graph and "_exchange" in graph  # the walk saw the gateway


class _Echo(Surface):
    name = "echo"

    def routes(self) -> Iterable[Route]:
        yield Route("/echo", {"POST": self.echo}, body=True)

    async def echo(self, ex: Exchange, body: object) -> None:
        ex.warn("dropped tool 'web_search' (web_search_2025)", "dropped mcp_servers")
        await ex.json(200, body)


class _Clash(Surface):
    name = "clash"

    def routes(self) -> Iterable[Route]:
        yield Route("/v1/chat/completions", {"POST": self.routes})  # type: ignore[dict-item]


def test_a_path_belongs_to_one_surface() -> None:
    app = Gateway(api_keys=["k"])
    with pytest.raises(ConfigurationError, match="belongs to the openai surface"):
        Routes([*app.routes.surfaces, _Clash(app)])


async def test_a_registered_surface_is_served_with_its_warnings_in_one_header(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_app, "SURFACES", (*_registry.SURFACES, _Echo))
    provider, _ = recording_backend()
    async with gateway([provider], api_keys=["k"]) as (_, http):
        refused = await http.post("/echo", json={"a": 1})
        answer = await http.post("/echo", json={"a": 1}, headers={"x-api-key": "k"})
    assert refused.status_code == 401  # the plumbing's auth, for every surface
    assert answer.status_code == 200 and answer.json() == {"a": 1}
    assert answer.headers.get_list("x-modelport-warning") == [
        "dropped tool 'web_search' (web_search_2025); dropped mcp_servers"
    ]


async def test_upstream_requests_carry_the_callers_traceparent_and_request_id() -> None:
    provider, seen = recording_backend()
    trace = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    async with gateway([provider]) as (app, http):
        answer = await http.post(
            "/v1/chat/completions",
            json=CHAT,
            headers={"traceparent": trace, "x-request-id": "req-42"},
        )
    assert answer.status_code == 200
    chat = [r for r in seen if r.url.path.endswith("/chat/completions")]
    assert [r.headers["traceparent"] for r in chat] == [trace]
    assert [r.headers["x-request-id"] for r in chat] == ["req-42"]
    assert [r.headers["x-modelport-gateway"] for r in chat] == [app.id]
    assert answer.headers["x-request-id"] == "req-42"


@pytest.mark.parametrize("sent", [{}, {"traceparent": "junk", "x-request-id": "a b\tc"}])
async def test_upstream_requests_get_fresh_ids_when_the_caller_sent_none_or_bad_ones(
    sent: dict[str, str],
) -> None:
    provider, seen = recording_backend()
    async with gateway([provider]) as (_, http):
        answer = await http.post("/api/chat", json={**CHAT, "stream": False}, headers=sent)
    assert answer.status_code == 200
    chat = [r for r in seen if r.url.path.endswith("/chat/completions")]
    assert len(chat) == 1
    assert re.fullmatch(r"00-[0-9a-f]{32}-[0-9a-f]{16}-01", chat[0].headers["traceparent"])
    request_id = chat[0].headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)
    assert answer.headers["x-request-id"] == request_id


def test_one_json_writer_escapes_a_lone_surrogate() -> None:
    assert dumps({"t": "é\ud83d"}) == b'{"t":"\\u00e9\\ud83d"}'
    assert dumps({"t": "é"}) == '{"t":"é"}'.encode()


def _toolless() -> modelport.AsyncClient:
    """A client whose only model is said (by its listing) to lack tools."""
    info = modelport.ModelInfo(
        id="plain",
        name="plain",
        service="fake",
        kind="openai",
        loaded=True,
        capabilities=modelport.Capabilities(chat=True, tools=False),
    )
    return modelport.AsyncClient(services=[FakeProvider([info])])


TOOL = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}


@pytest.mark.parametrize("stream", [False, True])
async def test_the_clients_warnings_reach_the_caller_in_the_warning_header(stream: bool) -> None:
    """A request using what the model is said to lack is sent anyway (issue 23: never
    stricter than the server), and the client's warning is the caller's header."""
    client = _toolless()
    await client.models()
    async with gateway(client) as (_, http):
        answer = await http.post(
            "/v1/chat/completions",
            json={
                "model": "plain",
                "messages": [{"role": "user", "content": "weather?"}],
                "tools": [TOOL],
                "stream": stream,
            },
        )
    assert answer.status_code == 200
    assert "tools" in answer.headers["x-modelport-warning"]

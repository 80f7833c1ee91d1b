"""The gateway's plumbing in-process (issue 18): what every request passes before any
surface sees it, whatever its route: the Host check (DNS rebinding), CORS, liveness
without a key, the memory held by request bodies, the access log, and the chain of
gateway ids that stops loops.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

import modelport
from modelport import OpenAICompatibleProvider
from modelport.gateway import create_app
from modelport.testing import FakeProvider

from .conftest import Records, gateway, recording_backend

pytestmark = pytest.mark.anyio

HELLO = {"model": "m", "messages": [{"role": "user", "content": "Say hello"}]}
HEADER = "x-modelport-gateway"


def fake(**kwargs: Any) -> FakeProvider:
    kwargs.setdefault("models", ["m"])
    kwargs.setdefault("reply", "Hello there")
    return FakeProvider(**kwargs)


# ---------------------------------------------------------------------------- DNS rebinding


@pytest.mark.parametrize(
    "host",
    ["localhost", "localhost:11435", "127.0.0.1:8080", "127.3.4.5", "[::1]:11435", "app.localhost"],
)
async def test_a_gateway_without_keys_answers_a_loopback_host(host: str) -> None:
    async with gateway([fake()]) as (_, http):
        response = await http.get("/v1/models", headers={"host": host})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "host", ["evil.example", "evil.example:11435", "127.0.0.1.nip.io", "10.0.0.5", "localhost.evil"]
)
@pytest.mark.parametrize("path", ["/v1/models", "/api/tags", "/", "/health"])
async def test_a_gateway_without_keys_refuses_any_other_host(host: str, path: str) -> None:
    # A web page on evil.example whose name now resolves to 127.0.0.1 (DNS rebinding)
    # sends Host: evil.example; it must not reach the models.
    service = fake()
    async with gateway([service]) as (_, http):
        response = await http.get(path, headers={"host": host})
        chat = await http.post("/v1/chat/completions", json=HELLO, headers={"host": host})
    assert response.status_code == 403, response.text
    assert chat.status_code == 403 and "host" in chat.text.lower(), chat.text
    assert service.requests == []


async def test_a_gateway_with_keys_answers_any_host() -> None:
    async with gateway([fake()], api_keys=["k"]) as (_, http):
        response = await http.get(
            "/v1/models", headers={"host": "gateway.example:443", "x-api-key": "k"}
        )
    assert response.status_code == 200


# ---------------------------------------------------------------------------- CORS (D9)

PREFLIGHT_HEADERS = "authorization, content-type, x-api-key"
CLIENT_HEADERS = {
    "authorization",
    "x-api-key",
    "content-type",
    "anthropic-version",
    "anthropic-beta",
    "x-request-id",
}


def preflight(
    origin: str, method: str = "POST", headers: str = PREFLIGHT_HEADERS
) -> dict[str, str]:
    return {
        "origin": origin,
        "access-control-request-method": method,
        "access-control-request-headers": headers,
    }


@pytest.mark.parametrize(
    "origin",
    [
        "http://localhost",
        "http://localhost:5173",
        "https://localhost:8443",
        "http://127.0.0.1:3000",
        "app://obsidian.md",
        "file://",
        "tauri://localhost",
        "vscode-webview://1a2b3c",
    ],
)
@pytest.mark.parametrize("path", ["/v1/chat/completions", "/api/chat", "/v1/models"])
async def test_a_preflight_from_a_default_origin_needs_no_key_and_is_204(
    origin: str, path: str
) -> None:
    async with gateway([fake()], api_keys=["k"]) as (_, http):
        response = await http.options(path, headers=preflight(origin))
    assert response.status_code == 204, response.text
    assert response.headers["access-control-allow-origin"] == origin
    allowed = {h.strip() for h in response.headers["access-control-allow-headers"].split(",")}
    assert allowed >= CLIENT_HEADERS, allowed
    methods = {m.strip() for m in response.headers["access-control-allow-methods"].split(",")}
    assert "POST" in methods and "GET" in methods
    assert "origin" in response.headers["vary"].lower()


@pytest.mark.parametrize("origin", ["https://evil.example", "http://localhost.evil:80", "null"])
async def test_a_preflight_from_another_origin_gets_no_cors_grant(origin: str) -> None:
    async with gateway([fake()], api_keys=["k"]) as (_, http):
        response = await http.options("/v1/chat/completions", headers=preflight(origin))
    assert response.status_code == 403, response.text
    assert "access-control-allow-origin" not in response.headers


async def test_an_allowed_origin_can_read_the_answer_and_the_key_still_applies() -> None:
    origin = "http://localhost:5173"
    async with gateway([fake()], api_keys=["k"]) as (_, http):
        ok = await http.post(
            "/v1/chat/completions", json=HELLO, headers={"origin": origin, "x-api-key": "k"}
        )
        refused = await http.post("/v1/chat/completions", json=HELLO, headers={"origin": origin})
        stream = await http.post(
            "/v1/chat/completions",
            json={**HELLO, "stream": True},
            headers={"origin": origin, "authorization": "Bearer k"},
        )
    assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == origin
    assert stream.status_code == 200 and stream.headers["access-control-allow-origin"] == origin
    # the caller's page can read why it failed, but the key is still required
    assert refused.status_code == 401
    assert refused.headers["access-control-allow-origin"] == origin


async def test_another_origin_is_served_without_a_cors_grant() -> None:
    async with gateway([fake()]) as (_, http):
        response = await http.get("/v1/models", headers={"origin": "https://evil.example"})
    assert "access-control-allow-origin" not in response.headers


@pytest.mark.parametrize(
    ("configured", "origin", "granted"),
    [
        (["https://chat.example"], "https://chat.example", True),
        (["https://chat.example"], "https://other.example", False),
        (["https://*.example"], "https://a.example", True),
        (["https://*.example"], "http://a.example", False),
        (["*"], "https://anything.example:8443", True),
        (["https://chat.example"], "http://localhost:3000", True),  # added to the defaults
    ],
)
async def test_configured_origins_add_to_the_defaults(
    configured: list[str], origin: str, granted: bool
) -> None:
    async with gateway([fake()], api_keys=["k"], cors_origins=configured) as (_, http):
        response = await http.options("/v1/chat/completions", headers=preflight(origin))
    assert (response.status_code == 204) is granted, response.text
    assert (response.headers.get("access-control-allow-origin") == origin) is granted


@pytest.mark.parametrize(
    ("path", "method", "allow"),
    [
        ("/v1/chat/completions", "GET", {"POST", "OPTIONS"}),
        ("/v1/models", "POST", {"GET", "OPTIONS"}),
        ("/api/chat", "GET", {"POST", "OPTIONS"}),
        ("/api/tags", "DELETE", {"GET", "HEAD", "OPTIONS"}),
    ],
)
async def test_a_405_carries_allow(path: str, method: str, allow: set[str]) -> None:
    async with gateway([fake()]) as (_, http):
        response = await http.request(method, path)
    assert response.status_code == 405
    assert {m.strip() for m in response.headers["allow"].split(",")} == allow


async def test_an_options_request_that_is_not_a_preflight_says_what_is_allowed() -> None:
    async with gateway([fake()], api_keys=["k"]) as (_, http):
        response = await http.options("/v1/chat/completions")
    assert response.status_code == 204
    assert {m.strip() for m in response.headers["allow"].split(",")} == {"POST", "OPTIONS"}


# ---------------------------------------------------------------------------- liveness


async def test_health_without_a_key_is_a_status_word_only() -> None:
    provider, seen = recording_backend()
    async with gateway([provider], api_keys=["s3cret"]) as (_, http):
        response = await http.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert seen == []  # a probe costs the services nothing


async def test_health_without_a_key_is_ok_even_when_no_service_is_up() -> None:
    client = modelport.AsyncClient(services=["http://127.0.0.1:9"])
    app = create_app(client, api_keys=["s3cret"])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:
        response = await http.get("/health")
    await client.aclose()
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "127.0.0.1" not in response.text


async def test_health_with_the_key_gives_the_details() -> None:
    async with gateway([fake(name="a")], api_keys=["s3cret"]) as (app, http):
        response = await http.get("/health", headers={"authorization": "Bearer s3cret"})
        wrong = await http.get("/health", headers={"authorization": "Bearer nope"})
    body = response.json()
    assert body["status"] == "ok" and body["gateway"] == app.id
    assert [s["name"] for s in body["services"]] == ["a"]
    assert wrong.status_code == 200 and wrong.json() == {"status": "ok"}  # no details


# ---------------------------------------------------------------------------- body memory


async def _held_body(
    size: int, started: asyncio.Event, release: asyncio.Event
) -> AsyncIterator[bytes]:
    yield b" " * (size // 2)
    started.set()
    await release.wait()
    yield b" " * (size - size // 2 - len(json.dumps(HELLO))) + json.dumps(HELLO).encode()


async def test_bodies_held_at_once_beyond_the_cap_get_503_with_retry_after() -> None:
    size = 1000
    service = fake()
    async with gateway([service], max_body=size, max_body_memory=2 * size) as (_, http):
        started, release = [asyncio.Event(), asyncio.Event()], asyncio.Event()
        headers = {"content-length": str(size), "content-type": "application/json"}
        first = [
            asyncio.ensure_future(
                http.post(
                    "/v1/chat/completions",
                    content=_held_body(size, event, release),
                    headers=headers,
                )
            )
            for event in started
        ]
        await asyncio.wait_for(asyncio.gather(*(event.wait() for event in started)), 10)
        third = await http.post("/v1/chat/completions", json=HELLO)
        release.set()
        held = await asyncio.wait_for(asyncio.gather(*first), 10)
        after = await http.post("/v1/chat/completions", json=HELLO)
    assert third.status_code == 503, third.text
    assert int(third.headers["retry-after"]) >= 1
    assert third.json()["error"]["code"] == "server_busy"
    assert [r.status_code for r in held] == [200, 200]
    assert after.status_code == 200  # the memory was given back


async def test_a_body_memory_cap_below_the_body_limit_is_a_configuration_error() -> None:
    with pytest.raises(modelport.ConfigurationError):
        create_app(max_body=1000, max_body_memory=999)


async def test_the_body_memory_cap_defaults_to_four_bodies() -> None:
    assert create_app(max_body=1000).max_body_memory == 4000


# ---------------------------------------------------------------------------- access log (D7)


@pytest.mark.parametrize(
    "path",
    [
        "/v1/models%0a12:00:00 GET /v1/models 200 model=x service=y 1.0ms tokens=99+99",
        "/v1/x%0d%0aforged",
        "/api/tags%1b[31m",
    ],
)
async def test_the_access_log_escapes_control_characters_in_the_path(
    path: str, gateway_records: Records
) -> None:
    async with gateway([fake()]) as (_, http):
        await http.get(path)
    [line] = [r.getMessage() for r in gateway_records.records if r.levelno == logging.INFO]
    assert "\n" not in line and "\r" not in line and "\x1b" not in line, repr(line)
    assert "\\x0a" in line or "\\x0d" in line or "\\x1b" in line, line


async def test_the_access_log_escapes_control_characters_in_the_model(
    gateway_records: Records,
) -> None:
    model = "m\n12:00:00 POST /v1/chat/completions 200 model=m service=fake 1.0ms tokens=9+9"
    async with gateway([fake()]) as (_, http):
        await http.post("/v1/chat/completions", json={**HELLO, "model": model})
    [line] = [r.getMessage() for r in gateway_records.records if r.levelno == logging.INFO]
    assert "\n" not in line, repr(line)
    assert "model=m\\x0a12:00:00\\x20POST" in line, line


# ---------------------------------------------------------------------------- loops (D8)


async def test_a_request_carrying_this_gateways_id_anywhere_in_its_chain_is_a_loop() -> None:
    service = fake()
    async with gateway([service]) as (app, http):
        last = await http.post("/v1/chat/completions", json=HELLO, headers={HEADER: app.id})
        inside = await http.post(
            "/v1/chat/completions", json=HELLO, headers={HEADER: f"aa11, {app.id}, bb22"}
        )
        tags = await http.get("/api/tags", headers={HEADER: f"aa11,{app.id}"})
        root = await http.get("/", headers={HEADER: f"aa11,{app.id}"})
    for response in (last, inside, tags, root):
        assert response.status_code == 508, response.text
        assert response.headers[HEADER] == app.id  # a response carries one id: its own
    assert inside.json()["error"]["code"] == "gateway_loop"
    assert service.requests == []


async def test_a_chain_longer_than_eight_hops_is_a_loop() -> None:
    service = fake()
    eight = ", ".join(f"gw{i:02d}" for i in range(8))
    nine = ", ".join(f"gw{i:02d}" for i in range(9))
    async with gateway([service]) as (_, http):
        ok = await http.post("/v1/chat/completions", json=HELLO, headers={HEADER: eight})
        loop = await http.post("/v1/chat/completions", json=HELLO, headers={HEADER: nine})
    assert ok.status_code == 200, ok.text
    assert loop.status_code == 508 and "8" in loop.json()["error"]["message"]
    assert len(service.requests) == 1


@pytest.mark.parametrize("value", ["a b", "ok, ", "x" * 65, "é"])
async def test_a_chain_that_is_not_a_list_of_ids_is_a_400(value: str) -> None:
    service = fake()
    async with gateway([service]) as (_, http):
        response = await http.post(
            "/v1/chat/completions", json=HELLO, headers={HEADER: value.encode()}
        )
    assert response.status_code == 400, response.text
    assert HEADER in response.json()["error"]["message"]
    assert service.requests == []


@pytest.mark.parametrize("stream", [False, True])
async def test_requests_sent_upstream_carry_the_chain_with_this_gateway_last(stream: bool) -> None:
    provider, seen = recording_backend()
    client = modelport.AsyncClient(services=[provider], gateway_id="gw-test")
    async with gateway(client) as (app, http):
        plain = await http.post("/v1/chat/completions", json={**HELLO, "stream": stream})
        sent_plain = [r.headers[HEADER] for r in seen]
        seen.clear()
        chained = await http.post(
            "/v1/chat/completions", json={**HELLO, "stream": stream}, headers={HEADER: "aa, bb"}
        )
        listed = await http.get("/v1/models", headers={HEADER: "cc"})
    assert plain.status_code == chained.status_code == listed.status_code == 200
    assert sent_plain and set(sent_plain) == {app.id}
    assert seen and {r.headers[HEADER] for r in seen if r.url.path.endswith("completions")} == {
        f"aa, bb, {app.id}"
    }
    assert chained.headers[HEADER] == app.id


async def test_an_upstream_that_answers_508_is_a_508_at_once_not_retried() -> None:
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if request.url.path.endswith("/models"):
            return httpx.Response(200, json={"data": [{"id": "m"}]})
        body = {"error": {"message": "loop", "type": "loop_detected_error", "code": "gateway_loop"}}
        return httpx.Response(508, json=body, headers={HEADER: "other"})

    provider = OpenAICompatibleProvider(
        "http://127.0.0.1:9/v1", name="up", transport=httpx.MockTransport(handler)
    )
    client = modelport.AsyncClient(services=[provider], max_retries=3)
    async with gateway(client) as (_, http):
        first = await http.post("/v1/chat/completions", json=HELLO)
        second = await http.post("/api/chat", json={**HELLO, "stream": False})
    assert first.status_code == 508 and first.json()["error"]["code"] == "gateway_loop"
    assert second.status_code == 508 and "error" in second.json()
    chats = [r for r in calls if r.url.path.endswith("/completions")]
    assert len(chats) == 2  # one each: a loop is never retried

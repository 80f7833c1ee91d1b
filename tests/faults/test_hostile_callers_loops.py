"""Two real ``modelport serve`` processes pointed at each other (issue 18, D8).

Before the chain of gateway ids, one chat became about 4,650 requests and 2,050
sockets, then a 504 after 16 s. Now each request that goes round comes back to a
gateway that finds its own id in the ``x-modelport-gateway`` chain and answers 508,
which every gateway on the way passes on, never retried: one request costs a handful
of requests between the two, and the answer comes at once. Counted in the two
access logs (one line per request each gateway served).
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from .gateways import GUARD, Serve, free_port
from .kinds import OPENAI
from .servers import FaultServer, answer

pytestmark = pytest.mark.socket

HANDFUL = 8
"""The most requests the two gateways may serve in all for one caller's request."""
CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


def _models(*names: str) -> FaultServer:
    body = json.dumps({"object": "list", "data": [{"id": n} for n in names]}).encode()
    return FaultServer(
        {"/v1/models": answer(200, body), "/v1/chat/completions": answer(200, OPENAI.reply("hi"))}
    )


@pytest.fixture
def pointed_at_each_other() -> Iterator[tuple[Serve, Serve]]:
    """A serves B, B serves A. Each is up before the other first asks it anything:
    B first learns A's address from a stand-in on A's port, which then gives way to A."""
    port_a, port_b = free_port(), free_port()
    stand_in = FaultServer(_models("m").routes, port=port_a).start()
    try:
        b = Serve("--service", f"a=http://127.0.0.1:{port_a}", port=port_b)
    finally:
        stand_in.stop()
    with b, Serve("--service", f"b=http://127.0.0.1:{port_b}", port=port_a) as a:
        yield a, b


def served(a: Serve, b: Serve, call: Callable[[], httpx.Response]) -> tuple[httpx.Response, int]:
    """The answer to ``call``, and how many requests the two gateways served for it."""

    def lines() -> int:
        return len(a.access_lines()) + len(b.access_lines())

    before = lines()
    response = call()
    seen, steady = lines(), 0
    while steady < 5:  # each line is written as its request ends: wait until none comes
        time.sleep(0.05)
        now = lines()
        seen, steady = now, (steady + 1 if now == seen else 0)
    return response, seen - before


def nothing_else_listens() -> None:
    """Skip when a model server listens where discovery looks by default."""
    for port in (11434, 1234, 8080, 8000, 1337):
        with socket.socket() as sock:
            sock.settimeout(0.2)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                pytest.skip(f"something listens on 127.0.0.1:{port}: discovery would find it")


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/v1/chat/completions", CHAT),
        ("POST", "/api/chat", {**CHAT, "stream": False}),
        ("POST", "/v1/chat/completions", {**CHAT, "stream": True}),
        ("GET", "/v1/models", None),
        ("GET", "/api/tags", None),
    ],
)
def test_two_gateways_pointed_at_each_other_answer_508_after_a_handful_of_requests(
    pointed_at_each_other: tuple[Serve, Serve], method: str, path: str, body: object
) -> None:
    a, b = pointed_at_each_other
    response, count = served(
        a, b, lambda: httpx.request(method, a.url + path, json=body, timeout=GUARD)
    )
    assert response.status_code == 508, response.text
    assert "loop" in response.text
    assert count <= HANDFUL, (a.access_lines(), b.access_lines())


def test_a_gateway_with_a_real_server_and_a_loop_still_serves_the_real_one() -> None:
    port_a, port_b = free_port(), free_port()
    with _models("real") as backend:
        stand_in = FaultServer(_models("m").routes, port=port_a).start()
        try:
            b = Serve("--service", f"a=http://127.0.0.1:{port_a}", port=port_b)
        finally:
            stand_in.stop()
        services = ("--service", f"real={backend.url}", "--service", f"b=http://127.0.0.1:{port_b}")
        with b, Serve(*services, port=port_a) as a:
            chat, count = served(
                a,
                b,
                lambda: httpx.post(
                    a.url + "/v1/chat/completions", json={**CHAT, "model": "real"}, timeout=GUARD
                ),
            )
            models = httpx.get(a.url + "/v1/models", timeout=GUARD)
            through_b = httpx.get(b.url + "/v1/models", timeout=GUARD)
    assert chat.status_code == 200 and count <= HANDFUL
    assert [m["id"] for m in models.json()["data"]] == ["real/real"]
    assert [m["id"] for m in through_b.json()["data"]] == ["a/real/real"]  # B's own callers


def test_two_gateways_that_discover_each_other_answer_508_after_a_handful_of_requests() -> None:
    # Each one's OLLAMA_HOST is the other (and nothing else is found on this machine).
    nothing_else_listens()
    port_a, port_b = free_port(), free_port()
    with (
        Serve(port=port_b, env={"OLLAMA_HOST": f"http://127.0.0.1:{port_a}"}) as b,
        Serve(port=port_a, env={"OLLAMA_HOST": f"http://127.0.0.1:{port_b}"}) as a,
    ):
        chat, chat_count = served(
            a, b, lambda: httpx.post(a.url + "/v1/chat/completions", json=CHAT, timeout=GUARD)
        )
        tags, tags_count = served(a, b, lambda: httpx.get(a.url + "/api/tags", timeout=GUARD))
    assert chat.status_code == 508, chat.text
    assert "loop" in chat.text
    assert chat_count <= HANDFUL and tags_count <= HANDFUL, (a.access_lines(), b.access_lines())
    assert tags.status_code == 508 and "loop" in tags.text, tags.text

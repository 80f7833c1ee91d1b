"""A real browser page calls a real ``modelport serve`` (issue 18, D9): headless
Chromium loads a page from another local origin, whose script calls the gateway with
``fetch`` (``authorization`` makes every call preflighted) and writes what it got
into the page; the test reads the page's DOM.

A page from an origin the gateway does not allow cannot read any answer. Chromium is
Debian's ``chromium`` package (``scripts/test`` installs it); without it the test is
skipped, unless ``MODELPORT_REQUIRE_BROWSER=1`` says it must run.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from .gateways import Serve
from .kinds import OPENAI
from .servers import Conn, FaultServer, Received

pytestmark = pytest.mark.socket

KEY = "browser-test-key"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
"""Without the background-networking flags a closed network refuses Chromium's own
connections and the run stalls."""


def chromium() -> str:
    for name in (os.environ.get("MODELPORT_CHROMIUM", ""), "chromium", "chromium-browser"):
        if name and shutil.which(name):
            return str(shutil.which(name))
    if os.environ.get("MODELPORT_REQUIRE_BROWSER") == "1":
        pytest.fail("Chromium is required (MODELPORT_REQUIRE_BROWSER=1) but not installed")
    pytest.skip("Chromium is not installed (apt-get install chromium; scripts/test does)")


def upstream_script(conn: Conn, request: Received) -> None:
    if request.path == "/v1/models":
        conn.respond(200, json.dumps({"object": "list", "data": [{"id": "m"}]}).encode())
    elif request.path == "/v1/chat/completions" and request.json().get("stream"):
        headers = {"content-type": "text/event-stream", "transfer-encoding": "chunked"}
        if conn.head(200, headers):
            for piece in (OPENAI.piece("Hello"), OPENAI.piece(" page"), OPENAI.finish()):
                conn.chunk(piece)
            conn.end_chunks()
    elif request.path == "/v1/chat/completions":
        conn.respond(200, OPENAI.reply("Hello page"))
    else:
        conn.respond(404, b'{"error": "not found"}')


SCRIPT = """
const gw = %(gateway)s, key = %(key)s, out = document.getElementById("out");
const said = {};
async function run() {
  const auth = {authorization: "Bearer " + key};
  const models = await fetch(gw + "/v1/models", {headers: auth});
  said.models = [models.status, (await models.json()).data.map(m => m.id)];
  const chat = await fetch(gw + "/v1/chat/completions", {
    method: "POST",
    headers: {...auth, "content-type": "application/json"},
    body: JSON.stringify({model: "m", messages: [{role: "user", content: "hi"}]}),
  });
  said.chat = [chat.status, (await chat.json()).choices[0].message.content];
  const ollama = await fetch(gw + "/api/chat", {
    method: "POST",
    headers: {"x-api-key": key, "content-type": "application/json"},
    body: JSON.stringify({model: "m", messages: [{role: "user", content: "hi"}]}),
  });
  const lines = (await ollama.text()).trim().split("\\n").map(l => JSON.parse(l));
  said.ollama = [ollama.status, lines.map(l => l.message.content).join("")];
  const refused = await fetch(gw + "/v1/models");
  said.refused = [refused.status, refused.headers.get("x-modelport-gateway") !== null];
}
run().catch(e => { said.error = String(e); })
     .finally(() => { out.textContent = JSON.stringify(said); });
"""


@pytest.fixture(scope="module")
def gateway() -> Iterator[Serve]:
    with (
        FaultServer(upstream_script) as upstream,
        Serve("--service", f"up={upstream.url}", "--api-key", KEY) as served,
    ):
        yield served


@pytest.fixture
def page_server() -> Iterator[tuple[ThreadingHTTPServer, dict[str, bytes]]]:
    """An HTTP server for pages (its own origin), on 127.0.0.1 and 127.0.0.2."""
    pages: dict[str, bytes] = {}

    class Pages(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = pages.get(self.path)
            self.send_response(200 if body else 404)
            self.send_header("content-type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("0.0.0.0", 0), Pages)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, pages
    server.shutdown()
    server.server_close()


def load(url: str) -> dict[str, object]:
    """Load ``url`` in headless Chromium; what the page's script wrote."""
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run(
            [
                chromium(),
                *FLAGS,
                f"--user-data-dir={profile}",
                "--virtual-time-budget=20000",
                "--dump-dom",
                url,
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
    found = re.search(r'<div id="out">(.*?)</div>', done.stdout, re.S)
    assert found, f"no result in the page:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    result: dict[str, object] = json.loads(html.unescape(found.group(1)))
    return result


def page(gateway: Serve) -> bytes:
    script = SCRIPT % {"gateway": json.dumps(gateway.url), "key": json.dumps(KEY)}
    return (
        f'<html><body><div id="out">pending</div><script>{script}</script></body></html>'.encode()
    )


def test_a_page_from_another_local_origin_calls_the_gateway_with_fetch(
    gateway: Serve, page_server: tuple[ThreadingHTTPServer, dict[str, bytes]]
) -> None:
    server, pages = page_server
    pages["/app.html"] = page(gateway)
    # localhost:PORT is another origin than the gateway's 127.0.0.1:PORT
    said = load(f"http://localhost:{server.server_address[1]}/app.html")
    assert "error" not in said, said
    assert said["models"] == [200, ["up/m"]]
    assert said["chat"] == [200, "Hello page"]
    assert said["ollama"] == [200, "Hello page"]
    assert said["refused"] == [401, True]  # readable by the page, and still refused


def test_a_page_from_an_origin_not_allowed_reads_nothing(
    gateway: Serve, page_server: tuple[ThreadingHTTPServer, dict[str, bytes]]
) -> None:
    server, pages = page_server
    pages["/app.html"] = page(gateway)
    said = load(f"http://127.0.0.2:{server.server_address[1]}/app.html")
    assert said.get("error") == "TypeError: Failed to fetch", said
    assert "models" not in said

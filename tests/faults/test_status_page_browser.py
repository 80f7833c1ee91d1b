"""The status page ``GET /ui`` (issue 22) in a real browser against a real
``modelport serve``: headless Chromium loads the page from the gateway, whose script
reads ``/health`` and ``/metrics`` and shows the services and their models; the test
reads the page's DOM, and saves a screenshot in its temporary folder (the path is
printed; ``docs/observability.md`` has one taken the same way).

A gateway with keys: the page itself loads without one, shows the key form and no
data. Chromium is Debian's ``chromium`` (see ``test_hostile_callers_browser``).
"""

from __future__ import annotations

import html
import json
import re
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from .gateways import Serve
from .kinds import OPENAI
from .servers import Conn, FaultServer, Received
from .test_hostile_callers_browser import FLAGS, chromium

pytestmark = pytest.mark.socket

KEY = "status-page-key"
MODELS = ["qwen3-8b", "llama3.2"]
USAGE = OPENAI.frame(
    b'{"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":24,"total_tokens":33}}'
)


def upstream_script(conn: Conn, request: Received) -> None:
    if request.path == "/v1/models":
        conn.respond(
            200, json.dumps({"object": "list", "data": [{"id": m} for m in MODELS]}).encode()
        )
    elif request.path == "/v1/chat/completions" and request.json().get("stream"):
        headers = {"content-type": "text/event-stream", "transfer-encoding": "chunked"}
        if conn.head(200, headers):
            for piece in (OPENAI.piece("Hello"), OPENAI.piece(" page"), USAGE, OPENAI.finish()):
                conn.chunk(piece)
            conn.end_chunks()
    elif request.path == "/v1/chat/completions":
        conn.respond(200, OPENAI.reply("Hello page"))
    else:
        conn.respond(404, b'{"error": "not found"}')


@pytest.fixture(scope="module")
def upstream() -> Iterator[FaultServer]:
    with FaultServer(upstream_script) as server:
        yield server


def chrome(url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run(
            [
                chromium(),
                *FLAGS,
                f"--user-data-dir={profile}",
                "--virtual-time-budget=15000",
                *extra,
                url,
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )


def dom(url: str) -> str:
    done = chrome(url, "--dump-dom")
    assert "<body" in done.stdout, done.stderr[-2000:]
    return done.stdout


def cells(page: str) -> list[list[str]]:
    body = re.search(r'<tbody id="services">(.*?)</tbody>', page, re.S)
    assert body, page[-3000:]
    rows = re.findall(r"<tr>(.*?)</tr>", body.group(1), re.S)
    return [
        [
            html.unescape(re.sub(r"<[^>]+>", " ", c)).strip()
            for c in re.findall(r"<td[^>]*>(.*?)</td>", r, re.S)
        ]
        for r in rows
    ]


class Traffic:
    """Chats sent to the gateway in a thread while the page is open (for the chart)."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        self.url, self.headers = url, headers
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        body = {
            "model": "qwen3-8b",
            "stream": True,
            "messages": [{"role": "user", "content": "hi"}],
        }
        with httpx.Client(timeout=30) as http:
            while not self.stop.is_set():
                http.post(f"{self.url}/v1/chat/completions", json=body, headers=self.headers)
                self.stop.wait(0.05)

    def __enter__(self) -> Traffic:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(30)


def test_the_status_page_shows_the_services_and_their_models(
    upstream: FaultServer, tmp_path: Path
) -> None:
    with Serve("--service", f"gpu={upstream.url}") as served, Traffic(served.url, {}):
        page = dom(f"{served.url}/ui")
        shot = tmp_path / "status-page.png"
        done = chrome(f"{served.url}/ui", f"--screenshot={shot}", "--window-size=1100,440")
    rows = cells(page)
    assert [r[:3] for r in rows] == [["gpu", "openai", "available"]], rows
    assert set(re.findall(r'<span class="chip model[^"]*">([^<]+)</span>', page)) == set(MODELS)
    assert 'id="key-form" hidden' in page.replace('hidden=""', "hidden")
    assert shot.exists() and shot.stat().st_size > 1000, done.stderr[-2000:]
    print(f"status page screenshot: {shot}")


def test_with_keys_the_page_loads_without_one_and_asks_for_it(upstream: FaultServer) -> None:
    with Serve("--service", f"gpu={upstream.url}", "--api-key", KEY) as served:
        page_answer = httpx.get(f"{served.url}/ui")
        page = dom(f"{served.url}/ui")
    assert page_answer.status_code == 200
    assert page_answer.headers["content-type"].startswith("text/html")
    assert re.search(r'<form id="key-form"(?! hidden)', page), page[-3000:]
    assert cells(page) == []  # nothing about the services without the key
    assert "qwen3-8b" not in page

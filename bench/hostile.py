"""Hostile callers against each HTTP server candidate for the gateway (issue 18), with
their own settings: the table of ``docs/performance.md``.

    python bench/hostile.py [SERVER ...]        # default: every candidate of gateway.py

Each candidate serves the same gateway app (``bench/gateway.py fake - SERVER``, an
in-memory model service) under ``ulimit -n 1024``. The cases, one connection each
unless said:

- **head over 64 KiB**: a 65 KiB header; what comes back.
- **100 MB header**: sent as fast as it goes; how much was taken before the server cut
  it, the server's RSS growth, and how long another caller waited meanwhile.
- **idle connection**, **slowloris head** (a header line every 2 s), **short body**
  (Content-Length 100, 10 bytes sent): when the server closed them and what it said
  (watched for up to :data:`WAIT` seconds).
- **slow upload**: a chat body sent one byte a second for 40 s: served or cut.
- **1,100 idle connections** held by another process: whether a real chat is served
  within 15 s (the idle timeout of modelport serve plus 5 s), and when.

Prints a Markdown table; nothing here is a test (``tests/faults/test_hostile_callers.py``
proves modelport's own server against every case).
"""

from __future__ import annotations

import json
import resource
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from gateway import SERVERS  # noqa: E402
from gateway_load import rss_mb  # noqa: E402

WAIT = 70.0
"""How long a connection is watched for the server to close it."""
CHAT = json.dumps({"model": "bench", "messages": [{"role": "user", "content": "hi"}]}).encode()


def start(server: str) -> tuple[int, subprocess.Popen[str]]:
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))

    proc = subprocess.Popen(
        [sys.executable, str(HERE / "gateway.py"), "fake", "-", server],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        preexec_fn=limit,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().split()
    if not line or line[0] != "READY":
        proc.kill()
        raise RuntimeError(f"{server} did not start")
    return int(line[1]), proc


def stop(proc: subprocess.Popen[str]) -> None:
    if proc.stdin is not None:
        proc.stdin.close()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def status_of(data: bytes) -> str:
    return data.split(b" ", 2)[1].decode() if data.startswith(b"HTTP/1.1 ") else "-"


def watch(sock: socket.socket, started: float) -> str:
    """Wait for the server to answer or close; what it said and when."""
    data = b""
    sock.settimeout(max(0.1, WAIT - (time.monotonic() - started)))
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    except TimeoutError:
        return f"open after {WAIT:.0f} s"
    except OSError:
        pass
    return f"{status_of(data)}, closed after {time.monotonic() - started:.1f} s"


def health(port: int) -> float:
    started = time.monotonic()
    with connect(port) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nhost: localhost\r\n\r\n")
        sock.recv(65536)
    return time.monotonic() - started


def big_head(port: int) -> str:
    head = b"GET /health HTTP/1.1\r\nhost: localhost\r\nx-pad: " + b"p" * (65 * 1024) + b"\r\n\r\n"
    with connect(port) as sock:
        try:
            sock.sendall(head)
        except OSError:
            pass
        sock.settimeout(10)
        try:
            return status_of(sock.recv(65536)) or "-"
        except OSError:
            return "reset"


def huge_header(port: int, pid: int) -> str:
    before = rss_mb(pid)
    sent = [0]
    block = b"a" * (1 << 20)

    def attack() -> None:
        with connect(port) as sock:
            try:
                sock.sendall(b"GET /health HTTP/1.1\r\nhost: localhost\r\nx-huge: ")
                while sent[0] < 100 * (1 << 20):
                    sock.sendall(block)
                    sent[0] += len(block)
                sock.sendall(b"\r\n\r\n")
                sock.settimeout(30)
                sock.recv(100)
            except OSError:
                pass

    thread = threading.Thread(target=attack, daemon=True)
    thread.start()
    time.sleep(0.3)
    waited = health(port)
    thread.join(60)
    peak = rss_mb(pid) - before
    taken = "whole" if sent[0] >= 100 * (1 << 20) else f"cut at {sent[0] >> 20} MB"
    return f"{taken}; RSS +{peak:.0f} MB; another caller waited {waited * 1000:.0f} ms"


def idle(port: int) -> str:
    started = time.monotonic()
    with connect(port) as sock:
        return watch(sock, started)


def slowloris(port: int) -> str:
    started = time.monotonic()
    with connect(port) as sock:
        stop_sending = threading.Event()

        def drip() -> None:
            try:
                sock.sendall(b"GET /health HTTP/1.1\r\nhost: localhost\r\n")
                while not stop_sending.wait(2.0):
                    sock.sendall(b"x-slow: 1\r\n")
            except OSError:
                pass

        threading.Thread(target=drip, daemon=True).start()
        try:
            return watch(sock, started)
        finally:
            stop_sending.set()


def short_body(port: int) -> str:
    started = time.monotonic()
    with connect(port) as sock:
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nhost: localhost\r\n"
            b"content-type: application/json\r\ncontent-length: 100\r\n\r\n" + CHAT[:10]
        )
        return watch(sock, started)


def slow_upload(port: int) -> str:
    """A chat whose body's last 40 bytes come one a second (40 s in all)."""
    body = CHAT[:-1] + b" " * 40 + b"}"
    with connect(port) as sock:
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nhost: localhost\r\n"
            b"content-type: application/json\r\ncontent-length: %d\r\n\r\n" % len(body) + body[:-40]
        )
        try:
            for index in range(len(body) - 40, len(body)):
                time.sleep(1.0)
                sock.sendall(body[index : index + 1])
            sock.settimeout(30)
            answer = sock.recv(65536)
        except OSError:
            return "cut"
    return f"served ({status_of(answer)})" if answer else "cut"


def flood(port: int) -> str:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import socket,sys\nheld=[]\n"
            "import resource\nresource.setrlimit(resource.RLIMIT_NOFILE,(4096,"
            "resource.getrlimit(resource.RLIMIT_NOFILE)[1]))\n"
            f"for _ in range(1100):\n s=socket.socket(); s.setblocking(False)\n"
            f" try: s.connect(('127.0.0.1',{port}))\n except BlockingIOError: pass\n"
            " held.append(s)\nprint('READY',flush=True)\nsys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        holder.stdout.readline()
        time.sleep(0.5)
        started = time.monotonic()
        while time.monotonic() - started < 15:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
                    sock.sendall(
                        b"POST /v1/chat/completions HTTP/1.1\r\nhost: localhost\r\n"
                        b"content-type: application/json\r\ncontent-length: %d\r\n\r\n"
                        % len(CHAT)
                        + CHAT
                    )
                    sock.settimeout(max(0.1, 15 - (time.monotonic() - started)))
                    answer = sock.recv(65536)
                    if answer.startswith(b"HTTP/1.1 200"):
                        return f"served after {time.monotonic() - started:.1f} s"
            except OSError:
                time.sleep(0.2)
        return "not served within 15 s"
    finally:
        if holder.stdin is not None:
            holder.stdin.close()
        holder.wait(30)


def measure(server: str) -> dict[str, str]:
    port, proc = start(server)
    try:
        out = {"head over 64 KiB": big_head(port), "100 MB header": huge_header(port, proc.pid)}
        slow: dict[str, str] = {}
        cases: list[tuple[str, Any]] = [
            ("idle connection", idle),
            ("slowloris head", slowloris),
            ("short body", short_body),
            ("slow upload (40 s)", slow_upload),
        ]
        threads = [
            threading.Thread(target=lambda n=n, f=f: slow.__setitem__(n, f(port)), daemon=True)
            for n, f in cases
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(WAIT + 30)
        out.update({name: slow.get(name, "n/a") for name, _ in cases})
        out["1,100 idle connections (ulimit -n 1024)"] = flood(port)
        return out
    finally:
        stop(proc)


def main() -> None:
    servers = sys.argv[1:] or list(SERVERS)
    results = {}
    for server in servers:
        print(f"[hostile] {server}...", file=sys.stderr, flush=True)
        try:
            results[server] = measure(server)
        except Exception as exc:  # a candidate that is not installed
            results[server] = {"error": str(exc)}
    cases = next((list(r) for r in results.values() if "error" not in r), [])
    print("| case | " + " | ".join(servers) + " |")
    print("|---|" + "---|" * len(servers))
    for case in cases:
        row = [results[s].get(case, results[s].get("error", "n/a")) for s in servers]
        print(f"| {case} | " + " | ".join(row) + " |")
    out = HERE / "results" / "hostile.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()

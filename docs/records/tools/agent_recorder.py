"""A recording HTTP server for agent CLIs (Claude Code, Codex): a research tool, not a test.

It listens on 127.0.0.1, writes down every request it gets (method, path with query,
headers with secrets masked, body bytes verbatim) and every answer it gives, and answers
in one of two ways:

- **fake** (default): a minimal valid answer made here.
  - ``POST .../messages``: an Anthropic Messages response, JSON or (``"stream": true``)
    the SSE grammar: message_start, content_block_start, ping, content_block_delta
    (text_delta), content_block_stop, message_delta, message_stop.
  - ``POST .../messages/count_tokens``: ``{"input_tokens": N}`` (N = body bytes / 4).
  - ``POST .../responses``: a Responses API object, or (``"stream": true``) the SSE
    events response.created ... response.completed, each with ``sequence_number``.
  - ``GET .../models``: a list with one model (both OpenAI's and Anthropic's fields).
  - anything else: 200 ``{}``.
- **proxy** (``--upstream URL``): the request goes to URL (same path and query, same
  body and headers but ``Host``) and its answer is relayed as it arrives and recorded.

``--drop-event NAME`` (repeatable) leaves that SSE event out of a fake stream, and
``--no-usage`` leaves ``usage`` out of every fake answer, to find out what a client needs.

Output folder (``--out DIR``):

- ``session.log``: every exchange, human-readable, bodies verbatim;
- ``NNN-request.json``: method, path, masked headers (one file per request);
- ``NNN-request.body``: the request body, bytes as received;
- ``NNN-response.body``: the answer's body, bytes as sent (status/headers in session.log).

Usage::

    python3 agent_recorder.py --out /tmp/rec --port 0 --port-file /tmp/rec/port
    python3 agent_recorder.py --out /tmp/rec --upstream http://127.0.0.1:8080

It stops on SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import http.client
import json
import signal
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

SECRET_HEADERS = {"authorization", "x-api-key", "cookie", "proxy-authorization"}
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "host",
}


def mask(name: str, value: str) -> str:
    """Mask a secret header value, keeping its scheme and length."""
    if name.lower() not in SECRET_HEADERS and not any(
        word in name.lower() for word in ("token", "secret", "api-key", "apikey")
    ):
        return value
    scheme, sep, rest = value.partition(" ")
    if sep and scheme.lower() in {"bearer", "basic"}:
        return f"{scheme} <masked {len(rest)} chars>"
    return f"<masked {len(value)} chars>"


class Recorder:
    """Numbers exchanges and writes them to the output folder (thread-safe)."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.lock = threading.Lock()
        self.count = 0
        out.mkdir(parents=True, exist_ok=True)
        self.log = (out / "session.log").open("a", encoding="utf-8", errors="replace")

    def next_id(self) -> int:
        with self.lock:
            self.count += 1
            return self.count

    def write(self, text: str) -> None:
        with self.lock:
            self.log.write(text)
            self.log.flush()

    def request(
        self, n: int, method: str, path: str, headers: list[tuple[str, str]], body: bytes
    ) -> None:
        meta = {
            "n": n,
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "method": method,
            "path": path,
            "headers": [[k, mask(k, v)] for k, v in headers],
            "body_bytes": len(body),
        }
        (self.out / f"{n:03d}-request.json").write_text(json.dumps(meta, indent=2) + "\n")
        (self.out / f"{n:03d}-request.body").write_bytes(body)
        lines = [f"\n===== #{n} {meta['time']} {method} {path}\n"]
        lines += [f"{k}: {v}\n" for k, v in meta["headers"]]
        lines.append(f"--- request body ({len(body)} bytes)\n")
        lines.append(body.decode("utf-8", errors="replace") + "\n")
        self.write("".join(lines))

    def response(
        self, n: int, status: int, headers: list[tuple[str, str]], body: bytes, seconds: float
    ) -> None:
        (self.out / f"{n:03d}-response.body").write_bytes(body)
        lines = [f"--- response #{n}: {status} after {seconds:.2f} s\n"]
        lines += [f"{k}: {v}\n" for k, v in headers]
        lines.append(f"--- response body ({len(body)} bytes)\n")
        lines.append(body.decode("utf-8", errors="replace") + "\n")
        self.write("".join(lines))


def sse(event: str, data: dict[str, Any]) -> bytes:
    """One SSE event with an ``event:`` line, as Anthropic and OpenAI send them."""
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def anthropic_events(
    model: str, text: str, input_tokens: int, n: int
) -> list[tuple[str, dict[str, Any]]]:
    """The SSE events of a one-text-block Anthropic message."""
    pieces = [text[: len(text) // 2], text[len(text) // 2 :]]
    msg = {
        "id": f"msg_rec{n:06d}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {
            "input_tokens": input_tokens,
            "output_tokens": 1,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        },
    }
    events: list[tuple[str, dict[str, Any]]] = [
        ("message_start", {"type": "message_start", "message": msg}),
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        ),
        ("ping", {"type": "ping"}),
    ]
    for piece in pieces:
        events.append(
            (
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "text_delta", "text": piece},
                },
            )
        )
    events += [
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": len(pieces)},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]
    return events


def anthropic_message(model: str, text: str, input_tokens: int, n: int) -> dict[str, Any]:
    return {
        "id": f"msg_rec{n:06d}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": input_tokens,
            "output_tokens": 2,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        },
    }


def responses_object(
    model: str, n: int, status: str, output: list[Any], usage: Any
) -> dict[str, Any]:
    return {
        "id": f"resp_rec{n:06d}",
        "object": "response",
        "created_at": int(time.time()),
        "status": status,
        "error": None,
        "incomplete_details": None,
        "instructions": None,
        "max_output_tokens": None,
        "model": model,
        "output": output,
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "reasoning": {"effort": None, "summary": None},
        "store": False,
        "temperature": 1.0,
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": [],
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": usage,
        "metadata": {},
    }


def responses_events(
    model: str, text: str, input_tokens: int, n: int
) -> list[tuple[str, dict[str, Any]]]:
    """The SSE events of a Responses API answer with one message holding one text part."""
    item_id = f"msg_rec{n:06d}"
    pieces = [text[: len(text) // 2], text[len(text) // 2 :]]
    part_done = {"type": "output_text", "text": text, "annotations": []}
    item_done = {
        "id": item_id,
        "type": "message",
        "status": "completed",
        "role": "assistant",
        "content": [part_done],
    }
    usage = {
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": len(pieces),
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": input_tokens + len(pieces),
    }
    where = {"item_id": item_id, "output_index": 0, "content_index": 0}
    events: list[tuple[str, dict[str, Any]]] = [
        ("response.created", {"response": responses_object(model, n, "in_progress", [], None)}),
        ("response.in_progress", {"response": responses_object(model, n, "in_progress", [], None)}),
        (
            "response.output_item.added",
            {
                "output_index": 0,
                "item": {
                    "id": item_id,
                    "type": "message",
                    "status": "in_progress",
                    "role": "assistant",
                    "content": [],
                },
            },
        ),
        (
            "response.content_part.added",
            {**where, "part": {"type": "output_text", "text": "", "annotations": []}},
        ),
    ]
    events += [
        ("response.output_text.delta", {**where, "delta": p, "logprobs": []}) for p in pieces
    ]
    events += [
        ("response.output_text.done", {**where, "text": text, "logprobs": []}),
        ("response.content_part.done", {**where, "part": part_done}),
        ("response.output_item.done", {"output_index": 0, "item": item_done}),
        (
            "response.completed",
            {"response": responses_object(model, n, "completed", [item_done], usage)},
        ),
    ]
    numbered = []
    for seq, (name, data) in enumerate(events):
        numbered.append((name, {"type": name, "sequence_number": seq, **data}))
    return numbered


def strip_usage(value: Any) -> Any:
    """A copy of a JSON value without any ``usage`` key (for ``--no-usage``)."""
    if isinstance(value, dict):
        return {k: strip_usage(v) for k, v in value.items() if k != "usage"}
    if isinstance(value, list):
        return [strip_usage(v) for v in value]
    return value


def make_handler(rec: Recorder, args: argparse.Namespace) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *a: Any) -> None:
            sys.stderr.write("[recorder] " + (format % a) + "\n")

        def read_body(self) -> bytes:
            if self.headers.get("transfer-encoding", "").lower() == "chunked":
                chunks = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        self.rfile.readline()
                        break
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
                return b"".join(chunks)
            length = int(self.headers.get("content-length") or 0)
            return self.rfile.read(length) if length else b""

        def handle_any(self) -> None:
            n = rec.next_id()
            started = time.monotonic()
            body = self.read_body()
            rec.request(n, self.command, self.path, list(self.headers.items()), body)
            if args.upstream:
                self.proxy(n, body, started)
            else:
                self.fake(n, body, started)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = handle_any

        def send(
            self, n: int, status: int, headers: list[tuple[str, str]], body: bytes, started: float
        ) -> None:
            self.send_response(status)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
            rec.response(n, status, headers, body, time.monotonic() - started)

        def stream(self, n: int, events: list[tuple[str, dict[str, Any]]], started: float) -> None:
            headers = [
                ("content-type", "text/event-stream; charset=utf-8"),
                ("cache-control", "no-cache"),
            ]
            self.send_response(200)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("connection", "close")
            self.end_headers()
            sent = []
            for name, data in events:
                if name in args.drop_event:
                    continue
                if args.no_usage:
                    data = strip_usage(data)
                chunk = sse(name, data)
                self.wfile.write(chunk)
                self.wfile.flush()
                sent.append(chunk)
                time.sleep(args.event_delay)
            self.close_connection = True
            rec.response(n, 200, headers, b"".join(sent), time.monotonic() - started)

        def fake(self, n: int, body: bytes, started: float) -> None:
            path = urllib.parse.urlsplit(self.path).path.rstrip("/")
            try:
                req = json.loads(body) if body else {}
            except ValueError:
                req = {}
            if not isinstance(req, dict):
                req = {}
            model = str(req.get("model") or "recorded-model")
            tokens = max(1, len(body) // 4)
            json_headers = [("content-type", "application/json")]
            if self.command == "POST" and path.endswith("/messages/count_tokens"):
                out: Any = {"input_tokens": tokens}
            elif self.command == "POST" and path.endswith("/messages"):
                if req.get("stream"):
                    self.stream(n, anthropic_events(model, args.text, tokens, n), started)
                    return
                out = anthropic_message(model, args.text, tokens, n)
            elif self.command == "POST" and path.endswith("/responses"):
                events = responses_events(model, args.text, tokens, n)
                if req.get("stream"):
                    self.stream(n, events, started)
                    return
                out = events[-1][1]["response"]
            elif self.command == "GET" and path.endswith("/models"):
                out = {
                    "object": "list",
                    "data": [
                        {
                            "id": args.model,
                            "object": "model",
                            "created": 0,
                            "owned_by": "recorder",
                            "type": "model",
                            "display_name": args.model,
                            "created_at": "1970-01-01T00:00:00Z",
                        }
                    ],
                    "has_more": False,
                    "first_id": args.model,
                    "last_id": args.model,
                }
            else:
                out = {}
            if args.no_usage:
                out = strip_usage(out)
            self.send(n, 200, json_headers, json.dumps(out).encode(), started)

        def proxy(self, n: int, body: bytes, started: float) -> None:
            up = urllib.parse.urlsplit(args.upstream)
            conn = http.client.HTTPConnection(
                up.hostname, up.port or 80, timeout=args.upstream_timeout
            )
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            headers["content-length"] = str(len(body))
            try:
                conn.request(
                    self.command,
                    up.path.rstrip("/") + self.path,
                    body=body or None,
                    headers=headers,
                )
                resp = conn.getresponse()
            except OSError as exc:
                self.send(
                    n,
                    502,
                    [("content-type", "text/plain")],
                    f"recorder: upstream: {exc}".encode(),
                    started,
                )
                return
            out_headers = [
                (k, v)
                for k, v in resp.getheaders()
                if k.lower() not in HOP_BY_HOP | {"content-length"}
            ]
            self.send_response(resp.status)
            for k, v in out_headers:
                self.send_header(k, v)
            self.send_header("connection", "close")
            self.end_headers()
            got = []
            while True:
                chunk = resp.read1(65536)
                if not chunk:
                    break
                got.append(chunk)
                try:
                    self.wfile.write(chunk)
                    self.wfile.flush()
                except OSError:
                    rec.write(f"--- #{n}: client went away during the answer\n")
                    break
            conn.close()
            self.close_connection = True
            rec.response(n, resp.status, out_headers, b"".join(got), time.monotonic() - started)

    return Handler


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--port-file", type=Path)
    p.add_argument("--upstream", help="relay to this base URL instead of answering")
    p.add_argument("--upstream-timeout", type=float, default=1800.0)
    p.add_argument("--text", default="Hi there!")
    p.add_argument("--model", default="smollm2", help="the id GET /models lists")
    p.add_argument("--drop-event", action="append", default=[])
    p.add_argument("--no-usage", action="store_true")
    p.add_argument("--event-delay", type=float, default=0.0)
    args = p.parse_args()
    rec = Recorder(args.out)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(rec, args))
    port = server.server_address[1]
    if args.port_file:
        args.port_file.write_text(f"{port}\n")
    print(f"recording on http://127.0.0.1:{port} into {args.out}", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    server.server_close()


if __name__ == "__main__":
    main()

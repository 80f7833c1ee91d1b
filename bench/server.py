"""A fast loopback benchmark server: canned OpenAI-style and Ollama-style answers.

Run it as its own process::

    python bench/server.py --port 0 --models 100 --show-delay-ms 20

It prints ``READY <port> <silent-port>`` on stdout once it listens. It speaks
keep-alive HTTP/1.1 from a single asyncio event loop and sends every client the same
bytes, built once and cached:

- ``GET /v1/models``, ``POST /v1/chat/completions`` (JSON, or SSE when ``"stream": true``;
  model ``pace-<chunks>-<ms>`` sends one chunk every ``ms`` milliseconds, its text the
  send time in ``time.monotonic_ns()``, for the per-chunk latency of many streams)
- ``GET /``, ``GET /api/version``, ``GET /api/tags``, ``GET /api/ps``, ``POST /api/show``
  (answered after ``--show-delay-ms``), ``POST /api/chat`` (NDJSON unless
  ``"stream": false``, as Ollama does)

The length of a streamed answer comes from the model name: ``bench-20000`` streams
20,000 content chunks (``bench`` alone streams ``--chunks``). Streams use chunked
transfer encoding with one event per HTTP chunk, as llama.cpp and Ollama send them.

A second port (printed as ``<silent-port>``) accepts connections and never answers,
for the discovery benchmark. The server exits when its stdin closes, so a benchmark
run that dies does not leave it behind.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import sys
import threading
import time
from functools import cache
from typing import Any

WORDS = (
    " the", " quick", " brown", " fox", " jumps", " over", " a", " lazy", " dog", ".",
    " Local", " models", " answer", " fast", ",", " and", " every", " token", " counts", "!",
)  # fmt: skip
CREATED = 1735689600
OLLAMA_TIME = "2025-07-07T20:22:19.184789Z"


def _json(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


def _chunk_count(model: str, default: int) -> int:
    """``bench-500`` -> 500; anything else -> the default."""
    _, _, tail = model.rpartition("-")
    return int(tail) if tail.isdigit() else default


def _text(i: int) -> str:
    return WORDS[i % len(WORDS)]


# --------------------------------------------------------------------------- bodies


def _openai_completion(model: str) -> bytes:
    return _json(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": CREATED,
            "model": model,
            "system_fingerprint": "b6000-bench",
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": "Hello! The sky is blue because of Rayleigh scattering.",
                    },
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 12, "completion_tokens": 11, "total_tokens": 23},
        }
    )


def _sse_event(model: str, delta: dict[str, Any], finish: str | None) -> bytes:
    body = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": model,
        "system_fingerprint": "b6000-bench",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }
    return b"data: " + _json(body) + b"\n\n"


def _ollama_message(model: str, text: str) -> bytes:
    return (
        _json(
            {
                "model": model,
                "created_at": OLLAMA_TIME,
                "message": {"role": "assistant", "content": text},
                "done": False,
            }
        )
        + b"\n"
    )


def _ollama_final(model: str, text: str, count: int) -> dict[str, Any]:
    return {
        "model": model,
        "created_at": OLLAMA_TIME,
        "message": {"role": "assistant", "content": text},
        "done_reason": "stop",
        "done": True,
        "total_duration": 182242375,
        "load_duration": 41295167,
        "prompt_eval_count": 12,
        "prompt_eval_duration": 24573166,
        "eval_count": count,
        "eval_duration": 115959084,
    }


def _chunk(event: bytes) -> bytes:
    """One event as one HTTP chunk."""
    return b"%x\r\n%s\r\n" % (len(event), event)


def _chunked(events: list[bytes]) -> bytes:
    """Chunked transfer encoding, one event per HTTP chunk, then the last chunk."""
    parts = [_chunk(e) for e in events]
    parts.append(b"0\r\n\r\n")
    return b"".join(parts)


@cache
def sse_stream(model: str, chunks: int) -> bytes:
    """The body of an SSE chat stream with ``chunks`` content events."""
    events = [_sse_event(model, {"role": "assistant", "content": ""}, None)]
    events += [_sse_event(model, {"content": _text(i)}, None) for i in range(chunks)]
    events.append(_sse_event(model, {}, "stop"))
    events.append(b"data: [DONE]\n\n")
    return _chunked(events)


@cache
def ndjson_stream(model: str, chunks: int) -> bytes:
    """The body of an Ollama NDJSON chat stream with ``chunks`` content lines."""
    events = [_ollama_message(model, _text(i)) for i in range(chunks)]
    events.append(_json(_ollama_final(model, "", chunks)) + b"\n")
    return _chunked(events)


def _tag(i: int) -> dict[str, Any]:
    name = f"bench-model-{i:03d}:latest"
    return {
        "name": name,
        "model": name,
        "modified_at": "2025-05-04T17:37:44.706015396-07:00",
        "size": 2019393189 + i,
        "digest": f"{i:064x}",
        "details": {
            "parent_model": "",
            "format": "gguf",
            "family": "llama",
            "families": ["llama"],
            "parameter_size": "3.2B",
            "quantization_level": "Q4_K_M",
        },
    }


def _show(name: str) -> dict[str, Any]:
    return {
        "license": "LLAMA 3.2 COMMUNITY LICENSE AGREEMENT",
        "modelfile": f'# Modelfile generated by "ollama show"\nFROM {name}\n',
        "parameters": 'stop "<|eot_id|>"',
        "template": "{{ .Prompt }}",
        "details": _tag(0)["details"],
        "model_info": {
            "general.architecture": "llama",
            "general.parameter_count": 3212749888,
            "llama.context_length": 131072,
            "llama.embedding_length": 3072,
        },
        "capabilities": ["completion", "tools"],
        "modified_at": "2025-05-04T17:37:44.706015396-07:00",
    }


# --------------------------------------------------------------------------- HTTP

_REASONS = {200: b"OK", 400: b"Bad Request", 404: b"Not Found"}


def _response(
    status: int, body: bytes, content_type: bytes = b"application/json", close: bool = False
) -> bytes:
    head = b"HTTP/1.1 %d %s\r\ncontent-type: %s\r\ncontent-length: %d\r\n" % (
        status,
        _REASONS.get(status, b"OK"),
        content_type,
        len(body),
    )
    if close:
        head += b"connection: close\r\n"
    return head + b"\r\n" + body


def _stream_head(content_type: bytes, close: bool) -> bytes:
    head = b"HTTP/1.1 200 OK\r\ncontent-type: %s\r\ntransfer-encoding: chunked\r\n" % (content_type)
    if close:
        head += b"connection: close\r\n"
    return head + b"\r\n"


class Settings:
    def __init__(self, chunks: int, models: int, show_delay: float) -> None:
        self.chunks = chunks
        self.models = models
        self.show_delay = show_delay
        self.tags = _json({"models": [_tag(i) for i in range(models)]})


class HTTPProtocol(asyncio.Protocol):
    """A minimal keep-alive HTTP/1.1 server (no pipelining needed by any client here)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while self.transport is not None:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            lines = self.buffer[:end].split(b"\r\n")
            try:
                method, target, _ = lines[0].split(b" ", 2)
            except ValueError:
                self._send(_response(400, b'{"error":"bad request line"}', close=True), True)
                return
            headers: dict[bytes, bytes] = {}
            for line in lines[1:]:
                key, _, value = line.partition(b":")
                headers[key.strip().lower()] = value.strip()
            length = int(headers.get(b"content-length", b"0") or 0)
            if len(self.buffer) < end + 4 + length:
                return
            body = self.buffer[end + 4 : end + 4 + length]
            self.buffer = self.buffer[end + 4 + length :]
            close = headers.get(b"connection", b"").lower() == b"close"
            self.handle(method.decode(), target.decode().split("?", 1)[0], body, close)

    def _send(self, data: bytes, close: bool) -> None:
        if self.transport is None:
            return
        self.transport.write(data)
        if close:
            self.transport.close()
            self.transport = None

    def handle(self, method: str, path: str, body: bytes, close: bool) -> None:
        s = self.settings
        try:
            data = json.loads(body) if body else {}
        except ValueError:
            self._send(_response(400, b'{"error":"body is not JSON"}'), close)
            return
        if not isinstance(data, dict):
            data = {}
        model = str(data.get("model") or "bench")
        if path == "/v1/chat/completions" and method == "POST":
            if data.get("stream") and model.startswith("pace-"):
                self.paced(model, close)
            elif data.get("stream"):
                stream = sse_stream(model, _chunk_count(model, s.chunks))
                self._send(_stream_head(b"text/event-stream", close) + stream, close)
            else:
                self._send(_response(200, _openai_completion(model), close=close), close)
        elif path == "/api/chat" and method == "POST":
            if data.get("stream", True) is False:
                text = "Hello! The sky is blue because of Rayleigh scattering."
                answer = _json(_ollama_final(model, text, 11))
                self._send(_response(200, answer, close=close), close)
            else:
                stream = ndjson_stream(model, _chunk_count(model, s.chunks))
                self._send(_stream_head(b"application/x-ndjson", close) + stream, close)
        elif path == "/v1/models":
            models = {
                "object": "list",
                "data": [{"id": "bench", "object": "model", "created": CREATED, "owned_by": "me"}],
            }
            self._send(_response(200, _json(models), close=close), close)
        elif path == "/api/tags":
            self._send(_response(200, s.tags, close=close), close)
        elif path == "/api/ps":
            self._send(_response(200, b'{"models":[]}', close=close), close)
        elif path == "/api/show" and method == "POST":
            answer = _response(200, _json(_show(model)), close=close)
            if s.show_delay > 0:
                loop = asyncio.get_running_loop()
                loop.call_later(s.show_delay, self._send, answer, close)
            else:
                self._send(answer, close)
        elif path == "/api/version":
            self._send(_response(200, b'{"version":"0.12.6"}', close=close), close)
        elif path == "/":
            self._send(_response(200, b"Ollama is running", b"text/plain", close), close)
        else:
            self._send(_response(404, b'{"error":"not found"}', close=close), close)

    def paced(self, model: str, close: bool) -> None:
        """``pace-<chunks>-<ms>``: one content chunk every ``ms`` milliseconds, each
        carrying its send time (``time.monotonic_ns()``) as its text, as a model server
        busy with many sessions sends them."""
        _, count, interval = model.split("-")
        chunks, every = int(count), int(interval) / 1000.0
        loop = asyncio.get_running_loop()
        first = _sse_event(model, {"role": "assistant", "content": ""}, None)
        self._send(_stream_head(b"text/event-stream", close) + _chunk(first), False)

        def tick(index: int) -> None:
            if self.transport is None:
                return
            if index == chunks:
                tail = [_sse_event(model, {}, "stop"), b"data: [DONE]\n\n"]
                self._send(_chunked(tail), close)
                return
            event = _sse_event(model, {"content": str(time.monotonic_ns())}, None)
            self.transport.write(_chunk(event))
            # chunk i goes out i + 1 intervals after the head: the next one, two from here
            loop.call_at(started + (index + 2) * every, tick, index + 1)

        started = loop.time()
        loop.call_at(started + every, tick, 0)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


async def serve(host: str, port: int, settings: Settings) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: HTTPProtocol(settings), host, port, backlog=2048, reuse_address=True
    )
    # Accepts connections (the kernel completes the handshake) and never answers.
    silent = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    silent.bind((host, 0))
    silent.listen(64)
    bound = server.sockets[0].getsockname()[1]
    print(f"READY {bound} {silent.getsockname()[1]}", flush=True)

    stop = asyncio.Event()

    def watch_stdin() -> None:
        try:
            while sys.stdin.buffer.read(1):
                pass
        except (OSError, ValueError):
            pass
        loop.call_soon_threadsafe(stop.set)

    if not sys.stdin.isatty():
        threading.Thread(target=watch_stdin, daemon=True).start()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()
    silent.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--chunks", type=int, default=20000, help="chunks of a 'bench' stream")
    parser.add_argument("--models", type=int, default=100, help="models in /api/tags")
    parser.add_argument("--show-delay-ms", type=float, default=20.0)
    args = parser.parse_args()
    if args.host not in ("127.0.0.1", "::1", "localhost"):
        parser.error("the benchmark server only listens on loopback")
    settings = Settings(args.chunks, args.models, args.show_delay_ms / 1000.0)
    # Build the default streams before saying READY, so no client pays for it.
    sse_stream("bench", args.chunks)
    ndjson_stream("bench", args.chunks)
    try:
        asyncio.run(serve(args.host, args.port, settings))
    except KeyboardInterrupt:
        pass
    os._exit(0)


if __name__ == "__main__":
    main()

"""One benchmark case per fresh process: ``python bench/cases.py CASE '{"url": ...}'``.

Each case imports only the library it measures, warms up (imports, connection,
lazy loading) outside the timed part, then prints one JSON object on stdout. The
orchestrator (``bench/run.py``) runs the cases in interleaved rounds and takes
medians. Nothing here asserts on time.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import socket
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

PROMPT = "Why is the sky blue?"
MESSAGES = [{"role": "user", "content": PROMPT}]
CASES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {}


def case(name: str) -> Callable[[Callable[[dict[str, Any]], dict[str, Any]]], Any]:
    def register(fn: Callable[[dict[str, Any]], dict[str, Any]]) -> Any:
        CASES[name] = fn
        return fn

    return register


def openai_body(model: str, *, stream: bool) -> dict[str, Any]:
    """What modelport's openai_chat dialect sends for ``chat(model, PROMPT)``."""
    body: dict[str, Any] = {"model": model, "messages": MESSAGES}
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


def ollama_body(model: str, *, stream: bool) -> dict[str, Any]:
    """What modelport's Ollama dialect sends for ``chat(model, PROMPT)``."""
    return {"model": model, "messages": MESSAGES, "stream": stream}


def _dumps(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


# --------------------------------------------------------------------------- helpers


def _modelport_provider(kind: str, url: str) -> Any:
    import modelport

    if kind == "ollama":
        return modelport.OllamaProvider(url)
    if kind == "llamacpp":
        return modelport.LlamaCppProvider(url)
    return modelport.OpenAICompatibleProvider(url)


def _per_request(send: Callable[[], Any], n: int, warmup: int) -> dict[str, Any]:
    for _ in range(warmup):
        send()
    with _no_gc():
        cpu = time.process_time()
        started = time.perf_counter()
        for _ in range(n):
            send()
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu
    return {"value": elapsed / n, "unit": "s/request", "n": n, "cpu": cpu / n}


@contextlib.contextmanager
def _no_gc() -> Iterator[None]:
    """Time without the cyclic garbage collector, as ``timeit`` does: a full collection
    (about 17 ms here) lands in one client's window and not another's by chance (the
    clients allocate at the same rate), and would decide a per-request comparison."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


async def _aper_request(send: Callable[[], Any], n: int, warmup: int) -> dict[str, Any]:
    for _ in range(warmup):
        await send()
    with _no_gc():
        cpu = time.process_time()
        started = time.perf_counter()
        for _ in range(n):
            await send()
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu
    return {"value": elapsed / n, "unit": "s/request", "n": n, "cpu": cpu / n}


def _stream_rate(run: Callable[[str], int], p: dict[str, Any]) -> dict[str, Any]:
    """Warm up on a small stream, then time one stream of ``chunks`` content chunks."""
    chunks = int(p["chunks"])
    run(f"bench-{min(chunks, 50)}")
    cpu = time.process_time()
    started = time.perf_counter()
    got = run(f"bench-{chunks}")
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu
    if got < chunks:
        raise SystemExit(f"expected {chunks} chunks, got {got}")
    return {
        "value": chunks / elapsed,
        "unit": "chunks/s",
        "elapsed": elapsed,
        "items": got,
        "cpu": cpu / chunks,
    }


async def _astream_rate(run: Callable[[str], Any], p: dict[str, Any]) -> dict[str, Any]:
    chunks = int(p["chunks"])
    await run(f"bench-{min(chunks, 50)}")
    cpu = time.process_time()
    started = time.perf_counter()
    got = await run(f"bench-{chunks}")
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu
    if got < chunks:
        raise SystemExit(f"expected {chunks} chunks, got {got}")
    return {
        "value": chunks / elapsed,
        "unit": "chunks/s",
        "elapsed": elapsed,
        "items": got,
        "cpu": cpu / chunks,
    }


# --------------------------------------------------------------------------- 2. per request


@case("request.httpx")
def request_httpx(p: dict[str, Any]) -> dict[str, Any]:
    import httpx

    path = "/api/chat" if p["api"] == "ollama" else "/v1/chat/completions"
    body = (
        ollama_body("bench", stream=False)
        if p["api"] == "ollama"
        else openai_body("bench", stream=False)
    )
    url = p["url"] + path
    headers = {"content-type": "application/json"}
    with httpx.Client() as client:

        def send() -> Any:
            return json.loads(client.post(url, content=_dumps(body), headers=headers).content)

        return _per_request(send, p["n"], p["warmup"])


@case("request.httpx_async")
def request_httpx_async(p: dict[str, Any]) -> dict[str, Any]:
    import httpx

    url = p["url"] + "/v1/chat/completions"
    body = openai_body("bench", stream=False)
    headers = {"content-type": "application/json"}

    async def main() -> dict[str, Any]:
        async with httpx.AsyncClient() as client:

            async def send() -> Any:
                response = await client.post(url, content=_dumps(body), headers=headers)
                return json.loads(response.content)

            return await _aper_request(send, p["n"], p["warmup"])

    return asyncio.run(main())


@case("request.modelport")
def request_modelport(p: dict[str, Any]) -> dict[str, Any]:
    import modelport

    client = modelport.Client(services=[_modelport_provider(p["api"], p["url"])])
    with client:
        return _per_request(lambda: client.chat("bench", PROMPT), p["n"], p["warmup"])


@case("request.modelport_async")
def request_modelport_async(p: dict[str, Any]) -> dict[str, Any]:
    import modelport

    async def main() -> dict[str, Any]:
        async with modelport.AsyncClient(
            services=[_modelport_provider(p["api"], p["url"])]
        ) as client:
            return await _aper_request(lambda: client.chat("bench", PROMPT), p["n"], p["warmup"])

    return asyncio.run(main())


@case("request.openai")
def request_openai(p: dict[str, Any]) -> dict[str, Any]:
    import openai

    client = openai.OpenAI(base_url=p["url"] + "/v1", api_key="bench", max_retries=0)
    with client:
        return _per_request(
            lambda: client.chat.completions.create(model="bench", messages=MESSAGES),  # type: ignore[arg-type]
            p["n"],
            p["warmup"],
        )


@case("request.ollama")
def request_ollama(p: dict[str, Any]) -> dict[str, Any]:
    import ollama

    client = ollama.Client(host=p["url"])
    return _per_request(lambda: client.chat("bench", MESSAGES, stream=False), p["n"], p["warmup"])


# --------------------------------------------------------------------------- 3. streaming


def _raw_socket_stream(url: str, path: str, body: bytes, sse: bool) -> int:
    """The floor: one socket, de-chunk, split lines, ``json.loads`` each event."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    loads = json.loads
    with socket.create_connection((host, port)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(
            b"POST %s HTTP/1.1\r\nhost: %s:%d\r\ncontent-type: application/json\r\n"
            b"content-length: %d\r\n\r\n%s" % (path.encode(), host.encode(), port, len(body), body)
        )
        buffer = b""
        while b"\r\n\r\n" not in buffer:
            data = sock.recv(65536)
            if not data:
                raise SystemExit("connection closed before the headers")
            buffer += data
        head, _, buffer = buffer.partition(b"\r\n\r\n")
        if b"chunked" not in head.lower():
            raise SystemExit("expected a chunked stream")
        pending = b""
        count = 0
        done = False
        while True:
            pos = 0
            payload: list[bytes] = []
            while True:  # de-chunk everything complete in the buffer
                nl = buffer.find(b"\r\n", pos)
                if nl < 0:
                    break
                size = int(buffer[pos:nl], 16)
                if size == 0:
                    done = True
                    break
                end = nl + 2 + size
                if end + 2 > len(buffer):
                    break
                payload.append(buffer[nl + 2 : end])
                pos = end + 2
            buffer = buffer[pos:]
            lines = (pending + b"".join(payload)).split(b"\n")
            pending = lines.pop()
            for line in lines:
                if sse:
                    if line.startswith(b"data: ") and line != b"data: [DONE]":
                        loads(line[6:])
                        count += 1
                elif line:
                    loads(line)
                    count += 1
            if done:
                return count
            data = sock.recv(262144)
            if not data:
                raise SystemExit("connection closed mid-stream")
            buffer += data


@case("stream.floor")
def stream_floor(p: dict[str, Any]) -> dict[str, Any]:
    sse = p["api"] != "ollama"

    def run(model: str) -> int:
        if sse:
            body = _dumps(openai_body(model, stream=True))
            return _raw_socket_stream(p["url"], "/v1/chat/completions", body, True)
        body = _dumps(ollama_body(model, stream=True))
        return _raw_socket_stream(p["url"], "/api/chat", body, False)

    return _stream_rate(run, p)


@case("stream.httpx")
def stream_httpx(p: dict[str, Any]) -> dict[str, Any]:
    import httpx

    sse = p["api"] != "ollama"
    headers = {"content-type": "application/json"}
    with httpx.Client() as client:

        def run(model: str) -> int:
            count = 0
            loads = json.loads
            if sse:
                body = _dumps(openai_body(model, stream=True))
                url = p["url"] + "/v1/chat/completions"
                with client.stream("POST", url, content=body, headers=headers) as response:
                    for line in response.iter_lines():
                        if line.startswith("data: "):
                            data = line[6:]
                            if data == "[DONE]":
                                continue  # read on to the end, so the connection is reused
                            loads(data)
                            count += 1
                return count
            body = _dumps(ollama_body(model, stream=True))
            with client.stream("POST", p["url"] + "/api/chat", content=body, headers=headers) as r:
                for line in r.iter_lines():
                    if line:
                        loads(line)
                        count += 1
            return count

        return _stream_rate(run, p)


@case("stream.httpx_async")
def stream_httpx_async(p: dict[str, Any]) -> dict[str, Any]:
    import httpx

    async def main() -> dict[str, Any]:
        headers = {"content-type": "application/json"}
        async with httpx.AsyncClient() as client:

            async def run(model: str) -> int:
                return await _httpx_async_sse(client, p["url"], model, headers)

            return await _astream_rate(run, p)

    return asyncio.run(main())


async def _httpx_async_sse(client: Any, url: str, model: str, headers: dict[str, str]) -> int:
    count = 0
    loads = json.loads
    body = _dumps(openai_body(model, stream=True))
    async with client.stream(
        "POST", url + "/v1/chat/completions", content=body, headers=headers
    ) as response:
        async for line in response.aiter_lines():
            if line.startswith("data: "):
                data = line[6:]
                if data == "[DONE]":
                    continue  # read on to the end, so the connection is reused
                loads(data)
                count += 1
    return count


@case("stream.modelport")
def stream_modelport(p: dict[str, Any]) -> dict[str, Any]:
    import modelport

    client = modelport.Client(services=[_modelport_provider(p["api"], p["url"])])

    def run(model: str) -> int:
        count = 0
        with client.chat_stream(model, PROMPT) as stream:
            for chunk in stream:
                if chunk.text:
                    count += 1
        return count

    with client:
        return _stream_rate(run, p)


@case("stream.modelport_async")
def stream_modelport_async(p: dict[str, Any]) -> dict[str, Any]:
    import modelport

    async def main() -> dict[str, Any]:
        async with modelport.AsyncClient(
            services=[_modelport_provider(p["api"], p["url"])]
        ) as client:

            async def run(model: str) -> int:
                count = 0
                async with client.chat_stream(model, PROMPT) as stream:
                    async for chunk in stream:
                        if chunk.text:
                            count += 1
                return count

            return await _astream_rate(run, p)

    return asyncio.run(main())


@case("stream.openai")
def stream_openai(p: dict[str, Any]) -> dict[str, Any]:
    import openai

    client = openai.OpenAI(base_url=p["url"] + "/v1", api_key="bench", max_retries=0)

    def run(model: str) -> int:
        count = 0
        stream = client.chat.completions.create(
            model=model,
            messages=MESSAGES,  # type: ignore[arg-type]
            stream=True,
            stream_options={"include_usage": True},
        )
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                count += 1
        return count

    with client:
        return _stream_rate(run, p)


@case("stream.ollama")
def stream_ollama(p: dict[str, Any]) -> dict[str, Any]:
    import ollama

    client = ollama.Client(host=p["url"])

    def run(model: str) -> int:
        count = 0
        for part in client.chat(model, MESSAGES, stream=True):
            if part.message.content:
                count += 1
        return count

    return _stream_rate(run, p)


# --------------------------------------------------------------------------- 4. concurrency


def _rss_kb() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def _reset_peak() -> bool:
    """Reset the kernel's peak-RSS mark (Linux 4.0+), so VmHWM measures from here."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _peak_kb() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


async def _concurrent(open_one: Callable[[str], Any], p: dict[str, Any]) -> dict[str, Any]:
    streams, chunks = int(p["streams"]), int(p["chunks"])
    model = f"bench-{chunks}"
    await open_one(model)  # warm-up: imports, one connection
    import gc

    gc.collect()
    before = _rss_kb()
    reset = _reset_peak()
    started = time.perf_counter()
    counts = await asyncio.gather(*(open_one(model) for _ in range(streams)))
    elapsed = time.perf_counter() - started
    peak = _peak_kb()
    growth = max(0, peak - before)  # without the reset: an upper bound (peak since start)
    if min(counts) < chunks:
        raise SystemExit(f"a stream delivered {min(counts)} of {chunks} chunks")
    return {
        "value": streams * chunks / elapsed,
        "unit": "chunks/s",
        "elapsed": elapsed,
        "rss_growth_mb": growth / 1024.0,
        "rss_before_mb": before / 1024.0,
        "peak_reset": reset,
        "streams": streams,
    }


@case("concurrency.httpx")
def concurrency_httpx(p: dict[str, Any]) -> dict[str, Any]:
    import httpx

    async def main() -> dict[str, Any]:
        headers = {"content-type": "application/json"}
        # The same pool limits modelport's AsyncClient uses, so neither waits for a slot.
        limits = httpx.Limits(max_connections=512, max_keepalive_connections=64)
        async with httpx.AsyncClient(limits=limits, timeout=60.0) as client:
            return await _concurrent(
                lambda model: _httpx_async_sse(client, p["url"], model, headers), p
            )

    return asyncio.run(main())


@case("concurrency.modelport")
def concurrency_modelport(p: dict[str, Any]) -> dict[str, Any]:
    import modelport

    async def main() -> dict[str, Any]:
        async with modelport.AsyncClient(
            services=[modelport.OpenAICompatibleProvider(p["url"])]
        ) as client:

            async def one(model: str) -> int:
                count = 0
                async with client.chat_stream(model, PROMPT) as stream:
                    async for chunk in stream:
                        if chunk.text:
                            count += 1
                return count

            return await _concurrent(one, p)

    return asyncio.run(main())


# --------------------------------------------------------------------------- 5. discovery


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@case("discovery")
def discovery(p: dict[str, Any]) -> dict[str, Any]:
    for name in ("OLLAMA_HOST", "MODELPORT_SERVICES"):
        os.environ.pop(name, None)
    from modelport import discover
    from modelport.discovery import DEFAULT_CANDIDATES

    timeout = float(p["timeout"])
    busy = [url for _, url, _ in DEFAULT_CANDIDATES if _listening(int(url.rsplit(":", 1)[1]))]
    times: list[float] = []
    for _ in range(int(p["repeat"])):
        started = time.perf_counter()
        found = discover(timeout=timeout)
        times.append(time.perf_counter() - started)
    available = [s.base_url for s in found if s.status.value != "unavailable"]
    silent_url = f"http://127.0.0.1:{p['silent_port']}"
    silent_times: list[float] = []
    silent_status = ""
    for _ in range(int(p["silent_repeat"])):
        started = time.perf_counter()
        found = discover(hosts=[silent_url], timeout=timeout)
        silent_times.append(time.perf_counter() - started)
        silent_status = next(
            (f"{s.status.value}: {s.error}" for s in found if s.base_url == silent_url), "missing"
        )
    first = times[0]
    times.sort()
    silent_times.sort()
    return {
        "timeout": timeout,
        "empty": times[len(times) // 2],
        "empty_first": first,
        "silent": silent_times[len(silent_times) // 2],
        "silent_max": silent_times[-1],
        "busy_default_ports": busy,
        "found": available,
        "silent_status": silent_status,
    }


# --------------------------------------------------------------------------- 6. listing


@case("models")
def models(p: dict[str, Any]) -> dict[str, Any]:
    import httpx

    import modelport

    url = p["url"]
    lookups: list[float] = []
    with httpx.Client() as raw:
        raw.post(url + "/api/show", content=_dumps({"model": "bench-model-000:latest"}))
        for i in range(int(p["lookups"])):
            started = time.perf_counter()
            raw.post(url + "/api/show", content=_dumps({"model": f"bench-model-{i:03d}:latest"}))
            lookups.append(time.perf_counter() - started)
    lookups.sort()
    one_lookup = lookups[-1]  # the slowest single round trip, as the target says

    def fresh() -> Any:
        return modelport.Client(services=[modelport.OllamaProvider(url)])

    with fresh() as client:  # warm-up: imports and lazy loading
        count = len(client.models())
    cold: list[float] = []
    for _ in range(int(p["repeat"])):
        with fresh() as client:
            started = time.perf_counter()
            listed = client.models()
            cold.append(time.perf_counter() - started)
            with_caps = sum(1 for m in listed if m.capabilities.tools is not None)
            warm_started = time.perf_counter()
            for _ in range(int(p["warm_calls"])):
                client.models()
            warm = (time.perf_counter() - warm_started) / int(p["warm_calls"])
    cold.sort()

    async def acold() -> float:
        async with modelport.AsyncClient(services=[modelport.OllamaProvider(url)]) as aclient:
            started = time.perf_counter()
            await aclient.models()
            return time.perf_counter() - started

    asyncio.run(acold())  # warm-up
    async_cold = sorted(asyncio.run(acold()) for _ in range(int(p["repeat"])))
    return {
        "models": count,
        "with_capabilities": with_caps,
        "lookup": one_lookup,
        "lookup_median": lookups[len(lookups) // 2],
        "cold": cold[len(cold) // 2],
        "cold_async": async_cold[len(async_cold) // 2],
        "warm_per_model": warm / max(1, count),
    }


# --------------------------------------------------------------------------- 7. real server


def _real_body(p: dict[str, Any], prompt: str) -> dict[str, Any]:
    """What modelport's llama.cpp provider sends for the same chat_stream call."""
    return {
        "model": "smollm2",
        "messages": [{"role": "user", "content": prompt}],
        "stream": True,
        "stream_options": {"include_usage": True},
        "temperature": 0.0,
        "max_tokens": int(p["max_tokens"]),
        "seed": 42,
        "ignore_eos": True,
    }


def _rates(marks: list[float], started: float, cpu: float) -> dict[str, float]:
    ttft = marks[0] - started
    tps = (len(marks) - 1) / (marks[-1] - marks[0]) if len(marks) > 1 else 0.0
    return {"ttft": ttft, "tps": tps, "tokens": len(marks), "cpu_per_token": cpu / len(marks)}


@case("real")
def real(p: dict[str, Any]) -> dict[str, Any]:
    """Raw httpx and modelport against llama-server, request by request in turn.

    Both clients live in this one process so that each pair of requests runs
    back to back: the server's speed drifts far more than any client costs.
    """
    import httpx

    import modelport

    url = p["url"]
    headers = {"content-type": "application/json"}
    raw = httpx.Client(timeout=120.0)
    client = modelport.Client(services=[modelport.LlamaCppProvider(url)], timeout=120.0)

    def run_httpx(prompt: str) -> dict[str, float]:
        marks: list[float] = []
        cpu = time.process_time()
        started = time.perf_counter()
        body = _dumps(_real_body(p, prompt))
        with raw.stream(
            "POST", url + "/v1/chat/completions", content=body, headers=headers
        ) as response:
            for line in response.iter_lines():
                if line.startswith("data: "):
                    data = line[6:]
                    if data == "[DONE]":
                        continue  # read on to the end, so the connection is reused
                    event = json.loads(data)
                    choices = event.get("choices")
                    if choices and choices[0].get("delta", {}).get("content"):
                        marks.append(time.perf_counter())
        return _rates(marks, started, time.process_time() - cpu)

    def run_modelport(prompt: str) -> dict[str, float]:
        marks: list[float] = []
        cpu = time.process_time()
        started = time.perf_counter()
        with client.chat_stream(
            "smollm2",
            prompt,
            temperature=0.0,
            max_tokens=int(p["max_tokens"]),
            seed=42,
            options={"ignore_eos": True},
        ) as stream:
            for chunk in stream:
                if chunk.text:
                    marks.append(time.perf_counter())
        return _rates(marks, started, time.process_time() - cpu)

    runners = [("httpx", run_httpx), ("modelport", run_modelport)]
    for _, run in runners:  # warm-up: connections, lazy imports, the server's caches
        run("Say hi.")
    runs: dict[str, list[dict[str, float]]] = {"httpx": [], "modelport": []}
    for r in range(int(p["rounds"])):
        for prompt in p["prompts"]:
            for name, run in runners if r % 2 == 0 else runners[::-1]:
                # llama-server may close a kept-alive connection just after a stream, and
                # a request sent at that moment fails ("Server disconnected without
                # sending a response": raw httpx raises, modelport retries after a
                # back-off). A pause lets the client see the close first, so both
                # clients measure a clean request.
                time.sleep(0.2)
                runs[name].append(run(prompt))
    raw.close()
    client.close()
    return runs


# --------------------------------------------------------------------------- 8. gateway


@case("gateway.latency")
def gateway_latency(p: dict[str, Any]) -> dict[str, Any]:
    """Sequential non-streaming chats with httpx to ``url``: each request's latency."""
    import httpx

    url = p["url"] + "/v1/chat/completions"
    body = _dumps(openai_body("bench", stream=False))
    headers = {"content-type": "application/json", "authorization": "Bearer bench"}
    with httpx.Client(timeout=60.0) as client:
        for _ in range(int(p["warmup"])):
            client.post(url, content=body, headers=headers).raise_for_status()
        samples = []
        for _ in range(int(p["n"])):
            started = time.perf_counter()
            response = client.post(url, content=body, headers=headers)
            json.loads(response.content)
            samples.append(time.perf_counter() - started)
            response.raise_for_status()
    samples.sort()
    p50 = samples[len(samples) // 2]
    p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
    return {"value": p50, "unit": "s", "p99": p99, "n": len(samples)}


@case("gateway.concurrency")
def gateway_concurrency(p: dict[str, Any]) -> dict[str, Any]:
    """``streams`` concurrent SSE streams with httpx to ``url``; all must complete."""
    import httpx

    async def main() -> dict[str, Any]:
        headers = {"content-type": "application/json", "authorization": "Bearer bench"}
        limits = httpx.Limits(max_connections=512, max_keepalive_connections=64)
        async with httpx.AsyncClient(limits=limits, timeout=120.0) as client:
            one = lambda model: _httpx_async_sse(client, p["url"], model, headers)  # noqa: E731
            await one(f"bench-{p['chunks']}")  # warm-up
            started = time.perf_counter()
            counts = await asyncio.gather(
                *(one(f"bench-{p['chunks']}") for _ in range(int(p["streams"])))
            )
            elapsed = time.perf_counter() - started
        complete = sum(1 for c in counts if c >= int(p["chunks"]))
        return {
            "value": sum(counts) / elapsed,
            "unit": "chunks/s",
            "complete": complete,
            "streams": len(counts),
        }

    return asyncio.run(main())


@case("gateway.real")
def gateway_real(p: dict[str, Any]) -> dict[str, Any]:
    """The same stream from llama-server directly and through the gateway, in turn."""
    import httpx

    raw = httpx.Client(timeout=120.0)
    headers = {"content-type": "application/json"}

    def run(base: str, prompt: str) -> dict[str, float]:
        marks: list[float] = []
        cpu = time.process_time()
        started = time.perf_counter()
        body = _dumps(_real_body(p, prompt))
        with raw.stream("POST", base + "/v1/chat/completions", content=body, headers=headers) as r:
            for line in r.iter_lines():
                if line.startswith("data: ") and line[6:] != "[DONE]":
                    choices = json.loads(line[6:]).get("choices")
                    if choices and choices[0].get("delta", {}).get("content"):
                        marks.append(time.perf_counter())
        return _rates(marks, started, time.process_time() - cpu)

    paths = [("direct", p["url"]), ("gateway", p["gateway"])]
    for _, base in paths:
        run(base, "Say hi.")
    runs: dict[str, list[dict[str, float]]] = {"direct": [], "gateway": []}
    for r in range(int(p["rounds"])):
        for prompt in p["prompts"]:
            for name, base in paths if r % 2 == 0 else paths[::-1]:
                time.sleep(0.2)  # see real(): let a kept-alive close be seen first
                runs[name].append(run(base, prompt))
    raw.close()
    return runs


# --------------------------------------------------------------------------- entry point


def main() -> None:
    name = sys.argv[1]
    params = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
    if name not in CASES:
        raise SystemExit(f"unknown case {name!r}; one of {', '.join(sorted(CASES))}")
    result = CASES[name](params)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()

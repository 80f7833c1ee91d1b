"""Run every benchmark side by side and report medians and ratios.

Usage (``scripts/bench`` sets up the environment and calls this)::

    python bench/run.py [--smoke] [--rounds N] [--litellm] [--llama-url URL] [--json PATH]

Every case runs in its own fresh process (``bench/cases.py``) against the loopback
benchmark server (``bench/server.py``), in interleaved rounds whose order rotates,
so drift on a shared machine hits every client alike. Absolute times drift; the
ratios between clients measured in the same run are what the targets check. Nothing
here fails on a missed target: the table says so (``--strict`` exits 1 instead).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import gateway_load  # noqa: E402  (bench/ is not a package)

ROOT = HERE.parent
PY = sys.executable
CASES = str(HERE / "cases.py")

REAL_PROMPTS = (
    "Why is the sky blue?",
    "Write a short poem about the sea.",
    "List three uses of a paperclip.",
)


@dataclass
class Sizes:
    rounds: int
    request_rounds: int
    import_runs: int
    requests: int
    warmup: int
    chunks: int
    streams: int
    stream_chunks: int
    discovery_repeat: int
    discovery_timeout: float
    models_repeat: int
    show_delay_ms: float
    real_rounds: int
    real_tokens: int
    gateway_requests: int = 300
    gateway_chunks: int = 2000
    gateway_streams: int = 64
    gateway_stream_chunks: int = 200
    load_seconds: float = 8.0
    load_rounds: int = 3
    paced_streams: int = 500
    paced_chunks: int = 200
    paced_rounds: int = 2
    judge_load: bool = True


FULL = Sizes(
    rounds=5,
    request_rounds=9,
    import_runs=10,
    requests=500,
    warmup=50,
    chunks=20000,
    streams=256,
    stream_chunks=400,
    discovery_repeat=9,
    discovery_timeout=0.5,
    models_repeat=5,
    show_delay_ms=20.0,
    real_rounds=5,
    real_tokens=64,
)
SMOKE = Sizes(
    rounds=1,
    request_rounds=1,
    import_runs=1,
    requests=20,
    warmup=3,
    chunks=200,
    streams=8,
    stream_chunks=20,
    discovery_repeat=1,
    discovery_timeout=0.2,
    models_repeat=1,
    show_delay_ms=5.0,
    real_rounds=1,
    real_tokens=8,
    gateway_requests=20,
    gateway_chunks=100,
    gateway_streams=8,
    gateway_stream_chunks=20,
    load_seconds=1.0,
    load_rounds=1,
    paced_streams=10,
    paced_chunks=5,
    paced_rounds=1,
    judge_load=False,
)


@dataclass
class Row:
    group: str
    name: str
    unit: str
    samples: list[float] = field(default_factory=list)
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def median(self) -> float | None:
        return statistics.median(self.samples) if self.samples and not self.error else None


@dataclass
class Target:
    what: str
    value: float | None
    goal: str
    met: bool | None
    note: str = ""


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.sizes = SMOKE if args.smoke else FULL
        if args.paced_streams:
            self.sizes.paced_streams = args.paced_streams
        if args.rounds:
            self.sizes.rounds = args.rounds
            self.sizes.request_rounds = args.rounds
            self.sizes.real_rounds = args.rounds
        self.rows: dict[str, Row] = {}
        self.targets: list[Target] = []
        self.url = ""
        self.silent_port = 0
        self.server: subprocess.Popen[str] | None = None

    # ------------------------------------------------------------------ plumbing

    def log(self, message: str) -> None:
        print(f"\033[2m[bench]\033[0m {message}", file=sys.stderr, flush=True)

    def row(self, group: str, name: str, unit: str) -> Row:
        key = f"{group}/{name}"
        if key not in self.rows:
            self.rows[key] = Row(group, name, unit)
        return self.rows[key]

    def run_case(self, case: str, params: dict[str, Any]) -> dict[str, Any]:
        proc = subprocess.run(
            [PY, CASES, case, json.dumps(params)],
            capture_output=True,
            text=True,
            timeout=600,
            cwd=ROOT,
        )
        if proc.returncode != 0:
            lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
            raise CaseError(lines[-1] if lines else f"exit code {proc.returncode}")
        result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
        return result

    def start_server(self) -> None:
        s = self.sizes
        self.server = subprocess.Popen(
            [
                PY,
                str(HERE / "server.py"),
                "--chunks",
                str(s.chunks),
                "--models",
                "100",
                "--show-delay-ms",
                str(s.show_delay_ms),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.server.stdout is not None
        line = self.server.stdout.readline().split()
        if not line or line[0] != "READY":
            raise SystemExit("the benchmark server did not start")
        self.url = f"http://127.0.0.1:{line[1]}"
        self.silent_port = int(line[2])
        # Build every canned stream once, so no client pays for it.
        for path, model in (
            ("/v1/chat/completions", f"bench-{s.chunks}"),
            ("/api/chat", f"bench-{s.chunks}"),
            ("/v1/chat/completions", f"bench-{s.stream_chunks}"),
        ):
            body = json.dumps({"model": model, "stream": True}).encode()
            request = urllib.request.Request(self.url + path, data=body, method="POST")
            with urllib.request.urlopen(request, timeout=60) as response:
                response.read()
        self.log(f"benchmark server at {self.url} (silent port {self.silent_port})")

    def stop_server(self) -> None:
        if self.server is not None:
            assert self.server.stdin is not None
            self.server.stdin.close()
            try:
                self.server.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.server.terminate()
                self.server.wait(timeout=5)
            self.server = None

    def rounds(self, group: str, cases: list[tuple[str, str, dict[str, Any]]], rounds: int) -> None:
        """Run each (name, case, params) once per round, rotating the order."""
        for r in range(rounds):
            shift = r % len(cases)
            for name, case, params in cases[shift:] + cases[:shift]:
                row = self.row(group, name, "")
                if row.error:
                    continue
                try:
                    result = self.run_case(case, params)
                except (CaseError, subprocess.TimeoutExpired) as exc:
                    row.error = str(exc)
                    self.log(f"{group}: {name}: n/a ({row.error})")
                    continue
                row.unit = result.pop("unit")
                row.samples.append(result.pop("value"))
                for key, value in result.items():
                    if isinstance(value, (int, float)):
                        row.extra.setdefault(key, []).append(value)
            self.log(f"{group}: round {r + 1}/{rounds} done")

    def median_of(self, group: str, name: str) -> float | None:
        row = self.rows.get(f"{group}/{name}")
        return row.median if row else None

    def ratio(self, group: str, num: str, den: str) -> float | None:
        a, b = self.median_of(group, num), self.median_of(group, den)
        if a is None or b is None or b == 0:
            return None
        return a / b

    def target(self, what: str, value: float | None, goal: str, note: str = "") -> None:
        """Record a target such as ``"<= 1.10"``; ``"(report)"`` is shown, never judged."""
        met: bool | None = None
        if value is not None and goal != "(report)":
            op, limit = goal.split()
            met = COMPARE[op](value, float(limit))
        self.targets.append(Target(what, value, goal, met, note))

    # ------------------------------------------------------------------ 1. imports

    def imports(self) -> None:
        s = self.sizes
        bin_dir = Path(PY).parent
        env = dict(os.environ, LITELLM_LOCAL_MODEL_COST_MAP="True")
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        entries: list[tuple[str, list[str]]] = [
            ("python -c pass", [PY, "-c", "pass"]),
            ("import httpx", [PY, "-c", "import httpx"]),
            ("import modelport", [PY, "-c", "import modelport"]),
            ("from modelport import Client", [PY, "-c", "from modelport import Client"]),
            ("import ollama", [PY, "-c", "import ollama"]),
            ("import openai", [PY, "-c", "import openai"]),
        ]
        if self.args.litellm:
            entries.append(("import litellm", [PY, "-c", "import litellm"]))
        entries += [
            ("modelport --version", [str(bin_dir / "modelport"), "--version"]),
            ("python -m modelport --version", [PY, "-m", "modelport", "--version"]),
        ]
        group = "imports"
        for name, cmd in entries:  # warm-up: compile .pyc files, fill the page cache
            row = self.row(group, name, "s")
            for _ in range(1 if self.args.smoke else 2):
                proc = subprocess.run(cmd, capture_output=True, env=env, text=True)
                if proc.returncode != 0:
                    tail = (proc.stderr.strip().splitlines() or ["failed"])[-1]
                    row.error = tail
                    self.log(f"{name}: n/a ({tail})")
                    break
        for r in range(s.import_runs):
            shift = r % len(entries)
            for name, cmd in entries[shift:] + entries[:shift]:
                row = self.row(group, name, "s")
                if row.error:
                    continue
                started = time.perf_counter()
                subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
                row.samples.append(time.perf_counter() - started)
        self.log(f"imports: {s.import_runs} runs each done")
        self.rows["imports/import modelport"].extra["importtime"] = self.importtime(
            "import modelport", env
        )
        self.rows["imports/from modelport import Client"].extra["importtime"] = self.importtime(
            "from modelport import Client", env
        )

        ratio = self.ratio(group, "import modelport", "import httpx")
        self.target("`import modelport` / `import httpx`", ratio, "<= 1.15")
        ratio = self.ratio(group, "from modelport import Client", "import httpx")
        self.target(
            "`from modelport import Client` / `import httpx`",
            ratio,
            "<= 1.15",
            "loads httpx and the client; `import modelport` alone does not",
        )
        ratio = self.ratio(group, "modelport --version", "import ollama")
        self.target("`modelport --version` / `import ollama`", ratio, "<= 0.5")

    def importtime(self, statement: str, env: dict[str, str]) -> list[list[Any]]:
        """The slowest modules (cumulative microseconds) from ``-X importtime``."""
        proc = subprocess.run(
            [PY, "-X", "importtime", "-c", statement], capture_output=True, text=True, env=env
        )
        rows: list[list[Any]] = []
        for line in proc.stderr.splitlines():
            if not line.startswith("import time:") or "cumulative" in line:
                continue
            head, cumulative, name = line.split("|", 2)
            rows.append([name.rstrip(), int(cumulative), int(head.split(":")[1])])
        rows.sort(key=lambda r: -r[1])
        return rows[:12]

    # ------------------------------------------------------------------ 2. per request

    def requests(self) -> None:
        s = self.sizes
        base = {"url": self.url, "n": s.requests, "warmup": s.warmup}
        oa = dict(base, api="openai")
        ol = dict(base, api="ollama")
        self.rounds(
            "request",
            [
                ("httpx", "request.httpx", oa),
                ("modelport", "request.modelport", oa),
                ("httpx async", "request.httpx_async", oa),
                ("modelport async", "request.modelport_async", oa),
                ("openai SDK", "request.openai", oa),
                ("httpx (ollama API)", "request.httpx", ol),
                ("modelport (ollama API)", "request.modelport", ol),
                ("ollama SDK", "request.ollama", ol),
            ],
            max(s.rounds, s.request_rounds),
        )
        g = "request"
        self.target(
            "per request: modelport / httpx (sync)",
            self.ratio(g, "modelport", "httpx"),
            "<= 1.10",
        )
        self.target(
            "per request: modelport async / httpx async",
            self.ratio(g, "modelport async", "httpx async"),
            "<= 1.10",
        )
        self.target(
            "per request: modelport / openai SDK",
            self.ratio(g, "modelport", "openai SDK"),
            "< 1",
        )
        self.target(
            "per request (ollama API): modelport / httpx",
            self.ratio(g, "modelport (ollama API)", "httpx (ollama API)"),
            "<= 1.10",
        )
        self.target(
            "per request (ollama API): modelport / ollama SDK",
            self.ratio(g, "modelport (ollama API)", "ollama SDK"),
            "< 1",
        )

    # ------------------------------------------------------------------ 3. streaming

    def streams(self) -> None:
        s = self.sizes
        sse = {"url": self.url, "api": "openai", "chunks": s.chunks}
        nd = {"url": self.url, "api": "ollama", "chunks": s.chunks}
        self.rounds(
            "stream SSE",
            [
                ("raw socket floor", "stream.floor", sse),
                ("httpx iter_lines", "stream.httpx", sse),
                ("modelport", "stream.modelport", sse),
                ("httpx async aiter_lines", "stream.httpx_async", sse),
                ("modelport async", "stream.modelport_async", sse),
                ("openai SDK", "stream.openai", sse),
            ],
            s.rounds,
        )
        self.rounds(
            "stream NDJSON",
            [
                ("raw socket floor", "stream.floor", nd),
                ("httpx iter_lines", "stream.httpx", nd),
                ("modelport", "stream.modelport", nd),
                ("modelport async", "stream.modelport_async", nd),
                ("ollama SDK", "stream.ollama", nd),
            ],
            s.rounds,
        )
        for g in ("stream SSE", "stream NDJSON"):
            kind = g.split()[1]
            self.target(
                f"{kind} chunks/s: modelport / httpx iter_lines",
                self.ratio(g, "modelport", "httpx iter_lines"),
                ">= 0.85",
            )
            self.target(
                f"{kind} chunks/s: modelport / raw socket floor",
                self.ratio(g, "modelport", "raw socket floor"),
                "(report)",
            )
        self.target(
            "SSE chunks/s: modelport async / httpx aiter_lines",
            self.ratio("stream SSE", "modelport async", "httpx async aiter_lines"),
            ">= 0.85",
        )
        floor_vs_sdk = self.ratio("stream SSE", "raw socket floor", "openai SDK")
        self.target(
            "SSE chunks/s: modelport / openai SDK",
            self.ratio("stream SSE", "modelport", "openai SDK"),
            ">= 10",
            "" if floor_vs_sdk is None else f"the raw-socket floor itself is {floor_vs_sdk:.1f}x",
        )
        self.target(
            "NDJSON chunks/s: modelport / ollama SDK",
            self.ratio("stream NDJSON", "modelport", "ollama SDK"),
            ">= 1.8",
        )

    # ------------------------------------------------------------------ 4. concurrency

    def concurrency(self) -> None:
        s = self.sizes
        params = {"url": self.url, "streams": s.streams, "chunks": s.stream_chunks}
        self.rounds(
            "concurrency",
            [
                ("httpx.AsyncClient", "concurrency.httpx", params),
                ("modelport AsyncClient", "concurrency.modelport", params),
            ],
            s.rounds,
        )
        g = "concurrency"
        self.target(
            f"{s.streams} streams: modelport / httpx.AsyncClient throughput",
            self.ratio(g, "modelport AsyncClient", "httpx.AsyncClient"),
            ">= 0.8",
        )
        row = self.rows.get(f"{g}/modelport AsyncClient")
        growth = None
        if row and not row.error and row.extra.get("rss_growth_mb"):
            growth = statistics.median(row.extra["rss_growth_mb"])
        self.target(f"{s.streams} streams: modelport RSS growth (MB)", growth, "< 64")

    # ------------------------------------------------------------------ 5. discovery

    def discovery(self) -> None:
        s = self.sizes
        row = self.row("discovery", "discover()", "s")
        params = {
            "timeout": s.discovery_timeout,
            "repeat": s.discovery_repeat,
            "silent_repeat": max(1, s.discovery_repeat // 3),
            "silent_port": self.silent_port,
        }
        try:
            result = self.run_case("discovery", params)
        except CaseError as exc:
            row.error = str(exc)
            self.log(f"discovery: n/a ({exc})")
            return
        row.samples.append(result["empty"])
        row.extra.update(result)
        timeout = result["timeout"]
        busy = result["busy_default_ports"]
        note = f"something listens on {', '.join(busy)}" if busy else ""
        self.target(
            f"discover() with nothing listening / timeout ({timeout:g} s)",
            result["empty"] / timeout,
            "< 0.05",
            note,
        )
        self.target(
            f"discover() with a silent port / timeout ({timeout:g} s)",
            result["silent_max"] / timeout,
            "<= 1.10",
            f"worst of {params['silent_repeat']}",
        )
        self.log("discovery done")

    # ------------------------------------------------------------------ 6. listing

    def models(self) -> None:
        s = self.sizes
        row = self.row("models", "models() cold", "s")
        params = {"url": self.url, "repeat": s.models_repeat, "lookups": 20, "warm_calls": 20}
        try:
            result = self.run_case("models", params)
        except CaseError as exc:
            row.error = str(exc)
            self.log(f"models: n/a ({exc})")
            return
        row.samples.append(result["cold"])
        row.extra.update(result)
        self.target(
            f"{result['models']} models, cold models() / slowest /api/show round trip",
            result["cold"] / result["lookup"],
            "<= 3",
            f"/api/show answers after {s.show_delay_ms:g} ms",
        )
        self.target(
            f"{result['models']} models, cold AsyncClient.models() / slowest round trip",
            result["cold_async"] / result["lookup"],
            "<= 3",
        )
        self.target(
            "warm models(): ms per model",
            result["warm_per_model"] * 1000,
            "< 1",
        )
        self.log("models done")

    # ------------------------------------------------------------------ 7. real server

    def run_real(
        self, case: str, names: tuple[str, str], prefix: str, **extra: Any
    ) -> tuple[dict[str, Any], dict[str, Row], dict[str, Row]] | None:
        """A real-server case (two paths taking turns), its rows filled; None if it failed."""
        s = self.sizes
        params = {
            "url": self.args.llama_url,
            "max_tokens": s.real_tokens,
            "prompts": list(REAL_PROMPTS[:1] if self.args.smoke else REAL_PROMPTS),
            "rounds": s.real_rounds,
            **extra,
        }
        ttft = {name: self.row(f"{prefix}real TTFT", name, "s") for name in names}
        tps = {name: self.row(f"{prefix}real tokens/s", name, "tokens/s") for name in names}
        try:
            result = self.run_case(case, params)
        except (CaseError, subprocess.TimeoutExpired) as exc:
            for row in (*ttft.values(), *tps.values()):
                row.error = str(exc)
            self.log(f"{case}: n/a ({exc})")
            return None
        for name, runs in result.items():
            ttft[name].samples = [run["ttft"] for run in runs]
            tps[name].samples = [run["tps"] for run in runs]
        return result, ttft, tps

    def real(self) -> None:
        done = self.run_real("real", ("httpx", "modelport"), "")
        if done is None:
            return
        result, ttft, tps = done
        for name, runs in result.items():
            for row in (ttft[name], tps[name]):
                row.extra["cpu_per_token"] = [run["cpu_per_token"] for run in runs]
                row.extra["tokens"] = [run["tokens"] for run in runs]
        paired = {
            key: statistics.median(
                m[key] / h[key] for h, m in zip(result["httpx"], result["modelport"], strict=True)
            )
            for key in ("tps", "ttft")
        }
        self.log("real server done")
        # The server's speed drifts between requests far more than a client costs, so
        # the target is judged on the median of back-to-back pairs.
        of_medians = {
            "tps": self.ratio("real tokens/s", "modelport", "httpx"),
            "ttft": self.ratio("real TTFT", "modelport", "httpx"),
        }
        for key, what, goal in (
            ("tps", "tokens/s", ">= 0.98"),
            ("ttft", "time to first token", "<= 1.05"),
        ):
            other = of_medians[key]
            self.target(
                f"real server {what}: modelport / httpx, median of {len(result['httpx'])} "
                "back-to-back pairs",
                paired[key],
                goal,
                "" if other is None else f"ratio of the medians {other:.3f}",
            )

    # ------------------------------------------------------------------ 8. gateway

    def _spawn(self, args: list[str], ready: str, env: dict[str, str] | None = None) -> Any:
        """A server process that prints ``READY <port>``; (url, process)."""
        proc = subprocess.Popen(
            args,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
            cwd=ROOT,
        )
        assert proc.stdout is not None
        line = proc.stdout.readline().split()
        if not line or line[0] != ready:
            proc.kill()
            raise CaseError(f"{args[1]} did not start")
        return f"http://127.0.0.1:{line[1]}", proc

    def start_gateway(self, kind: str, url: str, server: str = "modelport") -> tuple[str, Any]:
        return self._spawn([PY, str(HERE / "gateway.py"), kind, url, server], "READY")

    def start_litellm(self) -> tuple[str, Any] | None:
        """LiteLLM's proxy in front of the same benchmark server, or None without it."""
        import shutil

        binary = shutil.which("litellm", path=str(Path(PY).parent))
        if binary is None:
            return None
        s = self.sizes
        names = {
            "bench",
            "bench-50",
            f"bench-{s.gateway_chunks}",
            f"bench-{s.gateway_stream_chunks}",
            f"pace-{s.paced_chunks}-{gateway_load.INTERVAL_MS}",
        }
        config = HERE / "results" / "litellm-config.yaml"
        config.parent.mkdir(parents=True, exist_ok=True)
        lines = ["model_list:"]
        for name in sorted(names):
            lines += [
                f"  - model_name: {name}",
                "    litellm_params:",
                f"      model: openai/{name}",
                f"      api_base: {self.url}/v1",
                "      api_key: none",
            ]
        config.write_text("\n".join(lines) + "\n")
        import socket

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        env = dict(
            os.environ,
            LITELLM_LOCAL_MODEL_COST_MAP="True",
            LITELLM_DANGEROUSLY_PERMIT_WEAK_OR_UNSET_MASTER_KEY="true",
            LITELLM_LOG="ERROR",
        )
        proc = subprocess.Popen(
            [binary, "--config", str(config), "--host", "127.0.0.1", "--port", str(port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
            cwd=ROOT,
        )
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                return None
            try:
                with urllib.request.urlopen(url + "/health/liveliness", timeout=1):
                    return url, proc
            except OSError:
                time.sleep(0.5)
        proc.kill()
        return None

    @staticmethod
    def _stop(proc: Any) -> None:
        if proc.stdin is not None:
            proc.stdin.close()
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def gateway(self) -> None:
        s = self.sizes
        gw_url, gw = self.start_gateway("openai", self.url)
        fake_url, fake = self.start_gateway("fake", self.url)
        lite = None
        if self.args.litellm_proxy and not self.args.smoke:
            self.log("starting the LiteLLM proxy (it takes a while)")
            lite = self.start_litellm()
            if lite is None:
                self.log("the LiteLLM proxy did not start: its rows are n/a")
        try:
            gateway_load.load(self, (gw_url, gw), lite)
            targets = [("direct", self.url), ("modelport gateway", gw_url)]
            if lite is not None:
                targets.append(("LiteLLM proxy", lite[0]))
            lat = {"n": s.gateway_requests, "warmup": max(20, s.warmup)}
            own = [("gateway, in-memory service (no upstream request)", fake_url)]
            self.rounds(
                "gateway latency",
                [(name, "gateway.latency", dict(lat, url=url)) for name, url in targets + own],
                s.rounds,
            )
            stream = {"api": "openai", "chunks": s.gateway_chunks}
            self.rounds(
                "gateway stream",
                [(name, "stream.httpx", dict(stream, url=url)) for name, url in targets],
                s.rounds,
            )
            self.gateway_concurrency(gw_url, gw.pid)
        finally:
            self._stop(gw)
            self._stop(fake)
            if lite is not None:
                self._stop(lite[1])
        self.gateway_targets(lite is not None)
        if self.args.llama_url:
            self.gateway_real()

    def servers(self) -> None:
        """The HTTP server candidates serving the same gateway (``--only servers``)."""
        sys.path.insert(0, str(HERE))
        from gateway import SERVERS

        gateway_load.servers(self, self.start_gateway, SERVERS)

    def gateway_concurrency(self, url: str, pid: int) -> None:
        s = self.sizes
        row = self.row("gateway concurrency", f"{s.gateway_streams} streams", "chunks/s")
        growths: list[float] = []
        for _ in range(s.rounds):
            before = _proc_kb(pid, "VmRSS")
            _reset_peak(pid)
            try:
                result = self.run_case(
                    "gateway.concurrency",
                    {"url": url, "streams": s.gateway_streams, "chunks": s.gateway_stream_chunks},
                )
            except CaseError as exc:
                row.error = str(exc)
                return
            growths.append(max(0, _proc_kb(pid, "VmHWM") - before) / 1024.0)
            row.samples.append(result["value"])
            row.extra.setdefault("complete", []).append(result["complete"])
            row.extra.setdefault("rss_growth_mb", []).append(growths[-1])
        complete = min(row.extra["complete"])
        self.target(
            f"{s.gateway_streams} concurrent streams through the gateway: all complete",
            complete,
            f">= {s.gateway_streams}",
        )
        self.target(
            f"{s.gateway_streams} concurrent streams: gateway peak RSS growth (MB)",
            max(growths),
            "< 100",
            "worst round",
        )

    def gateway_targets(self, with_litellm: bool) -> None:
        g = "gateway latency"
        rows = {
            name: self.rows.get(f"{g}/{name}")
            for name in ("direct", "modelport gateway", "LiteLLM proxy")
        }

        def added(name: str, key: str | None) -> float | None:
            a, d = rows[name], rows["direct"]
            if a is None or d is None or a.error or d.error or not a.samples:
                return None
            pick = (
                (lambda r: statistics.median(r.samples))
                if key is None
                else (lambda r: statistics.median(r.extra[key]))
            )
            return (pick(a) - pick(d)) * 1000.0

        ours = added("modelport gateway", None)
        self.target("gateway: added latency p50 (ms) vs direct, httpx client", ours, "(report)")
        rows["own"] = self.rows.get(f"{g}/gateway, in-memory service (no upstream request)")
        self.target(
            "gateway's own share (in-memory service) p50 (ms) vs direct",
            added("own", None),
            "(report)",
            "uvicorn, the app and the client, without the upstream HTTP request",
        )
        self.target(
            "gateway: added latency p99 (ms) vs direct",
            added("modelport gateway", "p99"),
            "(report)",
        )
        if with_litellm:
            theirs = added("LiteLLM proxy", None)
            ratio = None if ours is None or not theirs else ours / theirs
            self.target(
                "gateway added p50 / LiteLLM proxy added p50",
                ratio,
                "<= 0.333",
                "" if theirs is None else f"LiteLLM adds {theirs:.1f} ms",
            )
            self.target(
                "gateway added p99 / LiteLLM proxy added p99",
                None
                if added("LiteLLM proxy", "p99") in (None, 0)
                or added("modelport gateway", "p99") is None
                else added("modelport gateway", "p99") / added("LiteLLM proxy", "p99"),  # type: ignore[operator]
                "(report)",
            )
            self.target(
                "gateway stream chunks/s / LiteLLM proxy",
                self.ratio("gateway stream", "modelport gateway", "LiteLLM proxy"),
                ">= 3",
            )
        self.target(
            "gateway stream chunks/s / direct",
            self.ratio("gateway stream", "modelport gateway", "direct"),
            "(report)",
        )

    def gateway_real(self) -> None:
        try:
            gw_url, gw = self.start_gateway("llamacpp", self.args.llama_url)
        except CaseError as exc:
            self.log(f"gateway over llama-server: n/a ({exc})")
            return
        try:
            done = self.run_real("gateway.real", ("direct", "gateway"), "gateway ", gateway=gw_url)
        finally:
            self._stop(gw)
        if done is None:
            return
        result = done[0]
        pairs = list(zip(result["direct"], result["gateway"], strict=True))
        self.target(
            f"real server tokens/s: gateway / direct, median of {len(pairs)} pairs",
            statistics.median(g["tps"] / d["tps"] for d, g in pairs),
            ">= 0.97",
        )
        self.target(
            "real server time to first token: gateway added (ms), median of pairs",
            statistics.median((g["ttft"] - d["ttft"]) * 1000.0 for d, g in pairs),
            "<= 5",
        )

    # ------------------------------------------------------------------ report

    def machine(self) -> dict[str, Any]:
        cpu = platform.processor() or platform.machine()
        try:
            with open("/proc/cpuinfo") as f:
                for line in f:
                    if line.startswith("model name"):
                        cpu = line.split(":", 1)[1].strip()
                        break
        except OSError:
            pass
        from importlib.metadata import PackageNotFoundError, version

        versions = {}
        for name in ("modelport", "httpx", "httpx2", "openai", "ollama", "litellm"):
            try:
                versions[name] = version(name)
            except PackageNotFoundError:
                pass
        return {
            "cpu": cpu,
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_average": [round(x, 2) for x in os.getloadavg()],
            "versions": versions,
        }

    def report(self, machine: dict[str, Any], started: float) -> dict[str, Any]:
        return {
            "when": time.strftime("%Y-%m-%d %H:%M:%S %z"),
            "seconds": round(time.perf_counter() - started, 1),
            "smoke": bool(self.args.smoke),
            "sizes": self.sizes.__dict__,
            "machine": machine,
            "rows": [
                {
                    "group": row.group,
                    "name": row.name,
                    "unit": row.unit,
                    "median": row.median,
                    "samples": row.samples,
                    "error": row.error,
                    "extra": {
                        k: (
                            statistics.median(v)
                            if isinstance(v, list)
                            and v
                            and all(isinstance(x, (int, float)) for x in v)
                            else v
                        )
                        for k, v in row.extra.items()
                    },
                }
                for row in self.rows.values()
            ],
            "targets": [t.__dict__ for t in self.targets],
        }


class CaseError(Exception):
    pass


def _proc_kb(pid: int, field: str) -> int:
    """A memory figure of another process (``VmRSS``, ``VmHWM``) in kB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _reset_peak(pid: int) -> bool:
    """Reset the process's peak-RSS mark (Linux), so VmHWM measures from here."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


COMPARE = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


# --------------------------------------------------------------------------- formatting

BASELINES = {
    "imports": "import httpx",
    "request": "httpx",
    "stream SSE": "httpx iter_lines",
    "stream NDJSON": "httpx iter_lines",
    "concurrency": "httpx.AsyncClient",
    "real TTFT": "httpx",
    "real tokens/s": "httpx",
    "gateway latency": "direct",
    gateway_load.ONE: "direct",
    gateway_load.MANY: "direct",
    gateway_load.PACED: "direct",
    "servers, 1 connection (wrk)": "direct",
    "servers, 32 connections (wrk)": "direct",
    "servers, paced streams": "direct",
    "gateway stream": "direct",
    "gateway real TTFT": "direct",
    "gateway real tokens/s": "direct",
}
TITLES = {
    "imports": "1. Import cost (wall time of a fresh process)",
    "request": "2. Per-request overhead (sequential non-streaming chats)",
    "stream SSE": "3a. Streaming throughput, SSE (OpenAI-style)",
    "stream NDJSON": "3b. Streaming throughput, NDJSON (Ollama-style)",
    "concurrency": "4. Concurrent streams through one async client",
    "discovery": "5. Discovery",
    "models": "6. Model listing at scale (fake Ollama with 100 models)",
    "real TTFT": "7a. Real llama.cpp server: time to first token",
    "real tokens/s": "7b. Real llama.cpp server: tokens per second",
    gateway_load.ONE: "8. Gateway under load: 1 connection, wrk (p50, p99)",
    gateway_load.MANY: "8. Gateway under load: 32 connections, wrk (requests/s, p99)",
    gateway_load.PACED: "8. Gateway under load: paced streams, 20 chunks/s each "
    "(per-chunk latency p99)",
    "gateway idle RSS": "8. Gateway: idle RSS",
    "servers idle RSS": "9. HTTP server candidates: idle RSS of the gateway",
    "servers, 1 connection (wrk)": "9. HTTP server candidates: 1 connection, wrk (p50, p99)",
    "servers, 32 connections (wrk)": "9. HTTP server candidates: 32 connections, wrk "
    "(requests/s, p99)",
    "servers, paced streams": "9. HTTP server candidates: paced streams (per-chunk latency p99)",
    "gateway latency": "8a. Gateway: latency of a non-streaming request, httpx client "
    "(p50; p99 in JSON)",
    "gateway stream": "8b. Gateway: streaming throughput (one SSE stream)",
    "gateway concurrency": "8c. Gateway: concurrent streams (the gateway process's RSS)",
    "gateway real TTFT": "8d. Gateway over a real llama.cpp server: time to first token",
    "gateway real tokens/s": "8e. Gateway over a real llama.cpp server: tokens per second",
}


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    if unit in ("s", "s/request"):
        ms = value * 1000
        suffix = " ms" if unit == "s" else " ms/req"
        return f"{ms:,.3f}{suffix}" if ms < 10 else f"{ms:,.1f}{suffix}"
    if unit == "chunks/s":
        return f"{value:,.0f} chunks/s"
    if unit == "tokens/s":
        return f"{value:,.1f} tok/s"
    return f"{value:,.3g} {unit}"


def render(report: dict[str, Any]) -> str:
    out: list[str] = []
    m = report["machine"]
    versions = ", ".join(f"{k} {v}" for k, v in m["versions"].items())
    out.append(
        f"Machine: {m['cpu']}, {m['cores']} cores, Python {m['python']}, load {m['load_average']}"
    )
    out.append(f"Versions: {versions}")
    out.append(
        f"Run: {report['when']}, {report['seconds']} s{' (smoke)' if report['smoke'] else ''}"
    )
    rows = report["rows"]
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(row["group"], []).append(row)
    for group, items in groups.items():
        out.append("")
        out.append(f"### {TITLES.get(group, group)}")
        out.append("")
        base_name = BASELINES.get(group)
        base = next((r["median"] for r in items if r["name"] == base_name), None)
        if group in ("discovery", "models"):
            out += _detail_table(group, items[0])
            continue
        out.append(f"| client | median | vs {base_name} |" if base_name else "| client | median |")
        out.append("|---|---:|---:|" if base_name else "|---|---:|")
        for r in items:
            value = fmt(r["median"], r["unit"])
            if r["error"]:
                value = f"n/a ({r['error'][:80]})"
            if base_name:
                rel = "n/a" if r["median"] is None or not base else f"{r['median'] / base:.2f}x"
                extra = ""
                if "rss_growth_mb" in r["extra"]:
                    extra = f" (RSS +{r['extra']['rss_growth_mb']:.1f} MB)"
                if "p99" in r["extra"] and r["unit"] == "s" and "lost" in r["extra"]:
                    e = r["extra"]
                    cpu = e.get("server_cpu_per_chunk")
                    extra = (
                        f" (p50 {e['p50'] * 1000:.3f} ms, max {e['max'] * 1000:.1f} ms, "
                        f"{e['lost']:.0f} lost"
                        + ("" if cpu is None else f", server CPU {cpu * 1e6:,.0f} µs/chunk")
                        + ")"
                    )
                elif "p99" in r["extra"]:
                    extra = f" (p99 {r['extra']['p99'] * 1000:.3f} ms)"
                if "cpu" in r["extra"]:
                    cpu = r["extra"]["cpu"] * 1e6
                    per = "request" if r["unit"] == "s/request" else "chunk"
                    extra = f" (CPU {cpu:,.1f} µs/{per})"
                if "cpu_per_token" in r["extra"] and group == "real tokens/s":
                    extra = f" (client CPU {r['extra']['cpu_per_token'] * 1e6:.0f} µs/token)"
                out.append(f"| {r['name']} | {value}{extra} | {rel} |")
            else:
                out.append(f"| {r['name']} | {value} |")
    out.append("")
    if report["smoke"]:
        out.append("### Ratios (smoke run: tiny sizes, so targets are not judged)")
    else:
        out.append("### Targets (ratios from this run)")
    out.append("")
    out.append("| target | measured | goal | met |")
    out.append("|---|---:|---|---|")
    for t in report["targets"]:
        value = "n/a" if t["value"] is None else f"{t['value']:.3g}"
        met = {True: "yes", False: "**no**", None: "n/a"}[t["met"]]
        if t["goal"] == "(report)" or report["smoke"]:
            met = "-"
        note = f" ({t['note']})" if t["note"] else ""
        out.append(f"| {t['what']}{note} | {value} | {t['goal']} | {met} |")
    return "\n".join(out)


def _detail_table(group: str, row: dict[str, Any]) -> list[str]:
    if row["error"]:
        return [f"n/a ({row['error']})"]
    e = row["extra"]
    lines = ["| measurement | median |", "|---|---:|"]
    if group == "discovery":
        busy = ", ".join(e.get("busy_default_ports") or []) or "none"
        lines += [
            f"| timeout | {e['timeout'] * 1000:.0f} ms |",
            f"| nothing listening (default ports busy: {busy}) | {e['empty'] * 1000:.1f} ms |",
            f"| first call in the process | {e['empty_first'] * 1000:.1f} ms |",
            f"| one silent port (accepts, never answers) | {e['silent'] * 1000:.1f} ms |",
            f"| silent port, worst | {e['silent_max'] * 1000:.1f} ms |",
        ]
    else:
        lines += [
            f"| models listed / with capabilities | {e['models']:.0f} / "
            f"{e['with_capabilities']:.0f} |",
            f"| one /api/show round trip, slowest of 20 (raw httpx) | {e['lookup'] * 1e3:.1f} ms |",
            f"| Client.models() cold | {e['cold'] * 1000:.1f} ms |",
            f"| AsyncClient.models() cold | {e['cold_async'] * 1000:.1f} ms |",
            f"| models() warm, per model | {e['warm_per_model'] * 1e6:.2f} µs |",
        ]
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description="modelport benchmarks, side by side.")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, one round (for CI)")
    parser.add_argument("--rounds", type=int, default=0, help="rounds per benchmark")
    parser.add_argument("--litellm", action="store_true", help="also time `import litellm`")
    parser.add_argument("--llama-url", help="a llama-server with SmolLM2 for benchmarks 7 and 8")
    parser.add_argument(
        "--litellm-proxy",
        action="store_true",
        help="measure the gateway side by side with LiteLLM's proxy (litellm[proxy])",
    )
    parser.add_argument(
        "--only",
        help="comma-separated groups: imports,requests,streams,concurrency,discovery,models,"
        "gateway,real, and servers (the HTTP server candidates; never in a full run)",
    )
    parser.add_argument(
        "--paced-streams",
        type=int,
        default=0,
        help="concurrent paced streams (default 500; fewer shows a chunk's cost unsaturated)",
    )
    parser.add_argument("--json", default=str(HERE / "results" / "latest.json"))
    parser.add_argument("--strict", action="store_true", help="exit 1 if a target is missed")
    args = parser.parse_args()

    bench = Bench(args)
    started = time.perf_counter()
    machine = bench.machine()
    groups = [
        "imports",
        "requests",
        "streams",
        "concurrency",
        "discovery",
        "models",
        "gateway",
        "real",
    ]
    if args.only:
        groups = [g for g in [*groups, "servers"] if g in args.only.split(",")]
    if not args.llama_url and "real" in groups:
        groups.remove("real")
        bench.log("no --llama-url: skipping the real-server benchmark")
    bench.start_server()
    try:
        for group in groups:
            getattr(bench, group)()
    finally:
        bench.stop_server()
    report = bench.report(machine, started)
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(render(report))
    print(f"\n(JSON: {path})")
    missed = [t for t in bench.targets if t.met is False]
    return 1 if args.strict and missed and not args.smoke else 0


if __name__ == "__main__":
    sys.exit(main())
